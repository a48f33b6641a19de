"""Ingestion definitions, their runs, and the catalog-wide operations (/inma/collections/..., /inma/operations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import bad_request, conflict, not_found
from .models import INGESTION_WRITABLE as WRITABLE
from .models import TERMINAL, merge_patch, new_id, now_iso, render_ingestion, render_operation, render_run
from .operations import accepted
from .paging import page
from .routing import Request, Response, Router

if TYPE_CHECKING:
    from .app import Emulator

IMPORT_TYPES = {"staticcatalog": "StaticCatalog", "stacgeoparquet": "StacGeoparquet"}
STATUSES = ("Pending", "Running", "Succeeded", "Canceled", "Canceling", "Failed")


def validate_definition(body: dict[str, Any]) -> dict[str, Any]:
    """The writable fields of an IngestionDefinition, checked; read-only fields are dropped."""
    record = {key: body[key] for key in WRITABLE if body.get(key) is not None}
    import_type = IMPORT_TYPES.get(str(record.get("importType", "")).lower())
    if import_type is None:
        raise bad_request("'importType' must be 'StaticCatalog' or 'StacGeoparquet'")
    record["importType"] = import_type
    url_field = "sourceCatalogUrl" if import_type == "StaticCatalog" else "stacGeoparquetUrl"
    url = record.get(url_field)
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise bad_request(f"'{url_field}' must be an absolute http(s) URL for importType {import_type}")
    for flag in ("skipExistingItems", "keepOriginalAssets"):
        if not isinstance(record.setdefault(flag, False), bool):
            raise bad_request(f"'{flag}' must be a boolean")
    if not isinstance(record.get("displayName", ""), str):
        raise bad_request("'displayName' must be a string")
    return record


class IngestionsApi:
    """Handlers for ingestions, runs and operations."""

    def __init__(self, app: Emulator) -> None:
        self.app = app

    def _ingestion(self, request: Request) -> dict[str, Any]:
        collection_id, ingestion_id = request.params["collectionId"], request.params["ingestionId"]
        found = self.app.store.get("ingestion", ingestion_id)
        if found is None or found["collectionId"] != collection_id:
            raise not_found(f"Ingestion '{ingestion_id}' not found in collection '{collection_id}'")
        return found

    def _active_runs(self, ingestion_id: str) -> list[dict[str, Any]]:
        return [run for run in self.app.store.list("run", ingestion_id) if self.app.ops.is_active(run["operationId"])]

    def create(self, request: Request) -> Response:
        """POST → 201 with a server-generated GUID and status Ready."""
        collection_id = request.params["collectionId"]
        record = validate_definition(request.json_object())
        record.update(id=new_id(), creationTime=now_iso(), status="Ready", collectionId=collection_id)
        self.app.store.put("ingestion", record["id"], record, scope=collection_id)
        location = request.url_for(f"/inma/collections/{collection_id}/ingestions/{record['id']}")
        return Response(201, render_ingestion(record), {"Location": location})

    def get(self, request: Request) -> Response:
        """GET one ingestion."""
        return Response(200, render_ingestion(self._ingestion(request)))

    def list(self, request: Request) -> Response:
        """GET the ingestions of a collection, paged."""
        rows = [render_ingestion(r) for r in self.app.store.list("ingestion", request.params["collectionId"])]
        return Response(200, page(request, rows, self.app.settings.page_size))

    def update(self, request: Request) -> Response:
        """PATCH (merge-patch) → 200 with the whole definition."""
        patch = request.json_object()
        with self.app.store.lock:
            existing = self._ingestion(request)
            merged = validate_definition(merge_patch({k: existing.get(k) for k in WRITABLE}, patch))
            kept = {key: existing[key] for key in ("id", "creationTime", "status", "collectionId")}
            record = {**merged, **kept}
            self.app.store.put("ingestion", record["id"], record, scope=record["collectionId"])
        return Response(200, render_ingestion(record))

    def delete(self, request: Request) -> Response:
        """DELETE → 202 DeleteIngestion; refused (409) while a run is pending or running."""
        with self.app.store.lock:
            ingestion = self._ingestion(request)
            if self._active_runs(ingestion["id"]):
                raise conflict(f"Ingestion '{ingestion['id']}' has runs in progress or queued and cannot be deleted")
            self.app.store.update("ingestion", ingestion["id"], {"status": "Deleting"})
            op = self.app.ops.create("DeleteIngestion", ingestion["collectionId"], {"IngestionId": ingestion["id"]})

        def work() -> None:
            with self.app.store.lock:
                self.app.store.delete_scope("run", ingestion["id"])
                self.app.store.delete("ingestion", ingestion["id"])

        self.app.ops.run_async(op["id"], work)
        return accepted(request, op)

    def create_run(self, request: Request) -> Response:
        """POST …/runs (no body) → 201, operation Pending, totals 0; ingestion starts in the background."""
        with self.app.store.lock:
            ingestion = self._ingestion(request)
            if ingestion["status"] != "Ready":
                raise conflict(f"Ingestion '{ingestion['id']}' is being deleted")
            op = self.app.ops.create(f"Ingestion{ingestion['importType']}", ingestion["collectionId"])
            run = {
                "id": new_id(),
                "creationTime": now_iso(),
                "collectionId": ingestion["collectionId"],
                "ingestionId": ingestion["id"],
                "operationId": op["id"],
                # The run snapshots the definition as it is now.
                **{key: ingestion.get(key) for key in WRITABLE if key != "displayName"},
            }
            self.app.store.put("run", run["id"], run, scope=ingestion["id"])
        self.app.runs.start(run)
        location = request.url_for(
            f"/inma/collections/{run['collectionId']}/ingestions/{run['ingestionId']}/runs/{run['id']}"
        )
        return Response(201, render_run(run, op), {"Location": location})

    def _rendered_run(self, run: dict[str, Any]) -> dict[str, Any]:
        return render_run(run, self.app.ops.get(run["operationId"]) or {})

    def get_run(self, request: Request) -> Response:
        """GET one run with its live counters and history."""
        ingestion = self._ingestion(request)
        run = self.app.store.get("run", request.params["runId"])
        if run is None or run["ingestionId"] != ingestion["id"]:
            raise not_found(f"Run '{request.params['runId']}' not found for ingestion '{ingestion['id']}'")
        return Response(200, self._rendered_run(run))

    def list_runs(self, request: Request) -> Response:
        """GET the runs of an ingestion, paged."""
        ingestion = self._ingestion(request)
        rows = [self._rendered_run(run) for run in self.app.store.list("run", ingestion["id"])]
        return Response(200, page(request, rows, self.app.settings.page_size))

    def list_operations(self, request: Request) -> Response:
        """GET /inma/operations, newest first, filtered by collectionId and status."""
        status = request.arg("status")
        if status is not None and status.lower() not in (s.lower() for s in STATUSES):
            raise bad_request(f"'status' must be one of {', '.join(STATUSES)}")
        collection_id = request.arg("collectionId")
        ops = [
            op
            for op in reversed(self.app.store.list("operation"))
            if (collection_id is None or op["collectionId"] == collection_id)
            and (status is None or op["status"].lower() == status.lower())
        ]
        return Response(200, page(request, [render_operation(op) for op in ops], self.app.settings.page_size))

    def get_operation(self, request: Request) -> Response:
        """GET one operation (also the LRO poll target)."""
        op = self.app.ops.get(request.params["operationId"])
        if op is None:
            raise not_found(f"Operation '{request.params['operationId']}' not found")
        return Response(200, render_operation(op))

    def cancel_operation(self, request: Request) -> Response:
        """DELETE one operation → 204; a finished one is left as it is."""
        op_id = request.params["operationId"]
        if self.app.ops.get(op_id) is None:
            raise not_found(f"Operation '{op_id}' not found")
        self.app.ops.cancel(op_id)
        return Response(204)

    def cancel_all(self, request: Request) -> Response:
        """DELETE /inma/operations → 204, cancelling every pending and running operation."""
        for op in self.app.store.list("operation"):
            if op["status"] not in TERMINAL:
                self.app.ops.cancel(op["id"])
        return Response(204)


def register(router: Router, app: Emulator) -> None:
    """Add the ingestion, run and operation routes."""
    api = IngestionsApi(app)
    base = "/inma/collections/{collectionId}/ingestions"
    router.add("POST", base, api.create)
    router.add("GET", base, api.list)
    router.add("GET", base + "/{ingestionId}", api.get)
    router.add("PATCH", base + "/{ingestionId}", api.update)
    router.add("DELETE", base + "/{ingestionId}", api.delete)
    router.add("POST", base + "/{ingestionId}/runs", api.create_run)
    router.add("GET", base + "/{ingestionId}/runs", api.list_runs)
    router.add("GET", base + "/{ingestionId}/runs/{runId}", api.get_run)
    router.add("GET", "/inma/operations", api.list_operations)
    router.add("DELETE", "/inma/operations", api.cancel_all)
    router.add("GET", "/inma/operations/{operationId}", api.get_operation)
    router.add("DELETE", "/inma/operations/{operationId}", api.cancel_operation)
