"""Collection configuration routes (2026-04-15, as the official SDK's request builders send them).

Render options and mosaics are collections of objects with ids, tile settings one object, queryables by
name; create (POST) answers 201, replace (PUT, create-or-replace by id) 200, delete 200.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import bad_request, conflict, not_found
from .routing import Request, Response, Router
from .stac_api import collection_not_found, stac_response

if TYPE_CHECKING:
    from .app import Emulator

BASE = "/stac/collections/{collectionId}"
RENDER_TYPES = ("raster-tile", "vt-polygon", "vt-line")
QUERYABLE_TYPES = ("string", "number", "boolean", "timestamp")
MAX_ID = 100  # the service's exact limit is undocumented; the core's preflight uses the same figure
DEFAULT_TILE_SETTINGS = {"minZoom": 6, "maxItemsPerTile": 35, "defaultLocation": None}


def _need(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad_request(f"'{key}' is required and must be {what}")
    return value


def _maybe(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> None:
    if body.get(key) is not None:
        _need(body, key, kind, what)


def _check_id(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID or "/" in value:
        raise bad_request(f"'{key}' must be a non-empty string of at most {MAX_ID} characters without '/'")
    return value


def validate_render_option(body: dict[str, Any]) -> dict[str, Any]:
    """A RenderOption body: id, name, optional type/options/vectorOptions/minZoom/legend/conditions."""
    _check_id(body.get("id"), "id")
    _need(body, "name", str, "a string")
    if body.get("type") is not None and body["type"] not in RENDER_TYPES:
        raise bad_request(f"'type' must be one of {', '.join(RENDER_TYPES)}")
    _maybe(body, "description", str, "a string")
    _maybe(body, "options", str, "a query string such as 'assets=image&asset_bidx=image|1,2,3'")
    _maybe(body, "minZoom", int, "an integer")
    _maybe(body, "vectorOptions", dict, "an object")
    _maybe(body, "legend", dict, "an object")
    _maybe(body, "conditions", list, "an array of {property, value}")
    return body


def validate_mosaic(body: dict[str, Any]) -> dict[str, Any]:
    """A StacMosaic body: id, name, cql (array of CQL2 JSON objects)."""
    _check_id(body.get("id"), "id")
    _need(body, "name", str, "a string")
    _maybe(body, "description", str, "a string")
    cql = _need(body, "cql", list, "an array of CQL2 JSON objects")
    if not all(isinstance(c, dict) for c in cql):
        raise bad_request("'cql' must be an array of CQL2 JSON objects")
    return body


def validate_tile_settings(body: dict[str, Any]) -> dict[str, Any]:
    """TileSettings: minZoom, maxItemsPerTile, defaultLocation {zoom, coordinates} or null."""
    _need(body, "minZoom", int, "an integer")
    _need(body, "maxItemsPerTile", int, "an integer")
    location = body.get("defaultLocation")
    if location is not None and not (
        isinstance(location, dict)
        and isinstance(location.get("zoom"), int)
        and isinstance(location.get("coordinates"), list)
    ):
        raise bad_request("'defaultLocation' must be null or {zoom, coordinates}")
    return {"defaultLocation": None, **body}


def validate_queryable(body: Any) -> dict[str, Any]:
    """A StacQueryable body: name, definition object, optional create_index, data_type."""
    if not isinstance(body, dict):
        raise bad_request("each queryable must be a JSON object")
    _check_id(body.get("name"), "name")
    _need(body, "definition", dict, "a JSON schema object")
    _maybe(body, "create_index", bool, "a boolean")
    if body.get("data_type") is not None and body["data_type"] not in QUERYABLE_TYPES:
        raise bad_request(f"'data_type' must be one of {', '.join(QUERYABLE_TYPES)}")
    return body


class ConfigurationsApi:
    """Handlers for render options, mosaics, tile settings, queryables and the configuration summary."""

    def __init__(self, app: Emulator) -> None:
        self.app = app

    def _collection(self, request: Request) -> str:
        collection_id = request.params["collectionId"]
        if self.app.store.get("collection", collection_id) is None:
            raise collection_not_found(collection_id)
        return collection_id

    def _list(self, kind: str, collection_id: str) -> list[dict[str, Any]]:
        return self.app.store.list(kind, collection_id)

    # -- objects with ids (render options, mosaics) -------------------------------------------
    def _by_id(self, kind: str, key: str, check: Callable[[dict[str, Any]], dict[str, Any]], label: str) -> dict:
        store = self.app.store

        def listing(request: Request) -> Response:
            return stac_response(self._list(kind, self._collection(request)))

        def create(request: Request) -> Response:
            collection_id = self._collection(request)
            body = check(request.json_object())
            with store.lock:
                if store.get(kind, f"{collection_id}/{body['id']}") is not None:
                    raise conflict(f"{label} '{body['id']}' already exists in collection '{collection_id}'")
                store.put(kind, f"{collection_id}/{body['id']}", body, scope=collection_id)
            return stac_response(body, 201)

        def get(request: Request) -> Response:
            collection_id = self._collection(request)
            found = store.get(kind, f"{collection_id}/{request.params[key]}")
            if found is None:
                raise not_found(f"{label} '{request.params[key]}' not found in collection '{collection_id}'")
            return stac_response(found)

        def replace(request: Request) -> Response:
            collection_id = self._collection(request)
            body = check(request.json_object())
            if body["id"] != request.params[key]:
                raise bad_request(f"the body's id '{body['id']}' differs from the path's '{request.params[key]}'")
            store.put(kind, f"{collection_id}/{body['id']}", body, scope=collection_id)
            return stac_response(body)

        def delete(request: Request) -> Response:
            collection_id = self._collection(request)
            if not store.delete(kind, f"{collection_id}/{request.params[key]}"):
                raise not_found(f"{label} '{request.params[key]}' not found in collection '{collection_id}'")
            return Response(200)

        return {"list": listing, "create": create, "get": get, "replace": replace, "delete": delete}

    # -- tile settings ---------------------------------------------------------------------------
    def get_tile_settings(self, request: Request) -> Response:
        """GET .../configurations/tile-settings (the service's defaults until replaced)."""
        collection_id = self._collection(request)
        return stac_response(self.app.store.get("tile-settings", collection_id) or DEFAULT_TILE_SETTINGS)

    def replace_tile_settings(self, request: Request) -> Response:
        """PUT .../configurations/tile-settings."""
        collection_id = self._collection(request)
        body = validate_tile_settings(request.json_object())
        self.app.store.put("tile-settings", collection_id, body, scope=collection_id)
        return stac_response(body)

    # -- queryables ------------------------------------------------------------------------------
    def create_queryables(self, request: Request) -> Response:
        """POST /stac/collections/{cid}/queryables: an array; 409 when a name exists."""
        collection_id = self._collection(request)
        body = request.json()
        if not isinstance(body, list) or not body:
            raise bad_request("The body must be a non-empty array of queryables")
        records = [validate_queryable(q) for q in body]
        with self.app.store.lock:
            for record in records:
                if self.app.store.get("queryable", f"{collection_id}/{record['name']}") is not None:
                    raise conflict(f"Queryable '{record['name']}' already exists in collection '{collection_id}'")
            for record in records:
                self.app.store.put("queryable", f"{collection_id}/{record['name']}", record, scope=collection_id)
        return stac_response(records, 201)

    def replace_queryable(self, request: Request) -> Response:
        """PUT .../queryables/{queryableName}: create or replace."""
        collection_id = self._collection(request)
        record = validate_queryable(request.json_object())
        if record["name"] != request.params["queryableName"]:
            raise bad_request(f"the body's name '{record['name']}' differs from the path's")
        self.app.store.put("queryable", f"{collection_id}/{record['name']}", record, scope=collection_id)
        return stac_response(record)

    def delete_queryable(self, request: Request) -> Response:
        """DELETE .../queryables/{queryableName}."""
        collection_id = self._collection(request)
        if not self.app.store.delete("queryable", f"{collection_id}/{request.params['queryableName']}"):
            raise not_found(f"Queryable '{request.params['queryableName']}' not found in '{collection_id}'")
        return Response(200)

    def queryables(self, request: Request) -> Response:
        """GET /stac/collections/{cid}/queryables: a JSON schema whose properties are the definitions."""
        collection_id = self._collection(request)
        properties = {q["name"]: q["definition"] for q in self._list("queryable", collection_id)}
        return stac_response(
            {
                "$schema": "https://json-schema.org/draft/2019-09/schema",
                "$id": f"{request.base_url}/stac/collections/{collection_id}/queryables",
                "type": "object",
                "title": f"Queryables for {collection_id}",
                "properties": properties,
                "additionalProperties": True,
            }
        )

    def configuration(self, request: Request) -> Response:
        """GET .../configurations: tile settings and the mosaic info (mosaics and render options)."""
        collection_id = self._collection(request)
        tiles = self.app.store.get("tile-settings", collection_id) or DEFAULT_TILE_SETTINGS
        mosaic_info = {
            "mosaics": self._list("mosaic", collection_id),
            "renderOptions": self._list("render-option", collection_id),
            "defaultLocation": tiles.get("defaultLocation"),
        }
        return stac_response({"tileSettings": tiles, "mosaicInfo": mosaic_info})


def delete_configuration(app: Emulator, collection_id: str) -> None:
    """Forget a deleted collection's configuration."""
    for kind in ("render-option", "mosaic", "queryable", "tile-settings", "collection-asset"):
        app.store.delete_scope(kind, collection_id)


def register(router: Router, app: Emulator) -> None:
    """Add the configuration routes."""
    api = ConfigurationsApi(app)
    for kind, path, key, check, label in (
        ("render-option", "render-options", "renderOptionId", validate_render_option, "Render option"),
        ("mosaic", "mosaics", "mosaicId", validate_mosaic, "Mosaic"),
    ):
        handlers = api._by_id(kind, key, check, label)
        many, one = f"{BASE}/configurations/{path}", f"{BASE}/configurations/{path}/{{{key}}}"
        router.add("GET", many, handlers["list"])
        router.add("POST", many, handlers["create"])
        router.add("GET", one, handlers["get"])
        router.add("PUT", one, handlers["replace"])
        router.add("DELETE", one, handlers["delete"])
    router.add("GET", f"{BASE}/configurations/tile-settings", api.get_tile_settings)
    router.add("PUT", f"{BASE}/configurations/tile-settings", api.replace_tile_settings)
    router.add("GET", f"{BASE}/configurations", api.configuration)
    router.add("GET", f"{BASE}/queryables", api.queryables)
    router.add("POST", f"{BASE}/queryables", api.create_queryables)
    router.add("PUT", f"{BASE}/queryables/{{queryableName}}", api.replace_queryable)
    router.add("DELETE", f"{BASE}/queryables/{{queryableName}}", api.delete_queryable)
