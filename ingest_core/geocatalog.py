"""The one GeoCatalog data-plane client: auth, api-version, retries and typed errors (shared/reference/geocatalog-api.md)."""

from __future__ import annotations

import json as json_module
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

import requests

from ingest_core.errors import ServiceError, TransientError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Answers that say the request was not processed: safe to resend even a POST that creates something.
NOT_PROCESSED_STATUS = frozenset({408, 429, 503})
# Failed-operation codes that may pass on their own (geocatalog-api.md §6).
TRANSIENT_OPERATION_CODES = frozenset({"InternalError", "InternalIntermitentError", "IngestionResourceTimeout"})
TERMINAL_OPERATION = frozenset({"succeeded", "failed", "canceled"})


class TokenCredential(Protocol):
    """The azure-identity credential shape (get_token(scope) -> AccessToken)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class StaticToken:
    """A fixed bearer token: only for the local emulator, where no Entra identity exists."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self) -> str:
        return self._token


class CredentialToken:
    """Bearer tokens from an azure-identity credential, cached until five minutes before expiry."""

    def __init__(self, credential: TokenCredential, scope: str, skew_seconds: float = 300.0) -> None:
        self._credential = credential
        self._scope = scope
        self._skew = skew_seconds
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or time.time() > self._expires_on - self._skew:
                access = self._credential.get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token


