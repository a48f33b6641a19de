"""Call a registered function with the binding input the Functions host would build for an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.blob import InputStream
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

from ingest_core.events import parse_blob_url
from local_twin.functions import BlobTarget, EventGridTarget, TimerTarget


def call_blob_trigger(target: BlobTarget, service: BlobServiceClient, event: dict[str, Any]) -> bool:
    """Read the blob the event names and call the blob trigger, as the blob extension does for the
    EventGrid source; False when the blob no longer exists (then there is nothing to call)."""
    _, container, path = parse_blob_url(event["data"]["url"])
    client = service.get_blob_client(container, path)
    try:
        downloader = client.download_blob()
        data = downloader.readall()
    except ResourceNotFoundError:
        return False
    props = downloader.properties
    blob_properties = {
        "ETag": props.etag,
        "Length": props.size,
        "ContentType": props.content_settings.content_type,
        "LastModified": props.last_modified.isoformat() if props.last_modified else None,
        "BlobType": "BlockBlob",
    }
    stream = InputStream(data=data, name=f"{container}/{path}", length=len(data), uri=client.url,
                         blob_properties=blob_properties, metadata=dict(props.metadata or {}))  # fmt: skip
    target.call(stream)
    return True


def call_event_grid_trigger(target: EventGridTarget, event: dict[str, Any]) -> None:
    """Call an Event Grid trigger with the event, as the host's Event Grid extension does."""
    when = datetime.fromisoformat(event["eventTime"]) if event.get("eventTime") else None
    target.call(
        func.EventGridEvent(
            id=event["id"],
            data=event["data"],
            topic=event["topic"],
            subject=event["subject"],
            event_type=event["eventType"],
            event_time=when,
            data_version=event.get("dataVersion", ""),
        )
    )


def call_timer(target: TimerTarget, past_due: bool) -> None:
    """Call a timer trigger once."""
    target.call(TimerRequest(past_due=past_due))
