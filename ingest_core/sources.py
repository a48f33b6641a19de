"""Ingestion sources: one per container, reused, refreshed in place, created only when none exists.

The service allows one source per container, so creation goes first and its 409 is the lookup. A source this
app POSTed (or meant to) stays ours through 409s, crashes and concurrent creators: the intent is recorded
before the POST, a 409 naming a source created after that intent is ours, and `owned` is never cleared.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest_core.errors import ServiceError
from ingest_core.geocatalog import GeoCatalogClient
from ingest_core.job import now_utc, parse_time
from ingest_core.ledger import Ledger
from ingest_core.settings import Settings, SourceKind
from ingest_core.storage import CatalogStorage

log = logging.getLogger(__name__)

# Managed-identity sources carry no expiry to recognise: one created this little before our intent still counts.
OWNERSHIP_SKEW = timedelta(seconds=2)
# `last_used` feeds the idle TTL (hours): writing it more often than this buys nothing.
LAST_USED_EVERY = timedelta(minutes=10)
_EXISTING_ID = re.compile(r"ingestion source with id ([0-9A-Za-z-]+)")

__all__ = ["SourceInfo", "Sources", "parse_time"]


@dataclass
class SourceInfo:
    """What the app knows of one container's source."""

    source_id: str
    container_url: str
    kind: str
    expiration: datetime | None  # None: managed identity, never expires
    created: datetime | None = None


@dataclass
class _Cached:
    info: SourceInfo
    confirmed: float  # monotonic time this process created or confirmed it
    recorded: datetime  # when last_used was last written


def _info(src: dict[str, Any]) -> SourceInfo:
    conn = src.get("connectionInfo", {})
    return SourceInfo(
        src["id"],
        conn.get("containerUrl", "").rstrip("/"),
        src.get("kind", ""),
        parse_time(conn.get("expiration")),
        parse_time(src.get("created")),
    )


