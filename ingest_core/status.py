"""What operators see: jobs filtered, one job in full, live progress, and replays of finished jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest_core.events import drop_from_blob_trigger
from ingest_core.job import Job, now_utc
from ingest_core.ledger import Ledger
from ingest_core.states import JobState

REPLAYABLE = (JobState.FAILED, JobState.PARTIAL, JobState.INVALID)


def select(
    jobs: list[Job],
    states: set[JobState] | None = None,
    since: datetime | None = None,
    collection: str | None = None,
    limit: int | None = None,
) -> list[Job]:
    """The jobs that match every given filter, newest last; at most `limit` (the newest ones)."""
    out = [
        j
        for j in jobs
        if (not states or j.state in states)
        and (since is None or j.created_at >= since)
        and (not collection or j.collection_id == collection)
    ]
    return out[-limit:] if limit else out


def line(job: Job) -> str:
    """One line per job: state, catalog, collection, counters, error."""
    counts = f"{job.successful_items}/{job.total_items} ok, {job.failed_items} failed, {job.pending_items} pending"
    if job.predicted_failures:
        counts += f", {job.predicted_failures} predicted to fail (see warnings)"
    error = (
        f"  error: {job.last_error}" + (f" (at {job.error_where})" if job.error_where else "") if job.last_error else ""
    )
    gave_up = (
        "  (the host stopped redelivering: reconcile retries)" if job.host_gave_up and not job.state.terminal else ""
    )
    due = (
        gave_up + f"  next attempt {job.next_attempt_at.isoformat()}"
        if job.next_attempt_at and not job.state.terminal
        else ""
    )
    return f"{job.state.value:<10} {job.blob_url}  collection={job.collection_id or '-'}  {counts}{error}{due}"


def detail(job: Job, report_location: str) -> dict[str, Any]:
    """One job in full: every field, its run, warnings, error, and where its report is."""
    return {**job.public(), "report": report_location if job.state.terminal else None}


def bar(job: Job, width: int = 30) -> str:
    """A progress bar of a job in flight."""
    total = max(job.total_items, 1)
    done = min(width, round(width * (job.successful_items + job.failed_items) / total))
    return f"[{'#' * done}{'.' * (width - done)}] {job.successful_items + job.failed_items}/{job.total_items}"


def watch(ledger: Ledger, out: Callable[[str], None], interval: float = 2.0, rounds: int | None = None) -> int:
    """Print the jobs in flight with progress bars until none is left (or `rounds` passes); how many rounds ran."""
    n = 0
    while rounds is None or n < rounds:
        n += 1
        jobs = ledger.open_jobs()
        stamp = now_utc().strftime("%H:%M:%S")
        if not jobs:
            out(f"{stamp} no job in flight")
            return n
        out(f"{stamp} {len(jobs)} job(s) in flight")
        for job in jobs:
            out(
                f"  {job.state.value:<9} {bar(job)}  {job.blob_url}"
                + (f"  ({job.last_error})" if job.last_error else "")
            )
        time.sleep(interval)
    return n


def replay_targets(jobs: list[Job]) -> list[Job]:
    """The newest job of each catalog among `jobs` (a catalog replayed once, however often it failed)."""
    newest: dict[str, Job] = {}
    for job in jobs:
        if job.blob_url not in newest or job.created_at >= newest[job.blob_url].created_at:
            newest[job.blob_url] = job
    return sorted(newest.values(), key=lambda j: j.created_at)


def replay(rt: Any, jobs: list[Job], dry_run: bool, out: Callable[[str], None]) -> int:
    """A new job for the newest upload of each catalog; how many were (or, dry, would be) started."""
    from ingest_core.errors import BlobNotFound
    from ingest_core.pipeline import handle_drop

    started = 0
    for job in replay_targets(jobs):
        try:
            etag = rt.storage.blob_etag(job.blob_url)
        except BlobNotFound:
            out(f"skip     {job.blob_url}: the catalog no longer exists")
            continue
        if dry_run:
            out(f"would replay {job.blob_url} (last job {job.job_id} {job.state.value})")
            started += 1
            continue
        new = handle_drop(rt, drop_from_blob_trigger(job.blob_url, etag), replay=now_utc().isoformat())
        out(f"replayed {job.blob_url}: job {new.job_id if new else '-'} {new.state.value if new else 'not ours'}")
        started += 1
    return started
