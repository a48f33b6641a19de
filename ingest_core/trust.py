"""The trust boundary: which storage accounts the app reads, and which uploads it acts on.

The app reads only accounts its settings name: the catalog account (CATALOG_STORAGE_CONNECTION, the blob
trigger's own) and accounts routing rules name. Anything else an event claims is dropped here, before any
storage read, token or SAS: an event is attacker-reachable text, and acting on it would read another host with
our credential and register its container as an ingestion source with a SAS minted for ours.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from azure.storage.blob import BlobServiceClient

from ingest_core.connections import is_connection_string
from ingest_core.events import Drop
from ingest_core.redaction import cap_text
from ingest_core.settings import Settings

log = logging.getLogger(__name__)

SUBJECT_RE = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<path>.+)$")
# Event Grid `topic` (CloudEvents `source`) of a storage account's system topic.
TOPIC_RE = re.compile(r"/providers/Microsoft\.Storage/storageAccounts/(?P<account>[^/]+)$", re.IGNORECASE)
DEFAULT_PORTS = {"https": 443, "http": 80}
_SHOWN = 300  # characters of input text quoted in a log line


@dataclass(frozen=True)
class Endpoint:
    """One trusted account's blob endpoint: scheme, host and port, and for path-style URLs the account segment."""

    account: str
    scheme: str
    host: str
    port: int
    path_style: bool  # Azurite and IP hosts: https://host:port/<account>/<container>/<blob>

    @classmethod
    def of(cls, url: str, account: str) -> Endpoint:
        """The endpoint of a blob service URL such as https://acct.blob.core.windows.net or http://host:port/acct."""
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
        return cls(segments[0] if segments else account, scheme, (parts.hostname or "").lower(), port, bool(segments))

    def for_account(self, account: str) -> Endpoint:
        """The same service for another account (same cloud suffix, or the same Azurite)."""
        host = self.host if self.path_style else f"{account.lower()}.{self.host.split('.', 1)[-1]}"
        return Endpoint(account, self.scheme, host, self.port, self.path_style)

    def owns(self, url: str) -> bool:
        """True when `url` is on exactly this endpoint (scheme, host, port, and account segment if path-style)."""
        try:
            parts = urlsplit(url)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
        except ValueError:  # a malformed port or IPv6 literal
            return False
        if "@" in parts.netloc or (parts.scheme.lower(), (parts.hostname or "").lower(), port) != (
            self.scheme,
            self.host,
            self.port,
        ):
            return False
        return not self.path_style or unquote(parts.path.lstrip("/").split("/", 1)[0]) == self.account

    def __str__(self) -> str:
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}" + (f"/{self.account}" if self.path_style else "")


@lru_cache(maxsize=16)
def _endpoints(catalog_connection: str, named: tuple[tuple[str, str | None], ...]) -> tuple[Endpoint, ...]:
    # The SDK parses every connection-string form (BlobEndpoint, EndpointSuffix, UseDevelopmentStorage) offline.
    if is_connection_string(catalog_connection):
        service = BlobServiceClient.from_connection_string(catalog_connection)
    else:
        service = BlobServiceClient(catalog_connection)
    catalog = Endpoint.of(service.url, service.account_name or "")
    found = [catalog]
    for account, endpoint in named:
        found.append(Endpoint.of(endpoint, account) if endpoint else catalog.for_account(account))
    return tuple(dict.fromkeys(found))


def trusted_endpoints(settings: Settings) -> tuple[Endpoint, ...]:
    """Blob endpoints of the accounts the settings name: the catalog account first, then the rules' accounts."""
    named = tuple(sorted({(r.account, r.blob_endpoint) for r in settings.routing_rules if r.account}, key=str))
    return _endpoints(settings.catalog_connection, named)


def untrusted_reason(settings: Settings, drop: Drop) -> str | None:
    """Why this upload must not be acted on (None when it may): untrusted host, or an event that contradicts itself."""
    endpoints = trusted_endpoints(settings)
    endpoint = next((e for e in endpoints if e.owns(drop.url)), None)
    if endpoint is None:
        trusted = ", ".join(str(e) for e in endpoints)
        return f"data.url is not on the blob endpoint of a trusted account (trusted: {trusted})"
    same = drop.account == endpoint.account if endpoint.path_style else drop.account.lower() == endpoint.account.lower()
    if not same:
        return f"data.url names account {drop.account!r} but its endpoint {endpoint} is account {endpoint.account!r}"
    if any(seg in (".", "..") for seg in [drop.container, *drop.path.split("/")]):
        return "data.url has '.' or '..' path segments (storage would resolve them to another blob)"
    if drop.subject:
        m = SUBJECT_RE.match(drop.subject)
        if m is None or (m["container"], m["path"]) != (drop.container, drop.path):
            return f"subject {cap_text(drop.subject, _SHOWN)!r} disagrees with data.url (container and blob path)"
    if drop.topic:
        m = TOPIC_RE.search(drop.topic)
        if m is None or m["account"].lower() != drop.account.lower():
            return f"topic {cap_text(drop.topic, _SHOWN)!r} is not storage account {drop.account!r} of data.url"
    return None


def refused(settings: Settings, drop: Drop) -> bool:
    """True, after one warning log line, when the upload is outside the trust boundary (no job row, nothing read)."""
    reason = untrusted_reason(settings, drop)
    if reason is not None:
        log.warning("dropped upload %s: %s", cap_text(drop.url, _SHOWN), reason)
    return reason is not None
