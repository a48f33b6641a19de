"""Blob reads and container SAS minting: user-delegation SAS in Azure, account-key SAS only for local dev."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.blob import (
    BlobClient,
    BlobServiceClient,
    ContainerSasPermissions,
    ContentSettings,
    generate_container_sas,
)

from ingest_core.connections import ca_bundle, service_client, shared_session
from ingest_core.errors import BlobNotFound, InvalidDrop, ServiceError, TransientError
from ingest_core.events import container_url_of, parse_blob_url, url_without_query

log = logging.getLogger(__name__)

# Reads of our own containers use a short read-only SAS of their own (never given to anyone), renewed early.
READ_SAS_LIFETIME = timedelta(hours=1)
READ_SAS_MARGIN = timedelta(minutes=10)
# A user-delegation key may live at most 7 days.
MAX_DELEGATION_KEY = timedelta(days=7)
# Start a few minutes in the past so clock skew between us and the GeoCatalog never makes the SAS "not yet valid".
SAS_START_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ContainerSas:
    """A minted container SAS: the token (never logged) and its expiry."""

    token: str
    expires_on: datetime

    def __repr__(self) -> str:  # keeps the token out of any accidental repr/log
        return f"ContainerSas(expires_on={self.expires_on.isoformat()}, token=<redacted>)"


class CatalogStorage:
    """Reads catalog blobs and mints read+list container SAS tokens for the GeoCatalog."""

    def __init__(self, connection: str, credential: Any | None = None, connection_verify: Any = None) -> None:
        """`connection` is a connection string (local) or an account blob URL (identity-based, `credential`)."""
        self._verify = ca_bundle() if connection_verify is None else connection_verify
        self._service = service_client(BlobServiceClient, connection, credential, connection_verify=self._verify)
        self.account_name = self._service.account_name or ""
        # Only a local connection string carries a key; identity-based connections never do.
        self._account_key = getattr(self._service.credential, "account_key", None)
        self._credential = self._service.credential
        self._udk: Any = None
        self._udk_lock = threading.Lock()
        self._session = shared_session("storage")
        self._read_tokens: dict[str, ContainerSas] = {}
        self._lean_reads: bool | None = None

    @property
    def service_url(self) -> str:
        """The account's blob endpoint (path-style for Azurite), without a trailing slash."""
        return self._service.url.rstrip("/")

    @property
    def uses_account_key(self) -> bool:
        """True only for local development connection strings that carry a key."""
        return bool(self._account_key)

    def _blob(self, url: str) -> BlobClient:
        """A client for one blob; on our own account it shares the service's connection pool (no TLS per read)."""
        url = url_without_query(url)
        account, container, path = parse_blob_url(url)
        if account == self.account_name and url.startswith(self._service.url.rstrip("/") + "/"):
            return self._service.get_blob_client(container, path)
        return BlobClient.from_blob_url(url, credential=self._credential, connection_verify=self._verify)

    def _own(self, url: str) -> bool:
        return url_without_query(url).startswith(self._service.url.rstrip("/") + "/")

    def _read_sas(self, container_url: str) -> str | None:
        """A short read-only SAS for one of our containers, cached (None when none can be minted here)."""
        now = datetime.now(UTC)
        with self._udk_lock:
            cached = self._read_tokens.get(container_url)
        if cached and cached.expires_on - now > READ_SAS_MARGIN:
            return cached.token
        if self._lean_reads is False:
            return None
        try:
            sas = self.mint_container_sas(container_url, READ_SAS_LIFETIME)
        except (ServiceError, TransientError) as exc:  # no delegation rights: the SDK's own auth still works
            log.warning("blob reads fall back to the SDK: %s", exc)
            self._lean_reads = False
            return None
        with self._udk_lock:
            self._read_tokens[container_url] = sas
        return sas.token

    def read_blob(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """Download a blob no larger than `max_bytes`; return (content, etag)."""
        if self._own(url):
            sas = self._read_sas(container_url_of(url_without_query(url)))
            if sas is not None:
                return self._lean_read(url_without_query(url), sas, max_bytes)
        blob = self._blob(url)
        try:
            # One ranged GET: never more than the cap plus one byte, and the total size comes with it.
            download = blob.download_blob(offset=0, length=max_bytes + 1, max_concurrency=1)
            if download.properties.size > max_bytes:
                raise InvalidDrop(
                    f"catalog is {download.properties.size} bytes, over the {max_bytes}-byte cap (CATALOG_MAX_BYTES)",
                    where=url_without_query(url),
                )
            return download.readall(), download.properties.etag.strip('"')
        except ResourceNotFoundError:
            raise BlobNotFound(url_without_query(url)) from None
        except HttpResponseError as exc:
            if exc.status_code == 416:  # a range on an empty blob: it exists and holds nothing
                return b"", self.blob_etag(url)
            raise _storage_error(exc, url) from None
        except ServiceRequestError as exc:
            raise _storage_error(exc, url) from None

    def _lean_read(self, url: str, sas: str, max_bytes: int) -> tuple[bytes, str]:
        """One ranged GET with a read SAS on the shared session: a fraction of the SDK's CPU per read."""
        try:
            resp = self._session.get(f"{url}?{sas}", headers={"Range": f"bytes=0-{max_bytes}"}, timeout=30)
        except requests.RequestException as exc:
            raise TransientError(f"storage call to {url} failed ({type(exc).__name__})") from None
        if resp.status_code == 404:
            raise BlobNotFound(url)
        if resp.status_code == 416:  # a range on an empty blob: it exists and holds nothing
            return b"", resp.headers.get("ETag", "").strip('"') or self.blob_etag(url)
        if resp.status_code not in (200, 206):
            code = resp.headers.get("x-ms-error-code") or f"HTTP{resp.status_code}"
            if resp.status_code in (408, 429) or resp.status_code >= 500:
                raise TransientError(f"storage call to {url} failed (HTTP {resp.status_code} {code})")
            raise ServiceError(resp.status_code, code, f"storage refused access to {url}", "GET", url)
        total = resp.headers.get("Content-Range", "").rsplit("/", 1)[-1]
        size = int(total) if total.isdigit() else len(resp.content)
        if size > max_bytes:
            raise InvalidDrop(f"catalog is {size} bytes, over the {max_bytes}-byte cap (CATALOG_MAX_BYTES)", where=url)
        return resp.content, resp.headers.get("ETag", "").strip('"')

    def blob_etag(self, url: str) -> str:
        """The current ETag of a blob (raises BlobNotFound)."""
        try:
            return self._blob(url).get_blob_properties().etag.strip('"')
        except ResourceNotFoundError:
            raise BlobNotFound(url_without_query(url)) from None
        except (ServiceRequestError, HttpResponseError) as exc:
            raise _storage_error(exc, url) from None

    def last_changes(self, container_url: str, prefix: str) -> list[datetime]:
        """Last-Modified of every blob under `prefix` in one of our containers (one listing, paged by the SDK)."""
        _, container, _ = parse_blob_url(container_url.rstrip("/") + "/x")
        try:
            blobs = self._service.get_container_client(container).list_blobs(name_starts_with=prefix or None)
            return [_as_datetime(b.last_modified) for b in blobs]
        except ResourceNotFoundError:
            return []
        except (ServiceRequestError, HttpResponseError) as exc:
            raise _storage_error(exc, container_url) from None

    # -- writes: only ever on the app's own account (the staging container of split jobs) ---------------
    def container_url(self, container: str) -> str:
        """The URL of one container of this account."""
        return f"{self._service.url.rstrip('/')}/{container}"

    def write_json(self, url: str, data: bytes) -> None:
        """Upload (or overwrite) a JSON blob, creating its container on first use."""
        _, container, path = parse_blob_url(url)
        blob = self._service.get_blob_client(container, path)
        settings = ContentSettings(content_type="application/json")
        try:
            try:
                blob.upload_blob(data, overwrite=True, content_settings=settings)
            except ResourceNotFoundError:
                try:
                    self._service.create_container(container)
                except ResourceExistsError:
                    pass
                blob.upload_blob(data, overwrite=True, content_settings=settings)
        except (ServiceRequestError, HttpResponseError) as exc:
            raise _storage_error(exc, url) from None

    def blob_urls(self, container_url: str) -> list[tuple[str, datetime]]:
        """(URL, Last-Modified) of every blob of one of this account's containers (none when it does not exist)."""
        _, container, _ = parse_blob_url(container_url.rstrip("/") + "/x")
        client = self._service.get_container_client(container)
        try:
            return [(f"{client.url}/{b.name}", _as_datetime(b.last_modified)) for b in client.list_blobs()]
        except ResourceNotFoundError:
            return []
        except (ServiceRequestError, HttpResponseError) as exc:
            raise _storage_error(exc, container_url) from None

    def delete_blob(self, url: str) -> None:
        """Delete a blob of this account; one already gone is fine."""
        _, container, path = parse_blob_url(url)
        try:
            self._service.get_blob_client(container, path).delete_blob()
        except ResourceNotFoundError:
            pass
        except (ServiceRequestError, HttpResponseError) as exc:
            raise _storage_error(exc, url) from None

    def exists(self, url: str) -> bool:
        """True when the blob exists."""
        try:
            self.blob_etag(url)
            return True
        except BlobNotFound:
            return False

    def read_tail(self, url: str, length: int) -> tuple[bytes, str, int]:
        """The last `length` bytes of a blob (fewer if it is smaller): (bytes, etag, blob size)."""
        blob = self._blob(url)
        try:
            size = blob.get_blob_properties().size
            offset = max(0, size - length)
            download = blob.download_blob(offset=offset, length=size - offset, max_concurrency=1) if size else None
            if download is None:
                return b"", self.blob_etag(url), 0
            return download.readall(), download.properties.etag.strip('"'), size
        except ResourceNotFoundError:
            raise BlobNotFound(url_without_query(url)) from None
        except (ServiceRequestError, HttpResponseError) as exc:
            raise _storage_error(exc, url) from None

    def list_folder(self, container_url: str, folder: str, max_names: int) -> list[str]:
        """Names directly in `folder` (a path ending in '/' or ''), sub-folders ending in '/'; at most `max_names`."""
        account, container, _ = parse_blob_url(container_url.rstrip("/") + "/x")
        client = self._service.get_container_client(container)
        names: list[str] = []
        try:
            for entry in client.walk_blobs(name_starts_with=folder or None, delimiter="/"):
                names.append(entry.name[len(folder) :])
                if len(names) >= max_names:
                    break
        except ResourceNotFoundError:
            return []
        except (ServiceRequestError, HttpResponseError) as exc:
            raise _storage_error(exc, f"{container_url.rstrip('/')}/{folder}") from None
        return names

    def mint_container_sas(
        self, container_url: str, lifetime: timedelta, expires_on: datetime | None = None
    ) -> ContainerSas:
        """A read+list SAS for one container: user-delegation unless a local account key is configured.

        `expires_on` fixes the expiry (to the second): the sources service uses it to recognise its own source.
        """
        account, container, _ = parse_blob_url(container_url.rstrip("/") + "/x")
        now = datetime.now(UTC).replace(microsecond=0)
        start, expiry = now - SAS_START_SKEW, (expires_on.replace(microsecond=0) if expires_on else now + lifetime)
        perms = ContainerSasPermissions(read=True, list=True)
        if self._account_key:
            token = generate_container_sas(
                account, container, account_key=self._account_key, permission=perms, start=start, expiry=expiry
            )
        else:
            key = self._delegation_key(now, lifetime)
            expiry = min(expiry, _as_datetime(key.signed_expiry))
            token = generate_container_sas(
                account, container, user_delegation_key=key, permission=perms, start=start, expiry=expiry
            )
        return ContainerSas(token=token, expires_on=expiry)

    def _delegation_key(self, now: datetime, lifetime: timedelta) -> Any:
        """The cached user-delegation key, renewed when it would not outlive a fresh SAS."""
        with self._udk_lock:
            if self._udk is None or _as_datetime(self._udk.signed_expiry) < now + lifetime + timedelta(minutes=5):
                key_expiry = now + min(MAX_DELEGATION_KEY, lifetime * 2 + timedelta(hours=1))
                try:
                    self._udk = self._service.get_user_delegation_key(now - SAS_START_SKEW, key_expiry)
                except ClientAuthenticationError as exc:
                    raise ServiceError(
                        403,
                        "UserDelegationKeyDenied",
                        "could not get a user-delegation key: give the app identity the "
                        f"'Storage Blob Delegator' role on account {self.account_name} ({exc.reason})",
                    ) from None
                except (ServiceRequestError, HttpResponseError) as exc:
                    raise _storage_error(exc, self._service.url) from None
                log.info("user-delegation key renewed for %s until %s", self.account_name, key_expiry.isoformat())
            return self._udk


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _storage_error(exc: Exception, url: str) -> Exception:
    """Map an azure-core error to ours, with the URL stripped of any query (a SAS)."""
    status = getattr(exc, "status_code", None)
    where = url_without_query(url)
    if status is None or status in (408, 429) or status >= 500:
        return TransientError(f"storage call to {where} failed ({type(exc).__name__}, HTTP {status})")
    code = getattr(exc, "error_code", None) or f"HTTP{status}"
    return ServiceError(int(status), str(code), f"storage refused access to {where}", "GET", where)
