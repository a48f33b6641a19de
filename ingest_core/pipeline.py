"""handle_drop: route, claim, preflight, ensure collection/sources/ingestion, start the run. Every step idempotent.

Lean by design: the claim reads the blob's history once and every step reuses it; a fresh drop writes its job
three times (claim, run slot with everything preflight learned, RUNNING) and calls the GeoCatalog only for
what is not already known (process caches for sources and collections, the ledger for ingestion ids).
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest_core.collection_config import collection_id_for
from ingest_core.config_apply import apply_config, discover_config
from ingest_core.errors import BlobNotFound, IllegalTransition, InvalidDrop, ServiceError, StaleJob, TransientError
from ingest_core.events import Drop, canonical_blob_url, container_url_of, parse_blob_url
from ingest_core.geoparquet import geoparquet_preflight, is_geoparquet_drop, read_footer
from ingest_core.ingestions import adopt_run, create_run, ensure_ingestion, options_of
from ingest_core.job import Job, now_utc
from ingest_core.parts import needs_split, split_job
from ingest_core.routing import RoutingRule, match_rule, valid_collection_id, watches_container
from ingest_core.runtime import Runtime
from ingest_core.stac import Preflight, load_json, parse_catalog, preflight, sibling_url
from ingest_core.stac_collections import ensure_collection
from ingest_core.states import NOT_STARTED, JobState
from ingest_core.trees import ancestor_catalogs, covered_by, settles_at, top_folder
from ingest_core.trust import refused

log = logging.getLogger(__name__)

# The longest a failed job waits for its next attempt (reconcile runs every minute).
RETRY_CAP_SECONDS = 900.0
# Jobs whose run covers their content: an identical re-upload after one of these has nothing new to ingest.
_COVERED = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.PARTIAL})


def handle_drop(rt: Runtime, drop: Drop, replay: str = "", content: bytes | None = None) -> Job | None:
    """Process one uploaded blob; returns its job (None when the blob is not ours).

    `replay` (operators only) makes a new job for an upload already seen, e.g. to retry a FAILED one.
    `content`: the catalog's bytes when the trigger already holds them (the blob trigger does), saving a read.
    """
    s = rt.settings
    if refused(s, drop):  # first: nothing is read, claimed or minted for an untrusted upload
        return None
    if not watches_container(s.rules_or_default(), drop.account, drop.container):
        log.info("ignored %s: no routing rule watches %s/%s", drop.url, drop.account, drop.container)
        return None
    parquet = is_geoparquet_drop(s.rules_or_default(), drop.account, drop.container, drop.path)
    if not drop.path.endswith(s.catalog_suffix) and not parquet:
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
    except TransientError as exc:
        if attempt_failed(rt, job, exc).state.terminal:
            return job  # given up: the job says why; nothing for the platform to retry
        raise  # the platform retries the delivery; reconcile retries the job once its next attempt is due
    except Exception as exc:  # a bug: the job records it and reconcile gives up after a few attempts
        attempt_failed(rt, job, exc)
        raise


def attempt_failed(rt: Runtime, job: Job, exc: Exception) -> Job:
    """Record a failed attempt on the job: what, where, and when to try again; FAILED once it is time to give up."""
    s = rt.settings
    if job.state.terminal:
        return job
    text = str(exc) if isinstance(exc, TransientError) else f"internal error ({type(exc).__name__}: {exc})"
    try:
        if isinstance(exc, TransientError) and now_utc() - job.created_at > timedelta(
            minutes=s.transient_give_up_minutes
        ):
            return rt.ledger.transition(
                job, JobState.FAILED, error_where=_where(exc),
                last_error=f"gave up after {s.transient_give_up_minutes:.0f} minutes of transient failures; last: {text}."
                " Check the GeoCatalog's and storage's health, then replay with `python -m ingest_core ingest --force`",
            )  # fmt: skip
        # Exponential back-off with full jitter, capped: many jobs that failed together do not retry together.
        delay = timedelta(seconds=random.uniform(0.5, 1.0) * min(RETRY_CAP_SECONDS, 15.0 * 2 ** min(job.attempts, 10)))
        return rt.ledger.update(job, last_error=f"attempt {job.attempts} failed: {text}", error_where=_where(exc),
                                lease_until=None, next_attempt_at=now_utc() + delay)  # fmt: skip
    except (StaleJob, IllegalTransition):  # someone else moved it on: their record wins
        return job


def delivery_gave_up(rt: Runtime, blob_url: str, etag: str, attempts: int | None = None) -> Job | None:
    """The Functions host stopped redelivering this upload (poison queue): say so on its unfinished job."""
    job = next((j for j in rt.ledger.history(blob_url) if j.etag == etag), None)
    if job is None or job.state.terminal:
        return job
    times = f" after {attempts} deliveries" if attempts else ""
    note = f"the Functions host gave up redelivering this upload{times}; reconcile keeps retrying the job"
    try:
        return rt.ledger.update(job, host_gave_up=True, last_error=job.last_error or note,
                                warnings=[*job.warnings, note] if note not in job.warnings else job.warnings)  # fmt: skip
    except StaleJob:
        return rt.ledger.get(job.job_id)


def _where(exc: Exception) -> str:
    """The call that failed, when the error names one."""
    text = str(exc)
    for marker in ("GeoCatalog ", "storage call to "):
        if marker in text:
            return text.split(marker, 1)[1].split(" failed", 1)[0].split(" still", 1)[0].split(" may", 1)[0][:300]
    return type(exc).__name__


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
        return load_json(data, url)

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
    waiting = _not_ready(rt, job, rule, path)
    if waiting is not None:
        return _wait(rt, job, *waiting)
    parquet = is_geoparquet_drop(s.rules_or_default(), account, container, path)
    try:
        data = read_footer(rt.storage, job.blob_url, s.catalog_max_bytes)[0] if parquet else None
        data = data if parquet else _read_catalog(rt, job, content)
    except BlobNotFound:
        return rt.ledger.transition(job, JobState.SUPERSEDED, last_error="the blob was deleted before processing")
    if data is None:
        return rt.ledger.transition(job, JobState.SUPERSEDED, last_error="the blob changed before processing")
    reader = TreeReader(rt)
    reader.add(job.blob_url, data)
    container_url = container_url_of(job.blob_url)
    if parquet:  # the footer says what the file holds
        pf = geoparquet_preflight(job.blob_url, data, container_url)
    else:
        doc = parse_catalog(data, job.blob_url)
        ancestors = [canonical_blob_url(f"{container_url}/{a}") for a in ancestor_catalogs(rule, path)]
        covering = covered_by(job.blob_url, ancestors, reader)
        if covering:
            return rt.ledger.transition(
                job, JobState.IGNORED, last_error=f"covered by catalog {covering}: ingested through it, with its tree"
            )
        pf = preflight(
            job.blob_url, doc, container_url, reader, s.preflight_max_links, asset_containers=s.asset_containers
        )
    if pf.missing:
        return _defer(rt, job, pf)
    cfg = discover_config(rt, job.blob_url, rule, reader.add)  # validated before any call
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
    collection_id = collection_id_for(rule, path, pf.catalog_id, cfg)
    if not valid_collection_id(collection_id):
        raise InvalidDrop(
            f"collection id {collection_id!r} is invalid: use 3-32 letters, digits, '-' or '_' "
            "(set the catalog id or the routing rule's collection)"
        )
    created = ensure_collection(rt, collection_id, rule, pf, job.blob_url, reader, cfg.collection)
    applied = apply_config(rt, collection_id, cfg, rule)
    containers = sorted(pf.asset_containers, key=lambda c: c != container_url)
    source_ids = [rt.sources.ensure(c) for c in containers]
    earlier = _earlier_child_jobs(rt, pf)
    wanted = options_of(rule) | ({"skipExistingItems": True} if earlier else {})
    kind = "StacGeoparquet" if parquet else "StaticCatalog"
    if not parquet and needs_split(rt, pf):  # over the service's per-ingestion limit: parts (ingest_core.parts)
        ingestion = split_job(rt, job, pf, collection_id, wanted, created, containers, source_ids)
    else:
        ingestion_id, options = ensure_ingestion(rt, job, collection_id, wanted, history, created, kind)
        ingestion = {"ingestion_id": ingestion_id, "ingestion_options": options}
    notes = [f"child catalog {j.blob_url} was ingested earlier by job {j.job_id} ({j.state.value}); "
             "its items already in the collection are skipped" for j in earlier]  # fmt: skip
    return Plan(rule, {
        "content_digest": digest, "collection_id": collection_id, "source_ids": source_ids,
        "container_urls": containers, "total_items": pf.item_count, "warnings": notes + pf.warnings,
        "predicted_failures": pf.failing_items, "config_applied": applied, "last_error": "", "error_where": "",
        **ingestion,
    })  # fmt: skip


def _not_ready(rt: Runtime, job: Job, rule: RoutingRule, path: str) -> tuple[datetime, str] | None:
    """(when to look again, why) while the tree may still be arriving; None once it is complete."""
    container_url = container_url_of(job.blob_url)
    if rule.ready_marker:
        marker = sibling_url(job.blob_url, rule.ready_marker)
        if rt.storage.exists(marker):
            return None
        backoff = timedelta(seconds=min(300.0, 2.0 * 2 ** min(job.attempts, 8)))
        return now_utc() + backoff, f"waiting for the ready marker {marker}"
    settle = timedelta(seconds=rt.settings.settle_seconds)
    if not settle:
        return None
    top = top_folder(rule, path)
    ready = settles_at(rt.storage.last_changes(container_url, top), settle)
    if ready is None or ready <= now_utc():
        return None
    return ready, f"waiting for {container_url}/{top} to stop changing (settles at {ready.isoformat()})"


def _wait(rt: Runtime, job: Job, until: datetime, reason: str) -> Job:
    """DEFERRED until `until` (no run spent); INVALID once DEFER_TIMEOUT_MINUTES have passed."""
    if now_utc() - job.created_at > timedelta(minutes=rt.settings.defer_timeout_minutes):
        raise InvalidDrop(
            f"still not ready after {rt.settings.defer_timeout_minutes:.0f} minutes ({reason}): finish the upload "
            "(or add the rule's ready marker), then upload the catalog again"
        )
    changes = {"last_error": reason, "lease_until": until, "next_attempt_at": until}
    if job.state == JobState.DEFERRED:
        return rt.ledger.update(job, **changes)
    return rt.ledger.transition(job, JobState.DEFERRED, **changes)


def _earlier_child_jobs(rt: Runtime, pf: Preflight) -> list[Job]:
    """Jobs that already ingested (or are ingesting) catalogs of this tree on their own, before their root came."""
    found = []
    for url in pf.child_catalogs:
        found += [j for j in rt.ledger.history(url) if j.state in _COVERED]
    return found


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


def _start(rt: Runtime, job: Job, history: list[Job], plan: Plan | None) -> Job:
    """Take a run slot and start the run; with none free, stay QUEUED for reconcile."""
    s = rt.settings
    changes = dict(plan.changes) if plan else {}
    if plan is None and not job.slot:
        # A job that waited in the queue: make sure every source it reads still has a fresh SAS.
        changes["source_ids"] = [rt.sources.ensure(c) for c in job.container_urls]
    run = adopt_run(rt, job, history) if job.run_requested_at else None
    if run is None:
        changes.setdefault("run_requested_at", job.run_requested_at or now_utc())
        if not rt.ledger.take_slot(job, s.max_concurrent_runs, **changes):
            log.info("job %s stays QUEUED: %d runs in flight", job.job_id, s.max_concurrent_runs)
            changes.pop("run_requested_at")
            queued = {**changes, "lease_until": None, "next_attempt_at": None}
            if job.state == JobState.QUEUED:
                return rt.ledger.update(job, **queued)
            return rt.ledger.transition(job, JobState.QUEUED, **queued)
        run = create_run(rt, job)
    op = run.get("operation", {})
    return rt.ledger.transition(job, JobState.RUNNING, run_id=run["id"], pending_items=op.get("totalPendingItems", 0))
