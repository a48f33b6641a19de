"""The trust boundary against Azurite and the emulator: uploads outside the trusted accounts read nothing,
register nothing and leave no job row; links that leave the container are INVALID; per-item problems are
reported while the run goes on for the other items."""

from __future__ import annotations

import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from ingest_core import entry
from ingest_core.events import blob_created_event, drop_from_blob_trigger, drops_from_event
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.reports import report_name
from ingest_core.states import JobState
from local_twin.azurite import ACCOUNT
from tests.integration.twin_helpers import (
    TOKEN,
    admin,
    drop_for,
    fresh_emulator,
    item_doc,
    new_container,
    runtime_for,
    upload_catalog,
    upload_root_catalog,
)

ROOT = Path(__file__).resolve().parents[2]


class _CountingServer(ThreadingHTTPServer):
    """An https server that counts every TCP connection it accepts and every request it reads."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.connections = 0
        self.requests: list[str] = []

    def get_request(self):  # count before TLS: even a failed handshake would be a connection we made
        sock, addr = super().get_request()
        self.connections += 1
        return self.context.wrap_socket(sock, server_side=True), addr


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        body = b"<Error><Code>BlobNotFound</Code></Error>"
        self.send_response(404)
        self.send_header("x-ms-error-code", "BlobNotFound")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def foreign_blob_server(azurite) -> Iterator[_CountingServer]:
    """A fake blob endpoint on 127.0.0.1 with a certificate the app's clients trust (Azurite's own)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(azurite.cert_path, azurite.cert_path.parent / "key.pem")
    server = _CountingServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _foreign_url(server: _CountingServer, container: str, path: str) -> str:
    # Same account name, container and path as ours, on another host:port: only the endpoint gives it away.
    return f"https://127.0.0.1:{server.server_address[1]}/{ACCOUNT}/{container}/{path}"


def _event(url: str, etag: str = "0x1", subject: str | None = None) -> dict:
    event = blob_created_event(drop_from_blob_trigger(url, etag))
    if subject is not None:
        event["subject"] = subject
    return event


def _geocatalog_calls(emulator) -> int:
    return int(admin(emulator, "requests")["total"])


def _assert_counter_works(server: _CountingServer) -> None:
    """The negative result means something: a client that does call the fake server is counted."""
    before = server.connections
    resp = requests.get(f"https://127.0.0.1:{server.server_address[1]}/x", timeout=10)
    assert resp.status_code == 404 and server.connections == before + 1


@pytest.fixture
def app_runtime(twin, monkeypatch):
    """The twin's runtime, installed as the process runtime the triggers use."""
    container, rt = twin
    monkeypatch.setattr(entry, "_runtime", rt)
    return container, rt


def test_event_naming_another_host_reads_nothing_registers_nothing_and_leaves_no_row(
    app_runtime, emulator, foreign_blob_server, caplog
):
    container, rt = app_runtime
    upload_catalog(container, "t", catalog_id="cat-foreign")  # the same path exists on our account
    url = _foreign_url(foreign_blob_server, container.container_name, "t/catalog.json")
    caplog.set_level(logging.INFO)
    assert entry.on_event([_event(url)]) == [None]  # the Event Grid trigger
    assert entry.on_blob(url, "0x1", 10) is None  # the blob trigger
    assert handle_drop(rt, drops_from_event(_event(url))[0]) is None  # the CLI and any other caller
    assert foreign_blob_server.connections == 0 and foreign_blob_server.requests == []
    assert _geocatalog_calls(emulator) == 0  # no token used, no source registered
    assert admin(emulator, "state")["sources"] == []
    assert rt.ledger.jobs() == [] and rt.ledger.source_records() == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "ingest_core.trust"]
    assert len(warnings) == 3 and all(
        "not on the blob endpoint of a trusted account" in r.getMessage() for r in warnings
    )
    _assert_counter_works(foreign_blob_server)


def test_cli_ingest_of_another_host_reads_nothing(twin, azurite, emulator, foreign_blob_server):
    container, rt = twin
    url = _foreign_url(foreign_blob_server, container.container_name, "t/catalog.json")
    env = {**os.environ, "GEOCATALOG_ENDPOINT": emulator.url, "GEOCATALOG_STATIC_TOKEN": TOKEN,
           "CATALOG_STORAGE_CONNECTION": azurite.connection_string, "LEDGER_STORAGE_CONNECTION": azurite.connection_string,
           "LEDGER_TABLE": rt.settings.ledger_table, "CATALOG_CONTAINER": container.container_name,
           "REQUESTS_CA_BUNDLE": str(azurite.cert_path)}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "ingest_core", "ingest", url], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 1 and "not on the blob endpoint of a trusted account" in out.stderr
    assert foreign_blob_server.connections == 0 and _geocatalog_calls(emulator) == 0
    assert rt.ledger.jobs() == []


