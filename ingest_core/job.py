"""The typed Job: lists, datetimes and the state enum inside; plain table properties only at the boundary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from ingest_core.redaction import cap_text, redact
from ingest_core.states import JobState

# Azure Tables allows 64 KiB per string property and 1 MiB per row: every text we store is capped below that,
# so no write can fail on size (and no lease stays stuck behind a write that keeps failing).
MAX_TEXT = 8_000
MAX_LIST_TEXT = 30_000


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def parse_time(value: Any) -> datetime | None:
    """A datetime from what a row or the service holds (RFC 3339 with up to 7 fractional digits, or datetime)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    if "." in text:  # Python accepts at most 6 fractional digits; the service sends up to 7
        head, tail = text.split(".", 1)
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[: min(digits, 6)]}{tail[digits:]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# A part's error text in the ledger: short, so the longest part list always fits under MAX_LIST_TEXT.
PART_ERROR_MAX = 300


@dataclass
class Part:
    """One part of a job split over MAX_ITEMS_PER_INGESTION: a generated catalog and its own ingestion and run."""

    index: int
    catalog_url: str  # the part's catalog in the staging container
    items: int  # items the part's catalog links
    ingestion_id: str = ""
    run_id: str = ""  # recorded when the part's run ends (the current part's run is the job's run_id)
    state: str = ""  # "" until its run ends, then SUCCEEDED, PARTIAL or FAILED
    total_items: int = 0
    successful_items: int = 0
    failed_items: int = 0
    error: str = ""


@dataclass
class Job:
    """One dropped catalog upload and everything the pipeline learned about it."""

    job_id: str
    blob_url: str
    etag: str
    state: JobState = JobState.RECEIVED
    sequencer: str = ""
    collection_id: str = ""
    source_ids: list[str] = field(default_factory=list)  # one per container the catalog reads
    container_urls: list[str] = field(default_factory=list)  # the containers the catalog reads
    ingestion_id: str = ""
    ingestion_options: str = ""  # the definition's options when we last set them (skip a PATCH when equal)
    run_id: str = ""
    run_requested_at: datetime | None = None
    # Failed-items-only re-runs (issue 9): every run of the job once it has re-runs, oldest first; how many
    # re-runs were asked for; the re-run asked for but not recorded yet (its intent); the service's parentRunId.
    run_ids: list[str] = field(default_factory=list)
    reruns: int = 0
    rerun_requested_at: datetime | None = None
    parent_run_id: str = ""
    slot: str = ""  # the run slot this job holds (the concurrent-run cap)
    content_digest: str = ""  # hash of the catalog tree read at preflight
    replay: str = ""  # set by an operator's forced replay: a new job for an already-seen upload
    total_items: int = 0
    successful_items: int = 0
    failed_items: int = 0
    pending_items: int = 0
    predicted_failures: int = 0  # items preflight expects the service to reject (listed in the warnings)
    attempts: int = 0
    host_gave_up: bool = False  # the Functions host stopped redelivering it (its poison queue); reconcile goes on
    last_error: str = ""
    error_where: str = ""
    warnings: list[str] = field(default_factory=list)
    config_applied: str = ""  # JSON record of the collection configuration applied (issue 11)
    parts: list[Part] = field(default_factory=list)  # only for catalogs over MAX_ITEMS_PER_INGESTION
    lease_until: datetime | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime = field(default_factory=now_utc)
    updated_at: datetime = field(default_factory=now_utc)
    row_etag: str = field(default="", repr=False, compare=False)

    # -- the table boundary ----------------------------------------------------------------------
    def to_entity(self, partition: str, row_key: str | None = None) -> dict[str, Any]:
        """The table row for this job (every text redacted and capped)."""
        out: dict[str, Any] = {"PartitionKey": partition, "RowKey": row_key or self.job_id, "kind": "job"}
        for f in fields(self):
            if f.name == "row_etag":
                continue
            value = getattr(self, f.name)
            if isinstance(value, JobState):
                value = value.value
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif value is None:
                value = ""
            elif f.name == "parts":
                value = parts_text(value)
            elif isinstance(value, list):
                value = _list_text(value)
            elif isinstance(value, str):
                value = cap_text(redact(value), MAX_TEXT)
            out[f.name] = value
        return out

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> Job:
        """A Job from a row, this layout's or the previous one's (comma-separated lists, ISO strings)."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "row_etag" or f.name not in entity:
                continue
            value = entity[f.name]
            if f.name == "state":
                value = JobState(value or "RECEIVED")
            elif f.name == "parts":
                value = parts_from_text(value)
            elif f.name in _LIST_FIELDS:
                value = _as_list(value, sep="; " if f.name == "warnings" else ",")
            elif f.name in _TIME_FIELDS:
                value = parse_time(value)
                if value is None and f.name in ("created_at", "updated_at"):
                    continue
            elif f.name in _INT_FIELDS:
                value = int(value or 0)
            kwargs[f.name] = value
        job = cls(**kwargs)
        job.row_etag = entity.get("_etag", "")
        return job

    def current_part(self) -> Part | None:
        """The part whose run is the job's run now (the first not ended); None for a job without parts."""
        return next((p for p in self.parts if not p.state), None)

    def public(self) -> dict[str, Any]:
        """The job as shown to users (status --json, reports): JSON-ready, no lease internals."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("row_etag", "lease_until", "slot"):
                continue
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, JobState) else _plain(value)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [asdict(v) if isinstance(v, Part) else v for v in value]
    return "" if value is None else value


def _list_text(values: list[Any]) -> str:
    """A JSON list within MAX_LIST_TEXT: elements past the cap are replaced by one visible marker."""
    kept: list[str] = []
    size = 2
    for i, v in enumerate(values):
        text = cap_text(redact(str(v)), MAX_TEXT)
        size += len(json.dumps(text)) + 2
        if size > MAX_LIST_TEXT - 64:
            kept.append(f"[truncated: {len(values) - i} more]")
            break
        kept.append(text)
    return json.dumps(kept)


def parts_text(parts: list[Part]) -> str:
    """The parts as JSON text; errors are capped (PART_ERROR_MAX), so MAX_PARTS parts stay far below MAX_LIST_TEXT."""
    rows = [asdict(p) | {"error": cap_text(redact(p.error), PART_ERROR_MAX)} for p in parts]
    text = json.dumps(rows, separators=(",", ":"))
    if len(text) > MAX_LIST_TEXT:  # only with absurd URLs: keep the counters, drop the texts
        text = json.dumps([r | {"error": ""} for r in rows], separators=(",", ":"))
    return text


def parts_from_text(value: Any) -> list[Part]:
    """The parts from a row (a list as parts_text wrote it; empty text: none)."""
    if isinstance(value, list):
        return [p if isinstance(p, Part) else Part(**p) for p in value]
    return [Part(**row) for row in json.loads(value)] if value else []


def _as_list(value: Any, sep: str) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value or "")
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except json.JSONDecodeError:
            pass  # a capped list (its tail cut off): fall back to what can be split
    return [v for v in text.split(sep) if v]


_LIST_FIELDS = frozenset({"source_ids", "container_urls", "warnings", "run_ids"})
_TIME_FIELDS = frozenset(
    {"run_requested_at", "rerun_requested_at", "lease_until", "next_attempt_at", "created_at", "updated_at"}
)
_INT_FIELDS = frozenset(
    {"total_items", "successful_items", "failed_items", "pending_items", "predicted_failures", "attempts", "reruns"}
)
# What callers may change with Ledger.update: everything but the identity and the state (transition does that).
WRITABLE = frozenset(f.name for f in fields(Job)) - {"job_id", "blob_url", "etag", "state", "row_etag", "created_at"}
