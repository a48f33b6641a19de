"""STAC writes: collections and items, each an LRO (202 + operation) except PUT collection (200)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .configurations_api import delete_configuration
from .errors import Codes, IngestionFailure, bad_request
from .fetch import Fetcher
from .items import ItemWriter
from .models import merge_patch
from .operations import accepted
from .routing import Request, Response, Router
from .stac_api import collection_not_found, render_collection, stac_response

if TYPE_CHECKING:
    from .app import Emulator

ItemJob = Callable[[ItemWriter, Any], None]
COLLECTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,499}$")


def validate_collection(body: dict[str, Any]) -> dict[str, Any]:
    """Synchronous checks of a STAC Collection body; returns the body to store."""
    collection_id = body.get("id")
    if not isinstance(collection_id, str) or not COLLECTION_ID.match(collection_id):
        raise bad_request("The collection 'id' must be 1-500 letters, digits, '-', '_' or '.'")
    if body.get("type", "Collection") != "Collection":
        raise bad_request("The body must be a STAC Collection ('type': 'Collection')")
    for key in ("description", "license"):
        if not isinstance(body.get(key), str):
            raise bad_request(f"The collection needs a '{key}' string")
    extent = body.get("extent")
    if not (
        isinstance(extent, dict)
        and isinstance((extent.get("spatial") or {}).get("bbox"), list)
        and isinstance((extent.get("temporal") or {}).get("interval"), list)
    ):
        raise bad_request("The collection needs 'extent.spatial.bbox' and 'extent.temporal.interval'")
    return {**body, "type": "Collection", "stac_version": body.get("stac_version", "1.0.0")}


def feature_list(body: dict[str, Any]) -> list[Any]:
    """The features of a Feature or FeatureCollection body."""
    if body.get("type") == "FeatureCollection" and isinstance(body.get("features"), list):
        return body["features"]
    if body.get("type") == "Feature":
        return [body]
    raise bad_request("The body must be a STAC Feature or FeatureCollection")


class StacWriteApi:
    """Handlers for collection and item writes."""

    def __init__(self, app: Emulator) -> None:
        self.app = app

    def create_collection(self, request: Request) -> Response:
        """POST /stac/collections → 202 AddCollection."""
        body = validate_collection(request.json_object())
        collection_id = body["id"]
        op = self.app.ops.create("AddCollection", collection_id)

        def work() -> None:
            with self.app.store.lock:
                if self.app.store.get("collection", collection_id) is not None:
                    raise IngestionFailure(
                        Codes.EXECUTION, f"Collection with id '{collection_id}' already exists in the geo-catalog"
                    )
                self.app.store.put("collection", collection_id, body)

        self.app.ops.run_async(op["id"], work)
        return accepted(request, op)

    def replace_collection(self, request: Request) -> Response:
        """PUT /stac/collections/{collectionId} → 200 with the collection (synchronous in SDK 1.0.0)."""
        collection_id = request.params["collectionId"]
        body = validate_collection(request.json_object())
        if body["id"] != collection_id:
            raise bad_request(f"The body id '{body['id']}' does not match the path id '{collection_id}'")
        with self.app.store.lock:
            if self.app.store.get("collection", collection_id) is None:
                raise collection_not_found(collection_id)
            self.app.store.put("collection", collection_id, body)
        return stac_response(render_collection(request, body))

    def delete_collection(self, request: Request) -> Response:
        """DELETE /stac/collections/{collectionId} → 202; a missing one fails asynchronously (recorded)."""
        collection_id = request.params["collectionId"]
        op = self.app.ops.create("DeleteCollection", collection_id)

        def work() -> None:
            with self.app.store.lock:
                if not self.app.store.delete("collection", collection_id):
                    raise IngestionFailure(
                        Codes.EXECUTION, f"Collection with id '{collection_id}' not exists in the geo-catalog"
                    )
                self.app.store.delete_items(collection_id)
                delete_configuration(self.app, collection_id)

        self.app.ops.run_async(op["id"], work)
        return accepted(request, op)

    def _item_op(self, request: Request, op_type: str, features: list[Any], job: ItemJob) -> Response:
        collection_id = request.params["collectionId"]
        op = self.app.ops.create(op_type, collection_id)
        counters = {"totalItems": len(features), "totalPendingItems": len(features)}
        counters |= {"totalSuccessfulItems": 0, "totalFailedItems": 0}
        self.app.ops.run_async(op["id"], lambda: self._per_item(op["id"], collection_id, features, job), counters)
        return accepted(request, op)

    def _per_item(self, op_id: str, collection_id: str, features: list[Any], job: ItemJob) -> None:
        """Apply the job to each feature, counting as it goes; any failure fails the operation."""
        total = len(features)
        if self.app.store.get("collection", collection_id) is None:
            self.app.ops.set_counters(op_id, totalPendingItems=0, totalFailedItems=total)
            raise IngestionFailure(Codes.COLLECTION_MISSING, f"Collection '{collection_id}' does not exist")
        fetcher = Fetcher(self.app.store.list("source"), self.app.settings, self.app.assets)
        writer = ItemWriter(self.app.store, fetcher, self.app.assets, self.app.settings)
        done, failures = 0, []
        try:
            for feature in features:
                try:
                    job(writer, feature)
                    done += 1
                except IngestionFailure as failure:
                    failures.append(failure)
                self.app.ops.set_counters(
                    op_id,
                    totalPendingItems=total - done - len(failures),
                    totalSuccessfulItems=done,
                    totalFailedItems=len(failures),
                )
        finally:
            fetcher.close()
        if len(failures) == 1 and total == 1:
            raise failures[0]
        if failures:
            first = failures[0]
            message = f"{len(failures)} of {total} items failed; first: {first.code}: {first.message}"
            raise IngestionFailure(Codes.BATCH_ERRORS, message)

    def create_items(self, request: Request) -> Response:
        """POST /stac/collections/{collectionId}/items (Feature or FeatureCollection) → 202 AddItem."""
        collection_id = request.params["collectionId"]

        def add(writer: ItemWriter, feature: Any) -> None:
            item_id = feature.get("id") if isinstance(feature, dict) else None
            if isinstance(item_id, str) and self.app.store.get_item(collection_id, item_id) is not None:
                raise IngestionFailure(
                    Codes.ITEM_EXISTS, f"Item '{item_id}' already exists in collection '{collection_id}'"
                )
            writer.write(feature, collection_id, None, keep_original=False)

        return self._item_op(request, "AddItem", feature_list(request.json_object()), add)

    def _existing_item_op(
        self, request: Request, missing_code: str, change: Callable[[ItemWriter, dict], None]
    ) -> Response:
        collection_id, item_id = request.params["collectionId"], request.params["itemId"]

        def job(writer: ItemWriter, _item_id: Any) -> None:
            existing = self.app.store.get_item(collection_id, item_id)
            if existing is None:
                raise IngestionFailure(missing_code, f"Item '{item_id}' not found in collection '{collection_id}'")
            change(writer, existing)

        op_type = "DeleteItem" if missing_code == Codes.NO_RECORDS_TO_DELETE else "UpdateItem"
        return self._item_op(request, op_type, [item_id], job)

    def replace_item(self, request: Request) -> Response:
        """PUT /stac/collections/{collectionId}/items/{itemId} → 202 UpdateItem."""
        body = request.json_object()
        if body.get("id") != request.params["itemId"]:
            raise bad_request("The item id in the body must match the path")
        collection_id = request.params["collectionId"]
        return self._existing_item_op(
            request, Codes.NO_RECORDS_TO_UPDATE, lambda w, _old: w.write(body, collection_id, None, False)
        )

    def update_item(self, request: Request) -> Response:
        """PATCH (merge-patch) /stac/collections/{collectionId}/items/{itemId} → 202 UpdateItem."""
        patch = request.json_object()
        collection_id, item_id = request.params["collectionId"], request.params["itemId"]
        if patch.get("id", item_id) != item_id:
            raise bad_request("A patch may not change the item id")
        return self._existing_item_op(
            request,
            Codes.NO_RECORDS_TO_PATCH,
            lambda w, old: w.write(merge_patch(old, patch), collection_id, None, False),
        )

    def delete_item(self, request: Request) -> Response:
        """DELETE /stac/collections/{collectionId}/items/{itemId} → 202 DeleteItem."""
        collection_id, item_id = request.params["collectionId"], request.params["itemId"]
        return self._existing_item_op(
            request, Codes.NO_RECORDS_TO_DELETE, lambda _w, _old: self.app.store.delete_item(collection_id, item_id)
        )


def register(router: Router, app: Emulator) -> None:
    """Add the write routes."""
    api = StacWriteApi(app)
    router.add("POST", "/stac/collections", api.create_collection)
    router.add("PUT", "/stac/collections/{collectionId}", api.replace_collection)
    router.add("DELETE", "/stac/collections/{collectionId}", api.delete_collection)
    router.add("POST", "/stac/collections/{collectionId}/items", api.create_items)
    router.add("PUT", "/stac/collections/{collectionId}/items/{itemId}", api.replace_item)
    router.add("PATCH", "/stac/collections/{collectionId}/items/{itemId}", api.update_item)
    router.add("DELETE", "/stac/collections/{collectionId}/items/{itemId}", api.delete_item)