def _retry_after_seconds(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _service_error(resp: requests.Response, method: str, route: str) -> ServiceError:
    code, message = resp.headers.get("X-Ms-Error-Code", ""), ""
    try:
        err = resp.json().get("error", {})
        code = err.get("code") or code
        message = err.get("message", "")
    except (ValueError, AttributeError):
        message = resp.text[:300]
    return ServiceError(resp.status_code, code or f"HTTP{resp.status_code}", message, method, route)


class GeoCatalogClient:
    """Calls the GeoCatalog REST API exactly as the contract says, retrying only transient faults."""

    def __init__(
        self,
        endpoint: str,
        token: Callable[[], str],
        api_version: str = "2026-04-15",
        max_retries: int = 5,
        backoff_cap: float = 30.0,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_version = api_version
        self._token = token
        self._max_retries = max_retries
        self._backoff_cap = backoff_cap
        self._timeout = timeout
        self._session = session or requests.Session()
        self._sleep = sleep

    # -- transport ---------------------------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._backoff_cap)
        # Full jitter keeps many instances that failed together from retrying together.
        return random.uniform(0, min(self._backoff_cap, 0.5 * 2**attempt))

    def request(
        self,
        method: str,
        path: str,
        *,
        route: str = "",
        expected: tuple[int, ...] = (200,),
        json: Any = None,
        params: dict[str, Any] | None = None,
        content_type: str | None = None,
        creates: bool = False,
        content: bytes | None = None,
    ) -> requests.Response:
        """Send one call; retry connection errors, timeouts, 408/429/5xx; raise typed errors otherwise.

        `creates`: a POST that makes a new resource each time (ingestion, run). After an ambiguous failure
        (read timeout, dropped connection, 500/502/504) the service may have done it, so this call does not
        resend: it raises TransientError and the pipeline's next attempt looks for what was created first.
        """
        url, query = self._url_and_query(path, params)
        route = route or path
        last = ""
        for attempt in range(self._max_retries + 1):
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            if json is not None or content is not None:
                headers["Content-Type"] = content_type or "application/json"
            try:
                resp = self._session.request(
                    method, url, params=query, json=json, data=content, headers=headers, timeout=self._timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last, wait = f"{type(exc).__name__}", self._backoff(attempt, None)
                ambiguous = not isinstance(exc, requests.ConnectTimeout)
            else:
                if resp.status_code in expected:
                    return resp
                if resp.status_code not in RETRYABLE_STATUS:
                    raise _service_error(resp, method, route)
                err = _service_error(resp, method, route)
                last, wait = f"HTTP {resp.status_code} {err.code}", self._backoff(attempt, _retry_after_seconds(resp))
                ambiguous = resp.status_code not in NOT_PROCESSED_STATUS
            if creates and ambiguous:
                raise TransientError(
                    f"GeoCatalog {method} {route} may or may not have taken effect ({last}); "
                    "the next attempt checks before creating again"
                )
            if attempt == self._max_retries:
                break
            log.warning("geocatalog %s %s: %s; retry %d in %.1fs", method, route, last, attempt + 1, wait)
            self._sleep(wait)
        raise TransientError(
            f"GeoCatalog {method} {route} still failing after {self._max_retries + 1} attempts ({last}); "
            "the platform will retry the job"
        )

    def _url_and_query(self, path: str, params: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """Absolute URL without query, and the query with exactly one api-version (ours), as the SDK does."""
        url = path if path.startswith("http") else self.endpoint + path
        parts = urlsplit(url)
        query = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "api-version"}
        query.update(params or {})
        query["api-version"] = self.api_version
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), query

    def _paged(self, path: str, route: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        url: str | None = path
        query = dict(params or {})
        while url:
            body = self.request("GET", url, route=route, params=query).json()
            yield from body.get("value", [])
            next_link = body.get("nextLink")
            # nextLink carries its own query (it is absolute or relative); api-version is re-added.
            url, query = (urljoin(self.endpoint + "/", next_link), {}) if next_link else (None, {})

    # -- ingestion sources ---------------------------------------------------------------------
    def list_sources(self) -> Iterator[dict[str, Any]]:
        """Source summaries ({id, kind, created}); no connection info."""
        return self._paged("/inma/ingestion-sources", "GET /inma/ingestion-sources")

    def get_source(self, source_id: str) -> dict[str, Any]:
        """One source with its connectionInfo (containerUrl, expiration; never the token)."""
        return self.request(
            "GET", f"/inma/ingestion-sources/{source_id}", route="GET /inma/ingestion-sources/{id}"
        ).json()

    def create_source(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a source (201); a 409 means the container already has one."""
        return self.request(
            "POST", "/inma/ingestion-sources", route="POST /inma/ingestion-sources", expected=(201,), json=body
        ).json()

    def replace_source(self, source_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT a source in place (200), e.g. to rotate its SAS."""
        return self.request(
            "PUT",
            f"/inma/ingestion-sources/{source_id}",
            route="PUT /inma/ingestion-sources/{id}",
            expected=(200, 201),
            json=body,
        ).json()

    def delete_source(self, source_id: str) -> None:
        """DELETE a source (204)."""
        self.request(
            "DELETE",
            f"/inma/ingestion-sources/{source_id}",
            route="DELETE /inma/ingestion-sources/{id}",
            expected=(204,),
        )

    # -- collections ---------------------------------------------------------------------------
    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        """The STAC collection, or None when it does not exist."""
        try:
            return self.request(
                "GET", f"/stac/collections/{collection_id}", route="GET /stac/collections/{collectionId}"
            ).json()
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def create_collection(
        self, collection: dict[str, Any], poll_interval: float = 0.5, max_wait: float = 120.0
    ) -> None:
        """POST a collection: 202 + operation polled to its end (201 tolerated)."""
        resp = self.request(
            "POST", "/stac/collections", route="POST /stac/collections", expected=(201, 202), json=collection
        )
        if resp.status_code == 201:
            return
        op_url = resp.headers.get("operation-location") or resp.headers.get("Location")
        if not op_url:
            return
        op = self.wait_operation(urljoin(self.endpoint + "/", op_url), poll_interval, max_wait)
        if op.get("status", "").lower() != "succeeded":
            err = (op.get("error") or {}).get("error") or {}
            if err.get("code") in TRANSIENT_OPERATION_CODES:
                raise TransientError(f"collection operation {op.get('id')} failed with {err.get('code')}; retrying")
            raise ServiceError(
                409 if "exist" in err.get("message", "").lower() else 500,
                err.get("code", "OperationFailed"),
                err.get("message", f"collection operation ended {op.get('status')}"),
                "POST",
                "/stac/collections",
            )

    def wait_operation(self, op_url: str, poll_interval: float = 0.5, max_wait: float = 120.0) -> dict[str, Any]:
        """Poll an /inma/operations/{id} URL until the status is terminal (first look soon, then every interval)."""
        deadline = time.monotonic() + max_wait
        self._sleep(min(0.1, poll_interval))
        while True:
            resp = self.request("GET", op_url, route="GET /inma/operations/{operationId}")
            op = resp.json()
            if op.get("status", "").lower() in TERMINAL_OPERATION:
                return op
            if time.monotonic() > deadline:
                raise TransientError(f"operation {op.get('id')} still {op.get('status')} after {max_wait:.0f}s")
            self._sleep(_retry_after_seconds(resp) or poll_interval)

    # -- ingestions and runs -------------------------------------------------------------------
    def list_ingestions(self, collection_id: str) -> Iterator[dict[str, Any]]:
        """Every ingestion definition of a collection."""
        return self._paged(
            f"/inma/collections/{collection_id}/ingestions", "GET /inma/collections/{collectionId}/ingestions"
        )

    def create_ingestion(self, collection_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST an ingestion definition (201); its id is `id`."""
        return self.request(
            "POST",
            f"/inma/collections/{collection_id}/ingestions",
            route="POST /inma/collections/{collectionId}/ingestions",
            expected=(201,),
            json=body,
            creates=True,
        ).json()

    def update_ingestion(self, collection_id: str, ingestion_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH (merge-patch) an ingestion definition's options."""
        return self.request(
            "PATCH",
            f"/inma/collections/{collection_id}/ingestions/{ingestion_id}",
            route="PATCH /inma/collections/{collectionId}/ingestions/{ingestionId}",
            json=changes,
            content_type="application/merge-patch+json",
        ).json()

    def create_run(self, collection_id: str, ingestion_id: str) -> dict[str, Any]:
        """POST a run (201, no body)."""
        return self.request(
            "POST",
            f"/inma/collections/{collection_id}/ingestions/{ingestion_id}/runs",
            route="POST /inma/collections/{collectionId}/ingestions/{ingestionId}/runs",
            expected=(201,),
            creates=True,
        ).json()

    def get_run(self, collection_id: str, ingestion_id: str, run_id: str) -> dict[str, Any]:
        """One run with its operation status and counters."""
        return self.request(
            "GET",
            f"/inma/collections/{collection_id}/ingestions/{ingestion_id}/runs/{run_id}",
            route="GET /inma/collections/{collectionId}/ingestions/{ingestionId}/runs/{runId}",
        ).json()

    def list_runs(self, collection_id: str, ingestion_id: str) -> Iterator[dict[str, Any]]:
        """Every run of an ingestion definition."""
        return self._paged(
            f"/inma/collections/{collection_id}/ingestions/{ingestion_id}/runs",
            "GET /inma/collections/{collectionId}/ingestions/{ingestionId}/runs",
        )

    # -- collection configuration (render options, mosaics, tile settings, queryables, assets) ---
    def list_config(self, collection_id: str, kind: str) -> list[dict[str, Any]]:
        """GET .../configurations/{kind} (render-options or mosaics): a plain JSON array."""
        return self.request(
            "GET",
            f"/stac/collections/{collection_id}/configurations/{kind}",
            route=f"GET /stac/collections/{{collectionId}}/configurations/{kind}",
        ).json()

    def put_config(self, collection_id: str, kind: str, entry_id: str, body: dict[str, Any]) -> None:
        """PUT .../configurations/{kind}/{id}: create or replace one render option or mosaic by id."""
        self.request(
            "PUT",
            f"/stac/collections/{collection_id}/configurations/{kind}/{quote(entry_id, safe='')}",
            route=f"PUT /stac/collections/{{collectionId}}/configurations/{kind}/{{id}}",
            expected=(200, 201),
            json=body,
        )

    def delete_config(self, collection_id: str, kind: str, entry_id: str) -> None:
        """DELETE one render option or mosaic (already gone is fine)."""
        self._delete(
            f"/stac/collections/{collection_id}/configurations/{kind}/{quote(entry_id, safe='')}",
            f"DELETE /stac/collections/{{collectionId}}/configurations/{kind}/{{id}}",
        )

    def get_tile_settings(self, collection_id: str) -> dict[str, Any]:
        """GET .../configurations/tile-settings."""
        route = "GET /stac/collections/{collectionId}/configurations/tile-settings"
        return self.request(
            "GET", f"/stac/collections/{collection_id}/configurations/tile-settings", route=route
        ).json()

    def put_tile_settings(self, collection_id: str, body: dict[str, Any]) -> None:
        """PUT .../configurations/tile-settings."""
        self.request(
            "PUT",
            f"/stac/collections/{collection_id}/configurations/tile-settings",
            route="PUT /stac/collections/{collectionId}/configurations/tile-settings",
            json=body,
        )

    def get_queryables(self, collection_id: str) -> dict[str, Any]:
        """The collection's queryable definitions by name (the `properties` of its queryables schema)."""
        body = self.request(
            "GET",
            f"/stac/collections/{collection_id}/queryables",
            route="GET /stac/collections/{collectionId}/queryables",
        ).json()
        return body.get("properties") or {}

    def put_queryable(self, collection_id: str, body: dict[str, Any]) -> None:
        """PUT .../queryables/{name}: create or replace one queryable."""
        self.request(
            "PUT",
            f"/stac/collections/{collection_id}/queryables/{quote(body['name'], safe='')}",
            route="PUT /stac/collections/{collectionId}/queryables/{queryableName}",
            expected=(200, 201),
            json=body,
        )

    def delete_queryable(self, collection_id: str, name: str) -> None:
        """DELETE one queryable (already gone is fine)."""
        self._delete(
            f"/stac/collections/{collection_id}/queryables/{quote(name, safe='')}",
            "DELETE /stac/collections/{collectionId}/queryables/{queryableName}",
        )

    def get_thumbnail(self, collection_id: str) -> bytes | None:
        """The collection thumbnail's bytes, or None when it has none."""
        try:
            return self.request(
                "GET",
                f"/stac/collections/{collection_id}/thumbnail",
                route="GET /stac/collections/{collectionId}/thumbnail",
            ).content
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def put_collection_asset(
        self, collection_id: str, metadata: dict[str, Any], filename: str, content: bytes, replace: bool
    ) -> None:
        """Multipart `data` (asset JSON) + `file`: POST .../assets, or PUT .../assets/{key} to replace."""
        body, content_type = _multipart({"data": (None, json_module.dumps(metadata).encode(), "application/json"),
                                         "file": (filename, content, metadata.get("type", "application/octet-stream"))})  # fmt: skip
        key = quote(metadata["key"], safe="")
        path = f"/stac/collections/{collection_id}/assets" + (f"/{key}" if replace else "")
        route = "/stac/collections/{collectionId}/assets" + ("/{assetId}" if replace else "")
        self.request(
            "PUT" if replace else "POST",
            path,
            route=("PUT " if replace else "POST ") + route,
            expected=(200, 201),
            content=body,
            content_type=content_type,
        )

    def _delete(self, path: str, route: str) -> None:
        try:
            self.request("DELETE", path, route=route, expected=(200, 204))
        except ServiceError as exc:
            if exc.status != 404:
                raise


def _multipart(fields: dict[str, tuple[str | None, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = uuid.uuid4().hex
    out = b""
    for name, (filename, data, media) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {media}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
