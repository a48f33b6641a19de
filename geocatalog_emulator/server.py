"""The HTTP front: a ThreadingHTTPServer in a background thread around an Emulator."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .app import Emulator
from .config import Settings
from .routing import Request

log = logging.getLogger("geocatalog_emulator")


class _Handler(BaseHTTPRequestHandler):
    """Parses the request, hands it to the Emulator, writes the Response."""

    protocol_version = "HTTP/1.1"  # keep-alive: SDK and benchmark clients reuse connections
    # Headers and body go out in two writes: without TCP_NODELAY each reply waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server_version = "GeoCatalogEmulator/1.0"
    emulator: Emulator

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        request = Request(
            method=self.command,
            path=parts.path.rstrip("/") or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )
        response = self.emulator.handle(request)
        payload = response.payload()
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD" and response.status != 204:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Paths carry no secrets (SAS tokens travel in bodies), but keep access logs at debug.
        log.debug("%s - %s", self.address_string(), format % args)


class EmulatorServer:
    """The in-process emulator: `start()` serves in a background thread, `url` is its base URL."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str | None = None,
        require_token: str | None = None,
        asset_connection_string: str | None = None,
        asset_container: str = "geocatalog-assets",
        ca_bundle: str | None = None,
        **options: Any,
    ) -> None:
        settings = Settings(
            require_token=require_token,
            asset_connection_string=asset_connection_string,
            asset_container=asset_container,
            ca_bundle=ca_bundle,
            **options,
        )
        self.emulator = Emulator(settings, db_path)
        handler = type("Handler", (_Handler,), {"emulator": self.emulator})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (useful with port=0)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """http://HOST:PORT, no trailing slash."""
        return f"http://{self.host}:{self.port}"

    @property
    def settings(self) -> Settings:
        """The live settings (tests may change timing knobs between calls)."""
        return self.emulator.settings

    def start(self) -> EmulatorServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=lambda: self._httpd.serve_forever(poll_interval=0.05), name="geocatalog-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` (the CLI's mode)."""
        self._httpd.serve_forever()

    def reset(self) -> None:
        """Forget all state, counts and faults."""
        self.emulator.reset()

    def stop(self) -> None:
        """Stop serving, stop background work, release the port and the database."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.emulator.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
