"""Completion events: one CloudEvent per terminal job, through the official azure-eventgrid client to the local
topic stand-in (which writes EVENTS_LOG); a topic outage delays the event, never changes the job."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_core.states import JobState
from local_twin.topic import TopicStandIn
from tests.integration.twin_helpers import drop, reconcile_until, runtime_for, upload_catalog

KEY = "topic-test-key"
DATA_KEYS = {"jobId", "state", "catalogUrl", "collectionId", "ingestionId", "runIds", "counters", "reportUrl",
             "error", "warnings", "configuration", "createdAt", "finishedAt"}  # fmt: skip


@pytest.fixture
def topic(tmp_path):
    stand_in = TopicStandIn(tmp_path / "events.jsonl", KEY).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def twin_events(twin, azurite, emulator, topic):
    container, _ = twin
    rt = runtime_for(azurite, emulator, container, completion_topic_endpoint=topic.endpoint, completion_topic_key=KEY)
    rt.completion.retry_grace = timedelta(seconds=1)  # the 20 s default would only make these tests wait
    return container, rt


def test_a_succeeded_job_publishes_exactly_one_event_with_the_documented_schema(twin_events, topic):
    container, rt = twin_events
    url = upload_catalog(container, "done", n_items=2, catalog_id="cat-done")
    job = drop(rt, url)
    assert topic.events() == []  # RUNNING is not terminal
    job = reconcile_until(rt, job.job_id, lambda j: j.state.terminal)
    assert job.state == JobState.SUCCEEDED and not rt.ledger.event_pending(job.job_id)
    reconcile_until(rt, job.job_id, lambda j: True)  # another pass must not publish again
    (event,) = topic.events()
    assert event["id"] == job.job_id and event["specversion"] == "1.0"
    assert event["type"] == "CatalogIngest.Ingestion.Succeeded"
    assert event["subject"] == f"/blobServices/default/containers/{container.container_name}/blobs/done/catalog.json"
    assert event["source"] == rt.settings.geocatalog_endpoint
    data = event["data"]
    assert set(data) == DATA_KEYS
    assert data["catalogUrl"] == url and data["collectionId"] == "cat-done" and data["runIds"] == [job.run_id]
    assert data["counters"] == {"total": 2, "successful": 2, "failed": 0, "pending": 0}
    assert data["error"] is None and data["reportUrl"].endswith(f"done/catalog.json/{job.job_id}.json")
    assert "sig=" not in str(event) and KEY not in str(event)


def test_an_invalid_job_publishes_invalid_with_the_error(twin_events, topic):
    container, rt = twin_events
    container.upload_blob("bad/catalog.json", b"{not json")
    job = drop(rt, f"{container.url}/bad/catalog.json")
    assert job.state == JobState.INVALID and not rt.ledger.event_pending(job.job_id)
    (event,) = topic.events()
    assert event["type"] == "CatalogIngest.Ingestion.Invalid"
    assert "not valid JSON" in event["data"]["error"]["message"] and event["data"]["runIds"] == []


def test_a_topic_outage_delays_the_event_which_arrives_once_after_recovery(twin_events, topic):
    container, rt = twin_events
    topic.fail_next(3)  # the first publish (2 attempts) and reconcile's first retry fail
    container.upload_blob("bad/catalog.json", b"[]")
    job = drop(rt, f"{container.url}/bad/catalog.json")
    assert job.state == JobState.INVALID and rt.ledger.event_pending(job.job_id)  # the outcome stands
    assert topic.events() == []
    job = reconcile_until(rt, job.job_id, lambda j: not rt.ledger.event_pending(j.job_id))
    assert job.state == JobState.INVALID
    reconcile_until(rt, job.job_id, lambda j: True)
    assert [e["id"] for e in topic.events()] == [job.job_id]


def test_no_topic_configured_means_no_event_and_nothing_pending(twin, topic):
    container, rt = twin
    container.upload_blob("bad/catalog.json", b"[]")
    job = drop(rt, f"{container.url}/bad/catalog.json")
    assert job.state == JobState.INVALID and rt.completion is not None and not rt.completion.enabled
    assert topic.events() == []
