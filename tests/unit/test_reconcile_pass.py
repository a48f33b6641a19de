"""reconcile (the pass) and failed attempts: every failure recorded and bounded, on the fast in-memory tier.

The same behaviour runs against the emulator's injected faults in tests/integration/test_failures.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_core.errors import TransientError
from ingest_core.job import now_utc
from ingest_core.ledger import OPEN
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.states import JobState
from tests.unit.memory_twin import drop_of, memory_runtime, put_catalog


def failing(times: int, real):
    """A GeoCatalog call that answers 503 `times` times, then works."""
    left = [times]

    def call(*args, **kwargs):
        if left[0] > 0:
            left[0] -= 1
            raise TransientError("GeoCatalog POST /inma/ingestion-sources still failing after 2 attempts (HTTP 503)")
        return real(*args, **kwargs)

    return call


def test_a_transient_failure_is_recorded_with_where_and_when_and_retried_once_due(monkeypatch):
    rt = memory_runtime()
    monkeypatch.setattr(rt.geocatalog, "create_source", failing(1, rt.geocatalog.create_source))
    url = put_catalog(rt, "a", catalog_id="coll")
    with pytest.raises(TransientError):
        handle_drop(rt, drop_of(rt, url))
    (job,) = rt.ledger.open_jobs()
    assert job.state == JobState.RECEIVED and "503" in job.last_error and job.last_error.startswith("attempt 1 failed")
    assert job.error_where.startswith("POST /inma/ingestion-sources") and job.attempts == 1
    assert job.next_attempt_at > now_utc() and job.lease_until is None
    assert reconcile(rt).resumed == {}  # not due yet: no retry storm
    rt.ledger.update(job, next_attempt_at=now_utc() - timedelta(seconds=1))
    summary = reconcile(rt)
    assert summary.resumed == {job.job_id: "RUNNING"}
    done = rt.ledger.get(job.job_id)
    assert done.attempts == 2 and len(rt.geocatalog.sources) == 1 and len(rt.geocatalog.runs) == 1


def test_a_job_that_keeps_failing_transiently_ends_failed_with_the_last_error(monkeypatch):
    rt = memory_runtime(transient_give_up_minutes=1)
    monkeypatch.setattr(rt.geocatalog, "create_source", failing(99, rt.geocatalog.create_source))
    url = put_catalog(rt, "a", catalog_id="coll")
    with pytest.raises(TransientError):
        handle_drop(rt, drop_of(rt, url))
    (job,) = rt.ledger.open_jobs()
    row = rt.ledger.store.get(OPEN, job.job_id)  # it has been failing for a while: its row says so
    rt.ledger.store.replace({**row, "created_at": (now_utc() - timedelta(minutes=2)).isoformat(), "next_attempt_at": ""},
                            row["_etag"])  # fmt: skip
    reconcile(rt)
    ended = rt.ledger.get(job.job_id)
    assert ended.state == JobState.FAILED and "gave up after 1 minutes" in ended.last_error
    assert "503" in ended.last_error and "--force" in ended.last_error and rt.ledger.open_jobs() == []


def test_a_run_that_cannot_be_followed_records_why_and_is_followed_again_later(monkeypatch):
    rt = memory_runtime()
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))

    def down(*args):
        raise TransientError("GeoCatalog GET /runs/{runId} still failing after 2 attempts (HTTP 503)")

    monkeypatch.setattr(rt.geocatalog, "get_run", down)
    assert job.job_id in reconcile(rt).errors
    after = rt.ledger.get(job.job_id)
    assert after.state == JobState.RUNNING and "503" in after.last_error and after.next_attempt_at > now_utc()
    assert reconcile(rt).errors == {}  # not due: the pass does not spend time on it again


def test_a_pass_stops_taking_jobs_when_its_budget_is_spent():
    rt = memory_runtime(reconcile_budget_seconds=1e-9)
    handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    summary = reconcile(rt)
    assert summary.touched() == set() and summary.skipped == 1


def test_queued_jobs_start_oldest_first():
    rt = memory_runtime(max_concurrent_runs=1)
    busy = handle_drop(rt, drop_of(rt, put_catalog(rt, "busy", catalog_id="busy")))
    older = handle_drop(rt, drop_of(rt, put_catalog(rt, "q1", catalog_id="queued-1")))
    younger = handle_drop(rt, drop_of(rt, put_catalog(rt, "q2", catalog_id="queued-2")))
    assert (older.state, younger.state) == (JobState.QUEUED, JobState.QUEUED)
    rt.geocatalog.finish(busy.run_id, ok=2)
    summary = reconcile(rt)
    assert summary.resumed[older.job_id] == "RUNNING"  # the one freed slot goes to the older job
    assert rt.ledger.get(younger.job_id).state == JobState.QUEUED
