"""Drop catalogs into the running twin and watch the real functions ingest them (all through real HTTP)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from local_twin.processes import wait_gone
from tests.e2e.twin import SAMPLE, TERMINAL, Twin, item_ids, local_twin, wait_for, with_catalog_id

pytestmark = pytest.mark.e2e

RUNS_ROUTE = "POST /inma/collections/{collectionId}/ingestions/{ingestionId}/runs"


def test_drop_then_the_same_content_then_changed_content(twin: Twin) -> None:
    ids = item_ids(SAMPLE)
    blob = twin.upload_catalog(SAMPLE, "e2e-drop", with_catalog_id("e2e-drop"))
    first = twin.wait_terminal(blob)
    assert first["state"] == "SUCCEEDED", first
    assert first["collection_id"] == "e2e-drop"
    assert first["total_items"] == first["successful_items"] == len(ids)
    assert first["failed_items"] == first["pending_items"] == 0
    state = twin.state("e2e-drop")
    assert (len(state["collections"]), len(state["ingestions"]), len(state["runs"])) == (1, 1, 1)
    assert len(state["sources"]) == 1  # one source for the container, whatever else was dropped there
    assert twin.stac_ids("e2e-drop") == ids

    # The same bytes again: a new ETag, a new BlobCreated event, and nothing new in the GeoCatalog.
    data = blob.download_blob().readall()
    blob.upload_blob(data, overwrite=True)
    twin.wait_delivered(blob)
    time.sleep(2)  # two reconcile passes: nothing may start late either
    state = twin.state("e2e-drop")
    assert (len(state["ingestions"]), len(state["runs"])) == (1, 1), state["runs"]

    # Changed content: a new run on the same ingestion definition.
    doc = json.loads(data)
    doc["description"] = "changed by the e2e test"
    blob.upload_blob(json.dumps(doc).encode(), overwrite=True)
    second = twin.wait_terminal(blob)
    assert second["state"] == "SUCCEEDED", second
    assert second["ingestion_id"] == first["ingestion_id"]
    assert second["run_id"] and second["run_id"] != first["run_id"]
    state = twin.state("e2e-drop")
    assert (len(state["collections"]), len(state["ingestions"]), len(state["runs"])) == (1, 1, 2)
    assert len(state["sources"]) == 1


# Where the host loop dies: while the GeoCatalog is answering the request that creates the
# collection, the ingestion definition, or the run (the service does the work; the answer is lost).
KILL_POINTS = {
    "collection": ("POST /stac/collections", lambda st: st["collections"]),
    "ingestion": ("POST /inma/collections/{collectionId}/ingestions", lambda st: st["ingestions"]),
    "run": (RUNS_ROUTE, lambda st: st["runs"]),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killing_the_host_loop_mid_pipeline_still_ends_succeeded_with_one_of_each(twin: Twin, point: str) -> None:
    route, created = KILL_POINTS[point]
    cid = f"e2e-kill-{point}"
    before = twin.emulator("GET", "/_emulator/requests")["counts"].get(route, 0)
    twin.emulator("POST", "/_emulator/faults", {"route": route, "latencyMs": 1500, "count": 1})
    blob = twin.upload_catalog(SAMPLE, cid, with_catalog_id(cid))
    wait_for(lambda: twin.emulator("GET", "/_emulator/requests")["counts"].get(route, 0) > before,
             f"the {point} request", timeout=30, every=0.05)  # fmt: skip

    pid = twin.pids()["HOSTLOOP_PID"]
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid, 10)
    job = twin.job(blob)
    assert job is not None and job["state"] not in TERMINAL and not job["run_id"], job  # claimed, mid-pipeline
    # The service finishes the request the dead loop was waiting for; only then does a new loop start.
    wait_for(lambda: created(twin.state(cid)), f"the emulator to finish the {point} request", timeout=30)
    local_twin(twin.state_dir, "restart-hostloop")
    assert twin.pids()["HOSTLOOP_PID"] != pid

    job = twin.wait_terminal(blob, timeout=60)
    assert job["state"] == "SUCCEEDED", job
    assert job["total_items"] == job["successful_items"] == len(item_ids(SAMPLE))
    state = twin.state(cid)
    assert (len(state["collections"]), len(state["ingestions"]), len(state["runs"])) == (1, 1, 1), state
    assert len(state["sources"]) == 1
    assert [j["run_id"] for j in twin.jobs() if j["collection_id"] == cid and j["run_id"]] == [job["run_id"]]
