"""handle_drop: route, claim, preflight, ensure collection/sources/ingestion, start the run. Every step idempotent.

Lean by design: the claim reads the blob's history once and every step reuses it; a fresh drop writes its job
three times (claim, run slot with everything preflight learned, RUNNING) and calls the GeoCatalog only for
what is not already known (process caches for sources and collections, the ledger for ingestion ids).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from ingest_core.errors import BlobNotFound, InvalidDrop, ServiceError, StaleJob
from ingest_core.events import Drop, container_url_of, parse_blob_url
from ingest_core.job import Job, now_utc, parse_time
from ingest_core.routing import RoutingRule, match_rule, valid_collection_id, watches_container
from ingest_core.runtime import Runtime
from ingest_core.stac import Preflight, parse_catalog, preflight
from ingest_core.stac_collections import ensure_collection
from ingest_core.states import NOT_STARTED, JobState

log = logging.getLogger(__name__)

# A run created by an attempt that died before recording it is adopted if it is this close to the request.
RUN_ADOPTION_SKEW = timedelta(minutes=2)
# Jobs whose run covers their content: an identical re-upload after one of these has nothing new to ingest.
_COVERED = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.PARTIAL})


def handle_drop(rt: Runtime, drop: Drop, replay: str = "", content: bytes | None = None) -> Job | None:
    """Process one uploaded blob; returns its job (None when the blob is not ours).

    `replay` (operators only) makes a new job for an upload already seen, e.g. to retry a FAILED one.
    `content`: the catalog's bytes when the trigger already holds them (the blob trigger does), saving a read.
    """
    s = rt.settings
    if not watches_container(s.rules_or_default(), drop.account, drop.container):
        log.info("ignored %s: no routing rule watches %s/%s", drop.url, drop.account, drop.container)
        return None
    if not drop.path.endswith(s.catalog_suffix):
        log.debug("ignored %s: not a %s", drop.url, s.catalog_suffix)
        return None
    if not drop.etag:
        try:
            drop = drop.model_copy(update={"etag": rt.storage.blob_etag(drop.url)})
        except BlobNotFound:
            log.warning("ignored %s: the blob no longer exists", drop.url)
            return None
        content = None  # the bytes we were handed may not be of this ETag
    claim = rt.ledger.claim(drop, s.claim_lease_seconds, replay)
    if not claim.mine:
        log.info("job %s is %s and held elsewhere: duplicate delivery ignored", claim.job.job_id, claim.job.state.value)
        return claim.job
    _supersede_older(rt, claim.job, claim.history)
    return advance(rt, claim.job, claim.history, content)


def advance(rt: Runtime, job: Job, history: list[Job] | None = None, content: bytes | None = None) -> Job:
    """Run a claimed job's remaining steps; bad input ends INVALID, service refusals FAILED, faults re-raise."""
    try:
        if history is None:
            history = [j for j in rt.ledger.history(job.blob_url) if j.job_id != job.job_id]
        if job.state in (JobState.RECEIVED, JobState.DEFERRED) and not (job.run_requested_at and job.ingestion_id):
            plan = _prepare(rt, job, history, content)
            if isinstance(plan, Job):
                return plan
            return _start(rt, job, history, plan)
        if job.state in NOT_STARTED:  # queued, or prepared by an attempt that died before its run was recorded
            return _start(rt, job, history, None)
        return job
    except InvalidDrop as exc:
        return _end(rt, job, JobState.INVALID, exc.reason, exc.where or job.blob_url)
    except ServiceError as exc:
        return _end(rt, job, JobState.FAILED, f"{exc.code}: {exc.message}", f"{exc.method} {exc.route}".strip())
    except StaleJob:
        current = rt.ledger.get(job.job_id) or job
        log.info("job %s changed underneath (now %s); stopping this attempt", job.job_id, current.state.value)
        return current
    except BaseException:
        # Transient faults and bugs: give the lease back so the platform's retry resumes at once.
        rt.ledger.release(job)
        raise


