"""Catalogs over MAX_ITEMS_PER_INGESTION: the job runs as parts, one after another under its single run slot.

Each part is a static catalog generated into the staging container of the app's own storage, linking its share
of the original items by absolute URL (the catalog account stays read-only). The service reads it through the
staging container's ingestion source, and the items and assets through the original containers' sources.
A part's blob is named by the job id and its index, and its ingestion is found by that blob's URL, so a retried
attempt reuses what an earlier one made: never a second staging catalog, ingestion or run for one part.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ingest_core.errors import InvalidDrop, ServiceError
from ingest_core.ingestions import _create_ingestion, adopt_run, create_run
from ingest_core.job import Job, Part, now_utc
from ingest_core.redaction import cap_text
from ingest_core.runtime import Runtime
from ingest_core.stac import Preflight
from ingest_core.states import JobState

log = logging.getLogger(__name__)

# Parts per job: with PART_ERROR_MAX, the job's part list stays far below the ledger's list cap (see tests).
MAX_PARTS = 25
_COUNTERS = ("total_items", "successful_items", "failed_items", "pending_items")


def needs_split(rt: Runtime, pf: Preflight) -> bool:
    """True when the catalog holds more items than one ingestion may take."""
    return pf.item_count > rt.settings.max_items_per_ingestion


def part_url(rt: Runtime, job_id: str, index: int) -> str:
    """Where part `index` of a job is written: `<staging container>/<job id>/part-NNN.json`.

    Not named like a catalog (CATALOG_SUFFIX), so a rule watching the staging container never takes it for a drop.
    """
    return f"{rt.staging.container_url(rt.settings.staging_container)}/{job_id}/part-{index:03d}.json"


def part_catalog(pf: Preflight, index: int, count: int, item_urls: list[str], source: str) -> dict[str, Any]:
    """The static catalog of one part: every item linked by its absolute URL."""
    return {
        "type": "Catalog",
        "id": f"{pf.catalog_id}-part-{index + 1}-of-{count}",
        "stac_version": "1.0.0",
        "description": f"Part {index + 1} of {count} of {source}, generated for the GeoCatalog's per-ingestion limit",
        "links": [{"rel": "root", "href": "./" + f"part-{index:03d}.json"}]
        + [{"rel": "item", "href": url, "type": "application/geo+json"} for url in item_urls],
    }


def split_job(
    rt: Runtime,
    job: Job,
    pf: Preflight,
    collection_id: str,
    wanted: dict[str, bool],
    created: bool,
    containers: list[str],
    source_ids: list[str],
) -> dict[str, Any]:
    """Write the parts' catalogs, register the staging source and one ingestion per part; the job's changes."""
    size = rt.settings.max_items_per_ingestion
    chunks = [pf.item_urls[i : i + size] for i in range(0, len(pf.item_urls), size)]
    if len(chunks) > MAX_PARTS:
        raise InvalidDrop(
            f"catalog holds {pf.item_count} items: {len(chunks)} parts of MAX_ITEMS_PER_INGESTION={size}, "
            f"more than the {MAX_PARTS} parts one job may run; split it into several catalogs"
        )
    parts = []
    for i, chunk in enumerate(chunks):
        url = part_url(rt, job.job_id, i)
        # Overwriting is safe: no part's run starts before every part is written and recorded.
        doc = part_catalog(pf, i, len(chunks), chunk, job.blob_url)
        rt.staging.write_json(url, json.dumps(doc, separators=(",", ":")).encode())
        parts.append(Part(index=i, catalog_url=url, items=len(chunk)))
    staging = rt.staging.container_url(rt.settings.staging_container)
    staging_source = rt.sources.ensure(staging)
    # An earlier attempt may have created some definitions and died before recording them: one listing finds them.
    known = {} if created or job.attempts <= 1 else _ingestions_by_url(rt, collection_id)
    for part in parts:
        name = f"part {part.index + 1}/{len(parts)} of job {job.job_id}"
        part.ingestion_id = known.get(part.catalog_url) or _create_ingestion(
            rt, collection_id, part.catalog_url, wanted, display_name=name
        )
    log.info("job %s: %d items in %d parts of at most %d", job.job_id, pf.item_count, len(parts), size)
    return {
        "parts": parts,
        "ingestion_id": parts[0].ingestion_id,
        "ingestion_options": json.dumps(wanted, sort_keys=True),
        "container_urls": [*containers, staging],
        "source_ids": [*source_ids, staging_source],
    }


def _ingestions_by_url(rt: Runtime, collection_id: str) -> dict[str, str]:
    return {
        str(ing.get("sourceCatalogUrl")): str(ing["id"])
        for ing in rt.geocatalog.list_ingestions(collection_id)
        if ing.get("status", "Ready") == "Ready"
    }


def counters(parts: list[Part], live: dict[str, int] | None = None) -> dict[str, int]:
    """The job's counters: the ended parts' results, the current part's live ones, the rest still pending."""
    total = dict.fromkeys(_COUNTERS, 0)
    current = next((p for p in parts if not p.state), None)
    for p in parts:
        if p.state:
            got = {"total_items": p.total_items, "successful_items": p.successful_items,
                   "failed_items": p.failed_items, "pending_items": 0}  # fmt: skip
        elif p is current and live is not None:
            got = live
        else:
            got = {"total_items": p.items, "successful_items": 0, "failed_items": 0, "pending_items": p.items}
        for k in _COUNTERS:
            total[k] += got[k]
    return total


