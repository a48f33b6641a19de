"""The Event Grid side: the subscription filter infra/ deploys, and the BlobCreated event for a listed blob."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ingest_core.events import BLOB_CREATED, NEW_UPLOAD_APIS, Drop, blob_created_event, parse_blob_url


@dataclass(frozen=True)
class Subscription:
    """One event subscription: which BlobCreated events reach which function.

    Mirrors the filter of the real subscription: included event type BlobCreated, advanced
    filter on `data.api` (a completed upload), subjectBeginsWith the container (and the
    trigger's literal prefix) and subjectEndsWith the catalog suffix.
    """

    container: str
    prefix: str
    subject_ends_with: str
    function: str

    @property
    def subject_begins_with(self) -> str:
        """The subject prefix every event for this container (and trigger prefix) has."""
        return f"/blobServices/default/containers/{self.container}/blobs/{self.prefix}"

    def accepts(self, event: dict[str, Any]) -> bool:
        """True when Event Grid would deliver `event` through this subscription."""
        subject = event.get("subject", "")
        return (
            event.get("eventType") == BLOB_CREATED
            and (event.get("data") or {}).get("api") in NEW_UPLOAD_APIS
            and subject.startswith(self.subject_begins_with)
            and subject.endswith(self.subject_ends_with)
        )


def upload_api(copy_id: str | None) -> str:
    """The `data.api` the storage service reports: a copy says CopyBlob, a plain upload PutBlob."""
    return "CopyBlob" if copy_id else "PutBlob"


def event_for_blob(
    blob_url: str, etag: str, size: int, content_type: str, copy_id: str | None, sequencer: str
) -> dict[str, Any]:
    """The Event Grid-schema BlobCreated event storage would publish for this blob version."""
    account, container, path = parse_blob_url(blob_url)
    drop = Drop(account=account, container=container, path=path, url=blob_url, etag=etag.strip('"'),
                sequencer=sequencer, size=size)  # fmt: skip
    event = blob_created_event(drop, api=upload_api(copy_id))
    event["data"]["contentType"] = content_type or "application/octet-stream"
    return event


def new_sequencer() -> str:
    """An opaque, increasing sequencer (32 hex digits like the service's), from the wall clock."""
    return f"{time.time_ns() // 100:032x}"
