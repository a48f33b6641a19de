"""Reading catalogs, items and assets the way the service does: with the ingestion source's credential."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from .assets import AssetStore
from .config import Settings
from .errors import Codes, IngestionFailure
from .sas import redact, with_token

# Storage error codes that mean "authenticated, but this SAS may not do that".
PERMISSION_CODES = (
    "AuthorizationPermissionMismatch",
    "AuthorizationResourceTypeMismatch",
    "AuthorizationServiceMismatch",
)


def covers(container_url: str, url: str) -> bool:
    """True if `url` is a blob inside the container (scheme and host compared case-insensitively)."""
    base, target = urlsplit(container_url), urlsplit(url)
    if (base.scheme.lower(), base.netloc.lower()) != (target.scheme.lower(), target.netloc.lower()):
        return False
    return target.path.startswith(base.path.rstrip("/") + "/")


def failure_for(response: requests.Response, url: str, has_source: bool) -> IngestionFailure:
    """Map a storage error response to the ingestion error code the service documents."""
    status, code = response.status_code, response.headers.get("x-ms-error-code", "")
    where = f"'{redact(url)}' (HTTP {status}{f' {code}' if code else ''})"
    if status == 409 and code == "PublicAccessNotPermitted":
        return IngestionFailure(Codes.PUBLIC_ACCESS, f"Public access is not permitted on this storage account: {where}")
    if not has_source and code and status in (401, 403, 404, 409):
        # Private storage that no ingestion source covers: the catalog has no credential for it.
        return IngestionFailure(Codes.AUTH_FAILED, f"No ingestion source covers {where}; anonymous access refused")
    if status == 404:
        return IngestionFailure(Codes.URI_NOT_FOUND, f"The resource {where} was not found")
    if status == 403 and code in PERMISSION_CODES:
        return IngestionFailure(Codes.FORBIDDEN, f"The ingestion source may not read or list {where}")
    if status in (401, 403):
        return IngestionFailure(Codes.AUTH_FAILED, f"Authentication to storage failed for {where}")
    if status in (408, 504):
        return IngestionFailure(Codes.TIMEOUT, f"Timed out reading {where}")
    return IngestionFailure(Codes.GENERIC_HTTP, f"Failed to read {where}")


class Fetcher:
    """One run's reader: picks the covering source, checks listing once per container, maps errors."""

    def __init__(self, sources: list[dict[str, Any]], settings: Settings, assets: AssetStore | None) -> None:
        self.sources = sources
        self.settings = settings
        self.assets = assets
        self.session = requests.Session()
        self._listed: set[str] = set()
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def source_for(self, url: str) -> dict[str, Any] | None:
        """The ingestion source whose container holds `url` (longest match wins)."""
        matches = [source for source in self.sources if covers(source["containerUrl"], url)]
        return max(matches, key=lambda source: len(source["containerUrl"]), default=None)

    def _token(self, source: dict[str, Any]) -> str:
        if source["kind"] == "SasToken":
            return source["sasToken"]
        if source["id"] not in self._tokens:
            self._tokens[source["id"]] = self._identity_token(source)
        return self._tokens[source["id"]]

    def _identity_token(self, source: dict[str, Any]) -> str:
        """Act as the catalog's managed identity: a short read+list SAS from the emulator's own account."""
        known = {identity["objectId"] for identity in self.settings.managed_identities}
        if source["objectId"] not in known:
            raise IngestionFailure(
                Codes.MI_NOT_FOUND, f"Managed identity '{source['objectId']}' is not assigned to the GeoCatalog"
            )
        container_url = source["containerUrl"]
        endpoint = self.assets.endpoint if self.assets else ""
        if not (self.assets and self.assets.account_key and covers(endpoint, container_url)):
            raise IngestionFailure(
                Codes.AUTH_FAILED,
                f"The emulator can act as a managed identity only on its own storage account, "
                f"not for '{redact(container_url)}'",
            )
        container = container_url[len(endpoint) + 1 :].split("/")[0]
        now = datetime.now(UTC)
        return generate_container_sas(
            self.assets.account_name,
            container,
            account_key=self.assets.account_key,
            permission=ContainerSasPermissions(read=True, list=True),
            start=now - timedelta(minutes=5),
            expiry=now + timedelta(hours=1),
        )

    def _request(self, url: str, has_source: bool) -> requests.Response:
        try:
            response = self.session.get(url, timeout=self.settings.http_timeout, verify=self.settings.ca_bundle or True)
        except requests.Timeout:
            raise IngestionFailure(Codes.TIMEOUT, f"Timed out reading '{redact(url)}'") from None
        except requests.ConnectionError:
            raise IngestionFailure(Codes.CONNECTION_FAILED, f"Could not connect to read '{redact(url)}'") from None
        except requests.RequestException:
            # The exception text would contain the signed URL: never pass it on.
            raise IngestionFailure(Codes.GENERIC_HTTP, f"Could not read '{redact(url)}'") from None
        if response.status_code >= 400:
            raise failure_for(response, url, has_source)
        return response

    def check_listing(self, url: str) -> None:
        """List the container of `url` once with its source's credential, as the service needs read+list."""
        source = self.source_for(url)
        if source is None or source["containerUrl"] in self._listed:
            return
        container = source["containerUrl"]
        self._request(with_token(f"{container}?restype=container&comp=list&maxresults=1", self._token(source)), True)
        self._listed.add(container)

    def get(self, url: str) -> requests.Response:
        """GET a blob or public URL with the right credential; IngestionFailure on any error."""
        source = self.source_for(url)
        token = self._token(source) if source else None
        return self._request(with_token(url, token), source is not None)

    def is_covered(self, url: str) -> bool:
        """True if some ingestion source covers `url`."""
        return self.source_for(url) is not None

    def get_json(self, url: str, code: str) -> Any:
        """GET and parse JSON; unparsable content fails with `code`."""
        response = self.get(url)
        try:
            return json.loads(response.content)
        except ValueError:
            raise IngestionFailure(code, f"'{redact(url)}' is not valid JSON") from None
