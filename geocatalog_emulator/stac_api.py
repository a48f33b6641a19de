"""The STAC read API under /stac: landing page, conformance, collections, items, search."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .errors import ApiError, not_found
from .routing import Request, Response, Router
from .search import feature_collection, render_item, search_args
from .store import Store

STAC_JSON = "application/json"
# Only the classes the emulator implements (the service also lists filter, fields, query, sort).
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
]
STRUCTURAL_COLLECTION_RELS = ("self", "root", "parent", "items", "child", "item")


def stac_response(body: Any, status: int = 200) -> Response:
    """A /stac response (the service answers plain application/json there)."""
    return Response(status, body, content_type=STAC_JSON)


def collection_not_found(collection_id: str) -> ApiError:
    """The recorded 404 for a missing collection."""
    return not_found(f"Collection '{collection_id}' not found. Please verify the collection ID and try again.")


def render_collection(request: Request, collection: dict[str, Any]) -> dict[str, Any]:
    """A stored collection with the API's own links."""
    base = f"{request.base_url}/stac"
    own = f"{base}/collections/{collection['id']}"
    extra = [
        link
        for link in collection.get("links") or []
        if isinstance(link, dict) and link.get("rel") not in STRUCTURAL_COLLECTION_RELS
    ]
    links = [
        {"rel": "items", "type": "application/geo+json", "href": f"{own}/items"},
        {"rel": "parent", "type": "application/json", "href": base},
        {"rel": "root", "type": "application/json", "href": base},
        {"rel": "self", "type": "application/json", "href": own},
        *extra,
    ]
    return {**collection, "links": links}


class StacReadApi:
    """Handlers for the read side of the STAC API."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def landing(self, request: Request) -> Response:
        """GET /stac."""
        base = f"{request.base_url}/stac"
        links = [
            {"rel": "self", "type": "application/json", "href": base},
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "data", "type": "application/json", "href": f"{base}/collections"},
            {"rel": "conformance", "type": "application/json", "href": f"{base}/conformance"},
            {"rel": "search", "type": "application/geo+json", "method": "GET", "href": f"{base}/search"},
            {"rel": "search", "type": "application/geo+json", "method": "POST", "href": f"{base}/search"},
        ]
        for collection in self.store.list("collection"):
            links.append({"rel": "child", "type": "application/json", "href": f"{base}/collections/{collection['id']}"})
        body = {
            "type": "Catalog",
            "id": "geocatalog-emulator",
            "title": "GeoCatalog emulator",
            "description": "Local emulator of a Microsoft Planetary Computer Pro GeoCatalog STAC API",
            "stac_version": "1.0.0",
            "conformsTo": CONFORMANCE,
            "links": links,
        }
        return stac_response(body)

    def conformance(self, request: Request) -> Response:
        """GET /stac/conformance."""
        return stac_response({"conformsTo": CONFORMANCE})

    def collections(self, request: Request) -> Response:
        """GET /stac/collections: {"collections", "links"}, not value/nextLink."""
        base = f"{request.base_url}/stac"
        body = {
            "collections": [render_collection(request, c) for c in self.store.list("collection")],
            "links": [
                {"rel": "root", "type": "application/json", "href": base},
                {"rel": "self", "type": "application/json", "href": f"{base}/collections"},
            ],
        }
        return stac_response(body)

    def collection(self, request: Request) -> Response:
        """GET /stac/collections/{collectionId}."""
        collection_id = request.params["collectionId"]
        found = self.store.get("collection", collection_id)
        if found is None:
            raise collection_not_found(collection_id)
        return stac_response(render_collection(request, found))

    def item(self, request: Request) -> Response:
        """GET /stac/collections/{collectionId}/items/{itemId}."""
        collection_id, item_id = request.params["collectionId"], request.params["itemId"]
        if self.store.get("collection", collection_id) is None:
            raise collection_not_found(collection_id)
        found = self.store.get_item(collection_id, item_id)
        if found is None:
            raise not_found(f"Item '{item_id}' not found in collection '{collection_id}'.")
        return stac_response(render_item(request, found))

    def items(self, request: Request) -> Response:
        """GET /stac/collections/{collectionId}/items with limit, bbox, datetime and token."""
        collection_id = request.params["collectionId"]
        if self.store.get("collection", collection_id) is None:
            raise collection_not_found(collection_id)
        query = {key: values[0] for key, values in request.query.items()}
        args = search_args({k: query.get(k) for k in ("bbox", "datetime", "limit", "token")})
        return self._page(request, {**args, "collections": [collection_id]}, query, "GET")

    def search_get(self, request: Request) -> Response:
        """GET /stac/search."""
        query = {key: values[0] for key, values in request.query.items() if key != "api-version"}
        return self._page(request, search_args(query), query, "GET")

    def search_post(self, request: Request) -> Response:
        """POST /stac/search with collections, ids, bbox, intersects, datetime, limit, token."""
        body = request.json_object() if request.body else {}
        return self._page(request, search_args(body), body, "POST")

    def _page(self, request: Request, args: dict[str, Any], original: dict[str, Any], method: str) -> Response:
        offset = args.pop("offset")
        items, matched = self.store.query_items(**args, offset=offset)
        next_link = None
        if offset + len(items) < matched:
            next_link = next_page_link(request, original, method, f"next:{offset + len(items)}")
        return stac_response(feature_collection(request, items, matched, next_link))


def next_page_link(request: Request, original: dict[str, Any], method: str, token: str) -> dict[str, Any]:
    """A STAC `rel: next` link: the query (GET) or the whole body (POST) again, with the token."""
    href = f"{request.base_url}{request.path}"
    link: dict[str, Any] = {"rel": "next", "type": "application/geo+json", "method": method}
    if method == "GET":
        query = {k: v for k, v in original.items() if k not in ("token", "api-version")}
        query.update({"api-version": request.api_version, "token": token})
        link["href"] = f"{href}?{urlencode(query)}"
    else:
        link["href"] = f"{href}?{urlencode({'api-version': request.api_version})}"
        link["body"] = {**{k: v for k, v in original.items() if v is not None}, "token": token}
        link["merge"] = False
    return link


def register(router: Router, store: Store) -> None:
    """Add the read routes."""
    api = StacReadApi(store)
    router.add("GET", "/stac", api.landing)
    router.add("GET", "/stac/conformance", api.conformance)
    router.add("GET", "/stac/collections", api.collections)
    router.add("GET", "/stac/collections/{collectionId}", api.collection)
    router.add("GET", "/stac/collections/{collectionId}/items", api.items)
    router.add("GET", "/stac/collections/{collectionId}/items/{itemId}", api.item)
    router.add("GET", "/stac/search", api.search_get)
    router.add("POST", "/stac/search", api.search_post)
