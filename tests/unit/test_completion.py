"""The completion event's shape, from a job; publishing is covered against the topic stand-in (integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ingest_core.completion import (
    RETRY_GRACE,
    RETRY_WINDOW,
    completion_event,
    event_subject,
    event_type,
    retry_unpublished,
)
from ingest_core.ledger import Job
from ingest_core.states import JobState

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


class _Ledger:
    """Stand-in for the job table: the real Ledger stamps updated_at with now, so an old row cannot be made there."""

    def __init__(self, jobs):
        self._jobs = jobs

    def jobs(self, states=None):
        return [j for j in self._jobs if states is None or j.state in states]


class _Publisher:
    enabled = True
    retry_grace = RETRY_GRACE

    def __init__(self):
        self.notified = []

    def notify(self, ledger, job):
        self.notified.append(job.job_id)
        job.event_published = True


def test_retry_covers_recent_unpublished_jobs_only():
    now = datetime.now(UTC)
    recent = Job(job_id="recent", blob_url=URL, etag="e", state=JobState.FAILED, updated_at=now.isoformat())
    old = Job(job_id="old", blob_url=URL, etag="e", state=JobState.FAILED,
              updated_at=(now - RETRY_WINDOW - timedelta(minutes=1)).isoformat())  # fmt: skip
    done = Job(job_id="done", blob_url=URL, etag="e", state=JobState.SUCCEEDED, updated_at=now.isoformat(),
               event_published=True)  # fmt: skip
    running = Job(job_id="running", blob_url=URL, etag="e", state=JobState.RUNNING, updated_at=now.isoformat())
    just_ended = Job(job_id="just", blob_url=URL, etag="e", state=JobState.INVALID, updated_at=now.isoformat())
    recent.updated_at = (now - RETRY_GRACE - timedelta(seconds=1)).isoformat()
    publisher = _Publisher()
    # `just_ended` is still its worker's to publish: a retry now could send it twice.
    assert retry_unpublished(_Ledger([recent, old, done, running, just_ended]), publisher) == 1
    assert publisher.notified == ["recent"]
    assert retry_unpublished(_Ledger([recent]), None) == 0
