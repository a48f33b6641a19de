"""A local stand-in for the completion events' Event Grid topic: takes the publish calls EventGridPublisherClient makes
(POST of a CloudEvents batch with an `aeg-sas-key`) and appends each event, one JSON line, to the events log.

`POST /_topic/fail?count=N` makes the next N publishes answer 503 (nothing written), as an outage would.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REQUIRED = ("id", "source", "type", "specversion")
KEY_ENV = "COMPLETION_TOPIC_KEY"
LISTENING = "completion topic stand-in listening on"


class TopicState:
    """The log file, the expected key and the pending injected failures."""

    def __init__(self, log_path: Path, key: str) -> None:
        self.log_path = log_path
        self.key = key
        self.fail_next = 0
        self.lock = threading.Lock()

    def publish(self, headers: Any, body: bytes) -> tuple[int, str]:
        """Check one publish call like the service does; append its events. Returns (status, error message)."""
        if (headers.get("aeg-sas-key") or "") != self.key and not (headers.get("Authorization") or "").startswith(
            "Bearer "
        ):
            return 401, "the aeg-sas-key header is missing or wrong"
        if "cloudevents" not in (headers.get("Content-Type") or ""):
            return 400, "Content-Type must be application/cloudevents-batch+json"
        try:
            events = json.loads(body)
        except ValueError:
            return 400, "the body is not JSON"
        events = events if isinstance(events, list) else [events]
        for event in events:
            missing = [k for k in REQUIRED if not isinstance(event, dict) or not event.get(k)]
            if missing:
                return 400, f"a CloudEvent lacks {', '.join(missing)}"
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, "injected outage"
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as out:
                for event in events:
                    out.write(json.dumps(event, separators=(",", ":")) + "\n")
        return 200, ""


def _handler(state: TopicState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: the log file is the record
            pass

        def _answer(self, status: int, message: str = "") -> None:
            body = json.dumps({"error": {"code": str(status), "message": message}}).encode() if message else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            if parts.path == "/_topic/fail":
                with state.lock:
                    state.fail_next = int(parse_qs(parts.query).get("count", ["1"])[0])
                return self._answer(204)
            self._answer(*state.publish(self.headers, body))

    return Handler


class TopicStandIn:
    """The stand-in on a loopback port, in a thread (tests) or as the twin's process (`python -m local_twin.topic`)."""

    def __init__(self, log_path: Path, key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = TopicState(log_path, key)
        self._server = ThreadingHTTPServer((host, port), _handler(self.state))
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The topic endpoint to give EventGridPublisherClient (COMPLETION_TOPIC_ENDPOINT)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/events"

    def fail_next(self, count: int) -> None:
        """Make the next `count` publishes fail with 503."""
        with self.state.lock:
            self.state.fail_next = count

    def events(self) -> list[dict[str, Any]]:
        """Every event logged so far."""
        if not self.state.log_path.exists():
            return []
        return [json.loads(line) for line in self.state.log_path.read_text().splitlines() if line.strip()]

    def start(self) -> TopicStandIn:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="topic-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in in the foreground; the key comes from the environment (kept out of `ps`)."""
    parser = argparse.ArgumentParser(prog="python -m local_twin.topic", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path, required=True, help="the events log (EVENTS_LOG)")
    args = parser.parse_args(argv)
    topic = TopicStandIn(args.log, os.environ.get(KEY_ENV, "local-topic-key"), args.host, args.port)
    print(f"{LISTENING} {topic.endpoint}", flush=True)
    try:
        topic._server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
