"""The emulator's HTTP surface: auth, api-version, status codes and headers, paging, faults, admin, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from geocatalog_emulator import API_VERSIONS, EmulatorServer
from geocatalog_emulator.testing import RawClient

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sv=2025-11-05&st=2024-01-01T00%3A00%3A00Z&se=2099-12-31T23%3A59%3A59Z&sr=c&sp=rl&sig=U0VDUkVU"
SOURCES = "POST /inma/ingestion-sources"
COLLECTION = {
    "id": "http-coll",
    "description": "d",
    "license": "CC-BY-4.0",
    "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]}, "temporal": {"interval": [[None, None]]}},
}


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """A private emulator (no storage) so faults and resets touch no other test."""
    with EmulatorServer(page_size=2) as emulator:
        yield emulator


@pytest.fixture
def api(server: EmulatorServer) -> RawClient:
    return RawClient(server.url)


def source_body(n: int = 0, token: str = TOKEN, kind_key: str = "kind") -> dict:
    url = f"https://httpacct.blob.core.windows.net/c{n}"
    return {kind_key: "SasToken", "connectionInfo": {"containerUrl": url, "sasToken": token}}


def test_bearer_token_is_required(server):
    url = f"{server.url}/inma/ingestion-sources?api-version={API_VERSIONS[0]}"
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401 and response.headers["X-Ms-Error-Code"] == "Unauthorized"
        assert response.json()["error"]["code"] == "Unauthorized" and "WWW-Authenticate" in response.headers
    assert requests.get(url, headers={"Authorization": "Bearer anything"}, timeout=10).status_code == 200


def test_a_required_token_must_match():
    with EmulatorServer(require_token="s3cret") as server:
        assert RawClient(server.url, token="other").call("GET", "/stac").status_code == 401
        assert RawClient(server.url, token="s3cret").call("GET", "/stac").status_code == 200


@pytest.mark.parametrize("path", ["/inma/ingestion-sources", "/inma/operations", "/stac", "/stac/search"])
def test_api_version_is_required_and_checked(server, path):
    headers = {"Authorization": "Bearer t"}
    missing = requests.get(server.url + path, headers=headers, timeout=10)
    assert missing.status_code == 400 and missing.headers["X-Ms-Error-Code"] == "MissingApiVersionParameter"
    unknown = requests.get(server.url + path, headers=headers, params={"api-version": "2023-01-01"}, timeout=10)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "UnsupportedApiVersionValue"
    for version in API_VERSIONS:
        assert requests.get(server.url + path, headers=headers, params={"api-version": version}, timeout=10).ok


def test_source_status_codes_headers_and_no_token_echo(api):
    created = api.call("POST", "/inma/ingestion-sources", source_body(kind_key="Kind"), expect=201)
    body = created.json()
    assert created.headers["Location"] == f"{api.url}/inma/ingestion-sources/{body['id']}?api-version={API_VERSIONS[0]}"
    assert created.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "api-supported-versions" in created.headers
    assert body["connectionInfo"] == {
        "containerUrl": "https://httpacct.blob.core.windows.net/c0",
        "expiration": "2099-12-31T23:59:59.0000000Z",
    }
    replaced = api.call("PUT", f"/inma/ingestion-sources/{body['id']}", source_body(token="?" + TOKEN), expect=200)
    assert "created" not in replaced.json()
    deleted = api.call("DELETE", f"/inma/ingestion-sources/{body['id']}", expect=204)
    assert deleted.content == b""
    everything = json.dumps(api.admin("GET", "state")) + created.text + replaced.text
    assert "U0VDUkVU" not in everything and "sasToken" not in everything


def test_sas_start_is_required_unless_allowed(api):
    no_start = TOKEN.replace("st=2024-01-01T00%3A00%3A00Z&", "")
    response = api.call("POST", "/inma/ingestion-sources", source_body(token=no_start), expect=400)
    assert "st" in response.json()["error"]["message"]
    with EmulatorServer(require_sas_start=False) as lenient:
        RawClient(lenient.url).call("POST", "/inma/ingestion-sources", source_body(token=no_start), expect=201)


def test_lro_and_run_status_codes(api):
    op = api.call("POST", "/stac/collections", COLLECTION, expect=202)
    assert op.headers["operation-location"] == op.headers["Location"]
    assert op.json()["status"] == "Pending" and op.json()["type"] == "AddCollection"
    assert api.wait_operation(op.json()["id"])["status"] == "Succeeded"
    stac = api.call("PUT", "/stac/collections/http-coll", {**COLLECTION, "title": "t"}, expect=200)
    assert stac.headers["Content-Type"] == "application/json" and stac.json()["title"] == "t"
    missing = api.call("GET", "/stac/collections/nope", expect=404)
    assert missing.headers["Content-Type"] == "application/json"
    assert missing.json() == {
        "error": {
            "code": "ResourceNotFound",
            "message": "Collection 'nope' not found. Please verify the collection ID and try again.",
        }
    }
    body = {"importType": "StaticCatalog", "sourceCatalogUrl": "http://127.0.0.1:9/catalog.json"}
    ingestion = api.call("POST", "/inma/collections/http-coll/ingestions", body, expect=201)
    assert ingestion.json()["status"] == "Ready" and ingestion.headers["Location"].endswith(
        f"/ingestions/{ingestion.json()['id']}?api-version={API_VERSIONS[0]}"
    )
    run = api.call("POST", f"/inma/collections/http-coll/ingestions/{ingestion.json()['id']}/runs", expect=201)
    assert run.json()["operation"]["status"] == "Pending" and "/runs/" in run.headers["Location"]
    api.call("POST", "/inma/collections/http-coll/ingestions", {"importType": "Nope"}, expect=400)
    api.call("GET", "/inma/nothing", expect=404)
    assert api.call("PATCH", "/inma/ingestion-sources", expect=405).headers["X-Ms-Error-Code"] == "MethodNotAllowed"


def test_paging_with_top_skip_and_next_link(api):
    for n in range(5):
        api.call("POST", "/inma/ingestion-sources", source_body(n), expect=201)
    first = api.call("GET", "/inma/ingestion-sources", expect=200).json()
    assert len(first["value"]) == 2 and f"api-version={API_VERSIONS[0]}" in first["nextLink"]
    second = api.session.get(first["nextLink"], timeout=10).json()
    assert len(second["value"]) == 2 and "nextLink" in second
    capped = api.call("GET", "/inma/ingestion-sources", expect=200, **{"$top": 3, "$skip": 1}).json()
    rest = api.session.get(capped["nextLink"], timeout=10).json()
    assert len(capped["value"]) + len(rest["value"]) == 3 and "nextLink" not in rest
    api.call("GET", "/inma/ingestion-sources", expect=400, **{"$top": "many"})


def test_faults_429_then_recovery_and_counts(api):
    fault = api.admin("POST", "faults", {"route": SOURCES, "status": 429, "rate": 1.0, "count": 2, "retryAfter": 1})
    assert fault["route"] == SOURCES and fault["count"] == 2
    for _ in range(2):
        throttled = api.call("POST", "/inma/ingestion-sources", source_body(), expect=429)
        assert throttled.headers["Retry-After"] == "1" and throttled.json()["error"]["code"] == "TooManyRequests"
    api.call("POST", "/inma/ingestion-sources", source_body(), expect=201)
    counts = api.admin("GET", "requests")
    assert counts[SOURCES] == 3 and counts["faulted"] == {SOURCES: 2} and api.admin("GET", "faults")["faults"] == []


def test_faults_on_every_route_with_latency(api):
    api.admin("POST", "faults", {"route": "*", "status": 503, "count": 1})
    assert api.call("GET", "/stac", expect=503).headers["Retry-After"] == "1"
    api.admin("POST", "faults", {"route": "GET *", "latencyMs": 300, "count": 1})
    started = time.monotonic()
    api.call("GET", "/stac/conformance", expect=200)
    assert time.monotonic() - started >= 0.3
    api.admin("POST", "faults", {"route": "GET /stac", "status": 500})
    api.call("GET", "/stac", expect=500)
    api.call("GET", "/stac/conformance", expect=200)
    api.call("DELETE", "/_emulator/faults")  # the admin API itself is never faulted or counted
    assert api.admin("DELETE", "faults") is None and api.call("GET", "/stac").status_code == 200
    bad = api.session.post(f"{api.url}/_emulator/faults", json={"route": "*", "rate": 2}, timeout=10)
    assert bad.status_code == 400


def test_reset_and_config(api):
    api.call("POST", "/inma/ingestion-sources", source_body(), expect=201)
    api.admin("POST", "reset")
    state = api.admin("GET", "state")
    assert state["sources"] == [] and api.admin("GET", "requests")["total"] == 0
    assert api.admin("PATCH", "config", {"itemDelayMs": 250})["itemDelayMs"] == 250
    assert api.session.patch(f"{api.url}/_emulator/config", json={"itemDelayMs": -1}, timeout=10).status_code == 400
    assert api.session.patch(f"{api.url}/_emulator/config", json={"nope": 1}, timeout=10).status_code == 400
    assert api.admin("GET", "config")["itemDelayMs"] == 250


def test_search_get_and_post_paging(api):
    api.create_collection(COLLECTION)
    for n in range(3):
        item = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": f"i{n}",
            "geometry": {"type": "Point", "coordinates": [0.5, 0.5]},
            "properties": {"datetime": f"2024-01-0{n + 1}T00:00:00Z"},
            "assets": {},
        }
        api.wait_operation(api.call("POST", "/stac/collections/http-coll/items", item, expect=202).json()["id"])
    page = api.call("POST", "/stac/search", {"collections": ["http-coll"], "limit": 2}, expect=200).json()
    assert [f["id"] for f in page["features"]] == ["i2", "i1"]  # newest first
    (nxt,) = [link for link in page["links"] if link["rel"] == "next"]
    assert nxt["method"] == "POST" and nxt["body"]["token"]
    rest = api.session.post(nxt["href"], json=nxt["body"], timeout=10).json()
    assert [f["id"] for f in rest["features"]] == ["i0"] and not [x for x in rest["links"] if x["rel"] == "next"]
    got = api.call("GET", "/stac/search", expect=200, collections="http-coll", ids="i0,i1", bbox="0,0,1,1").json()
    assert {f["id"] for f in got["features"]} == {"i0", "i1"}
    api.call("GET", "/stac/search", expect=400, limit=0)
    api.call("POST", "/stac/search", {"filter": {"op": "="}}, expect=400)


def test_state_survives_a_restart_with_a_database_file(tmp_path):
    db = str(tmp_path / "state.db")
    with EmulatorServer(db_path=db) as first:
        created = RawClient(first.url).call("POST", "/inma/ingestion-sources", source_body(), expect=201).json()
    with EmulatorServer(db_path=db) as second:
        listed = RawClient(second.url).call("GET", "/inma/ingestion-sources", expect=200).json()["value"]
    assert [s["id"] for s in listed] == [created["id"]]


def test_cli_prints_one_line_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "geocatalog_emulator", "--host", "127.0.0.1", "--port", "0", "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(r"geocatalog emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        assert RawClient(match.group(1)).call("GET", "/stac").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_item_batch_counts_each_feature(api):
    api.create_collection(COLLECTION)
    good = {
        "type": "Feature",
        "id": "ok",
        "geometry": {"type": "Point", "coordinates": [0, 0]},
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {},
    }
    batch = {"type": "FeatureCollection", "features": [good, {**good, "id": "ok2"}, {**good, "geometry": None}]}
    op = api.wait_operation(api.call("POST", "/stac/collections/http-coll/items", batch, expect=202).json()["id"])
    assert op["status"] == "Failed" and op["error"]["error"]["code"] == "ErrorsInBatchOperation"
    assert op["additionalInformation"]["TotalSuccessfulItems"] == "2"
    assert op["additionalInformation"]["TotalFailedItems"] == "1"
    assert op["startTime"] == op["creationTime"] and "finishTime" in op
    api.call("GET", "/stac/collections/http-coll/items/ok2", expect=200)
    missing = api.wait_operation(api.call("DELETE", "/stac/collections/http-coll/items/nope", expect=202).json()["id"])
    assert missing["statusHistory"][-1]["errorCode"] == "NoRecordsToDelete"
