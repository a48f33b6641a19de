"""handle_drop: route, claim, preflight, ensure collection/sources/ingestion, start the run. Every step idempotent."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from ingest_core.errors import InvalidDrop, ServiceError
from ingest_core.events import Drop, container_url_of, parse_blob_url
from ingest_core.ledger import Job, StaleJob, now_utc
from ingest_core.routing import CollectionPolicy, RoutingRule, match_rule, valid_collection_id, watches_container
from ingest_core.runtime import Runtime
from ingest_core.sources import ensure_source, parse_time
from ingest_core.stac import Preflight, collection_body, load_json, parse_catalog, preflight, sibling_url
from ingest_core.states import NOT_STARTED, JobState
from ingest_core.storage import BlobNotFound
from ingest_core.trust import refused

log = logging.getLogger(__name__)

# A run created by an attempt that died before recording it is adopted if it is this close to the request.
RUN_ADOPTION_SKEW = timedelta(minutes=2)


def handle_drop(rt: Runtime, drop: Drop, replay: str = "") -> Job | None:
    """Process one uploaded blob; returns its job (None when the blob is not ours).

    `replay` (operators only) makes a new job for an upload already seen, e.g. to retry a FAILED one.
    """
    s = rt.settings
    if refused(s, drop):  # first: nothing is read, claimed or minted for an untrusted upload
        return None
    rules = s.rules_or_default()
    if not watches_container(rules, drop.account, drop.container):
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
    job, mine = rt.ledger.claim(drop, s.claim_lease_seconds, replay)
    if not mine:
        log.info("job %s is %s and held elsewhere: duplicate delivery ignored", job.job_id, job.state.value)
        return job
    _supersede_older(rt, job)
    return advance(rt, job)


def advance(rt: Runtime, job: Job) -> Job:
    """Run a claimed job's remaining steps; bad input ends INVALID, service refusals FAILED, faults re-raise."""
    try:
        if job.state == JobState.DEFERRED:
            job = rt.ledger.transition(job, JobState.RECEIVED)
        queued_earlier = job.state == JobState.QUEUED
        if job.state == JobState.RECEIVED:
            job = _prepare(rt, job)
        if job.state == JobState.QUEUED:
            job = _start(rt, job, recheck_sources=queued_earlier)
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


def _supersede_older(rt: Runtime, job: Job) -> None:
    """Older uploads of the same blob that have not started a run are replaced by this one."""
    for other in rt.ledger.jobs(states=set(NOT_STARTED), blob_url=job.blob_url):
        if other.job_id == job.job_id:
            continue
        newer = (
            (job.sequencer > other.sequencer)
            if (job.sequencer and other.sequencer)
            else other.created_at <= job.created_at
        )
        # Only a job nobody is working on and that never asked for a run: taking its lease first means
        # a worker in the middle of starting that run is never cut off (its run would be orphaned).
        if newer and not other.run_requested_at and rt.ledger.take_lease(other, rt.settings.claim_lease_seconds):
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


# Jobs whose run covers their content: an identical re-upload after one of these has nothing new to ingest.
_COVERED = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.PARTIAL})


def _same_content_as(rt: Runtime, job: Job, digest: str) -> Job | None:
    for other in rt.ledger.jobs(blob_url=job.blob_url):
        if other.job_id != job.job_id and other.content_digest == digest and other.state in _COVERED:
            return other
    return None


