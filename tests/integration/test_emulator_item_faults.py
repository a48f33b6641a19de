"""Item-failure faults over real HTTP and Azurite: chosen items fail once with a code, the next run ingests them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from geocatalog_emulator.testing import RawClient, container_sas
from tests.integration.test_emulator_ingest import SAMPLE_IDS, Sample, counters, ingest, new_sample


@pytest.fixture
def api(emulator: Any) -> Iterator[RawClient]:
    client = RawClient(emulator.url)
    client.admin("DELETE", "faults")
    yield client
    client.admin("DELETE", "faults")  # the emulator is shared by the session


@pytest.fixture
def sample(azurite: Any, api: RawClient) -> Sample:
    made = new_sample(azurite, api)
    api.add_sas_source(made.container_url, container_sas(azurite.connection_string, made.container))
    return made


def search_ids(api: RawClient, collection_id: str) -> set[str]:
    body = {"collections": [collection_id], "limit": 100}
    return {f["id"] for f in api.call("POST", "/stac/search", body, expect=200).json()["features"]}


def test_chosen_items_fail_once_with_the_code_and_a_skip_existing_rerun_ingests_them(api, sample):
    spec = {"kind": "item-failure", "items": ["landcover-a-2", "landcover-b-1"], "code": "InternalIntermitentError"}
    fault = api.admin("POST", "faults", spec)
    assert fault["kind"] == "item-failure" and fault["times"] == 1 and fault["fired"] == 0
    ingestion, run = ingest(api, sample, skipExistingItems=True)
    op = run["operation"]
    assert op["status"] == "Failed" and counters(run) == (6, 4, 2, 0)
    assert op["statusHistory"][-1]["errorCode"] == "InternalIntermitentError"
    assert search_ids(api, sample.collection_id) == SAMPLE_IDS - {"landcover-a-2", "landcover-b-1"}
    assert api.admin("GET", "faults")["itemFaults"][0]["fired"] == 2
    again = api.rerun(sample.collection_id, ingestion["id"])
    done = api.wait_run(sample.collection_id, ingestion["id"], again["id"])
    assert done["operation"]["status"] == "Succeeded" and counters(done) == (6, 6, 0, 0)
    (state,) = [r for r in api.admin("GET", "state")["runs"] if r["id"] == again["id"]]
    assert state["skippedItems"] == 4 and done["skipExistingItems"] is True
    assert search_ids(api, sample.collection_id) == SAMPLE_IDS


def test_a_run_with_other_failures_too_ends_with_the_aggregate_code(azurite, api, sample):
    api.admin("POST", "faults", {"kind": "item-failure", "items": ["landcover-a-1"], "code": "InternalError"})
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        sample.container
    )
    container.delete_blob("region-b/landcover-b-2/landcover-b-2.json")
    _, run = ingest(api, sample)
    last = run["operation"]["statusHistory"][-1]
    assert counters(run) == (6, 4, 2, 0) and last["errorCode"] == "ErrorsInBatchOperation"
    assert "2 of 6 items failed to ingest; first: " in last["errorMessage"]


def test_item_faults_are_listed_cleared_and_reset(api):
    api.admin("POST", "faults", {"kind": "item-failure", "code": "InternalError", "rate": 0.5})
    api.admin("POST", "faults", {"route": "GET /stac", "status": 503, "count": 1})
    listed = api.admin("GET", "faults")
    assert len(listed["faults"]) == 1 and [f["code"] for f in listed["itemFaults"]] == ["InternalError"]
    for bad in ({"kind": "item-failure", "code": "InternalError", "times": 0}, {"kind": "other", "route": "*"}):
        response = api.session.post(f"{api.url}/_emulator/faults", json=bad, timeout=10)
        assert response.status_code == 400 and response.json()["error"]["message"]
    api.admin("POST", "reset")
    assert api.admin("GET", "faults") == {"faults": [], "itemFaults": []}
    api.admin("POST", "faults", {"kind": "item-failure", "code": "InternalError"})
    api.admin("DELETE", "faults")
    assert api.admin("GET", "faults")["itemFaults"] == []
