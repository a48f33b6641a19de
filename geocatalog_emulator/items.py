"""STAC item checks, asset copying and storing: shared by ingestion runs and the item LROs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

from .assets import AssetStore, asset_blob_path
from .config import Settings
from .errors import Codes, IngestionFailure
from .fetch import Fetcher
from .models import format_time, parse_time
from .store import Bbox, Store

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
# The service regenerates these links to point at its own STAC API.
STRUCTURAL_RELS = ("self", "root", "parent", "collection", "item", "child", "items")
MAX_ID_LENGTH = 149  # docs: item ids must be under 150 characters
MAX_ASSET_KEY_LENGTH = 255


def _invalid(item_id: object, reason: str) -> IngestionFailure:
    return IngestionFailure(Codes.STAC_VALIDATION, f"Item '{item_id}' is not a valid STAC item: {reason}")


def _positions(coords: Any) -> Iterator[list[float]]:
    if isinstance(coords, list) and coords and all(isinstance(v, int | float) for v in coords):
        yield coords
    elif isinstance(coords, list):
        for part in coords:
            yield from _positions(part)


def geometry_bbox(geometry: dict[str, Any]) -> Bbox:
    """The 2D bounding box of a GeoJSON geometry (GeometryCollection included)."""
    if geometry.get("type") == "GeometryCollection":
        boxes = [geometry_bbox(part) for part in geometry.get("geometries") or []]
        if not boxes:
            raise ValueError("empty GeometryCollection")
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    points = list(_positions(geometry.get("coordinates")))
    if not points or any(len(point) < 2 for point in points):
        raise ValueError("geometry has no coordinates")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _check_geometry(item_id: object, geometry: Any) -> Bbox:
    if not isinstance(geometry, dict):
        raise _invalid(item_id, "'geometry' must be a GeoJSON geometry object")
    if geometry.get("type") not in (*GEOMETRY_TYPES, "GeometryCollection"):
        raise _invalid(item_id, f"unsupported geometry type {geometry.get('type')!r}")
    try:
        return geometry_bbox(geometry)
    except (ValueError, TypeError) as exc:
        raise _invalid(item_id, f"invalid geometry ({exc})") from None


def item_bbox(item: dict[str, Any], geometry_box: Bbox) -> Bbox:
    """The item's declared bbox (2D or 3D), else the geometry's."""
    bbox = item.get("bbox")
    if bbox is None:
        return geometry_box
    if not isinstance(bbox, list) or len(bbox) not in (4, 6) or not all(isinstance(v, int | float) for v in bbox):
        raise _invalid(item.get("id"), "'bbox' must hold 4 or 6 numbers")
    half = len(bbox) // 2
    return (bbox[0], bbox[1], bbox[half], bbox[half + 1])


def item_interval(item: dict[str, Any]) -> tuple[str, str]:
    """The item's time as normalised (start, end) strings for search."""
    props = item.get("properties")
    if not isinstance(props, dict):
        raise _invalid(item.get("id"), "'properties' must be an object")
    try:
        if props.get("datetime"):
            moment = format_time(parse_time(props["datetime"]))
            return moment, moment
        if props.get("start_datetime") and props.get("end_datetime"):
            return format_time(parse_time(props["start_datetime"])), format_time(parse_time(props["end_datetime"]))
    except (TypeError, ValueError):
        raise _invalid(item.get("id"), "its datetime properties are not RFC 3339 timestamps") from None
    raise _invalid(item.get("id"), "'properties.datetime' (or start_datetime and end_datetime) is required")


def validate_item(item: Any) -> tuple[Bbox, tuple[str, str]]:
    """Check the parts the service insists on (id, geometry, assets, time); return search keys."""
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise _invalid(item.get("id") if isinstance(item, dict) else None, "'type' must be 'Feature'")
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise _invalid(item_id, "'id' must be a non-empty string")
    if len(item_id) > MAX_ID_LENGTH or any(ch in item_id for ch in "/\\?#"):
        raise _invalid(item_id, "'id' is too long or contains '/', '\\', '?' or '#'")
    box = item_bbox(item, _check_geometry(item_id, item.get("geometry")))
    assets = item.get("assets")
    if not isinstance(assets, dict):
        raise _invalid(item_id, "'assets' must be an object")
    for key, asset in assets.items():
        if len(key) > MAX_ASSET_KEY_LENGTH or not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            raise _invalid(item_id, f"asset '{key[:64]}' needs an 'href' string (and a key under 256 characters)")
    return box, item_interval(item)


class ItemWriter:
    """Turns a source item into the stored one: validated, assets copied, links cleaned."""

    def __init__(self, store: Store, fetcher: Fetcher, assets: AssetStore | None, settings: Settings) -> None:
        self.store = store
        self.fetcher = fetcher
        self.assets = assets
        self.settings = settings

    def write(self, item: Any, collection_id: str, base_url: str | None, keep_original: bool) -> dict[str, Any]:
        """Validate, copy assets and store; IngestionFailure when the item cannot be ingested."""
        box, (start, end) = validate_item(item)
        stored = copy.deepcopy(item)
        stored["collection"] = collection_id
        stored["bbox"] = item.get("bbox") or list(box)
        stored.setdefault("stac_version", "1.0.0")
        stored["links"] = [
            link
            for link in item.get("links") or []
            if isinstance(link, dict) and link.get("rel") not in STRUCTURAL_RELS
        ]
        for key, asset in stored["assets"].items():
            asset["href"] = self._asset_href(collection_id, stored["id"], key, asset, base_url, keep_original)
        self.store.put_item(collection_id, stored, box, start, end)
        return stored

    def _asset_href(
        self, collection_id: str, item_id: str, key: str, asset: dict[str, Any], base_url: str | None, keep: bool
    ) -> str:
        href = urljoin(base_url, asset["href"]) if base_url else asset["href"]
        if not href.lower().startswith(("http://", "https://")):
            raise IngestionFailure(Codes.INVALID_ASSET_HREF, f"Asset '{key}' of item '{item_id}' has no absolute URL")
        if self.assets is not None and href.startswith(self.assets.container_url() + "/"):
            return href  # already in the catalog's own storage (an item update)
        if self.settings.keep_external_asset_hrefs and not self.fetcher.is_covered(href):
            return href
        # The service reads every asset (to transform it), so an unreadable asset fails the item.
        data = self.fetcher.get(href).content
        if not data:
            raise IngestionFailure(Codes.EMPTY_ASSET, f"Asset '{key}' of item '{item_id}' is empty")
        if keep or self.assets is None:
            return href
        return self.assets.upload(asset_blob_path(collection_id, item_id, key, href), data, asset.get("type"))
