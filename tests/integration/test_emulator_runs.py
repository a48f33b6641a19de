"""Run lifecycle against Azurite: observable statuses, deletes refused mid-run, the concurrency cap, identities."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from geocatalog_emulator import EmulatorServer
from geocatalog_emulator.config import DEFAULT_MANAGED_IDENTITY
from geocatalog_emulator.testing import SAMPLE_CATALOG, RawClient, container_sas, upload_directory, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slow(azurite: Any) -> Iterator[RawClient]:
    """A dedicated emulator whose runs pause 0.1 s per item and run one at a time."""
    with EmulatorServer(asset_connection_string=azurite.connection_string, item_delay=0.1, max_concurrent_runs=1) as s:
        yield RawClient(s.url)


def prepared(azurite: Any, api: RawClient, with_source: bool = True) -> tuple[str, str, str]:
    """Sample uploaded, collection created, SAS source added: (container, container URL, collection id)."""
    suffix = uuid.uuid4().hex[:10]
    container = f"runs-{suffix}"
    url = upload_directory(azurite.connection_string, container, SAMPLE_CATALOG)
    collection = {**json.loads((SAMPLE_CATALOG / "collection.json").read_text()), "id": f"runs-{suffix}"}
    api.create_collection(collection)
    if with_source:
        api.add_sas_source(url, container_sas(azurite.connection_string, container))
    return container, url, collection["id"]


def status(api: RawClient, collection_id: str, ingestion_id: str, run_id: str) -> str:
    return api.get_run(collection_id, ingestion_id, run_id)["operation"]["status"]


def test_statuses_are_observable_and_delete_is_refused_mid_run(azurite, slow):
    _, url, collection_id = prepared(azurite, slow)
    ingestion, run = slow.start_run(collection_id, f"{url}/catalog.json")
    assert run["operation"]["status"] == "Pending"
    ids = (collection_id, ingestion["id"], run["id"])

    def mid_flight() -> dict[str, Any] | None:
        now = slow.get_run(*ids)["operation"]
        return now if now["status"] == "Running" and 0 < now["totalSuccessfulItems"] < 6 else None

    op = wait_for(mid_flight, what="a run half way")
    assert op["totalItems"] == 6 and op["totalPendingItems"] == 6 - op["totalSuccessfulItems"]
    assert [e["status"] for e in op["statusHistory"]] == ["Pending", "Running"]
    listed = slow.call("GET", "/inma/operations", expect=200, status="Running").json()["value"]
    assert [o["additionalInformation"]["TotalItems"] for o in listed if o["id"] == op["id"]] == ["6"]

    path = f"/inma/collections/{collection_id}/ingestions/{ingestion['id']}"
    refused = slow.call("DELETE", path, expect=409)
    assert refused.headers["X-Ms-Error-Code"] == "Conflict"
    assert slow.wait_run(*ids)["operation"]["status"] == "Succeeded"
    deleted = slow.call("DELETE", path, expect=202)
    assert deleted.headers["operation-location"] == deleted.headers["Location"]
    assert slow.wait_operation(deleted.json()["id"])["status"] == "Succeeded"
    slow.call("GET", path, expect=404)


def test_extra_runs_stay_pending_until_a_slot_frees(azurite, slow):
    _, url, collection_id = prepared(azurite, slow)
    ingestion, first = slow.start_run(collection_id, f"{url}/catalog.json")
    second = slow.rerun(collection_id, ingestion["id"])
    wait_for(lambda: status(slow, collection_id, ingestion["id"], first["id"]) == "Running")
    assert status(slow, collection_id, ingestion["id"], second["id"]) == "Pending"
    assert slow.wait_run(collection_id, ingestion["id"], first["id"])["operation"]["status"] == "Succeeded"
    assert slow.wait_run(collection_id, ingestion["id"], second["id"])["operation"]["status"] == "Succeeded"


def test_cancel_a_running_run(azurite, slow):
    _, url, collection_id = prepared(azurite, slow)
    ingestion, run = slow.start_run(collection_id, f"{url}/catalog.json")
    wait_for(lambda: status(slow, collection_id, ingestion["id"], run["id"]) == "Running")
    slow.call("DELETE", f"/inma/operations/{run['operation']['id']}", expect=204)
    final = slow.wait_run(collection_id, ingestion["id"], run["id"])
    assert [e["status"] for e in final["operation"]["statusHistory"]] == ["Pending", "Running", "Canceled"]
    assert final["operation"]["totalSuccessfulItems"] < 6


def test_managed_identity_source_reads_as_the_catalog(azurite, emulator):
    api = RawClient(emulator.url)
    container, url, collection_id = prepared(azurite, api, with_source=False)
    body = {"kind": "BlobManagedIdentity", "connectionInfo": {"containerUrl": url, "objectId": "unknown"}}
    source = api.call("POST", "/inma/ingestion-sources", body, expect=201).json()
    ingestion, run = api.start_run(collection_id, f"{url}/catalog.json")
    run = api.wait_run(collection_id, ingestion["id"], run["id"])
    assert run["operation"]["statusHistory"][-1]["errorCode"] == "ManagedIdentityInfoNotFound"

    body["connectionInfo"]["objectId"] = DEFAULT_MANAGED_IDENTITY["objectId"]
    replaced = api.call("PUT", f"/inma/ingestion-sources/{source['id']}", body, expect=200).json()
    assert "created" not in replaced and replaced["connectionInfo"]["objectId"] == body["connectionInfo"]["objectId"]
    run = api.wait_run(collection_id, ingestion["id"], api.rerun(collection_id, ingestion["id"])["id"])
    assert run["operation"]["status"] == "Succeeded" and run["operation"]["totalSuccessfulItems"] == 6


def test_no_sas_reaches_the_log_even_at_debug(azurite, tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GEOCATALOG_EMULATOR_ASSET_CONNECTION_STRING": azurite.connection_string,
    }
    cmd = [sys.executable, "-m", "geocatalog_emulator", "--port", "0", "--log-level", "DEBUG"]
    cmd += ["--ca-bundle", str(azurite.cert_path)]
    log = tmp_path / "emulator.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            url = proc.stdout.readline().rsplit(" ", 1)[1].strip()
            api = RawClient(url)
            container, container_url, collection_id = prepared(azurite, api, with_source=False)
            token = container_sas(azurite.connection_string, container)
            api.add_sas_source(container_url, token)
            for catalog in ("catalog.json", "missing.json"):
                ingestion, run = api.start_run(collection_id, f"{container_url}/{catalog}")
                api.wait_run(collection_id, ingestion["id"], run["id"])
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
    text = log.read_text()
    assert container_url in text and token.split("sig=")[1] not in text and "sig=" not in text
