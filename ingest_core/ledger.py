"""The job ledger: claims, the one guarded writer of job state, the index of work in flight, and run slots.

Layout (one table):
- partition `open`: every unfinished job (its whole row), plus the run slots (`slot-NN`). Reconcile, sweep and
  the run cap read only this partition, so their cost follows the work in flight, not the history.
- partition `b<hash of the blob URL>`: the finished jobs of one blob. Every upload of a blob is in one place:
  a drop reads its blob's history with one query.
- partition `source`: what the app knows of each container's ingestion source.
A job moves from `open` to its blob partition when it ends (insert there, then delete from `open`).
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ingest_core.errors import IllegalTransition, RowExists, StaleJob, StaleRow, UnknownField
from ingest_core.events import Drop
from ingest_core.job import WRITABLE, Job, now_utc, parse_time
from ingest_core.states import TERMINAL, JobState, can_move
from ingest_core.table_store import Op, TableStore

log = logging.getLogger(__name__)

OPEN = "open"
SOURCE_PARTITION = "source"
LEGACY_JOB_PARTITION = "job"  # the previous layout: every job in one partition (see `migrate`)
SLOT_PREFIX = "slot-"
OUTBOX_PREFIX = "evt-"
# A free slot lost to a racing instance is looked for again this often before the job queues.
SLOT_TRIES = 8


def _hash(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def blob_partition(blob_url: str) -> str:
    """The partition holding one blob's finished jobs."""
    return "b" + _hash(blob_url)


def job_id_for(blob_url: str, etag: str, replay: str = "") -> str:
    """Deterministic job id (the blob's hash, then the upload's): the same upload always maps to the same row."""
    upload = f"{blob_url}|{etag}" + (f"|replay:{replay}" if replay else "")
    return _hash(blob_url) + _hash(upload)


def source_key_for(container_url: str) -> str:
    """Row key of a container's source record."""
    return _hash(container_url.rstrip("/"), 32)


@dataclass
class Claim:
    """What a claim found: the job, whether this caller may work on it, and every other upload of the blob."""

    job: Job
    mine: bool
    history: list[Job] = field(default_factory=list)  # the blob's other jobs, finished and open, oldest first


