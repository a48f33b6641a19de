"""geocatalog client over real HTTP: retries 429 (Retry-After) and 503, gives up clearly, never retries 401/404/409.

The server here is a scripted stand-in on loopback (a test double over real HTTP): it replays exact
status sequences that the GeoCatalog emulator would only produce at random via fault injection.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ingest_core.errors import ServiceError, TransientError
from ingest_core.geocatalog import GeoCatalogClient, StaticToken


class Script:
    def __init__(self) -> None:
        self.responses: list[tuple[int, dict, dict]] = []
        self.seen: list[tuple[str, str, float, dict]] = []


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            script.seen.append((self.command, self.path, time.monotonic(), dict(self.headers)))
            status, headers, body = script.responses.pop(0) if script.responses else (200, {}, {})
            data = json.dumps(body).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()


def client(url: str, retries: int = 3) -> GeoCatalogClient:
    return GeoCatalogClient(url, StaticToken("tok"), max_retries=retries, backoff_cap=0.2, timeout=2)


def err(code: str) -> dict:
    return {"error": {"code": code, "message": f"{code} happened"}}


def test_every_call_carries_api_version_and_bearer(server):
    url, script = server
    script.responses = [(200, {}, {"value": [{"id": "a"}], "nextLink": f"{url}/inma/ingestion-sources?$skip=1"}),
                        (200, {}, {"value": [{"id": "b"}]})]  # fmt: skip
    assert [s["id"] for s in client(url).list_sources()] == ["a", "b"]
    for _, path, _, headers in script.seen:
        assert "api-version=2026-04-15" in path
        assert headers["Authorization"] == "Bearer tok"
    assert "%24skip=1" in script.seen[1][1] or "$skip=1" in script.seen[1][1]


def test_429_with_retry_after_is_honoured_then_succeeds(server):
    url, script = server
    script.responses = [(429, {"Retry-After": "1"}, err("TooManyRequests")), (201, {}, {"id": "s1"})]
    c = GeoCatalogClient(url, StaticToken("tok"), max_retries=3, backoff_cap=5, timeout=2)
    assert c.create_source({"kind": "SasToken"})["id"] == "s1"
    (first, second) = script.seen
    assert second[2] - first[2] >= 0.9  # waited the Retry-After second


def test_503_is_retried(server):
    url, script = server
    script.responses = [
        (503, {}, err("ServiceUnavailable")),
        (503, {}, err("ServiceUnavailable")),
        (200, {}, {"id": "r"}),
    ]
    assert client(url).get_run("c", "i", "r")["id"] == "r"
    assert len(script.seen) == 3


def test_gives_up_after_the_cap_with_a_clear_error(server):
    url, script = server
    script.responses = [(503, {}, err("ServiceUnavailable"))] * 10
    with pytest.raises(TransientError) as info:
        client(url, retries=2).create_run("c", "i")
    assert len(script.seen) == 3
    assert "after 3 attempts" in str(info.value) and "HTTP 503 ServiceUnavailable" in str(info.value)


@pytest.mark.parametrize("status", [401, 404, 409])
def test_client_errors_are_not_retried_and_carry_the_service_code(server, status):
    url, script = server
    script.responses = [(status, {"X-Ms-Error-Code": "Conflict"}, err("Conflict"))]
    with pytest.raises(ServiceError) as info:
        client(url).create_source({})
    assert len(script.seen) == 1
    assert (info.value.status, info.value.code, info.value.message) == (status, "Conflict", "Conflict happened")


def test_connection_refused_is_transient():
    c = GeoCatalogClient("http://127.0.0.1:9", StaticToken("tok"), max_retries=1, backoff_cap=0.05, timeout=1)
    with pytest.raises(TransientError, match="ConnectionError"):
        c.list_sources().__next__()


def test_collection_create_polls_the_operation(server):
    url, script = server
    op = f"{url}/inma/operations/op1"
    script.responses = [
        (202, {"operation-location": op, "Location": op}, {"id": "op1", "status": "Pending"}),
        (200, {}, {"id": "op1", "status": "Running"}),
        (200, {}, {"id": "op1", "status": "Succeeded"}),
    ]
    c = GeoCatalogClient(url, StaticToken("tok"), sleep=lambda s: None)
    c.create_collection({"id": "c1"})
    assert [s[0] for s in script.seen] == ["POST", "GET", "GET"]
    assert script.seen[2][1].startswith("/inma/operations/op1?api-version=")


def test_collection_create_tolerates_201(server):
    url, script = server
    script.responses = [(201, {}, {"id": "c1"})]
    client(url).create_collection({"id": "c1"})
    assert len(script.seen) == 1


def test_an_ambiguous_failure_of_a_create_is_not_resent(server):
    url, script = server
    script.responses = [(500, {}, err("InternalServerError")), (201, {}, {"id": "run-2"})]
    with pytest.raises(TransientError, match="may or may not have taken effect"):
        client(url).create_run("c", "i")
    assert len(script.seen) == 1  # a blind resend could have started a second run


def test_a_create_refused_before_processing_is_resent(server):
    url, script = server
    script.responses = [(429, {"Retry-After": "0"}, err("TooManyRequests")), (201, {}, {"id": "run-1"})]
    assert client(url).create_run("c", "i")["id"] == "run-1"
    assert len(script.seen) == 2


def test_next_links_and_operation_urls_carry_exactly_one_api_version(server):
    url, script = server
    script.responses = [
        (200, {}, {"value": [{"id": "a"}], "nextLink": f"{url}/inma/ingestion-sources?$skip=1&api-version=1999-01-01"}),
        (200, {}, {"value": []}),
    ]
    list(client(url).list_sources())
    assert script.seen[1][1].count("api-version=") == 1 and "api-version=2026-04-15" in script.seen[1][1]
