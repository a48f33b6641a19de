"""The reconcile timer: follow runs to their end, resume stalled or deferred jobs, start queued ones."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ingest_core.completion import retry_unpublished
from ingest_core.errors import IngestError, ServiceError, StaleJob, TransientError
from ingest_core.job import Job, now_utc
from ingest_core.parts import follow_part, start_part
from ingest_core.reruns import final_counters, rerun_or_end
from ingest_core.runtime import Runtime
from ingest_core.states import JobState

log = logging.getLogger(__name__)

# Attempts after which a job that keeps hitting an unexpected error is FAILED instead of retried forever.
MAX_ATTEMPTS = 5


@dataclass
class Summary:
    """What one reconcile pass did, by job id."""

    finished: dict[str, str] = field(default_factory=dict)
    followed: dict[str, str] = field(default_factory=dict)
    resumed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: int = 0  # due jobs left for the next pass (the budget ran out, or no slot was free)
    events_published: int = 0  # completion events that went out on this pass's retry

    def touched(self) -> set[str]:
        """Jobs this pass worked on."""
        return set(self.finished) | set(self.followed) | set(self.resumed) | set(self.errors)


def outcome(run: dict[str, Any]) -> tuple[JobState | None, str]:
    """Map a run to a terminal job state (None while in flight) and its error text."""
    op = run.get("operation", {})
    status = str(op.get("status", "")).lower()
    ok, failed = op.get("totalSuccessfulItems", 0), op.get("totalFailedItems", 0)
    last = (op.get("statusHistory") or [{}])[-1]
    error = f"{last.get('errorCode', '')}: {last.get('errorMessage', '')}".strip(": ") if last.get("errorCode") else ""
    if status in ("succeeded", "success", "suceeded", "finished"):
        return (JobState.PARTIAL if failed else JobState.SUCCEEDED), (f"{failed} item(s) failed" if failed else "")
    if status in ("failed", "canceled"):
        state = JobState.PARTIAL if ok and failed else JobState.FAILED
        return state, error or f"run {status}"
    return None, ""


def follow_run(rt: Runtime, job: Job) -> Job:
    """Record a RUNNING job's counters; move it to its terminal state when the run has ended."""
    if job.parts and not job.run_id:  # an attempt died between recording a part and its run
        return start_part(rt, job)
    try:
        run = rt.geocatalog.get_run(job.collection_id, job.ingestion_id, job.run_id)
    except ServiceError as exc:
        if exc.status != 404:
            raise
        # Deleted on the service (with its ingestion or collection): it will never finish, and it holds a slot.
        gone = f"{exc.code}: run {job.run_id} no longer exists"
        if job.parts:
            return follow_part(rt, job, {}, JobState.FAILED, gone)
        return rt.ledger.transition(job, JobState.FAILED, last_error=gone)
    if job.parts:  # a catalog over MAX_ITEMS_PER_INGESTION: this run is one of its parts
        return follow_part(rt, job, run, *outcome(run))
    op = run.get("operation", {})
    counters = {
        "total_items": op.get("totalItems") or job.total_items,  # 0 until the service has walked the catalog
        "successful_items": op.get("totalSuccessfulItems", 0),
        "failed_items": op.get("totalFailedItems", 0),
        "pending_items": op.get("totalPendingItems", 0),
    }
    state, error = outcome(run)
    if state is None:
        if all(getattr(job, k) == v for k, v in counters.items()):
            return job  # nothing new: no write
        return rt.ledger.update(job, **counters)
    if state != JobState.SUCCEEDED:  # failed items: a failed-items-only re-run when the codes are transient
        after = rerun_or_end(rt, job, run, error, counters)
        if after.job is not None:
            return after.job
        error = after.last_error
    return rt.ledger.transition(job, state, last_error=error, **final_counters(job, counters))


def _due_first(job: Job) -> tuple:
    """Jobs whose next attempt is due (or that have none) before those waiting; oldest first within."""
    return (job.next_attempt_at or job.created_at, job.created_at)


