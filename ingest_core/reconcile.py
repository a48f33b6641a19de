"""The reconcile timer: follow runs to their end, resume stalled or deferred jobs, start queued ones."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ingest_core.errors import IngestError, ServiceError
from ingest_core.ledger import Job, StaleJob
from ingest_core.runtime import Runtime
from ingest_core.states import JobState

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What one reconcile pass did, by job id."""

    finished: dict[str, str] = field(default_factory=dict)
    resumed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


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
    run = rt.geocatalog.get_run(job.collection_id, job.ingestion_id, job.run_id)
    op = run.get("operation", {})
    counters = {
        "total_items": op.get("totalItems") or job.total_items,  # 0 until the service has walked the catalog
        "successful_items": op.get("totalSuccessfulItems", 0),
        "failed_items": op.get("totalFailedItems", 0),
        "pending_items": op.get("totalPendingItems", 0),
    }
    state, error = outcome(run)
    if state is None:
        return rt.ledger.update(job, **counters)
    return rt.ledger.transition(job, state, last_error=error, **counters)


def reconcile(rt: Runtime) -> Summary:
    """One pass over unfinished jobs; one job's failure never stops the others."""
    from ingest_core.pipeline import advance  # the pipeline imports nothing from here; keep it one-way

    summary = Summary()
    lease = rt.settings.claim_lease_seconds
    for job in rt.ledger.jobs(states={JobState.RUNNING, JobState.RECEIVED, JobState.DEFERRED, JobState.QUEUED}):
        try:
            if job.state == JobState.RUNNING:
                after = follow_run(rt, job)
                if after.state.terminal:
                    summary.finished[job.job_id] = after.state.value
            elif rt.ledger.take_lease(job, lease):
                summary.resumed[job.job_id] = advance(rt, job).state.value
        except StaleJob:
            continue
        except (IngestError, ServiceError) as exc:
            log.warning("reconcile: job %s: %s", job.job_id, exc)
            summary.errors[job.job_id] = str(exc)
    return summary
