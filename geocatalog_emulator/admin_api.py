"""Admin endpoints under /_emulator (no auth, no api-version): counts, reset, faults, state, config."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .errors import bad_request
from .item_faults import KIND as ITEM_FAILURE
from .models import render_ingestion, render_operation, render_run, render_source
from .routing import Request, Response, Router

if TYPE_CHECKING:
    from .app import Emulator

# Runtime-tunable timing knobs: admin JSON name → (settings attribute, scale to seconds).
TUNABLE = {
    "itemDelayMs": ("item_delay", 1000.0),
    "runStartDelayMs": ("run_start_delay", 1000.0),
    "operationDelayMs": ("operation_delay", 1000.0),
    "maxConcurrentRuns": ("max_concurrent_runs", 1.0),
    "maxItemsPerRun": ("max_items_per_run", 1.0),
    "keepExternalAssetHrefs": ("keep_external_asset_hrefs", 1.0),
    "partialFailureStatus": ("partial_failure_status", 1.0),
}


class AdminApi:
    """Handlers for the emulator's own control surface."""

    def __init__(self, app: Emulator) -> None:
        self.app = app

    def requests(self, request: Request) -> Response:
        """GET /_emulator/requests → {"total", "counts", "faulted"} keyed "METHOD /route/template"."""
        return Response(200, self.app.counts.snapshot())

    def reset_requests(self, request: Request) -> Response:
        """DELETE /_emulator/requests → zero the counters only."""
        self.app.counts.reset()
        return Response(204)

    def reset(self, request: Request) -> Response:
        """POST /_emulator/reset → clear state, counts and faults."""
        self.app.reset()
        return Response(204)

    def add_fault(self, request: Request) -> Response:
        """POST /_emulator/faults → 201 with the stored fault (its id, remaining count).

        `{"kind": "item-failure", ...}` makes chosen items of runs fail instead of answering HTTP errors.
        """
        spec = request.json()
        try:
            if isinstance(spec, dict) and spec.get("kind") == ITEM_FAILURE:
                return Response(201, self.app.item_faults.add(spec).public())
            if isinstance(spec, dict) and spec.get("kind") not in (None, "http"):
                raise ValueError(f'unknown fault kind {spec.get("kind")!r}: use "http" (default) or "{ITEM_FAILURE}"')
            fault = self.app.faults.add(spec)
        except (TypeError, ValueError) as exc:
            raise bad_request(str(exc)) from None
        return Response(201, asdict(fault))

    def list_faults(self, request: Request) -> Response:
        """GET /_emulator/faults → {"faults": [...], "itemFaults": [...]}."""
        return Response(200, {"faults": self.app.faults.snapshot(), "itemFaults": self.app.item_faults.snapshot()})

    def clear_faults(self, request: Request) -> Response:
        """DELETE /_emulator/faults → remove every fault, of both kinds."""
        self.app.faults.clear()
        self.app.item_faults.clear()
        return Response(204)

    def state(self, request: Request) -> Response:
        """GET /_emulator/state → every resource as the API renders it (no SAS tokens) plus run extras."""
        store = self.app.store
        ops = {op["id"]: op for op in store.list("operation")}
        runs: list[dict[str, Any]] = []
        for run in store.list("run"):
            rendered = render_run(run, ops.get(run["operationId"], {}))
            extras = {key: run.get(key) for key in ("skippedItems", "failedLinks") if key in run}
            runs.append({**rendered, "collectionId": run["collectionId"], "ingestionId": run["ingestionId"], **extras})
        body = {
            "sources": [render_source(source) for source in store.list("source")],
            "collections": [collection["id"] for collection in store.list("collection")],
            "itemCounts": store.item_counts(),
            "ingestions": [{**render_ingestion(i), "collectionId": i["collectionId"]} for i in store.list("ingestion")],
            "runs": runs,
            "operations": [render_operation(op) for op in ops.values()],
        }
        return Response(200, body)

    def config(self, request: Request) -> Response:
        """GET /_emulator/config → the tunable knobs."""
        settings = self.app.settings
        values = {}
        for name, (attr, scale) in TUNABLE.items():
            value = getattr(settings, attr)
            values[name] = value * scale if scale != 1.0 else value
        return Response(200, values)

    def set_config(self, request: Request) -> Response:
        """PATCH /_emulator/config with any subset of the knobs; answers the new values."""
        changes = request.json_object()
        unknown = sorted(set(changes) - set(TUNABLE))
        if unknown:
            raise bad_request(f"Unknown setting(s): {', '.join(unknown)}; known: {', '.join(TUNABLE)}")
        settings = self.app.settings
        previous = {attr: getattr(settings, attr) for attr, _ in TUNABLE.values()}
        for name, value in changes.items():
            attr, scale = TUNABLE[name]
            setattr(settings, attr, value / scale if scale != 1.0 else value)
        try:
            settings.validate()
        except (TypeError, ValueError) as exc:
            for attr, value in previous.items():
                setattr(settings, attr, value)
            raise bad_request(str(exc)) from None
        return self.config(request)


def register(router: Router, app: Emulator) -> None:
    """Add the admin routes."""
    api = AdminApi(app)
    router.add("GET", "/_emulator/requests", api.requests)
    router.add("DELETE", "/_emulator/requests", api.reset_requests)
    router.add("POST", "/_emulator/reset", api.reset)
    router.add("GET", "/_emulator/faults", api.list_faults)
    router.add("POST", "/_emulator/faults", api.add_fault)
    router.add("DELETE", "/_emulator/faults", api.clear_faults)
    router.add("GET", "/_emulator/state", api.state)
    router.add("GET", "/_emulator/config", api.config)
    router.add("PATCH", "/_emulator/config", api.set_config)
