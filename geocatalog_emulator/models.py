"""Wire shapes: timestamps and the JSON the service returns for each stored record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

COUNTERS = ("totalItems", "totalPendingItems", "totalSuccessfulItems", "totalFailedItems")
TERMINAL = ("Succeeded", "Failed", "Canceled")


def new_id() -> str:
    """A server-generated GUID, as the service uses for every resource id."""
    return str(uuid.uuid4())


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with 7 fractional digits, like the service's .NET timestamps."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def now_iso() -> str:
    """The current time in the service's timestamp format."""
    return format_time(datetime.now(UTC))


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp (or a bare date) as an aware UTC datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python wants at most 6 fractional digits; .NET writes 7.
    if "." in value:
        head, _, tail = value.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        value = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def render_source(record: dict[str, Any], include_created: bool = True) -> dict[str, Any]:
    """An IngestionSource; the SAS token is write-only and never leaves the store."""
    info: dict[str, Any] = {"containerUrl": record["containerUrl"]}
    if record["kind"] == "SasToken":
        info["expiration"] = record["expiration"]
    else:
        info["objectId"] = record["objectId"]
    body: dict[str, Any] = {"id": record["id"], "kind": record["kind"]}
    if include_created:
        body["created"] = record["created"]
    body["connectionInfo"] = info
    return body


def render_source_summary(record: dict[str, Any]) -> dict[str, Any]:
    """An IngestionSourceSummary row of the list endpoint."""
    return {"id": record["id"], "kind": record["kind"], "created": record["created"]}


INGESTION_WRITABLE = (
    "importType",
    "displayName",
    "sourceCatalogUrl",
    "stacGeoparquetUrl",
    "skipExistingItems",
    "keepOriginalAssets",
)
INGESTION_FIELDS = ("id", "creationTime", *INGESTION_WRITABLE, "status")


def render_ingestion(record: dict[str, Any]) -> dict[str, Any]:
    """An IngestionDefinition in the recorded field order."""
    return {key: record[key] for key in INGESTION_FIELDS if record.get(key) is not None}


def _op_common(op: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": op["id"], "status": op["status"], "statusHistory": op["statusHistory"]}
    return body


def _op_times(op: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("startTime", "finishTime"):
        if op.get(key):
            body[key] = op[key]


def render_operation(op: dict[str, Any]) -> dict[str, Any]:
    """An Operation; counters appear as PascalCase strings in additionalInformation."""
    body = _op_common(op)
    body["type"] = op["type"]
    body["creationTime"] = op["creationTime"]
    _op_times(op, body)
    if op.get("collectionId"):
        body["collectionId"] = op["collectionId"]
    info = dict(op.get("info") or {})
    if op.get("counters") is not None:
        for key in sorted(COUNTERS):
            info[key[0].upper() + key[1:]] = str(op["counters"][key])
    if info:
        body["additionalInformation"] = dict(sorted(info.items()))
    if op.get("error"):
        body["error"] = {"error": dict(op["error"])}
    return body


def render_run(run: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """An IngestionRun with its IngestionRunOperation (ints, no error field)."""
    counters = op.get("counters") or dict.fromkeys(COUNTERS, 0)
    operation = _op_common(op)
    operation["creationTime"] = op["creationTime"]
    _op_times(op, operation)
    operation.update({key: int(counters[key]) for key in COUNTERS})
    body: dict[str, Any] = {"id": run["id"]}
    if run.get("parentRunId"):
        body["parentRunId"] = run["parentRunId"]
    body["creationTime"] = run["creationTime"]
    for key in ("sourceCatalogUrl", "stacGeoparquetUrl", "skipExistingItems", "keepOriginalAssets"):
        if run.get(key) is not None:
            body[key] = run[key]
    body["operation"] = operation
    return body


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (`null` removes a member)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
