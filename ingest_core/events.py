"""BlobCreated events (Event Grid schema, CloudEvents) and blob-trigger input, turned into a Drop."""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest_core.errors import InvalidDrop
from ingest_core.redaction import cap_text

log = logging.getLogger(__name__)

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
# Only these `data.api` values mean a blob was fully written. The Event Grid
# subscription in infra/ filters on the same list (tests/infra checks it).
NEW_UPLOAD_APIS = ("PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose")
# Blob names are at most 1,024 characters; percent-encoded and with the endpoint, a URL stays far below this.
MAX_URL_CHARS = 4096
MAX_BLOB_NAME_CHARS = 1024
_DFS_HOST_RE = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.dfs\.", re.IGNORECASE)


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
    # What the event said (empty for the blob trigger and the CLI): trust.untrusted_reason checks they agree with url.
    subject: str = ""
    topic: str = ""


def container_url_of(blob_url: str) -> str:
    """The container part of a blob URL (works for account hosts and Azurite's path style)."""
    parts = urlsplit(blob_url)
    keep = 1 if _host_style(parts.hostname or "") else 2
    return f"{parts.scheme}://{parts.netloc}/" + "/".join(parts.path.lstrip("/").split("/")[:keep])


def _host_style(host: str) -> bool:
    """Account in the host name (acct.blob.core.windows.net, any cloud's suffix, acct.blob.localhost) rather than
    the path (Azurite, IP hosts, localhost). Account names may start with a digit: only an IP address is an IP host."""
    return host.count(".") >= 2 and not _is_ip_address(host)


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_blob_url(url: str) -> tuple[str, str, str]:
    """Split a blob URL into (account, container, path); handles Azurite's path-style URLs."""
    try:
        parts = urlsplit(url)
    except (ValueError, TypeError, AttributeError):
        raise InvalidDrop(f"not a blob URL: {cap_text(url_without_query(str(url)), 300)}") from None
    segments = [unquote(s) for s in parts.path.lstrip("/").split("/")]
    host = parts.hostname or ""
    if _host_style(host):
        account, rest = host.split(".", 1)[0], segments
    else:  # path-style (Azurite, IP hosts): /<account>/<container>/<path>
        account, rest = segments[0], segments[1:]  # split() always gives at least one segment
    if len(rest) < 2 or not rest[0] or not rest[-1]:
        raise InvalidDrop(
            f"not a blob URL (need account, container and blob name): {cap_text(url_without_query(url), 300)}"
        )
    path = "/".join(rest[1:])
    if len(path) > MAX_BLOB_NAME_CHARS:
        raise InvalidDrop(f"blob name longer than {MAX_BLOB_NAME_CHARS} characters: {cap_text(path, 300)}")
    return account, rest[0], path


def url_without_query(url: str) -> str:
    """The URL with any query string (a SAS, say) removed, for logs and errors."""
    return url.split("?", 1)[0]


def canonical_blob_url(url: str) -> str:
    """One spelling per blob (percent-encoded path, no query), whichever trigger reported it: job keys depend on it."""
    try:
        parts = urlsplit(url_without_query(url))
    except ValueError:  # a malformed IPv6 literal, say
        raise InvalidDrop(f"not a blob URL: {cap_text(url_without_query(url), 300)}") from None
    # Data Lake uploads (FlushWithClose) report the account's dfs endpoint: the same blob, read on the blob endpoint.
    netloc = _DFS_HOST_RE.sub(r"\g<account>.blob.", parts.netloc, count=1)
    return f"{parts.scheme}://{netloc}{quote(unquote(parts.path), safe='/-_.~')}"


def normalize_etag(etag: str) -> str:
    """ETags arrive quoted in events and unquoted elsewhere; keep one form."""
    return etag.strip().strip('"')


class _EventData(BaseModel):
    # Strict: an event is untrusted input, so no coercion ("12" is not a length, 1 is not an ETag).
    model_config = ConfigDict(extra="ignore", strict=True)
    api: str = ""
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    eTag: str = Field(default="", max_length=256)
    sequencer: str = Field(default="", max_length=256)
    contentLength: int | None = Field(default=None, ge=0)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    subject: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    topic: str = Field(default="", max_length=MAX_URL_CHARS)
    data: _EventData


def _drop_from_event(ev: dict[str, Any]) -> Drop:
    """The Drop one BlobCreated event announces; InvalidDrop naming the first malformed field."""
    body = {**ev, "topic": ev.get("topic") or (ev.get("source") if "specversion" in ev else "") or ""}
    try:
        e = _Event.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "event"
        raise InvalidDrop(f"BlobCreated event with a bad {field}: {err['msg']}") from None
    url = canonical_blob_url(e.data.url)
    account, container, path = parse_blob_url(url)
    return Drop(
        account=account,
        container=container,
        path=path,
        url=url,
        etag=normalize_etag(e.data.eTag),
        sequencer=e.data.sequencer,
        api=e.data.api,
        size=e.data.contentLength,
        subject=e.subject,
        topic=e.topic,
    )


def drops_from_event(payload: Any) -> list[Drop]:
    """Turn one Event Grid or CloudEvents payload (an event or an array) into the Drops it announces.

    Events that are not BlobCreated, or whose `data.api` is not a completed upload, are skipped. A malformed
    event is dropped with one warning log line and never hides the others; nothing here raises.
    """
    events = payload if isinstance(payload, list) else [payload]
    drops = []
    for ev in events:
        if not isinstance(ev, dict):
            log.warning("event dropped: not a JSON object (%s)", type(ev).__name__)
            continue
        data = ev.get("data")
        if (ev.get("eventType") or ev.get("type")) != BLOB_CREATED or (
            isinstance(data, dict) and data.get("api") not in NEW_UPLOAD_APIS
        ):
            continue
        try:
            drops.append(_drop_from_event(ev))
        except InvalidDrop as exc:
            log.warning("event %s dropped: %s", cap_text(repr(ev.get("id")), 100), exc)
    return drops


def drop_from_blob_trigger(uri: str, etag: str | None, length: int | None = None) -> Drop:
    """Build a Drop from what the blob trigger hands over (its URI and properties); InvalidDrop if unusable."""
    if not isinstance(uri, str) or not 0 < len(uri) <= MAX_URL_CHARS:
        raise InvalidDrop(f"blob trigger URI is not a usable URL: {cap_text(repr(uri), 300)}")
    url = canonical_blob_url(uri)
    account, container, path = parse_blob_url(url)
    return Drop(
        account=account,
        container=container,
        path=path,
        url=url,
        etag=normalize_etag(etag if isinstance(etag, str) else ""),
        api="PutBlob",
        size=length if isinstance(length, int) and not isinstance(length, bool) and length >= 0 else None,
    )


def blob_created_event(drop: Drop, api: str = "PutBlockList", event_id: str = "", topic: str = "") -> dict[str, Any]:
    """The Event Grid-schema BlobCreated event the real subscription delivers for this blob."""
    return {
        "topic": topic
        or f"/subscriptions/local/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/{drop.account}",
        "subject": f"/blobServices/default/containers/{drop.container}/blobs/{drop.path}",
        "eventType": BLOB_CREATED,
        "eventTime": datetime.now(UTC).isoformat(),  # when storage published it: now, for a synthesised one
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
