"""Per-item checks: what the GeoCatalog rejects item by item (the run goes on for the others), and what only
the STAC spec asks for. See shared/reference/collection-configuration-and-limits.md, "Item rules"."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ingest_core.redaction import cap_text

# Service docs: ids and asset keys use these characters only; ids under 150 characters (another page says 1-64:
# the docs disagree, so over 64 is a warning, not a predicted failure), asset keys under 256.
SERVICE_ID_RE = re.compile(r"^[A-Za-z0-9\-_+,().]+$")
MAX_ITEM_ID = 149
STRICT_ITEM_ID = 64
MAX_ASSET_KEY = 255
GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)
SHOWN = 80  # characters of an id or key quoted in a message


@dataclass(frozen=True, order=True)
class ItemWarning:
    """One problem of one item: `fails` when the service will reject the item, else a STAC-spec note."""

    file: str
    rule: str
    item_id: str
    message: str
    fails: bool = True

    def text(self) -> str:
        """One line for logs, the ledger and the report (never holds '; ', the ledger's separator)."""
        verdict = "will fail" if self.fails else "note"
        return f"item {self.item_id or '?'} ({self.file}): {self.rule} [{verdict}]: {self.message}".replace("; ", ", ")


@dataclass
class ItemFacts:
    """What the walk keeps of an item: its id, box and time (for a placeholder collection) and asset hrefs."""

    item_id: str = ""
    bbox: list[float] | None = None
    datetime: str | None = None
    asset_hrefs: list[str] | None = None


def _shown(value: Any) -> str:
    return cap_text(value if isinstance(value, str) else repr(value), SHOWN)


def _finite_numbers(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def check_item(item: Any, file: str, collection_id: str | None = None) -> tuple[ItemFacts, list[ItemWarning]]:
    """Check one linked item document; never raises: every problem is a warning naming item, file and rule."""
    facts = ItemFacts()
    if not isinstance(item, dict) or item.get("type") != "Feature":
        return facts, [
            ItemWarning(file, "not-an-item", "", 'not a STAC item: must be an object with "type": "Feature"')
        ]
    raw_id = item.get("id")
    facts.item_id = raw_id if isinstance(raw_id, str) else ""
    shown = _shown(raw_id) if raw_id is not None else ""
    out: list[ItemWarning] = []

    def warn(rule: str, message: str, fails: bool = True) -> None:
        out.append(ItemWarning(file, rule, shown, message, fails))

    if not isinstance(raw_id, str) or not raw_id:
        warn("item-id-missing", '"id" must be a non-empty string')
    else:
        if not SERVICE_ID_RE.match(raw_id):
            warn("item-id-characters", "the id may use only letters, digits and - _ + , ( ) .")
        if len(raw_id) > MAX_ITEM_ID:
            warn("item-id-length", f"the id has {len(raw_id)} characters: the service takes under 150")
        elif len(raw_id) > STRICT_ITEM_ID:
            warn("item-id-length", f"the id has {len(raw_id)} characters: some service docs say 64 at most", False)
    geometry = item.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_TYPES:
        warn("geometry-missing", '"geometry" must be a GeoJSON geometry object (the service needs one)')
    props = item.get("properties")
    props = props if isinstance(props, dict) else {}
    when = props.get("datetime")
    if isinstance(when, str) and when:
        facts.datetime = when
    elif not (isinstance(props.get("start_datetime"), str) and isinstance(props.get("end_datetime"), str)):
        warn("datetime-missing", '"properties.datetime" (or start_datetime and end_datetime) is required')
    bbox = item.get("bbox")
    if _finite_numbers(bbox) and len(bbox) in (4, 6):
        half = len(bbox) // 2  # 3-D boxes: keep x/y of the min and max corners
        facts.bbox = [bbox[0], bbox[1], bbox[half], bbox[half + 1]]
    facts.asset_hrefs = _check_assets(item.get("assets"), warn)
    _check_spec(item, collection_id, warn)
    return facts, out


def _check_assets(assets: Any, warn: Any) -> list[str]:
    if not isinstance(assets, dict):
        warn("assets-missing", '"assets" must be an object of asset objects')
        return []
    hrefs = []
    for key, asset in assets.items():
        if not SERVICE_ID_RE.match(key):
            warn("asset-key-characters", f"asset key {_shown(key)!r} may use only letters, digits and - _ + , ( ) .")
        if len(key) > MAX_ASSET_KEY:
            warn("asset-key-length", f"asset key has {len(key)} characters: the service takes under 256")
        href = asset.get("href") if isinstance(asset, dict) else None
        if not isinstance(href, str) or not href.strip():
            warn("asset-href-missing", f"asset {_shown(key)!r} has no href")
        else:
            hrefs.append(href)
    return hrefs


def _check_spec(item: dict[str, Any], collection_id: str | None, warn: Any) -> None:
    """What the STAC spec asks for and the service does without: notes, never predicted failures."""
    version = item.get("stac_version")
    if not (isinstance(version, str) and version.startswith("1.")):
        warn("stac-version", f'"stac_version" is {_shown(version)}: STAC 1.x expected (the service sets it)', False)
    foreign = item.get("collection")
    if collection_id and isinstance(foreign, str) and foreign != collection_id:
        warn("foreign-collection", f"names collection {_shown(foreign)!r}: it is ingested into {collection_id}", False)
    if not item.get("links"):
        warn("item-without-links", "has no links (STAC asks for them: the service makes its own)", False)


def duplicate_warning(file: str, item_id: str, first_file: str) -> ItemWarning:
    """The warning for an item whose id an earlier file of the same tree already used."""
    return ItemWarning(file, "duplicate-item-id", _shown(item_id), f"the same id as {first_file}: only one is kept")