def test_event_whose_subject_and_url_disagree_is_dropped(app_runtime, emulator, caplog):
    container, rt = app_runtime
    url = upload_catalog(container, "t", catalog_id="cat-subject")
    etag = rt.storage.blob_etag(url)
    other = f"/blobServices/default/containers/{container.container_name}/blobs/u/catalog.json"
    caplog.set_level(logging.WARNING)
    assert entry.on_event([_event(url, etag, subject=other)]) == [None]
    assert rt.ledger.jobs() == [] and _geocatalog_calls(emulator) == 0
    assert "disagrees with data.url" in caplog.text
    # The same event with its own subject goes ahead: the drop above was the disagreement, nothing else.
    (job,) = entry.on_event([_event(url, etag)])
    assert job is not None and job.state == JobState.RUNNING


def test_a_malformed_event_never_raises_out_of_the_trigger(app_runtime, emulator):
    _, rt = app_runtime
    bad = [{"eventType": "Microsoft.Storage.BlobCreated", "data": "not an object"}, 7, None,
           {"eventType": "Microsoft.Storage.BlobCreated", "subject": 5, "data": {"api": "PutBlob", "url": []}}]  # fmt: skip
    assert entry.on_event(bad) == []
    assert entry.on_event("not even a list") == []
    assert rt.ledger.jobs() == [] and _geocatalog_calls(emulator) == 0


@pytest.mark.parametrize("sibling", [False, True], ids=["encoded dot segments", "sibling sharing the name prefix"])
def test_child_link_leaving_the_container_is_invalid_naming_the_href(twin, azurite, emulator, sibling):
    container, rt = twin
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    # `<name>-private` starts with the watched container's name: it is still another container.
    secret = service.create_container(f"{container.container_name}-private") if sibling else new_container(azurite)
    upload_catalog(secret, "t", catalog_id="cat-secret")  # what the link would reach if it were followed
    href = secret.url + "/t/catalog.json" if sibling else f"./%2e%2e/%2e%2e/{secret.container_name}/t/catalog.json"
    upload_root_catalog(container, "t", [{"rel": "root", "href": "./catalog.json"}, {"rel": "child", "href": href}],
                        "cat-escape")  # fmt: skip
    url = f"{container.url}/t/catalog.json"
    job = handle_drop(rt, drop_for(rt, url))
    assert job.state == JobState.INVALID
    assert repr(href) in job.last_error and "outside the container" in job.last_error and job.error_where == url
    assert _geocatalog_calls(emulator) == 0  # no source for either container, no collection
    assert rt.ledger.source_records() == []


def test_per_item_problems_are_reported_and_the_run_goes_on_for_the_others(twin, emulator):
    container, rt = twin
    links = [{"rel": "root", "href": "./catalog.json"}]
    bad = {"no-geometry": {"geometry": None}, "no-href": {"assets": {"data": {"type": "text/plain"}}}}
    for item_id in ("good-1", "good-2", *bad):
        doc = {**item_doc(item_id), **bad.get(item_id, {})}
        container.upload_blob(f"p/items/{item_id}.json", json.dumps(doc))
        container.upload_blob(f"p/items/{item_id}.txt", b"asset bytes")
        links.append({"rel": "item", "href": f"./items/{item_id}.json"})
    upload_root_catalog(container, "p", links, "cat-partial")
    job = handle_drop(rt, drop_for(rt, f"{container.url}/p/catalog.json"))
    assert job.state == JobState.RUNNING and job.total_items == 4
    assert job.warnings[0].startswith("2 of 4 items predicted to fail") and job.predicted_failures == 2
    deadline = time.monotonic() + 30
    while not job.state.terminal and time.monotonic() < deadline:
        reconcile(rt)
        job = rt.ledger.get(job.job_id)
        time.sleep(0.2)
    assert job.state == JobState.PARTIAL and (job.successful_items, job.failed_items) == (2, 2)
    report = json.loads(
        BlobServiceClient.from_connection_string(rt.settings.report_connection)
        .get_container_client(rt.settings.report_container)
        .download_blob(report_name(job))
        .readall()
    )
    lines = report["warnings"]
    assert any(f"{container.url}/p/items/no-geometry.json" in w and "geometry-missing [will fail]" in w for w in lines)
    assert any(f"{container.url}/p/items/no-href.json" in w and "asset-href-missing [will fail]" in w for w in lines)
    assert not any("good-" in w and "will fail" in w for w in lines)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "nested deeper than 100 levels"),
        (b'{"type": "Catalog", "id": "c", "links": [], "x": NaN}', "NaN and Infinity are not JSON"),
        (
            json.dumps(
                {"type": "Catalog", "id": "x" * 300_000, "links": [{"rel": "item", "href": "./i.json"}]}
            ).encode(),
            "collection id",
        ),  # fmt: skip
    ],
)
def test_hostile_catalogs_end_invalid_with_capped_text_and_no_stuck_lease(twin, emulator, content, fragment):
    container, rt = twin
    container.upload_blob("h/i.json", json.dumps(item_doc("i")))
    container.upload_blob("h/i.txt", b"asset bytes")
    container.upload_blob("h/catalog.json", content)
    job = handle_drop(rt, drop_for(rt, f"{container.url}/h/catalog.json"))
    assert job.state == JobState.INVALID and fragment in job.last_error
    stored = rt.ledger.get(job.job_id)  # what the table holds, not the object we wrote from
    assert len(stored.last_error) <= 8002 and stored.lease_until is None
    if len(content) > 100_000:
        assert stored.last_error.endswith("more characters]")


