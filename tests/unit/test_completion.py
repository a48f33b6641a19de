"""The completion event's shape, from a job; publishing is covered against the topic stand-in (integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ingest_core.completion import (
    RETRY_GRACE,
    CompletionPublisher,
    completion_event,
    event_subject,
    event_type,
    retry_unpublished,
)
from ingest_core.events import Drop
from ingest_core.job import Job
from ingest_core.ledger import OPEN, OUTBOX_PREFIX, Ledger
from ingest_core.states import JobState
from ingest_core.table_store import MemoryTableStore

URL = "https://acct.blob.core.windows.net/drops/area/a/catalog.json"


def test_type_and_subject():
    assert event_type("Contoso.Geo", JobState.PARTIAL) == "Contoso.Geo.Ingestion.Partial"
    assert event_subject(URL) == "/blobServices/default/containers/drops/blobs/area/a/catalog.json"


def test_failed_job_event_carries_error_counters_and_configuration():
    job = Job(job_id="j1", blob_url=URL, etag="e", state=JobState.FAILED, collection_id="c", run_id="r",
              ingestion_id="i", total_items=3, successful_items=0, failed_items=3, last_error="IngestionFailed: x",
              error_where="POST /runs", config_applied=json.dumps({"written": {"mosaics": ["m"]}}))  # fmt: skip
    event = completion_event(job, "https://gc", "CatalogIngest", "https://app/reports/j1.json")
    assert (event.id, event.type, event.source) == ("j1", "CatalogIngest.Ingestion.Failed", "https://gc")
    assert event.data["error"] == {"message": "IngestionFailed: x", "where": "POST /runs"}
    assert event.data["counters"] == {"total": 3, "successful": 0, "failed": 3, "pending": 0}
    assert event.data["runIds"] == ["r"] and event.data["configuration"] == {"written": {"mosaics": ["m"]}}


def test_ignored_job_without_a_run_has_empty_run_ids_and_no_error():
    job = Job(job_id="j2", blob_url=URL, etag="e", state=JobState.IGNORED)
    data = completion_event(job, "s", "P", "u").data
    assert data["runIds"] == [] and data["error"] is None and data["collectionId"] is None


class _Publisher:
    """Stands in for the Event Grid client only: records what it was asked to publish."""

    enabled = True
    retry_grace = RETRY_GRACE

    def __init__(self, fail: bool = False):
        self.published: list[str] = []
        self.fail = fail

    def publish_completion(self, job):
        if self.fail:
            return False
        self.published.append(job.job_id)
        return True

    notify = CompletionPublisher.notify


def _ended(ledger: Ledger, name: str, ago: timedelta) -> Job:
    drop = Drop(account="acct", container="drops", path=f"{name}/catalog.json",
                url=URL.replace("area/a", name), etag="e")  # fmt: skip
    job = ledger.transition(ledger.claim(drop, 60).job, JobState.INVALID, last_error="bad")
    row = ledger.store.get(OPEN, OUTBOX_PREFIX + job.job_id)
    ledger.store.upsert({**row, "ended_at": (datetime.now(UTC) - ago).isoformat()})  # as if it ended `ago`
    return job


def test_retry_publishes_only_pending_events_past_the_grace_and_clears_them():
    ledger = Ledger(MemoryTableStore(), outbox=True)
    old = _ended(ledger, "old", RETRY_GRACE + timedelta(seconds=5))
    just = _ended(ledger, "just", timedelta(0))  # still its worker's to publish: a retry now could send it twice
    publisher = _Publisher()
    assert retry_unpublished(ledger, publisher) == 1 and publisher.published == [old.job_id]
    assert not ledger.event_pending(old.job_id) and ledger.event_pending(just.job_id)
    assert retry_unpublished(ledger, publisher) == 0  # sent once: never again
    assert retry_unpublished(ledger, None) == 0


def test_a_failed_publish_keeps_the_event_pending_and_the_outcome():
    ledger = Ledger(MemoryTableStore(), outbox=True)
    job = _ended(ledger, "a", RETRY_GRACE * 2)
    assert retry_unpublished(ledger, _Publisher(fail=True)) == 0
    assert ledger.event_pending(job.job_id) and ledger.get(job.job_id).state == JobState.INVALID
    _Publisher().notify(ledger, ledger.get(job.job_id))
    assert not ledger.event_pending(job.job_id)


def test_without_events_no_outbox_row_is_written():
    ledger = Ledger(MemoryTableStore())
    drop = Drop(account="acct", container="drops", path="a/catalog.json", url=URL, etag="e")
    job = ledger.transition(ledger.claim(drop, 60).job, JobState.INVALID)
    assert not ledger.event_pending(job.job_id) and ledger.store.query(OPEN) == []