def _end(rt: Runtime, job: Job, state: JobState, reason: str, where: str) -> Job:
    return rt.ledger.transition(job, state, last_error=reason, error_where=where)


def newer_upload(job: Job, other: Job) -> bool:
    """True when `job` is a later upload of the blob than `other` (Event Grid's sequencer, else arrival order)."""
    if job.sequencer and other.sequencer:
        # Sequencers are fixed-width hex strings: their order is the order of the writes to the blob.
        return job.sequencer > other.sequencer
    return other.created_at <= job.created_at


def _supersede_older(rt: Runtime, job: Job, history: list[Job]) -> None:
    """Older uploads of the same blob that have not started a run are replaced by this one."""
    for other in history:
        if other.state not in NOT_STARTED or other.run_requested_at or not newer_upload(job, other):
            continue
        # Only a job nobody is working on and that never asked for a run: taking its lease first means
        # a worker in the middle of starting that run is never cut off (its run would be orphaned).
        if rt.ledger.take_lease(other, rt.settings.claim_lease_seconds):
            try:
                rt.ledger.transition(other, JobState.SUPERSEDED, last_error=f"superseded by job {job.job_id}")
            except StaleJob:
                pass


class TreeReader:
    """Reads the catalog's JSON documents and fingerprints what it read, to spot an unchanged re-upload."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._hashes: dict[str, str] = {}

    def add(self, url: str, data: bytes) -> None:
        """Fold one document into the fingerprint."""
        self._hashes[url] = hashlib.sha256(data).hexdigest()

    def __call__(self, url: str) -> dict | None:
        try:
            data, _ = self._rt.storage.read_blob(url, self._rt.settings.catalog_max_bytes)
        except BlobNotFound:
            return None
        self.add(url, data)
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidDrop("linked document is not valid JSON", where=url) from None

    def digest(self) -> str:
        """One hash over every document read (URL and content)."""
        lines = "\n".join(f"{u} {h}" for u, h in sorted(self._hashes.items()))
        return hashlib.sha256(lines.encode()).hexdigest()


@dataclass
class Plan:
    """What preflight decided for a job that goes ahead: written together with its run slot."""

    rule: RoutingRule
    changes: dict


def _read_catalog(rt: Runtime, job: Job, content: bytes | None) -> bytes | None:
    """The catalog's bytes: the trigger's copy when it has one, else one read (None: gone or changed)."""
    if content is not None:
        if len(content) > rt.settings.catalog_max_bytes:
            raise InvalidDrop(
                f"catalog is {len(content)} bytes, over the {rt.settings.catalog_max_bytes}-byte cap (CATALOG_MAX_BYTES)"
            )
        return content
    data, etag = rt.storage.read_blob(job.blob_url, rt.settings.catalog_max_bytes)
    return data if etag == job.etag else None


def _prepare(rt: Runtime, job: Job, history: list[Job], content: bytes | None) -> Job | Plan:
    """Preflight and register everything the run needs; a Plan to start, or the job ended/deferred."""
    s = rt.settings
    account, container, path = parse_blob_url(job.blob_url)
    rule = match_rule(s.rules_or_default(), account, container, path)
    if rule is None:
        prefixes = [r.prefix or "(all)" for r in s.rules_or_default() if r.container == container]
        raise InvalidDrop(f"no routing rule covers this path; rules for container {container} cover {prefixes}")
    try:
        data = _read_catalog(rt, job, content)
    except BlobNotFound:
        return rt.ledger.transition(job, JobState.SUPERSEDED, last_error="the blob was deleted before processing")
    if data is None:
        return rt.ledger.transition(job, JobState.SUPERSEDED, last_error="the blob changed before processing")
    doc = parse_catalog(data, job.blob_url)
    reader = TreeReader(rt)
    reader.add(job.blob_url, data)
    container_url = container_url_of(job.blob_url)
    pf = preflight(job.blob_url, doc, container_url, reader, s.preflight_max_links)
    if pf.root_url:
        return rt.ledger.transition(
            job, JobState.IGNORED, last_error=f"child catalog: ingested through its root {pf.root_url}"
        )
    if pf.missing:
        return _defer(rt, job, pf)
    digest = reader.digest()
    twin = None if job.replay else _same_content_as(history, digest)
    if twin is not None:
        # Storage gives every upload a new ETag, even of identical bytes: compare what was read instead.
        return rt.ledger.transition(
            job,
            JobState.IGNORED,
            content_digest=digest,
            last_error=f"unchanged: same catalog, items and links as job {twin.job_id} ({twin.state.value})",
        )
    collection_id = rule.collection_id(path, pf.catalog_id)
    if not valid_collection_id(collection_id):
        raise InvalidDrop(
            f"collection id {collection_id!r} is invalid: use 3-32 letters, digits, '-' or '_' "
            "(set the catalog id or the routing rule's collection)"
        )
    created = ensure_collection(rt, collection_id, rule, pf, job.blob_url, reader)
    containers = sorted(pf.asset_containers, key=lambda c: c != container_url)
    source_ids = [rt.sources.ensure(c) for c in containers]
    ingestion_id, options = _ensure_ingestion(rt, job, collection_id, rule, history, created)
    return Plan(rule, {
        "content_digest": digest, "collection_id": collection_id, "source_ids": source_ids,
        "container_urls": containers, "total_items": pf.item_count, "warnings": pf.warnings,
        "ingestion_id": ingestion_id, "ingestion_options": options, "last_error": "", "error_where": "",
    })  # fmt: skip


def _same_content_as(history: list[Job], digest: str) -> Job | None:
    return next((o for o in history if o.content_digest == digest and o.state in _COVERED), None)


def _defer(rt: Runtime, job: Job, pf: Preflight) -> Job:
    """Children not uploaded yet: wait (the lease doubles as the back-off), or give up after the timeout."""
    first = pf.missing[0]
    if now_utc() - job.created_at > timedelta(minutes=rt.settings.defer_timeout_minutes):
        raise InvalidDrop(
            f"{len(pf.missing)} linked document(s) still missing after {rt.settings.defer_timeout_minutes:.0f} "
            f"minutes, first {first}: upload them, then upload the catalog again"
        )
    backoff = timedelta(seconds=min(300.0, 2.0 * 2 ** min(job.attempts, 8)))
    changes = {
        "last_error": f"waiting for {len(pf.missing)} linked document(s) not uploaded yet, first {first}",
        "lease_until": now_utc() + backoff,
        "next_attempt_at": now_utc() + backoff,
    }
    if job.state == JobState.DEFERRED:
        return rt.ledger.update(job, **changes)
    return rt.ledger.transition(job, JobState.DEFERRED, **changes)


def _options(rule: RoutingRule) -> dict[str, bool]:
    return {"skipExistingItems": rule.skip_existing_items, "keepOriginalAssets": rule.keep_original_assets}


def _ensure_ingestion(
    rt: Runtime, job: Job, collection_id: str, rule: RoutingRule, history: list[Job], created: bool
) -> tuple[str, str]:
    """The definition for (collection, catalog URL) and the options it has: from the ledger, adopted, or created."""
    wanted = _options(rule)
    wanted_text = json.dumps(wanted, sort_keys=True)
    known = next((o for o in reversed(history) if o.collection_id == collection_id and o.ingestion_id), None)
    if known is not None:  # a re-drop: the ledger names the definition; the run's create proves it still exists
        if known.ingestion_options and known.ingestion_options != wanted_text:
            rt.geocatalog.update_ingestion(collection_id, known.ingestion_id, wanted)
        return known.ingestion_id, wanted_text
    if not created and job.attempts > 1:
        # An earlier attempt may have created it and died before recording it: look before creating again.
        adopted = _find_ingestion(rt, collection_id, job.blob_url, wanted)
        if adopted:
            return adopted, wanted_text
    return _create_ingestion(rt, collection_id, job.blob_url, wanted), wanted_text


def _find_ingestion(rt: Runtime, collection_id: str, blob_url: str, wanted: dict[str, bool]) -> str:
    for ing in rt.geocatalog.list_ingestions(collection_id):
        if ing.get("sourceCatalogUrl") == blob_url and ing.get("status", "Ready") == "Ready":
            changed = {k: v for k, v in wanted.items() if ing.get(k) != v}
            if changed:  # the routing rule's options changed since the definition was made
                rt.geocatalog.update_ingestion(collection_id, ing["id"], changed)
            log.info("ingestion %s reused for %s", ing["id"], blob_url)
            return str(ing["id"])
    return ""


def _create_ingestion(rt: Runtime, collection_id: str, blob_url: str, wanted: dict[str, bool]) -> str:
    created = rt.geocatalog.create_ingestion(
        collection_id,
        {
            "importType": "StaticCatalog",
            "displayName": f"drop {blob_url.rsplit('/', 2)[-2]}/{blob_url.rsplit('/', 1)[-1]}"[:100],
            "sourceCatalogUrl": blob_url,
            **wanted,
        },
    )
    log.info("ingestion %s created for %s", created["id"], blob_url)
    return str(created["id"])


def _start(rt: Runtime, job: Job, history: list[Job], plan: Plan | None) -> Job:
    """Take a run slot and start the run; with none free, stay QUEUED for reconcile."""
    s = rt.settings
    changes = dict(plan.changes) if plan else {}
    if plan is None and not job.slot:
        # A job that waited in the queue: make sure every source it reads still has a fresh SAS.
        changes["source_ids"] = [rt.sources.ensure(c) for c in job.container_urls]
    run = _adopt_run(rt, job, history) if job.run_requested_at else None
    if run is None:
        changes.setdefault("run_requested_at", job.run_requested_at or now_utc())
        if not rt.ledger.take_slot(job, s.max_concurrent_runs, **changes):
            log.info("job %s stays QUEUED: %d runs in flight", job.job_id, s.max_concurrent_runs)
            changes.pop("run_requested_at")
            queued = {**changes, "lease_until": None, "next_attempt_at": None}
            if job.state == JobState.QUEUED:
                return rt.ledger.update(job, **queued)
            return rt.ledger.transition(job, JobState.QUEUED, **queued)
        run = _create_run(rt, job)
    op = run.get("operation", {})
    return rt.ledger.transition(job, JobState.RUNNING, run_id=run["id"], pending_items=op.get("totalPendingItems", 0))


def _create_run(rt: Runtime, job: Job) -> dict:
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
    wanted = _options(rule) if rule else {"skipExistingItems": True, "keepOriginalAssets": False}
    ingestion_id = _find_ingestion(rt, job.collection_id, job.blob_url, wanted) or _create_ingestion(
        rt, job.collection_id, job.blob_url, wanted
    )
    rt.ledger.update(job, ingestion_id=ingestion_id)
    return rt.geocatalog.create_run(job.collection_id, ingestion_id)


def _adopt_run(rt: Runtime, job: Job, history: list[Job]) -> dict | None:
    """A run that an earlier attempt created but died before recording (no second run)."""
    requested = parse_time(job.run_requested_at)
    if requested is None or not job.ingestion_id:
        return None
    taken = {j.run_id for j in history if j.run_id}
    for run in rt.geocatalog.list_runs(job.collection_id, job.ingestion_id):
        created = parse_time(run.get("creationTime"))
        if run["id"] not in taken and created and created >= requested - RUN_ADOPTION_SKEW:
            log.info("job %s adopts run %s started by an earlier attempt", job.job_id, run["id"])
            return run
    return None
