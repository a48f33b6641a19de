"""Completion events in the running twin: exactly one per terminal job in EVENTS_LOG, also across a topic outage.

Named to run after the other e2e files, so its final check covers every terminal state the suite reached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.twin import SAMPLE, TERMINAL, Twin, wait_for, with_catalog_id

pytestmark = pytest.mark.e2e

DATA_KEYS = {"jobId", "state", "catalogUrl", "collectionId", "ingestionId", "runIds", "counters", "reportUrl",
             "error", "warnings", "configuration", "createdAt", "finishedAt"}  # fmt: skip


def events(twin: Twin) -> list[dict[str, Any]]:
    path = Path(twin.env["EVENTS_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_topic_outage_delays_the_event_which_then_arrives_once(twin: Twin) -> None:
    topic = twin.env["COMPLETION_TOPIC_ENDPOINT"].rsplit("/api/", 1)[0]
    requests.post(f"{topic}/_topic/fail", params={"count": 5}, timeout=10).raise_for_status()
    container = twin.blob_service().get_container_client(twin.env["CATALOG_CONTAINER"])
    blob = container.upload_blob("e2e-events-bad/catalog.json", b"{not json", overwrite=True)
    job = twin.wait_terminal(blob)
    assert job["state"] == "INVALID"
    late = lambda: next((e for e in events(twin) if e["id"] == job["job_id"]), None)  # noqa: E731
    event = wait_for(late, "the late event", timeout=90)  # reconcile waits 20 s before retrying
    assert event["type"] == "CatalogIngest.Ingestion.Invalid" and "not valid JSON" in event["data"]["error"]["message"]


def test_every_terminal_job_of_the_suite_has_exactly_one_event_with_the_schema(twin: Twin) -> None:
    blob = twin.upload_catalog(SAMPLE, "e2e-events", with_catalog_id("e2e-events"))
    assert twin.wait_terminal(blob)["state"] == "SUCCEEDED"

    def settled() -> list[dict[str, Any]] | None:
        jobs = [j for j in twin.jobs() if j["state"] in TERMINAL]
        return jobs if all(j["event_published"] for j in jobs) else None

    terminal = wait_for(settled, "every terminal job's event")
    logged = events(twin)
    ids = [e["id"] for e in logged]
    assert len(ids) == len(set(ids)), "an event was published twice"
    assert set(ids) == {j["job_id"] for j in terminal}
    by_id = {j["job_id"]: j for j in terminal}
    for event in logged:
        job = by_id[event["id"]]
        assert event["specversion"] == "1.0" and event["source"] == twin.env["GEOCATALOG_ENDPOINT"]
        assert event["type"] == f"CatalogIngest.Ingestion.{job['state'].title()}"
        assert event["subject"].startswith("/blobServices/default/containers/")
        assert set(event["data"]) == DATA_KEYS and event["data"]["catalogUrl"] == job["blob_url"]
        assert event["data"]["runIds"] == ([job["run_id"]] if job["run_id"] else [])