def _prepare(rt: Runtime, job: Job) -> Job:
    """Preflight and register everything the run needs; ends QUEUED (or DEFERRED/IGNORED/INVALID)."""
    s = rt.settings
    account, container, path = parse_blob_url(job.blob_url)
    rule = match_rule(s.rules_or_default(), account, container, path)
    if rule is None:
        prefixes = [r.prefix or "(all)" for r in s.rules_or_default() if r.container == container]
        raise InvalidDrop(f"no routing rule covers this path; rules for container {container} cover {prefixes}")
    try:
        data, etag = rt.storage.read_blob(job.blob_url, s.catalog_max_bytes)
    except BlobNotFound:
        return rt.ledger.transition(job, JobState.SUPERSEDED, last_error="the blob was deleted before processing")
    if etag != job.etag:
        return rt.ledger.transition(
            job, JobState.SUPERSEDED, last_error=f"blob changed (ETag {etag}) before processing"
        )
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
    twin = None if job.replay else _same_content_as(rt, job, digest)
    if twin is not None:
        # Storage gives every upload a new ETag, even of identical bytes: compare what was read instead.
        return rt.ledger.transition(
            job,
            JobState.IGNORED,
            content_digest=digest,
            last_error=f"unchanged: same catalog, items and links as job {twin.job_id} ({twin.state.value})",
        )
    job = rt.ledger.update(job, content_digest=digest, lease_until=_lease(rt))
    collection_id = rule.collection_id(path, pf.catalog_id)
    if not valid_collection_id(collection_id):
        raise InvalidDrop(
            f"collection id {collection_id!r} is invalid: use 3-32 letters, digits, '-' or '_' "
            "(set the catalog id or the routing rule's collection)"
        )
    _ensure_collection(rt, collection_id, rule, pf, job.blob_url, reader)
    containers = sorted(pf.asset_containers, key=lambda c: c != container_url)
    source_ids = [ensure_source(rt, c) for c in containers]
    job = rt.ledger.update(
        job,
        collection_id=collection_id,
        source_ids=",".join(source_ids),
        container_urls=",".join(containers),
        lease_until=_lease(rt),
        total_items=pf.item_count,
        warnings="; ".join(pf.warnings),
        last_error="",
        error_where="",
    )
    job = _ensure_ingestion(rt, job, rule)
    return rt.ledger.transition(job, JobState.QUEUED)


def _lease(rt: Runtime) -> str:
    """A fresh lease end: renewed at each step so a long preparation is not taken over mid-way."""
    return (now_utc() + timedelta(seconds=rt.settings.claim_lease_seconds)).isoformat()


def _defer(rt: Runtime, job: Job, pf: Preflight) -> Job:
    """Children not uploaded yet: wait (the lease doubles as the back-off), or give up after the timeout."""
    first = pf.missing[0]
    waited = now_utc() - (parse_time(job.created_at) or now_utc())
    if waited > timedelta(minutes=rt.settings.defer_timeout_minutes):
        raise InvalidDrop(
            f"{len(pf.missing)} linked document(s) still missing after {rt.settings.defer_timeout_minutes:.0f} "
            f"minutes, first {first}: upload them, then upload the catalog again"
        )
    backoff = min(300.0, 2.0 * 2 ** min(job.attempts, 8))
    return rt.ledger.transition(
        job,
        JobState.DEFERRED,
        last_error=f"waiting for {len(pf.missing)} linked document(s) not uploaded yet, first {first}",
        lease_until=(now_utc() + timedelta(seconds=backoff)).isoformat(),
    )


def _ensure_collection(
    rt: Runtime, collection_id: str, rule: RoutingRule, pf: Preflight, catalog_url: str, read: TreeReader
) -> None:
    """Create the collection when missing, as the rule's policy says."""
    if rt.geocatalog.get_collection(collection_id) is not None:
        return
    if rule.collection_policy == CollectionPolicy.REQUIRE:
        raise InvalidDrop(
            f"collection {collection_id!r} does not exist and the routing rule's policy is 'require': "
            "create the collection first, or change the rule's collectionPolicy"
        )
    from_file = (
        pf.catalog if pf.catalog.get("type") == "Collection" else read(sibling_url(catalog_url, "collection.json"))
    )
    if rule.collection_policy == CollectionPolicy.FROM_FILE and from_file is None:
        raise InvalidDrop(
            "the routing rule's policy is 'from_file' but there is no collection.json beside the catalog: "
            "upload one, then upload the catalog again"
        )
    try:
        rt.geocatalog.create_collection(collection_body(collection_id, pf, from_file))
        log.info("collection %s created", collection_id)
    except ServiceError as exc:
        if exc.status == 400 and from_file is not None:
            raise InvalidDrop(
                f"the GeoCatalog rejected collection.json: {exc.code}: {exc.message}; fix it and upload the catalog again",
                where=sibling_url(catalog_url, "collection.json"),
            ) from None
        if exc.status != 409:  # 409: created concurrently by another instance, which is what we wanted
            raise


