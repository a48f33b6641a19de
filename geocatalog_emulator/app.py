"""The emulator core: state, workers and the request pipeline (faults → auth → api-version → route)."""

from __future__ import annotations

import logging
import time

from . import admin_api, collection_assets, configurations_api, ingestions_api, sources_api, stac_api, stac_write
from .assets import AssetStore
from .config import API_VERSIONS, Settings
from .errors import ApiError
from .faults import Faults, RequestCounts
from .ingest import RunWorker
from .operations import Operations
from .routing import Request, Response, Router
from .store import Store

log = logging.getLogger("geocatalog_emulator")

ADMIN_PREFIX = "/_emulator"
SUPPORTED_VERSIONS_HEADER = ", ".join(reversed(API_VERSIONS))


def error_response(error: ApiError, path: str) -> Response:
    """The service's error shape with X-Ms-Error-Code."""
    headers = {"X-Ms-Error-Code": error.code, **error.headers}
    content_type = "application/json" if path.startswith("/stac") else "application/json; charset=utf-8"
    return Response(error.status, error.body(), headers, content_type)


class Emulator:
    """Everything but the socket: build one, then feed it Requests."""

    def __init__(self, settings: Settings | None = None, db_path: str | None = None) -> None:
        self.settings = settings or Settings()
        self.settings.validate()
        self.store = Store(db_path)
        self.ops = Operations(self.store, self.settings)
        self.assets = (
            AssetStore(self.settings.asset_connection_string, self.settings.asset_container, self.settings.ca_bundle)
            if self.settings.asset_connection_string
            else None
        )
        self.runs = RunWorker(self.store, self.ops, self.settings, self.assets)
        self.faults = Faults()
        self.counts = RequestCounts()
        self.router = Router()
        sources_api.register(self.router, self)
        ingestions_api.register(self.router, self)
        stac_api.register(self.router, self.store)
        stac_write.register(self.router, self)
        configurations_api.register(self.router, self)
        collection_assets.register(self.router, self)
        self.admin = Router()
        admin_api.register(self.admin, self)

    def close(self) -> None:
        """Stop background work and close the database."""
        self.ops.stop()
        self.store.close()

    def reset(self) -> None:
        """Forget all state, counts and faults (running workers notice their operation is gone)."""
        self.store.reset()
        self.counts.reset()
        self.faults.clear()

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises."""
        try:
            if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
                _, handler, request.params = self.admin.match(request.method, request.path)
                return handler(request)
            return self._service(request)
        except ApiError as error:
            return error_response(error, request.path)
        except Exception:  # keep serving; the client sees a 500 like any Azure service hiccup
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(
                ApiError(500, "InternalServerError", "The emulator hit an internal error"), request.path
            )

    def _service(self, request: Request) -> Response:
        template = self.router.template_for(request.method, request.path)
        route_key = f"{request.method} {template or '(unmatched)'}"
        latency, fault = self.faults.draw(route_key) if template else (0, None)
        self.counts.record(route_key, faulted=fault is not None)
        if latency:
            time.sleep(latency / 1000)
        if fault is not None:
            return error_response(fault, request.path)
        self._authorize(request)
        self._check_api_version(request)
        request.route, handler, request.params = self.router.match(request.method, request.path)
        response = handler(request)
        if request.path.startswith("/inma"):
            response.headers.setdefault("api-supported-versions", SUPPORTED_VERSIONS_HEADER)
        return response

    def _authorize(self, request: Request) -> None:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        expected = self.settings.require_token
        if scheme.lower() != "bearer" or not token.strip() or (expected is not None and token.strip() != expected):
            raise ApiError(
                401,
                "Unauthorized",
                "A valid 'Authorization: Bearer <token>' header is required",
                {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common"'},
            )

    def _check_api_version(self, request: Request) -> None:
        versions = request.query.get("api-version") or []
        if not versions:
            raise ApiError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests",
            )
        # pystac-client adds api-version to next links that already carry it: equal duplicates are fine.
        if any(value not in API_VERSIONS for value in versions) or len(set(versions)) > 1:
            raise ApiError(
                400,
                "UnsupportedApiVersionValue",
                f"Unsupported api-version '{versions[0]}'. The supported api-versions are '{SUPPORTED_VERSIONS_HEADER}'",
            )
