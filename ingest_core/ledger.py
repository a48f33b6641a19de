"""Job and source records in Azure Table storage: claim by insert, every change by ETag-conditional write."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

from ingest_core.connections import service_client
from ingest_core.events import Drop
from ingest_core.redaction import cap_text, redact
from ingest_core.states import TERMINAL, JobState, can_move

log = logging.getLogger(__name__)

JOB_PARTITION = "job"
SOURCE_PARTITION = "source"


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def job_id_for(blob_url: str, etag: str, replay: str = "") -> str:
    """Deterministic job id: the same upload (URL + ETag) always maps to the same row."""
    key = f"{blob_url}|{etag}" + (f"|replay:{replay}" if replay else "")
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def source_key_for(container_url: str) -> str:
    """Row key of a container's source record."""
    return hashlib.sha256(container_url.rstrip("/").encode()).hexdigest()[:32]


class StaleJob(Exception):
    """Another writer changed the row first (ETag mismatch); re-read before deciding anything."""


@dataclass
class Job:
    """One dropped catalog upload and everything the pipeline learned about it."""

    job_id: str
    blob_url: str
    etag: str
    state: JobState = JobState.RECEIVED
    sequencer: str = ""
    collection_id: str = ""
    source_ids: str = ""  # comma-separated: every container the catalog reads has one
    ingestion_id: str = ""
    run_id: str = ""
    run_requested_at: str = ""
    content_digest: str = ""  # hash of the catalog tree read at preflight
    container_urls: str = ""  # comma-separated: the containers the catalog reads (each needs a source)
    replay: str = ""  # set by an operator's forced replay: a new job for an already-seen upload
    total_items: int = 0
    successful_items: int = 0
    failed_items: int = 0
    pending_items: int = 0
    attempts: int = 0
    last_error: str = ""
    error_where: str = ""
    warnings: str = ""
    lease_until: str = ""
    created_at: str = ""
    updated_at: str = ""
    row_etag: str = field(default="", repr=False)

    def to_entity(self) -> dict[str, Any]:
        """The table entity for this job."""
        data = {k: v for k, v in asdict(self).items() if k != "row_etag"}
        data["state"] = self.state.value
        return {"PartitionKey": JOB_PARTITION, "RowKey": self.job_id, **data}

    @classmethod
    def from_entity(cls, entity: Any) -> Job:
        """A Job from a table entity (its ETag kept for the next conditional write)."""
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in dict(entity).items() if k in names}
        data["state"] = JobState(data.get("state", "RECEIVED"))
        job = cls(**data)
        job.row_etag = entity.metadata.get("etag", "")
        return job

    def public(self) -> dict[str, Any]:
        """The job as shown to users (status --json)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("row_etag", "lease_until")}
        out["state"] = self.state.value
        return out


class Ledger:
    """The job table; the only code that writes job state."""

    def __init__(
        self,
        connection: str,
        table: str,
        credential: Any | None = None,
        on_terminal: Callable[[Job], None] | None = None,
    ) -> None:
        self._table = service_client(TableServiceClient, connection, credential).get_table_client(table)
        self._ready = False
        # Called once a job reaches a terminal state (the report writer); never fails the transition.
        self._on_terminal = on_terminal

    def ensure_table(self) -> None:
        """Create the table once per process (a read-only operator's 403 means it exists: carry on)."""
        if not self._ready:
            try:
                self._table.create_table()
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                if exc.status_code != 403:
                    raise
            self._ready = True

    # -- jobs ------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        """The job row, or None."""
        self.ensure_table()
        try:
            return Job.from_entity(self._table.get_entity(JOB_PARTITION, job_id))
        except ResourceNotFoundError:
            return None

    def claim(self, drop: Drop, lease_seconds: float, replay: str = "") -> tuple[Job, bool]:
        """Insert the job row for this upload; return (job, True) when this caller may work on it.

        A duplicate delivery finds the row: it may take over only a non-terminal job whose
        lease has run out (its worker died), so concurrent deliveries never work in parallel.
        """
        self.ensure_table()
        now = now_utc()
        job = Job(
            job_id=job_id_for(drop.url, drop.etag, replay),
            replay=replay,
            blob_url=drop.url,
            etag=drop.etag,
            sequencer=drop.sequencer,
            created_at=now.isoformat(),
            updated_at=now.isoformat(),
            lease_until=(now + timedelta(seconds=lease_seconds)).isoformat(),
            attempts=1,
        )
        try:
            meta = self._table.create_entity(job.to_entity())
            job.row_etag = meta.get("etag", "")
            log.info("job %s RECEIVED blob=%s etag=%s", job.job_id, job.blob_url, job.etag)
            return job, True
        except ResourceExistsError:
            pass
        existing = self.get(job.job_id)
        if existing is None:  # deleted between insert and read: treat as a lost race
            return job, False
        return existing, self.take_lease(existing, lease_seconds)

    def take_lease(self, job: Job, lease_seconds: float) -> bool:
        """Take over a non-terminal job whose lease expired; False if terminal, leased or raced."""
        if job.state.terminal or (job.lease_until and datetime.fromisoformat(job.lease_until) > now_utc()):
            return False
        try:
            self.update(job, lease_until=(now_utc() + timedelta(seconds=lease_seconds)).isoformat(),
                        attempts=job.attempts + 1)  # fmt: skip
        except StaleJob:
            return False
        return True

    def release(self, job: Job) -> None:
        """Give the lease back so a retry can resume at once (best effort)."""
        try:
            self.update(job, lease_until="")
        except StaleJob:
            pass

    def update(self, job: Job, **changes: Any) -> Job:
        """Write `changes` to the row if nobody else wrote it since we read it (ETag match)."""
        for key, value in changes.items():
            # Service messages are stored verbatim; make sure no signed URL or token rides along.
            value = (
                cap_text(value, 8000) if key in ("last_error", "error_where", "warnings") else value
            )  # input-sized text
            setattr(job, key, redact(value) if isinstance(value, str) else value)
        job.updated_at = now_utc().isoformat()
        try:
            meta = self._table.update_entity(
                job.to_entity(),
                mode=UpdateMode.REPLACE,
                etag=job.row_etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise StaleJob(job.job_id) from None
        job.row_etag = meta.get("etag", "")
        return job

    def transition(self, job: Job, new: JobState, **changes: Any) -> Job:
        """Move a job to `new` (one conditional write) and log it; terminal states never change."""
        old = job.state
        if old.terminal or not can_move(old, new):
            raise ValueError(f"job {job.job_id}: illegal transition {old.value} -> {new.value}")
        if new in TERMINAL:
            changes.setdefault("lease_until", "")
        self.update(job, state=new, **changes)
        log.info(
            "job %s %s -> %s blob=%s collection=%s ingestion=%s run=%s%s",
            job.job_id, old.value, new.value, job.blob_url, job.collection_id or "-", job.ingestion_id or "-",
            job.run_id or "-", f" error={job.last_error}" if new in (JobState.FAILED, JobState.INVALID) else "",
        )  # fmt: skip
        if new in TERMINAL and self._on_terminal is not None:
            self._on_terminal(job)
        return job

    def jobs(self, states: set[JobState] | None = None, blob_url: str | None = None) -> list[Job]:
        """Jobs, optionally only those in `states` and/or for one blob URL, oldest first."""
        self.ensure_table()
        query, params = "PartitionKey eq @pk", {"pk": JOB_PARTITION}
        if blob_url:
            query += " and blob_url eq @url"
            params["url"] = blob_url
        if states:  # filtered by the service: the table grows with every drop, the unfinished part does not
            names = sorted(s.value for s in states)
            # (the SDK substitutes @names only between spaces)
            query += " and ( " + " or ".join(f"state eq @s{i}" for i in range(len(names))) + " )"
            params.update({f"s{i}": name for i, name in enumerate(names)})
        rows = [Job.from_entity(e) for e in self._table.query_entities(query, parameters=params)]
        return sorted(rows, key=lambda j: j.created_at)

    # -- sources ---------------------------------------------------------------------------------
    def get_source_record(self, container_url: str) -> dict[str, Any] | None:
        """What we know of a container's ingestion source (id, owner, expiry, last use)."""
        self.ensure_table()
        try:
            return dict(self._table.get_entity(SOURCE_PARTITION, source_key_for(container_url)))
        except ResourceNotFoundError:
            return None

    def put_source_record(self, container_url: str, **fields_: Any) -> None:
        """Insert or merge a container's source record."""
        self.ensure_table()
        entity = {"PartitionKey": SOURCE_PARTITION, "RowKey": source_key_for(container_url),
                  "container_url": container_url, **fields_}  # fmt: skip
        self._table.upsert_entity(entity, mode=UpdateMode.MERGE)

    def delete_source_record(self, container_url: str) -> None:
        """Forget a container's source record."""
        self._table.delete_entity(SOURCE_PARTITION, source_key_for(container_url))

    def source_records(self) -> list[dict[str, Any]]:
        """Every source record."""
        self.ensure_table()
        return [dict(e) for e in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": SOURCE_PARTITION})]