def outcome_of(parts: list[Part]) -> tuple[JobState, str]:
    """SUCCEEDED only if every part did; FAILED when no item of any part got in; PARTIAL otherwise; parts named."""
    bad = [p for p in parts if p.state != JobState.SUCCEEDED.value]
    if not bad:
        return JobState.SUCCEEDED, ""
    state = JobState.PARTIAL if any(p.successful_items for p in parts) else JobState.FAILED
    named = "; ".join(
        f"part {p.index + 1} of {len(parts)} (ingestion {p.ingestion_id}, run {p.run_id or '-'}) {p.state}"
        + (f": {p.error}" if p.error else "")
        for p in bad
    )
    return state, cap_text(f"{len(bad)} of {len(parts)} parts did not fully succeed: {named}", 4000)


def follow_part(rt: Runtime, job: Job, run: dict[str, Any], state: JobState | None, error: str) -> Job:
    """Record the current part's counters; when its run ended, start the next part or end the job."""
    part = job.current_part()
    if part is None:  # every part ended but the job did not (a crash in between): end it now
        final, reason = outcome_of(job.parts)
        return rt.ledger.transition(job, final, last_error=reason, **counters(job.parts))
    op = run.get("operation", {})
    live = {
        "total_items": op.get("totalItems") or part.items,  # 0 until the service has walked the part's catalog
        "successful_items": op.get("totalSuccessfulItems", 0),
        "failed_items": op.get("totalFailedItems", 0),
        "pending_items": op.get("totalPendingItems", 0),
    }
    if state is None:
        now = counters(job.parts, live)
        if all(getattr(job, k) == v for k, v in now.items()):
            return job  # nothing new: no write
        return rt.ledger.update(job, **now)
    ended = replace(part, state=state.value, run_id=job.run_id, ingestion_id=job.ingestion_id, error=error,
                    total_items=live["total_items"], successful_items=live["successful_items"],
                    failed_items=live["failed_items"])  # fmt: skip
    parts = [ended if p.index == part.index else p for p in job.parts]
    log.info("job %s: part %d of %d ended %s", job.job_id, part.index + 1, len(parts), state.value)
    nxt = next((p for p in parts if not p.state), None)
    if nxt is None:
        final, reason = outcome_of(parts)
        return rt.ledger.transition(job, final, parts=parts, last_error=reason, **counters(parts))
    # The next part is recorded before its run is asked for, so a retry adopts that run instead of making another.
    job = rt.ledger.update(
        job,
        parts=parts,
        ingestion_id=nxt.ingestion_id,
        run_id="",
        run_requested_at=now_utc(),
        source_ids=[rt.sources.ensure(c) for c in job.container_urls],  # a long job: SAS refreshed before each part
        **counters(parts),
    )
    return start_part(rt, job, fresh=True)


def start_part(rt: Runtime, job: Job, fresh: bool = False) -> Job:
    """Start the current part's run: adopt the one an earlier attempt made (unless `fresh`), else create it."""
    try:
        run = None if fresh else adopt_run(rt, job, [])
        run = run or create_run(rt, job)
    except ServiceError as exc:  # the service refuses this part's run: that part fails, the next one goes on
        return follow_part(rt, job, {}, JobState.FAILED, f"{exc.code}: {exc.message}")
    return rt.ledger.update(job, run_id=run["id"])


def sweep_staging(rt: Runtime) -> list[str]:
    """Delete the staging blobs of every job that has ended; their URLs.

    Blobs of a job the ledger does not know (its table was replaced, or another app shares the container) go only
    once they are older than STALE_SOURCE_TTL_HOURS: no run can still be reading them.
    """
    staging = rt.staging.container_url(rt.settings.staging_container)
    old = now_utc() - timedelta(hours=rt.settings.stale_source_ttl_hours)
    by_job: dict[str, list[tuple[str, datetime]]] = {}
    for url, changed in rt.staging.blob_urls(staging):
        by_job.setdefault(url[len(staging) + 1 :].split("/", 1)[0], []).append((url, changed))
    deleted = []
    for job_id, blobs in by_job.items():
        job = rt.ledger.get(job_id)
        if job is None and any(changed > old for _, changed in blobs):
            continue
        if job is not None and not job.state.terminal:
            continue  # its parts may still be read by a run, or be about to be
        for url, _ in blobs:
            rt.staging.delete_blob(url)
            deleted.append(url)
        log.info("sweep: deleted %d staging blob(s) of job %s", len(blobs), job_id)
    return deleted
