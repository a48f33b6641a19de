"""The sweep timer: delete stale ingestion sources that this app created and no unfinished job needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from ingest_core.errors import ServiceError, TransientError
from ingest_core.job import now_utc, parse_time
from ingest_core.parts import sweep_staging
from ingest_core.runtime import Runtime

log = logging.getLogger(__name__)


def sources_in_use(rt: Runtime) -> set[str]:
    """Source ids that an unfinished job still needs."""
    return {sid for job in rt.ledger.open_jobs() for sid in job.source_ids}


@dataclass
class Decision:
    """What sweep does with one ingestion source, and why (`sweep --dry-run` prints these)."""

    source_id: str
    container_url: str
    action: str  # "delete" or "keep"
    reason: str


def decide(rt: Runtime, with_service: bool = False) -> list[Decision]:
    """A decision for every source the ledger knows (and, `with_service`, every source on the service too)."""
    now = now_utc()
    ttl = timedelta(hours=rt.settings.stale_source_ttl_hours)
    in_use = {sid: job.job_id for job in rt.ledger.open_jobs() for sid in job.source_ids}
    out: list[Decision] = []
    known: set[str] = set()
    for rec in rt.ledger.source_records():
        sid, container_url = rec.get("source_id", ""), rec.get("container_url", "")
        known.add(sid)
        if not sid:
            out.append(Decision("", container_url, "keep", "no source recorded yet (a creation in progress)"))
            continue
        if not rec.get("owned"):
            out.append(Decision(sid, container_url, "keep", "not created by this app: never deleted"))
            continue
        if sid in in_use:
            out.append(Decision(sid, container_url, "keep", f"unfinished job {in_use[sid]} reads through it"))
            continue
        expiration, last_used = parse_time(rec.get("expiration")), parse_time(rec.get("last_used"))
        if expiration is not None and expiration <= now:
            out.append(Decision(sid, container_url, "delete", f"owned, its SAS expired at {expiration.isoformat()}"))
        elif last_used is None or now - last_used > ttl:
            idle = "never used" if last_used is None else f"idle since {last_used.isoformat()}"
            out.append(Decision(sid, container_url, "delete", f"owned, {idle} (STALE_SOURCE_TTL_HOURS {ttl})"))
        else:
            out.append(
                Decision(sid, container_url, "keep", f"owned, last used {last_used.isoformat()}, within the TTL")
            )
    if with_service:
        for summary in rt.geocatalog.list_sources():
            if summary.get("id") not in known:
                out.append(
                    Decision(summary["id"], "", "keep", "not in this app's ledger: someone else's, never deleted")
                )
    return out


def sweep(rt: Runtime, dry_run: bool = False) -> list[Decision]:
    """Delete owned sources whose SAS expired or that sat idle past the TTL; every decision, with what was done.

    First the staging blobs of split jobs that ended: the staging source then goes like any idle source.
    """
    if not dry_run:
        try:
            sweep_staging(rt)
        except (TransientError, ServiceError) as exc:  # next sweep (or a missing role); the sources still get theirs
            log.warning("sweep: staging blobs: %s", exc)
    decisions = decide(rt, with_service=dry_run)
    if dry_run:
        return decisions
    for d in decisions:
        if d.action != "delete":
            continue
        try:
            rt.geocatalog.delete_source(d.source_id)
        except ServiceError as exc:
            if exc.status != 404:
                log.warning("sweep: could not delete source %s for %s: %s", d.source_id, d.container_url, exc)
                d.action, d.reason = "keep", f"delete refused: {exc.code}"
                continue
        except TransientError as exc:  # try again next sweep; the other sources still get their turn
            log.warning("sweep: source %s for %s: %s", d.source_id, d.container_url, exc)
            d.action, d.reason = "keep", "delete failed for now; next sweep tries again"
            continue
        rt.ledger.delete_source_record(d.container_url)
        rt.sources.forget(d.container_url)
        d.action = "deleted"
        log.info("sweep: deleted source %s for %s (%s)", d.source_id, d.container_url, d.reason)
    return decisions


def deleted_ids(decisions: list[Decision]) -> list[str]:
    """The ids a sweep deleted."""
    return [d.source_id for d in decisions if d.action == "deleted"]
