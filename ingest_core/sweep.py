"""The sweep timer: delete stale ingestion sources that this app created and no unfinished job needs."""

from __future__ import annotations

import logging
from datetime import timedelta

from ingest_core.errors import ServiceError, TransientError
from ingest_core.job import now_utc, parse_time
from ingest_core.parts import sweep_staging
from ingest_core.runtime import Runtime

log = logging.getLogger(__name__)


def sources_in_use(rt: Runtime) -> set[str]:
    """Source ids that an unfinished job still needs."""
    return {sid for job in rt.ledger.open_jobs() for sid in job.source_ids}


def sweep(rt: Runtime) -> list[str]:
    """Delete owned sources whose SAS expired or that sat idle past the TTL; return the deleted ids.

    First the staging blobs of split jobs that ended: the staging source then goes like any idle source.
    """
    try:
        sweep_staging(rt)
    except (TransientError, ServiceError) as exc:  # next sweep (or a missing role); the sources still get their turn
        log.warning("sweep: staging blobs: %s", exc)
    now = now_utc()
    ttl = timedelta(hours=rt.settings.stale_source_ttl_hours)
    in_use = sources_in_use(rt)
    deleted = []
    for rec in rt.ledger.source_records():
        sid, container_url = rec.get("source_id", ""), rec.get("container_url", "")
        if not rec.get("owned") or not sid or sid in in_use:
            continue  # never touch sources someone else created, or one a run still reads through
        expiration, last_used = parse_time(rec.get("expiration")), parse_time(rec.get("last_used"))
        expired = expiration is not None and expiration <= now
        idle = last_used is None or now - last_used > ttl
        if not (expired or idle):
            continue
        try:
            rt.geocatalog.delete_source(sid)
        except ServiceError as exc:
            if exc.status != 404:
                log.warning("sweep: could not delete source %s for %s: %s", sid, container_url, exc)
                continue
        except TransientError as exc:  # try again next sweep; the other sources still get their turn
            log.warning("sweep: source %s for %s: %s", sid, container_url, exc)
            continue
        rt.ledger.delete_source_record(container_url)
        rt.sources.forget(container_url)
        deleted.append(sid)
        log.info("sweep: deleted source %s for %s (%s)", sid, container_url, "expired" if expired else "idle")
    return deleted