class Ledger:
    """The only code that writes job state."""

    def __init__(
        self, store: TableStore, on_terminal: Callable[[Job], None] | None = None, outbox: bool = False
    ) -> None:
        self.store = store
        # Called once a job reaches a terminal state (report, completion event); never fails the transition.
        self._on_terminal = on_terminal
        # With completion events on, a job that ends leaves an outbox row (in the same transaction as its removal
        # from `open`) until its event went out: reconcile retries exactly those, whatever the history holds.
        self._outbox = outbox

    # -- reads ------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        """The job, finished or not (a finished row wins over an open one left by a crash)."""
        row = self.store.get("b" + job_id[:16], job_id) or self.store.get(OPEN, job_id)
        return Job.from_entity(row) if row else None

    def history(self, blob_url: str) -> list[Job]:
        """Every job of one blob, oldest first: open ones first read, so one that ends meanwhile is still seen."""
        rows = self.store.query(OPEN, kind="job", blob_url=blob_url)
        rows += self.store.query(blob_partition(blob_url))
        jobs: dict[str, Job] = {}
        for row in rows:  # a finished row replaces an open one of the same job
            jobs[row["RowKey"]] = Job.from_entity(row)
        return sorted(jobs.values(), key=lambda j: j.created_at)

    def open_jobs(self, states: set[JobState] | None = None) -> list[Job]:
        """Unfinished jobs (optionally only `states`), oldest first; cost independent of finished jobs."""
        jobs = [Job.from_entity(r) for r in self.store.query(OPEN, kind="job")]
        return sorted((j for j in jobs if states is None or j.state in states), key=lambda j: j.created_at)

    def jobs(self, states: set[JobState] | None = None, blob_url: str | None = None) -> list[Job]:
        """Every job, finished or not, oldest first: a scan of the whole table (operators and tests, never a drop)."""
        found: dict[str, Job] = {}
        for row in self.store.scan(kind="job", **({"blob_url": blob_url} if blob_url else {})):
            if row["PartitionKey"] in (OPEN, LEGACY_JOB_PARTITION) and row["RowKey"] in found:
                continue  # a finished row wins over an open one left by a crash
            found[row["RowKey"]] = Job.from_entity(row)
        jobs = (j for j in found.values() if states is None or j.state in states)
        return sorted(jobs, key=lambda j: j.created_at)

    def finished_jobs(self, blob_url: str) -> list[Job]:
        """One blob's finished jobs."""
        return [Job.from_entity(r) for r in self.store.query(blob_partition(blob_url))]

    # -- claims and leases ------------------------------------------------------------------------
    def claim(self, drop: Drop, lease_seconds: float, replay: str = "") -> Claim:
        """Record this upload's job, or find it; `mine` when this caller may work on it now.

        A duplicate delivery finds the job: it may take over only an unfinished job whose lease has run
        out (its worker died), so concurrent deliveries never work on one job in parallel.
        """
        job_id = job_id_for(drop.url, drop.etag, replay)
        history = self.history(drop.url)
        others = [j for j in history if j.job_id != job_id]
        existing = next((j for j in history if j.job_id == job_id), None)
        if existing is not None:
            return Claim(existing, self.take_lease(existing, lease_seconds), others)
        now = now_utc()
        job = Job(job_id=job_id, replay=replay, blob_url=drop.url, etag=drop.etag, sequencer=drop.sequencer,
                  created_at=now, updated_at=now, lease_until=now + timedelta(seconds=lease_seconds),
                  attempts=1)  # fmt: skip
        try:
            job.row_etag = self.store.insert(job.to_entity(OPEN))
        except RowExists:  # another delivery of the same upload won the insert
            current = self.get(job_id)
            if current is None:
                return Claim(job, False, others)
            return Claim(current, self.take_lease(current, lease_seconds), others)
        log.info("job %s RECEIVED blob=%s etag=%s", job.job_id, job.blob_url, job.etag)
        return Claim(job, True, others)

    def take_lease(self, job: Job, lease_seconds: float) -> bool:
        """Take over an unfinished job whose lease ran out; False if finished, leased or raced."""
        if job.state.terminal or (job.lease_until and job.lease_until > now_utc()):
            return False
        try:
            self.update(job, lease_until=now_utc() + timedelta(seconds=lease_seconds), attempts=job.attempts + 1)
        except StaleJob:
            return False
        return True

    def release(self, job: Job) -> None:
        """Give the lease back so a retry can resume at once (best effort)."""
        if job.state.terminal:
            return
        try:
            self.update(job, lease_until=None)
        except StaleJob:
            pass

    # -- the guarded writer -----------------------------------------------------------------------
    @staticmethod
    def _check(job: Job, changes: dict[str, Any]) -> None:
        unknown = sorted(set(changes) - WRITABLE)
        if unknown:
            raise UnknownField(f"job {job.job_id}: no such field(s) to update: {', '.join(unknown)}")

    def _apply(self, job: Job, changes: dict[str, Any]) -> None:
        self._check(job, changes)
        for key, value in changes.items():
            setattr(job, key, value)
        job.updated_at = now_utc()

    def update(self, job: Job, **changes: Any) -> Job:
        """Write `changes` to an unfinished job if nobody wrote it since we read it; never the state."""
        if job.state.terminal:
            raise IllegalTransition(f"job {job.job_id} is {job.state.value}: finished jobs never change")
        self._check(job, changes)
        before = {k: getattr(job, k) for k in changes}
        self._apply(job, changes)
        try:
            job.row_etag = self.store.replace(job.to_entity(OPEN), job.row_etag)
        except StaleRow:
            for k, v in before.items():  # leave the caller's copy as it was: it is stale anyway
                setattr(job, k, v)
            raise StaleJob(job.job_id) from None
        return job

    def transition(self, job: Job, new: JobState, **changes: Any) -> Job:
        """Move a job to `new` (one conditional write, two when it ends) and log it; terminal never moves."""
        old = job.state
        if not can_move(old, new):
            raise IllegalTransition(f"job {job.job_id}: illegal transition {old.value} -> {new.value}")
        if new not in TERMINAL:
            self._apply(job, changes)
            job.state = new
            try:
                job.row_etag = self.store.replace(job.to_entity(OPEN), job.row_etag)
            except StaleRow:
                job.state = old
                raise StaleJob(job.job_id) from None
        else:
            self._finish(job, old, new, changes)
        log.info(
            "job %s %s -> %s blob=%s collection=%s ingestion=%s run=%s%s",
            job.job_id, old.value, new.value, job.blob_url, job.collection_id or "-", job.ingestion_id or "-",
            job.run_id or "-", f" error={job.last_error}" if new in (JobState.FAILED, JobState.INVALID) else "",
        )  # fmt: skip
        if new in TERMINAL and self._on_terminal is not None:
            self._on_terminal(job)
        return job

    def _finish(self, job: Job, old: JobState, new: JobState, changes: dict[str, Any]) -> None:
        """Archive the finished job in its blob's partition, then remove it (and its run slot) from `open`."""
        open_etag, slot = job.row_etag, job.slot
        self._apply(job, {"lease_until": None, "next_attempt_at": None, "slot": "", **changes})
        job.state = new
        try:
            archived = self.store.insert(job.to_entity(blob_partition(job.blob_url)))
        except RowExists:  # someone else finished it first
            job.state = old
            raise StaleJob(job.job_id) from None
        ops = [Op("delete", {"PartitionKey": OPEN, "RowKey": job.job_id}, open_etag or None)]
        if self._outbox:
            ops.append(Op("upsert", {"PartitionKey": OPEN, "RowKey": OUTBOX_PREFIX + job.job_id, "kind": "outbox",
                                     "job_id": job.job_id, "ended_at": now_utc().isoformat()}))  # fmt: skip
        held = self.store.get(OPEN, slot) if slot else None
        if held and held.get("holder") == job.job_id:
            ops.append(Op("replace", {**held, "holder": "", "since": ""}, held["_etag"]))
        try:
            self.store.transact(ops)
        except StaleRow:  # the open row changed under us: our copy was stale, so undo the archive
            self.store.delete(blob_partition(job.blob_url), job.job_id, archived)
            job.state = old
            raise StaleJob(job.job_id) from None
        job.row_etag = archived

    def unsent_events(self, older_than: timedelta) -> list[Job]:
        """Finished jobs whose completion event has not gone out, ended at least `older_than` ago."""
        cutoff = now_utc() - older_than
        jobs = []
        for row in self.store.query(OPEN, kind="outbox"):
            job = self.get(row["job_id"]) if (parse_time(row.get("ended_at")) or cutoff) <= cutoff else None
            if job is not None and job.state.terminal:
                jobs.append(job)
        return jobs

    def event_sent(self, job_id: str) -> None:
        """The job's completion event went out: forget its outbox row."""
        self.store.delete(OPEN, OUTBOX_PREFIX + job_id)

    def event_pending(self, job_id: str) -> bool:
        """True while the job's completion event has not gone out."""
        return self.store.get(OPEN, OUTBOX_PREFIX + job_id) is not None

    def tidy(self, job_id: str) -> bool:
        """Remove an open row whose job already ended (a crash between archive and delete); True if removed."""
        if self.store.get("b" + job_id[:16], job_id) is None:
            return False
        self.store.delete(OPEN, job_id)
        return True

    # -- run slots (the concurrent-run cap, atomic across instances) --------------------------------
    def slots(self, count: int) -> list[dict[str, Any]]:
        """The first `count` slot rows (missing ones as unsaved free rows)."""
        have = {r["RowKey"]: r for r in self.store.query(OPEN, kind="slot")}
        names = [f"{SLOT_PREFIX}{i:02d}" for i in range(count)]
        return [have.get(n) or {"PartitionKey": OPEN, "RowKey": n, "kind": "slot", "holder": ""} for n in names]

    def take_slot(self, job: Job, count: int, **changes: Any) -> bool:
        """Take a free run slot for `job` and write `changes` with it, all or nothing; False when none is free."""
        if job.slot:
            self.update(job, **changes)
            return True
        for _ in range(SLOT_TRIES):  # another instance may take the slot we picked: look again
            free = [s for s in self.slots(count) if not s.get("holder")]
            if not free:
                return False
            slot = random.choice(free)  # racing workers spread over the free slots instead of all taking the first
            self._check(job, changes)
            before = {k: getattr(job, k) for k in (*changes, "slot")}
            self._apply(job, {**changes, "slot": slot["RowKey"]})
            taken = {**slot, "holder": job.job_id, "since": now_utc().isoformat()}
            slot_op = Op("replace", taken, slot["_etag"]) if "_etag" in slot else Op("insert", taken)
            try:
                etags = self.store.transact([slot_op, Op("replace", job.to_entity(OPEN), job.row_etag)])
            except StaleRow:
                for k, v in before.items():
                    setattr(job, k, v)
                current = self.store.get(OPEN, job.job_id)
                if current is None or current["_etag"] != job.row_etag:
                    raise StaleJob(job.job_id) from None
                continue
            job.row_etag = etags[1]
            return True
        return False

    def free_orphan_slots(self) -> list[str]:
        """Free slots whose holder is no longer an open job (it ended, or died after ending); their names."""
        holders = {j.job_id for j in self.open_jobs()}
        freed = []
        for slot in self.store.query(OPEN, kind="slot"):
            if slot.get("holder") and slot["holder"] not in holders:
                try:
                    self.store.replace({**slot, "holder": "", "since": ""}, slot["_etag"])
                    freed.append(slot["RowKey"])
                except StaleRow:
                    continue
        return freed

    def runs_in_flight(self, count: int) -> int:
        """Slots held (the run cap's count)."""
        return sum(1 for s in self.slots(count) if s.get("holder"))

    # -- sources ----------------------------------------------------------------------------------
    def get_source_record(self, container_url: str) -> dict[str, Any] | None:
        """What we know of a container's ingestion source (id, owner, expiry, last use)."""
        return self.store.get(SOURCE_PARTITION, source_key_for(container_url))

    def put_source_record(self, container_url: str, **fields_: Any) -> None:
        """Insert or merge a container's source record; `owned` can only be set, never cleared."""
        if fields_.get("owned") is False:
            fields_.pop("owned")
        entity = {"PartitionKey": SOURCE_PARTITION, "RowKey": source_key_for(container_url), "kind": "source",
                  "container_url": container_url, **fields_}  # fmt: skip
        self.store.upsert(entity)

    def source_intent(self, container_url: str, **intent: Any) -> dict[str, Any]:
        """The container's source record, inserted with `intent` when there is none (first writer wins)."""
        entity = {"PartitionKey": SOURCE_PARTITION, "RowKey": source_key_for(container_url), "kind": "source",
                  "container_url": container_url, "source_id": "", **intent}  # fmt: skip
        try:
            entity["_etag"] = self.store.insert(entity)
            return entity
        except RowExists:
            return self.store.get(SOURCE_PARTITION, entity["RowKey"]) or entity

    def delete_source_record(self, container_url: str) -> None:
        """Forget a container's source record (only together with its source)."""
        self.store.delete(SOURCE_PARTITION, source_key_for(container_url))

    def source_records(self) -> list[dict[str, Any]]:
        """Every source record."""
        return self.store.query(SOURCE_PARTITION)
