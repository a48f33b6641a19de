"""STAC API query parsing (limit, bbox, datetime, token) and the FeatureCollection/link shapes."""

from __future__ import annotations

from typing import Any

from .errors import bad_request
from .items import geometry_bbox
from .models import format_time, parse_time
from .routing import Request
from .store import Bbox

DEFAULT_LIMIT, MAX_LIMIT = 10, 10000
UNSUPPORTED = ("filter", "filter-lang", "query", "sortby", "fields", "q")


def parse_limit(raw: Any) -> int:
    """`limit` in 1..10000, default 10 (the service's documented range)."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise bad_request("'limit' must be an integer") from None
    if not 1 <= value <= MAX_LIMIT:
        raise bad_request(f"'limit' must be between 1 and {MAX_LIMIT}")
    return value


def parse_bbox(raw: Any) -> Bbox | None:
    """A 4- or 6-number bbox from a comma-joined string or a JSON list."""
    if raw is None or raw == "" or raw == []:
        return None
    parts = raw.split(",") if isinstance(raw, str) else raw
    try:
        values = [float(v) for v in parts]
    except (TypeError, ValueError):
        raise bad_request("'bbox' must be 4 or 6 numbers") from None
    if len(values) not in (4, 6):
        raise bad_request("'bbox' must be 4 or 6 numbers")
    half = len(values) // 2
    return (values[0], values[1], values[half], values[half + 1])


def parse_interval(raw: Any) -> tuple[str | None, str | None]:
    """An RFC 3339 instant or `start/end` interval (`..` or empty for open ends), normalised."""
    if raw is None or raw == "":
        return None, None
    if not isinstance(raw, str):
        raise bad_request("'datetime' must be a string")
    ends = raw.split("/")
    if len(ends) > 2:
        raise bad_request("'datetime' must be an instant or an interval 'start/end'")
    try:
        parsed = [None if end in ("", "..") else format_time(parse_time(end)) for end in ends]
    except ValueError:
        raise bad_request(f"'datetime' value '{raw}' is not RFC 3339") from None
    return (parsed[0], parsed[0]) if len(parsed) == 1 else (parsed[0], parsed[1])


def parse_token(raw: Any) -> int:
    """Our opaque paging token is `next:<offset>`."""
    if raw is None or raw == "":
        return 0
    if isinstance(raw, str) and raw.startswith("next:") and raw[5:].isdigit():
        return int(raw[5:])
    raise bad_request("'token' is not a valid paging token")


def id_list(raw: Any, name: str) -> list[str] | None:
    """A list of strings from a comma-joined string or a JSON list."""
    if raw is None or raw == "" or raw == []:
        return None
    values = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise bad_request(f"'{name}' must be a list of strings")
    return values


def search_args(source: dict[str, Any]) -> dict[str, Any]:
    """Validated search arguments from GET query values or a POST body."""
    for key in UNSUPPORTED:
        if source.get(key) not in (None, "", []):
            raise bad_request(f"The emulator does not support the '{key}' search parameter", "NotSupported")
    bbox = parse_bbox(source.get("bbox"))
    if source.get("intersects") is not None:
        if bbox is not None:
            raise bad_request("Only one of 'bbox' and 'intersects' may be given")
        try:
            bbox = geometry_bbox(source["intersects"])  # approximated by its bounding box
        except (AttributeError, TypeError, ValueError):
            raise bad_request("'intersects' must be a GeoJSON geometry") from None
    return {
        "collections": id_list(source.get("collections"), "collections"),
        "ids": id_list(source.get("ids"), "ids"),
        "bbox": bbox,
        "interval": parse_interval(source.get("datetime")),
        "limit": parse_limit(source.get("limit")),
        "offset": parse_token(source.get("token")),
    }


def item_links(request: Request, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The API links the service puts on every item it serves."""
    base = f"{request.base_url}/stac"
    collection = f"{base}/collections/{item['collection']}"
    return [
        {"rel": "collection", "type": "application/json", "href": collection},
        {"rel": "parent", "type": "application/json", "href": collection},
        {"rel": "root", "type": "application/json", "href": base},
        {"rel": "self", "type": "application/geo+json", "href": f"{collection}/items/{item['id']}"},
        *item.get("links", []),
    ]


def render_item(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    """A stored item with its API links."""
    return {**item, "links": item_links(request, item)}


def feature_collection(
    request: Request, items: list[dict[str, Any]], matched: int, next_link: dict[str, Any] | None
) -> dict[str, Any]:
    """A STAC ItemCollection page; paging is by a `rel: next` link, never `nextLink`."""
    links: list[dict[str, Any]] = [{"rel": "root", "type": "application/json", "href": f"{request.base_url}/stac"}]
    if next_link:
        links.append(next_link)
    return {
        "type": "FeatureCollection",
        "features": [render_item(request, item) for item in items],
        "links": links,
        "numberMatched": matched,
        "numberReturned": len(items),
    }
