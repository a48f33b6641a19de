"""reconcile (the pass) and failed attempts: every failure recorded and bounded, on the fast in-memory tier.

The same behaviour runs against the emulator's injected faults in tests/integration/test_failures.py.
"""

from __future__ import annotations

import dataclasses
import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace

import pytest

from ingest_core.errors import TransientError
from ingest_core.events import Drop
from ingest_core.job import now_utc
from ingest_core.ledger import OPEN, Ledger
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.states import JobState
from ingest_core.table_store import MemoryTableStore
from tests.unit.memory_twin import ACCOUNT, drop_of, memory_runtime, put_catalog, run_fails_for


def failing(times: int, real):
    """A GeoCatalog call that answers 503 `times` times, then works."""
    left = [times]

    def call(*args, **kwargs):
        if left[0] > 0:
            left[0] -= 1
            raise TransientError("GeoCatalog POST /inma/ingestion-sources still failing after 2 attempts (HTTP 503)")
        return real(*args, **kwargs)

    return call


def due_after_one_failure(rt, monkeypatch, name):
    """A job whose first attempt hit a 503 on the source POST, made due again at once (the POST works now)."""
    monkeypatch.setattr(rt.geocatalog, "create_source", failing(1, rt.geocatalog.create_source))
    with pytest.raises(TransientError):
        handle_drop(rt, drop_of(rt, put_catalog(rt, name, catalog_id=name)))
    (job,) = rt.ledger.open_jobs()
    return rt.ledger.update(job, next_attempt_at=now_utc() - timedelta(seconds=1))


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


def test_queued_jobs_take_every_freed_slot_and_stop_at_the_first_left_queued():
    rt = memory_runtime(max_concurrent_runs=2)
    busy = [handle_drop(rt, drop_of(rt, put_catalog(rt, f"busy{k}", catalog_id=f"busy-{k}"))) for k in range(2)]
    queued = [handle_drop(rt, drop_of(rt, put_catalog(rt, f"q{k}", catalog_id=f"queued-{k}"))) for k in range(3)]
    for job in busy:
        rt.geocatalog.finish(job.run_id, ok=2)
    summary = reconcile(rt)
    assert summary.resumed == {queued[0].job_id: "RUNNING", queued[1].job_id: "RUNNING", queued[2].job_id: "QUEUED"}
    assert rt.ledger.get(queued[2].job_id).state == JobState.QUEUED


def test_every_job_a_pass_worked_on_counts_as_worked_none_as_skipped(monkeypatch):
    rt = memory_runtime()
    resumed = due_after_one_failure(rt, monkeypatch, "resumed")
    finished, followed, errored = (handle_drop(rt, drop_of(rt, put_catalog(rt, name, catalog_id=name)))
                                   for name in ("finished", "followed", "errored"))  # fmt: skip
    rt.geocatalog.finish(finished.run_id, ok=2)
    outage = TransientError("GeoCatalog GET /runs/{runId} still failing after 2 attempts (HTTP 503)")
    monkeypatch.setattr(rt.geocatalog, "get_run", run_fails_for(rt, errored.run_id, outage))
    summary = reconcile(rt)
    assert (list(summary.finished), list(summary.followed)) == ([finished.job_id], [followed.job_id])
    assert (list(summary.resumed), list(summary.errors)) == ([resumed.job_id], [errored.job_id])
    assert summary.touched() == {finished.job_id, followed.job_id, resumed.job_id, errored.job_id}
    assert summary.skipped == 0


def test_a_pass_takes_jobs_up_to_the_last_instant_of_its_budget(monkeypatch):
    rt = memory_runtime(reconcile_budget_seconds=2)
    for k in range(3):
        handle_drop(rt, drop_of(rt, put_catalog(rt, f"r{k}", catalog_id=f"coll-{k}")))
    ticks = itertools.count()  # a clock that moves one second each time the pass reads it: starts at 0
    monkeypatch.setattr("ingest_core.reconcile.time", SimpleNamespace(monotonic=lambda: next(ticks)))
    summary = reconcile(rt)
    assert len(summary.followed) == 2 and summary.skipped == 1  # taken at 1 s and at 2 s (the end), not at 3 s


def test_a_job_is_due_from_the_instant_of_its_next_attempt(monkeypatch):
    rt = memory_runtime()
    job = due_after_one_failure(rt, monkeypatch, "coll")
    due_at = rt.ledger.get(job.job_id).next_attempt_at
    monkeypatch.setattr("ingest_core.reconcile.now_utc", lambda: due_at - timedelta(microseconds=1))
    assert reconcile(rt).resumed == {}  # a moment early: not yet
    monkeypatch.setattr("ingest_core.reconcile.now_utc", lambda: due_at)
    assert reconcile(rt).resumed == {job.job_id: "RUNNING"}


def test_a_pass_talks_to_the_service_through_the_client_that_does_not_wait(monkeypatch):
    rt = memory_runtime()
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    impatient = dataclasses.replace(rt.geocatalog, calls=[])  # the same service state, its own call record
    monkeypatch.setattr(rt.geocatalog, "impatient", lambda: impatient)
    rt.geocatalog.calls.clear()
    rt.geocatalog.finish(job.run_id, ok=2)
    assert reconcile(rt).finished == {job.job_id: "SUCCEEDED"}
    assert "get_run" in impatient.calls and rt.geocatalog.calls == []


def test_a_pass_runs_at_most_reconcile_workers_jobs_at_once(monkeypatch):
    rt = memory_runtime(reconcile_workers=3)
    handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    sizes = []

    class Pool(ThreadPoolExecutor):
        def __init__(self, max_workers=None, **kwargs):
            sizes.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr("ingest_core.reconcile.ThreadPoolExecutor", Pool)
    reconcile(rt)
    assert sizes == [3]


class _Publisher:
    """Stands in for the Event Grid client: records the completion events it was asked to send."""

    enabled = True
    retry_grace = timedelta(0)

    def __init__(self):
        self.published: list[str] = []

    def publish_completion(self, job):
        self.published.append(job.job_id)
        return True


def test_a_pass_sends_the_completion_events_that_did_not_go_out():
    ledger = Ledger(MemoryTableStore(), outbox=True)  # no in-line publish: as if the topic was down when it ended
    rt = dataclasses.replace(memory_runtime(), ledger=ledger, completion=_Publisher())
    drop = Drop(account="acct", container="cat", path="a/catalog.json", url=f"{ACCOUNT}/cat/a/catalog.json", etag="e")
    job = ledger.transition(ledger.claim(drop, 60).job, JobState.INVALID, last_error="bad")
    summary = reconcile(rt)
    assert summary.events_published == 1 and rt.completion.published == [job.job_id]
    assert not ledger.event_pending(job.job_id)
    assert reconcile(rt).events_published == 0  # sent once: never again