class Sources:
    """The container → source service of one process: a trusted cache, single-flight creation, ownership."""

    def __init__(
        self,
        settings: Settings,
        geocatalog: GeoCatalogClient,
        storage: CatalogStorage,
        ledger: Ledger,
        clock: Callable[[], float] = time.monotonic,
        staging: CatalogStorage | None = None,
    ) -> None:
        """`staging`: the app's own storage, which mints the SAS of the staging container (split jobs)."""
        self._s, self._gc, self._storage, self._ledger, self._clock = settings, geocatalog, storage, ledger, clock
        self._staging = staging
        self._staging_url = staging.container_url(settings.staging_container) if staging else ""
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, container_url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(container_url, threading.Lock())

    def ensure(self, container_url: str, renew: bool = False) -> str:
        """The id of a usable source for the container: trusted, reused, refreshed by PUT, or created.

        `renew`: confirm it on the service and PUT a new SAS whatever its expiry says (a run failed on
        authentication: the token may be revoked, e.g. by an account-key rotation, long before it expires).
        """
        container_url = container_url.rstrip("/")
        with self._lock(container_url):  # concurrent first drops for one container share one creation
            cached = self._cache.get(container_url)
            if cached and not renew and self._clock() - cached.confirmed < self._s.source_trust_seconds:
                info, confirmed = cached.info, False
            else:
                info, confirmed = (self._known(container_url) or self._create(container_url)), True
            if self._needs_refresh(info) or (renew and self._has_sas(info)):
                replaced = self._gc.replace_source(info.source_id, self._body(container_url, info.source_id))
                log.info("ingestion source %s SAS refreshed in place for %s", info.source_id, container_url)
                info, confirmed = _info({**replaced, "id": replaced.get("id") or info.source_id}), True
            self._remember(info, confirmed)
            return info.source_id

    def forget(self, container_url: str) -> None:
        """Stop trusting the cached source (a run failed on authentication, or sweep deleted it)."""
        self._cache.pop(container_url.rstrip("/"), None)

    def forget_id(self, source_id: str) -> None:
        """Stop trusting whichever container's cached source has this id."""
        for url, cached in list(self._cache.items()):
            if cached.info.source_id == source_id:
                self._cache.pop(url, None)

    # -- steps --------------------------------------------------------------------------------------
    def _remember(self, info: SourceInfo, confirmed: bool, owned: bool = False) -> None:
        """Cache the source; write its record when it is new, changed, ours, or last_used is getting old."""
        now, cached = now_utc(), self._cache.get(info.container_url)
        same = cached is not None and (cached.info.source_id, cached.info.expiration) == (
            info.source_id,
            info.expiration,
        )
        if owned or not same or now - cached.recorded >= LAST_USED_EVERY:  # type: ignore[union-attr]
            fields: dict[str, Any] = {"source_id": info.source_id, "kind": info.kind, "last_used": now.isoformat(),
                                      "expiration": info.expiration.isoformat() if info.expiration else ""}  # fmt: skip
            if owned:
                fields["owned"] = True
            self._ledger.put_source_record(info.container_url, **fields)
            recorded = now
        else:
            recorded = cached.recorded  # type: ignore[union-attr]
        stamp = self._clock() if confirmed or cached is None else cached.confirmed
        self._cache[info.container_url] = _Cached(info, stamp, recorded)

    def _known(self, container_url: str) -> SourceInfo | None:
        """The source the ledger names, confirmed by one GET (sweep on another instance may have deleted it)."""
        rec = self._ledger.get_source_record(container_url)
        if not (rec and rec.get("source_id")):
            return None
        try:
            return _info(self._gc.get_source(rec["source_id"]))
        except ServiceError as exc:
            if exc.status != 404:
                raise
        log.info("source %s for %s no longer exists; registering the container again", rec["source_id"], container_url)
        self._ledger.delete_source_record(container_url)  # its ownership went with it
        return None

    def _create(self, container_url: str) -> SourceInfo:
        """POST a new source; a 409 names the container's existing source: reuse it, and own it if it is ours.

        The intent is recorded before the POST with the exact SAS expiry it will carry, and every creator (this
        instance after a crash, or a concurrent one) uses the first recorded expiry. So a source whose expiry is
        that one was made by this app, even when the reply that said so was lost.
        """
        now = now_utc().replace(microsecond=0)
        proposed = now + timedelta(hours=self._s.sas_lifetime_hours)
        rec = self._ledger.source_intent(container_url, intent_at=now.isoformat(), intent_expiry=proposed.isoformat())
        expiry = parse_time(rec.get("intent_expiry"))
        if expiry is None or expiry - now < timedelta(hours=self._s.sas_refresh_margin_hours):
            expiry = proposed  # an old intent: its expiry would need a refresh at once
            self._ledger.put_source_record(container_url, intent_at=now.isoformat(), intent_expiry=expiry.isoformat())
        try:
            created = self._gc.create_source(self._body(container_url, expires_on=expiry))
        except ServiceError as exc:
            if exc.status != 409:
                raise
            info = self._from_conflict(exc.message, container_url) or self.find(container_url)
            if info is None:
                raise
            ours = bool(rec.get("owned")) or self._made_by_us(info, expiry, parse_time(rec.get("intent_at")) or now)
            log.info("container %s already has source %s (409); reusing it (%s)", container_url, info.source_id,
                     "ours" if ours else "not ours: sweep leaves it alone")  # fmt: skip
            self._remember(info, confirmed=True, owned=ours)
            return info
        info = _info(created)
        log.info("ingestion source %s created for %s", info.source_id, container_url)
        self._remember(info, confirmed=True, owned=True)
        return info

    def _made_by_us(self, info: SourceInfo, expiry: datetime, intent_at: datetime) -> bool:
        """A SAS source carrying our recorded expiry, or a managed-identity one created after our intent."""
        if info.kind == SourceKind.SAS_TOKEN.value:
            return info.expiration is not None and abs((info.expiration - expiry).total_seconds()) < 1
        return info.created is not None and info.created >= intent_at - OWNERSHIP_SKEW

    def _from_conflict(self, message: str, container_url: str) -> SourceInfo | None:
        """The 409 names the existing source ("... source with id <id>"): one GET instead of listing them all."""
        match = _EXISTING_ID.search(message)
        if not match:
            return None
        try:
            info = _info(self._gc.get_source(match.group(1)))
        except ServiceError:
            return None
        return info if info.container_url == container_url else None

    def find(self, container_url: str) -> SourceInfo | None:
        """Look the container's source up on the service (list gives summaries only, so GET each)."""
        for summary in self._gc.list_sources():
            try:
                src = self._gc.get_source(summary["id"])
            except ServiceError as exc:
                if exc.status == 404:  # deleted while we listed
                    continue
                raise
            if src.get("connectionInfo", {}).get("containerUrl", "").rstrip("/") == container_url:
                return _info(src)
        return None

    def _body(
        self, container_url: str, source_id: str | None = None, expires_on: datetime | None = None
    ) -> dict[str, Any]:
        s = self._s
        if s.source_kind == SourceKind.MANAGED_IDENTITY:
            conn = {"containerUrl": container_url, "objectId": s.source_object_id}
        else:
            storage = self._staging if self._staging and container_url == self._staging_url else self._storage
            sas = storage.mint_container_sas(container_url, timedelta(hours=s.sas_lifetime_hours), expires_on)
            conn = {"containerUrl": container_url, "sasToken": sas.token}
        body: dict[str, Any] = {"kind": s.source_kind.value, "connectionInfo": conn}
        if source_id:
            body["id"] = source_id
        return body

    def _has_sas(self, info: SourceInfo) -> bool:
        return info.kind == SourceKind.SAS_TOKEN.value and self._s.source_kind == SourceKind.SAS_TOKEN

    def _needs_refresh(self, info: SourceInfo) -> bool:
        if not self._has_sas(info):
            return False
        margin = timedelta(hours=self._s.sas_refresh_margin_hours)
        return info.expiration is None or info.expiration - now_utc() < margin