def reconcile(rt: Runtime) -> Summary:
    """One pass over unfinished jobs, within RECONCILE_BUDGET_SECONDS; one job's failure never stops the others.

    Runs are followed first (concurrently: that frees slots), then due jobs are resumed (concurrently), then
    queued jobs start oldest first until no slot is free. Calls do not wait out long Retry-Afters: such a job
    records the failure and is due again later. Jobs not reached within the budget wait for the next pass.
    """
    summary = Summary()
    deadline = time.monotonic() + rt.settings.reconcile_budget_seconds
    rt_pass = replace(rt, geocatalog=rt.geocatalog.impatient())
    rt.ledger.free_orphan_slots()
    now = now_utc()
    due = [
        j
        for j in sorted(rt.ledger.open_jobs(), key=_due_first)
        if j.next_attempt_at is None or j.next_attempt_at <= now
    ]
    running = [j for j in due if j.state == JobState.RUNNING]
    waiting = [j for j in due if j.state in (JobState.RECEIVED, JobState.DEFERRED)]
    queued = [j for j in due if j.state == JobState.QUEUED]
    with ThreadPoolExecutor(rt.settings.reconcile_workers, thread_name_prefix="reconcile") as pool:
        for batch in (running, waiting):
            list(pool.map(lambda job: _one(rt_pass, job, summary, deadline), batch))
    for job in queued:  # oldest first, one at a time, so the queue keeps its order
        if _one(rt_pass, job, summary, deadline) == JobState.QUEUED:
            break  # no slot free: the younger ones would stay queued too
    summary.skipped = sum(1 for j in due if j.job_id not in summary.touched())
    summary.events_published = retry_unpublished(rt.ledger, rt.completion)
    return summary


def _one(rt: Runtime, job: Job, summary: Summary, deadline: float) -> JobState | None:
    """Follow or resume one job; its state after, or None when it was not worked on."""
    from ingest_core.pipeline import advance, attempt_failed  # the pipeline imports nothing from here

    if time.monotonic() > deadline:
        return None
    try:
        if job.state == JobState.RUNNING:
            after = follow_run(rt, job)
            if after.state.terminal:
                summary.finished[job.job_id] = after.state.value
            else:
                summary.followed[job.job_id] = after.state.value
            return after.state
        if not rt.ledger.take_lease(job, rt.settings.claim_lease_seconds):
            return None
        after = advance(rt, job)
        summary.resumed[job.job_id] = after.state.value
        return after.state
    except StaleJob:
        rt.ledger.tidy(job.job_id)  # it may have ended elsewhere, leaving its open row behind
        return None
    except TransientError as exc:  # recorded on the job, with its next attempt (advance records its own)
        if job.state == JobState.RUNNING:
            attempt_failed(rt, job, exc)
        summary.errors[job.job_id] = str(exc)
        return None
    except Exception as exc:  # one job's fault (or a bug it triggers) must not stop the pass for the others
        log.warning("reconcile: job %s: %s: %s", job.job_id, type(exc).__name__, exc)
        summary.errors[job.job_id] = f"{type(exc).__name__}: {exc}"
        _give_up_if_stuck(rt, job.job_id, exc)
        return None


def _give_up_if_stuck(rt: Runtime, job_id: str, exc: Exception) -> None:
    """A job that keeps failing unexpectedly ends FAILED after MAX_ATTEMPTS, so it stops holding its place."""
    job = rt.ledger.get(job_id)
    if job is None or job.state.terminal or job.attempts < MAX_ATTEMPTS or isinstance(exc, IngestError):
        return
    try:
        rt.ledger.transition(
            job,
            JobState.FAILED,
            last_error=f"internal error after {job.attempts} attempts ({type(exc).__name__}): report it with this job id",
        )
    except (StaleJob, ValueError):  # ValueError: IllegalTransition
        pass
