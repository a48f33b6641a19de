"""BlobCreated events (Event Grid schema, CloudEvents) and blob-trigger input, turned into a Drop."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from ingest_core.errors import InvalidDrop

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
# Only these `data.api` values mean a blob was fully written. The Event Grid
# subscription in infra/ filters on the same list (tests/infra checks it).
NEW_UPLOAD_APIS = ("PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose")
_SUBJECT_RE = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<path>.+)$")


class Drop(BaseModel):
    """One uploaded blob, wherever the news of it came from."""

    model_config = ConfigDict(frozen=True)

    account: str
    container: str
    path: str
    url: str
    etag: str
    sequencer: str = ""
    api: str = ""
    size: int | None = None


def container_url_of(blob_url: str) -> str:
    """The container part of a blob URL (works for account hosts and Azurite's path style)."""
    parts = urlsplit(blob_url)
    keep = 1 if _host_style(parts.hostname or "") else 2
    return f"{parts.scheme}://{parts.netloc}/" + "/".join(parts.path.lstrip("/").split("/")[:keep])


def _host_style(host: str) -> bool:
    """Account in the host name (acct.blob.core.windows.net) rather than the path (Azurite, IP hosts)."""
    return host.endswith(".blob.core.windows.net") or (host.count(".") >= 2 and not host[0].isdigit())


def parse_blob_url(url: str) -> tuple[str, str, str]:
    """Split a blob URL into (account, container, path); handles Azurite's path-style URLs."""
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.lstrip("/").split("/")]
    host = parts.hostname or ""
    if _host_style(host):
        account, rest = host.split(".", 1)[0], segments
    else:  # path-style (Azurite, IP hosts): /<account>/<container>/<path>
        account, rest = (segments[0] if segments else ""), segments[1:]
    if len(rest) < 2 or not rest[0] or not rest[-1]:
        raise InvalidDrop(f"not a blob URL (need account, container and blob name): {url_without_query(url)}")
    return account, rest[0], "/".join(rest[1:])


def url_without_query(url: str) -> str:
    """The URL with any query string (a SAS, say) removed, for logs and errors."""
    return url.split("?", 1)[0]


def canonical_blob_url(url: str) -> str:
    """One spelling per blob (percent-encoded path, no query), whichever trigger reported it: job keys depend on it."""
    parts = urlsplit(url_without_query(url))
    return f"{parts.scheme}://{parts.netloc}{quote(unquote(parts.path), safe='/-_.~')}"


def normalize_etag(etag: str) -> str:
    """ETags arrive quoted in events and unquoted elsewhere; keep one form."""
    return etag.strip().strip('"')


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    api: str = ""
    url: str
    eTag: str = ""
    sequencer: str = ""
    contentLength: int | None = None


def _drop_from_data(data: dict[str, Any], subject: str | None) -> Drop:
    try:
        d = _EventData.model_validate(data)
    except ValidationError as exc:
        raise InvalidDrop(f"BlobCreated event without a usable data.url: {exc.errors()[0]['msg']}") from None
    url = canonical_blob_url(d.url)
    account, container, path = parse_blob_url(url)
    if subject:
        m = _SUBJECT_RE.match(subject)
        if m and (m["container"], m["path"]) != (container, path):
            raise InvalidDrop(f"event subject {subject!r} disagrees with data.url {url!r}")
    return Drop(
        account=account,
        container=container,
        path=path,
        url=url,
        etag=normalize_etag(d.eTag),
        sequencer=d.sequencer,
        api=d.api,
        size=d.contentLength,
    )


def drops_from_event(payload: dict[str, Any] | list[Any]) -> list[Drop]:
    """Turn one Event Grid or CloudEvents payload (an event or an array) into the Drops it announces.

    Events that are not BlobCreated, or whose `data.api` is not a completed upload, are skipped.
    """
    events = payload if isinstance(payload, list) else [payload]
    drops = []
    for ev in events:
        if not isinstance(ev, dict):
            raise InvalidDrop("event is not a JSON object")
        event_type = ev.get("eventType") or ev.get("type")
        if event_type != BLOB_CREATED:
            continue
        data = ev.get("data") or {}
        if data.get("api") not in NEW_UPLOAD_APIS:
            continue
        drops.append(_drop_from_data(data, ev.get("subject")))
    return drops


def drop_from_blob_trigger(uri: str, etag: str | None, length: int | None = None) -> Drop:
    """Build a Drop from what the blob trigger hands over (its URI and properties)."""
    url = canonical_blob_url(uri)
    account, container, path = parse_blob_url(url)
    return Drop(
        account=account,
        container=container,
        path=path,
        url=url,
        etag=normalize_etag(etag or ""),
        api="PutBlob",
        size=length,
    )


def blob_created_event(drop: Drop, api: str = "PutBlockList", event_id: str = "", topic: str = "") -> dict[str, Any]:
    """The Event Grid-schema BlobCreated event the real subscription delivers for this blob."""
    return {
        "topic": topic
        or f"/subscriptions/local/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/{drop.account}",
        "subject": f"/blobServices/default/containers/{drop.container}/blobs/{drop.path}",
        "eventType": BLOB_CREATED,
        "eventTime": "",
        "id": event_id or f"{drop.etag}-{drop.path}",
        "data": {
            "api": api,
            "eTag": f'"{drop.etag}"',
            "contentType": "application/json",
            "contentLength": drop.size or 0,
            "blobType": "BlockBlob",
            "url": drop.url,
            "sequencer": drop.sequencer,
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }
