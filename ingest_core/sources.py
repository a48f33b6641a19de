"""Ingestion sources: one per container, reused, refreshed in place, created only when none exists."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingest_core.errors import ServiceError
from ingest_core.ledger import now_utc
from ingest_core.settings import SourceKind

if TYPE_CHECKING:
    from ingest_core.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class SourceInfo:
    """What the app remembers of one container's source."""

    source_id: str
    container_url: str
    kind: str
    expiration: datetime | None  # None: managed identity, never expires


def parse_time(value: str | None) -> datetime | None:
    """Parse the service's RFC 3339 timestamps (up to 7 fractional digits)."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python accepts at most 6 fractional digits; the service sends up to 7
        head, tail = text.split(".", 1)
        frac = re.match(r"\d*", tail).group()  # type: ignore[union-attr]
        text = f"{head}.{frac[:6]}{tail[len(frac) :]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _info(src: dict[str, Any]) -> SourceInfo:
    conn = src.get("connectionInfo", {})
    return SourceInfo(src["id"], conn.get("containerUrl", ""), src.get("kind", ""), parse_time(conn.get("expiration")))


def find_source(rt: Runtime, container_url: str) -> SourceInfo | None:
    """Look the container's source up on the service (list gives summaries only, so GET each)."""
    for summary in rt.geocatalog.list_sources():
        try:
            src = rt.geocatalog.get_source(summary["id"])
        except ServiceError as exc:
            if exc.status == 404:  # deleted while we listed
                continue
            raise
        if src.get("connectionInfo", {}).get("containerUrl", "").rstrip("/") == container_url:
            return _info(src)
    return None


def _body(rt: Runtime, container_url: str, source_id: str | None = None) -> dict[str, Any]:
    s = rt.settings
    if s.source_kind == SourceKind.MANAGED_IDENTITY:
        conn = {"containerUrl": container_url, "objectId": s.source_object_id}
    else:
        sas = rt.storage.mint_container_sas(container_url, timedelta(hours=s.sas_lifetime_hours))
        conn = {"containerUrl": container_url, "sasToken": sas.token}
    body: dict[str, Any] = {"kind": s.source_kind.value, "connectionInfo": conn}
    if source_id:
        body["id"] = source_id
    return body


def _needs_refresh(rt: Runtime, info: SourceInfo) -> bool:
    if info.kind != SourceKind.SAS_TOKEN.value or rt.settings.source_kind != SourceKind.SAS_TOKEN:
        return False
    margin = timedelta(hours=rt.settings.sas_refresh_margin_hours)
    return info.expiration is None or info.expiration - now_utc() < margin


def _remember(rt: Runtime, info: SourceInfo, owned: bool | None = None) -> SourceInfo:
    rt.source_cache[info.container_url] = info
    fields: dict[str, Any] = {
        "source_id": info.source_id,
        "kind": info.kind,
        "expiration": info.expiration.isoformat() if info.expiration else "",
        "last_used": now_utc().isoformat(),
    }
    if owned is not None:
        fields["owned"] = owned
    rt.ledger.put_source_record(info.container_url, **fields)
    return info


def _known(rt: Runtime, container_url: str) -> SourceInfo | None:
    """The source our cache or ledger names, confirmed by one GET (sweep on another instance may have deleted it)."""
    info = rt.source_cache.get(container_url)
    if info is None:
        rec = rt.ledger.get_source_record(container_url)
        if not (rec and rec.get("source_id")):
            return None
        info = SourceInfo(rec["source_id"], container_url, rec.get("kind", ""), parse_time(rec.get("expiration")))
    try:
        return _info(rt.geocatalog.get_source(info.source_id))
    except ServiceError as exc:
        if exc.status != 404:
            raise
    log.info("source %s for %s no longer exists; registering the container again", info.source_id, container_url)
    rt.source_cache.pop(container_url, None)
    rt.ledger.put_source_record(container_url, source_id="", owned=False)
    return None


_EXISTING_ID = re.compile(r"ingestion source with id ([0-9A-Za-z-]+)")


def _create(rt: Runtime, container_url: str) -> SourceInfo:
    """POST a new source; a 409 means the container already has one (another instance's, or anyone's): reuse it."""
    # Record the intent first: if we die between the POST and the record, the source is still known as ours.
    rt.ledger.put_source_record(container_url, source_id="", owned=True)
    try:
        created = rt.geocatalog.create_source(_body(rt, container_url))
    except ServiceError as exc:
        if exc.status != 409:
            raise
        log.info("container %s already has a source (409); reusing it", container_url)
        info = _from_conflict(rt, exc.message, container_url) or find_source(rt, container_url)
        if info is None:
            raise
        return _remember(rt, info, owned=False)
    log.info("ingestion source %s created for %s", created["id"], container_url)
    return _remember(rt, _info(created), owned=True)


def _from_conflict(rt: Runtime, message: str, container_url: str) -> SourceInfo | None:
    """The 409 names the existing source ("... source with id <id>"): one GET instead of listing them all."""
    match = _EXISTING_ID.search(message)
    if not match:
        return None
    try:
        info = _info(rt.geocatalog.get_source(match.group(1)))
    except ServiceError:
        return None
    return info if info.container_url.rstrip("/") == container_url else None


def ensure_source(rt: Runtime, container_url: str) -> str:
    """Return the id of a usable source for the container: reuse, refresh by PUT, or create."""
    container_url = container_url.rstrip("/")
    # Create first: the service allows one source per container, so its 409 is the lookup, and the
    # usual case (a new container) costs one call instead of listing and reading every source.
    info = _known(rt, container_url) or _create(rt, container_url)
    if _needs_refresh(rt, info):
        replaced = rt.geocatalog.replace_source(info.source_id, _body(rt, container_url, info.source_id))
        log.info("ingestion source %s SAS refreshed in place for %s", info.source_id, container_url)
        info = _info({**replaced, "id": replaced.get("id") or info.source_id})
    return _remember(rt, info).source_id