def _ensure_ingestion(rt: Runtime, job: Job, rule: RoutingRule) -> Job:
    """Reuse the ingestion definition for (collection, catalog URL), or create it."""
    if job.ingestion_id:
        return job
    wanted = {"skipExistingItems": rule.skip_existing_items, "keepOriginalAssets": rule.keep_original_assets}
    for ing in rt.geocatalog.list_ingestions(job.collection_id):
        if ing.get("sourceCatalogUrl") == job.blob_url and ing.get("status", "Ready") == "Ready":
            changed = {k: v for k, v in wanted.items() if ing.get(k) != v}
            if changed:  # the routing rule's options changed since the definition was made
                rt.geocatalog.update_ingestion(job.collection_id, ing["id"], changed)
            log.info("ingestion %s reused for %s", ing["id"], job.blob_url)
            return rt.ledger.update(job, ingestion_id=ing["id"])
    created = rt.geocatalog.create_ingestion(
        job.collection_id,
        {
            "importType": "StaticCatalog",
            "displayName": f"drop {job.blob_url.rsplit('/', 2)[-2]}/{job.blob_url.rsplit('/', 1)[-1]}"[:100],
            "sourceCatalogUrl": job.blob_url,
            **wanted,
        },
    )
    log.info("ingestion %s created for %s", created["id"], job.blob_url)
    return rt.ledger.update(job, ingestion_id=created["id"])


def running_count(rt: Runtime) -> int:
    """Runs this app has in flight (the concurrent-run cap counts these)."""
    return len(rt.ledger.jobs(states={JobState.RUNNING}))


def _start(rt: Runtime, job: Job, recheck_sources: bool) -> Job:
    """Start the run unless the cap is reached (then stay QUEUED for reconcile)."""
    if running_count(rt) >= rt.settings.max_concurrent_runs:
        log.info("job %s stays QUEUED: %d runs in flight", job.job_id, rt.settings.max_concurrent_runs)
        return rt.ledger.update(job, lease_until="")
    run = _adopt_run(rt, job)
    if run is None and recheck_sources:
        # A job that waited in the queue: make sure every source it reads still has a fresh SAS.
        job = rt.ledger.update(
            job, source_ids=",".join(ensure_source(rt, c) for c in job.container_urls.split(",") if c)
        )
    if run is None:
        job = rt.ledger.update(job, run_requested_at=now_utc().isoformat())
        run = rt.geocatalog.create_run(job.collection_id, job.ingestion_id)
    op = run.get("operation", {})
    return rt.ledger.transition(job, JobState.RUNNING, run_id=run["id"], pending_items=op.get("totalPendingItems", 0))


def _adopt_run(rt: Runtime, job: Job) -> dict | None:
    """A run that an earlier attempt created but died before recording (no second run)."""
    requested = parse_time(job.run_requested_at)
    if requested is None:
        return None
    taken = {j.run_id for j in rt.ledger.jobs(blob_url=job.blob_url) if j.run_id}
    for run in rt.geocatalog.list_runs(job.collection_id, job.ingestion_id):
        created = parse_time(run.get("creationTime"))
        if run["id"] not in taken and created and created >= requested - RUN_ADOPTION_SKEW:
            log.info("job %s adopts run %s started by an earlier attempt", job.job_id, run["id"])
            return run
    return None
