"""Ingestion definitions and runs for a job: reused from the ledger, adopted after a lost reply, or created."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from ingest_core.errors import ServiceError
from ingest_core.events import parse_blob_url
from ingest_core.geoparquet import is_geoparquet_drop
from ingest_core.job import Job, parse_time
from ingest_core.routing import RoutingRule, match_rule
from ingest_core.runtime import Runtime

log = logging.getLogger(__name__)

# A run created by an attempt that died before recording it is adopted if it is this close to the request.
RUN_ADOPTION_SKEW = timedelta(minutes=2)


def options_of(rule: RoutingRule) -> dict[str, bool]:
    return {"skipExistingItems": rule.skip_existing_items, "keepOriginalAssets": rule.keep_original_assets}


def url_field(import_type: str) -> str:
    """Where an ingestion definition of this import type names its source."""
    return "stacGeoparquetUrl" if import_type == "StacGeoparquet" else "sourceCatalogUrl"


def ensure_ingestion(
    rt: Runtime,
    job: Job,
    collection_id: str,
    wanted: dict[str, bool],
    history: list[Job],
    created: bool,
    import_type: str = "StaticCatalog",
) -> tuple[str, str]:
    """The definition for (collection, catalog URL) and the options it has: from the ledger, adopted, or created."""
    wanted_text = json.dumps(wanted, sort_keys=True)
    # A split job's ingestion reads one of its generated parts, never the catalog itself: not reusable.
    known = next(
        (o for o in reversed(history) if o.collection_id == collection_id and o.ingestion_id and not o.parts), None
    )
    if known is not None:  # a re-drop: the ledger names the definition; the run's create proves it still exists
        if known.ingestion_options and known.ingestion_options != wanted_text:
            rt.geocatalog.update_ingestion(collection_id, known.ingestion_id, wanted)
        return known.ingestion_id, wanted_text
    if not created and job.attempts > 1:
        # An earlier attempt may have created it and died before recording it: look before creating again.
        adopted = _find_ingestion(rt, collection_id, job.blob_url, wanted, import_type)
        if adopted:
            return adopted, wanted_text
    return _create_ingestion(rt, collection_id, job.blob_url, wanted, import_type), wanted_text


def _find_ingestion(rt: Runtime, collection_id: str, blob_url: str, wanted: dict[str, bool], import_type: str) -> str:
    for ing in rt.geocatalog.list_ingestions(collection_id):
        if ing.get(url_field(import_type)) == blob_url and ing.get("status", "Ready") == "Ready":
            changed = {k: v for k, v in wanted.items() if ing.get(k) != v}
            if changed:  # the routing rule's options changed since the definition was made
                rt.geocatalog.update_ingestion(collection_id, ing["id"], changed)
            log.info("ingestion %s reused for %s", ing["id"], blob_url)
            return str(ing["id"])
    return ""


def _create_ingestion(
    rt: Runtime,
    collection_id: str,
    blob_url: str,
    wanted: dict[str, bool],
    import_type: str = "StaticCatalog",
    display_name: str = "",
) -> str:
    created = rt.geocatalog.create_ingestion(
        collection_id,
        {
            "importType": import_type,
            "displayName": (display_name or f"drop {blob_url.rsplit('/', 2)[-2]}/{blob_url.rsplit('/', 1)[-1]}")[:100],
            url_field(import_type): blob_url,
            **wanted,
        },
    )
    log.info("ingestion %s created for %s", created["id"], blob_url)
    return str(created["id"])


def create_run(rt: Runtime, job: Job) -> dict:
    """POST the run; a 404 means the definition (or collection) went away: find or make it again, once."""
    try:
        return rt.geocatalog.create_run(job.collection_id, job.ingestion_id)
    except ServiceError as exc:
        if exc.status != 404:
            raise
    log.info("ingestion %s of job %s no longer exists; registering it again", job.ingestion_id, job.job_id)
    rt.known_collections.discard(job.collection_id)
    account, container, path = parse_blob_url(job.blob_url)
    rule = match_rule(rt.settings.rules_or_default(), account, container, path)
    wanted = options_of(rule) if rule else {"skipExistingItems": True, "keepOriginalAssets": False}
    kind = (
        "StacGeoparquet"
        if is_geoparquet_drop(rt.settings.rules_or_default(), account, container, path)
        else ("StaticCatalog")
    )
    part = job.current_part()
    catalog_url = part.catalog_url if part else job.blob_url  # a split job's run reads its current part
    ingestion_id = _find_ingestion(rt, job.collection_id, catalog_url, wanted, kind) or _create_ingestion(
        rt, job.collection_id, catalog_url, wanted, kind
    )
    parts = [replace(p, ingestion_id=ingestion_id) if p is part else p for p in job.parts]
    rt.ledger.update(job, ingestion_id=ingestion_id, **({"parts": parts} if part else {}))
    return rt.geocatalog.create_run(job.collection_id, ingestion_id)


def adopt_run(rt: Runtime, job: Job, history: list[Job]) -> dict | None:
    """A run that an earlier attempt created but died before recording (no second run)."""
    return find_unrecorded_run(rt, job, parse_time(job.run_requested_at), {j.run_id for j in history if j.run_id})


def find_unrecorded_run(rt: Runtime, job: Job, requested: datetime | None, taken: set[str]) -> dict | None:
    """A run of the job's definition created since `requested` that no job has recorded (`taken`), or None."""
    if requested is None or not job.ingestion_id:
        return None
    for run in rt.geocatalog.list_runs(job.collection_id, job.ingestion_id):
        created = parse_time(run.get("creationTime"))
        if run["id"] not in taken and created and created >= requested - RUN_ADOPTION_SKEW:
            log.info("job %s adopts run %s started by an earlier attempt", job.job_id, run["id"])
            return run
    return None
