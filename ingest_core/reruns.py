"""Failed-items-only re-runs: a run that ended with transient failures runs again with skipExistingItems.

reconcile.follow_run asks `rerun_or_end` about every run that ended with failed items (or failed). Only codes
run_errors classes as transient get a re-run, at most MAX_RERUNS per job, on the same ingestion definition
and run slot; the job stays RUNNING meanwhile. Idempotent under repeated passes and crashes: the intent (the
re-run's number, its request time and a lease) is written before any call, and a pass that finds an intent
with no run recorded adopts the run the dead pass may have created before it creates one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ingest_core.errors import ServiceError
from ingest_core.ingestions import find_unrecorded_run
from ingest_core.job import Job, now_utc
from ingest_core.run_errors import Verdict, judge, run_codes
from ingest_core.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Next:
    """What follow_run does with an ended run: carry on with `job` (a re-run is in hand), or end with `last_error`."""

    job: Job | None
    last_error: str = ""


def rerun_or_end(rt: Runtime, job: Job, run: dict[str, Any], error: str, counters: dict[str, int]) -> Next:
    """Start (or adopt, or leave to the pass already on it) the re-run this ended run calls for, or say why not."""
    codes = run_codes(run)
    verdict = judge(codes)
    limit = rt.settings.max_reruns
    intended = job.rerun_requested_at is not None  # counted already, by the pass that wrote the intent
    if not verdict.rerun or (not intended and job.reruns >= limit):
        why = verdict.why if not verdict.rerun else f"{verdict.why}, but MAX_RERUNS ({limit}) re-run(s) were made"
        return Next(None, _ending(job, error, codes, counters, why))
    if intended and job.lease_until and job.lease_until > now_utc():
        return Next(job)  # another pass is starting this very re-run
    try:
        return Next(_rerun(rt, job, run, verdict, counters))
    except ServiceError as exc:  # refused (the definition or collection is gone, ...): the job ends as the run did
        log.warning("job %s: re-run not started: %s", job.job_id, exc)
        return Next(
            None, _ending(job, error, codes, counters, f"the re-run could not start ({exc.code}: {exc.message})")
        )


def final_counters(job: Job, counters: dict[str, int]) -> dict[str, int]:
    """The items' final state: after re-runs, every item neither failed nor pending is in (skipped ones too)."""
    if not job.run_ids:
        return counters
    total = max(counters["total_items"], job.total_items)
    ok = max(counters["successful_items"], total - counters["failed_items"] - counters["pending_items"])
    return {**counters, "total_items": total, "successful_items": ok}


def _ending(job: Job, error: str, codes: list[str], counters: dict[str, int], why: str) -> str:
    """last_error of a job that ends without (another) re-run: the run's error, counts, codes and why."""
    failed, ok, total = counters["failed_items"], counters["successful_items"], counters["total_items"]
    counts = f"{failed} of {total} item(s) failed" if failed else f"{ok} of {total} item(s) ingested"
    after = f" after {job.reruns} re-run(s) (runs {', '.join(job.run_ids)})" if job.reruns else ""
    named = ", ".join(codes) or "none"
    return f"{error or 'run failed'}; {counts}{after}; codes: {named}; no re-run: {why}"


def _rerun(rt: Runtime, job: Job, run: dict[str, Any], verdict: Verdict, counters: dict[str, int]) -> Job:
    """Write the intent (or take over a dead pass's), then adopt or create the re-run and record it."""
    lease_until = now_utc() + timedelta(seconds=rt.settings.claim_lease_seconds)
    adopted = None
    if job.rerun_requested_at is None:
        number = job.reruns + 1
        note = (f"run {job.run_id}: {counters['failed_items']} of {counters['total_items']} item(s) failed, "
                f"{verdict.why}; re-run {number} of at most {rt.settings.max_reruns} with skipExistingItems")  # fmt: skip
        rt.ledger.update(job, rerun_requested_at=now_utc(), reruns=number, lease_until=lease_until,
                         run_ids=job.run_ids or [job.run_id], last_error=note, warnings=[*job.warnings, note],
                         **counters)  # fmt: skip
        log.info("job %s: %s", job.job_id, note)
    else:  # the pass that wrote this intent died (its lease ran out): it may have created the run already
        rt.ledger.update(job, lease_until=lease_until)
        taken = {r for other in rt.ledger.history(job.blob_url) for r in (other.run_id, *other.run_ids) if r}
        adopted = find_unrecorded_run(rt, job, job.rerun_requested_at, taken | {job.run_id, *job.run_ids})
    skip_was_off = run.get("skipExistingItems") is not True  # the ended run's snapshot of the definition
    changes: dict[str, Any] = {}
    try:
        if adopted is None and verdict.refresh_sas:  # a new SAS before the run that needs it (PUT in place)
            changes["source_ids"] = [rt.sources.ensure(c, renew=True) for c in job.container_urls]
        new = adopted or _create(rt, job, skip_was_off)
    except ServiceError:
        raise
    except BaseException:
        rt.ledger.release(job)  # a fault (or a lost reply): the next pass takes over at once and adopts first
        raise
    if skip_was_off:
        options = json.loads(job.ingestion_options or "{}") | {"skipExistingItems": True}
        note = f"skipExistingItems turned on for ingestion {job.ingestion_id} so re-runs skip the items already in"
        changes.update(ingestion_options=json.dumps(options, sort_keys=True), warnings=[*job.warnings, note])
    op = new.get("operation") or {}
    return rt.ledger.update(
        job, run_id=new["id"], run_ids=[*job.run_ids, new["id"]], parent_run_id=str(new.get("parentRunId") or ""),
        rerun_requested_at=None, lease_until=None, pending_items=op.get("totalPendingItems", 0), **changes,
    )  # fmt: skip


def _create(rt: Runtime, job: Job, skip_was_off: bool) -> dict[str, Any]:
    """Turn skipExistingItems on for the definition if the ended run had it off, then POST the re-run."""
    if skip_was_off:
        rt.geocatalog.update_ingestion(job.collection_id, job.ingestion_id, {"skipExistingItems": True})
    new = rt.geocatalog.create_run(job.collection_id, job.ingestion_id)
    log.info("job %s: re-run %s started on ingestion %s", job.job_id, new["id"], job.ingestion_id)
    return new