def test_an_item_that_is_not_json_is_a_per_item_warning_and_the_rest_goes(twin, emulator):
    container, rt = twin
    links = [{"rel": "root", "href": "./catalog.json"}]
    for item_id in ("ok-1", "broken"):
        body = b'{"type": "Feature", "bbox": [NaN, 0, 1, 1]}' if item_id == "broken" else json.dumps(item_doc(item_id))
        container.upload_blob(f"n/items/{item_id}.json", body)
        container.upload_blob(f"n/items/{item_id}.txt", b"asset bytes")
        links.append({"rel": "item", "href": f"./items/{item_id}.json"})
    upload_root_catalog(container, "n", links, "cat-nan")
    job = handle_drop(rt, drop_for(rt, f"{container.url}/n/catalog.json"))
    assert job.state == JobState.RUNNING and job.total_items == 2
    assert any("items/broken.json): item-unreadable [will fail]: not valid JSON" in w for w in job.warnings)


@pytest.mark.parametrize("allowed", [False, True])
def test_an_asset_in_another_container_is_read_only_when_asset_containers_names_it(
    azurite, emulator, monkeypatch, allowed
):
    """Catalog writers cannot make the app register (and hand a SAS for) a private container beside theirs."""
    fresh_emulator(emulator)
    container, private = new_container(azurite), new_container(azurite)
    private.upload_blob("secret.txt", b"private bytes")
    rt = runtime_for(azurite, emulator, container, asset_containers=[private.container_name] if allowed else [])
    monkeypatch.setattr(entry, "_runtime", rt)  # the runtime the triggers use
    links = [{"rel": "root", "href": "./catalog.json"}]
    # A SAS in a refused href must not reach the warning (an allowed href keeps it: the service reads with it).
    sas = "" if allowed else "?sv=2024-01-01&se=2030-01-01&sp=r&sig=NOTASECRETBUTLOOKSLIKEONE%3D"
    for item_id, href in (("own", "./own.txt"), ("far", f"{private.url}/secret.txt{sas}")):
        doc = item_doc(item_id)
        doc["assets"]["data"]["href"] = href
        container.upload_blob(f"a/items/{item_id}.json", json.dumps(doc))
        links.append({"rel": "item", "href": f"./items/{item_id}.json"})
    container.upload_blob("a/items/own.txt", b"asset bytes")
    upload_root_catalog(container, "a", links, "cat-assets")
    url = f"{container.url}/a/catalog.json"
    job = entry.on_blob(url, rt.storage.blob_etag(url), None)  # the blob trigger
    registered = {s["connectionInfo"]["containerUrl"].rstrip("/") for s in admin(emulator, "state")["sources"]}
    assert (private.url in registered) is allowed and container.url in registered
    assert job.predicted_failures == (0 if allowed else 1)
    deadline = time.monotonic() + 30
    while not job.state.terminal and time.monotonic() < deadline:
        reconcile(rt)
        job = rt.ledger.get(job.job_id)
        time.sleep(0.2)
    if allowed:
        assert job.state == JobState.SUCCEEDED and job.successful_items == 2
    else:  # the service cannot read the private asset: that item fails, as predicted, and the other goes in
        assert job.state == JobState.PARTIAL and (job.successful_items, job.failed_items) == (1, 1)
        assert any("far" in w and "asset-container-not-allowed [will fail]" in w and private.url in w
                   for w in job.warnings)  # fmt: skip
        assert not any("sig=" in w or "NOTASECRET" in w for w in job.warnings)
