"""stac-geoparquet drops: a `.parquet` blob under a rule with `stacGeoparquet: true` becomes a StacGeoparquet ingestion.

Preflight reads only the Parquet footer (schema, file metadata, row count), bounded by CATALOG_MAX_BYTES, and
refuses what is not stac-geoparquet with the reason.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingest_core.errors import InvalidDrop
from ingest_core.routing import RoutingRule, match_rule
from ingest_core.stac import Preflight
from ingest_core.storage import CatalogStorage

PARQUET_SUFFIX = ".parquet"
MAGIC = b"PAR1"
FOOTER_PROBE = 64 * 1024  # one read usually holds the whole footer
REQUIRED_COLUMNS = ("id", "assets")
RECOMMENDED_COLUMNS = ("type", "stac_version", "datetime", "links")
ITEMS_PER_BULK_INGESTION = 10_000  # the service's documented (preview) limit


def is_geoparquet_drop(rules: list[RoutingRule], account: str, container: str, path: str) -> bool:
    """True when the blob is a `.parquet` file and the rule covering it enables stac-geoparquet drops."""
    if not path.lower().endswith(PARQUET_SUFFIX):
        return False
    rule = match_rule(rules, account, container, path)
    return rule is not None and rule.stac_geoparquet


def read_footer(storage: CatalogStorage, url: str, max_bytes: int) -> tuple[bytes, str]:
    """The Parquet footer (metadata + length + magic) and the blob's ETag; INVALID when it is not Parquet."""
    tail, etag, size = storage.read_tail(url, FOOTER_PROBE)
    if size < 12 or tail[-4:] != MAGIC:
        raise InvalidDrop(
            "not a Parquet file (it does not end with the PAR1 marker): upload a stac-geoparquet file", url
        )
    footer_len = int.from_bytes(tail[-8:-4], "little")
    if footer_len + 12 > size:
        raise InvalidDrop(f"corrupt Parquet footer (length {footer_len} for a {size}-byte file)", url)
    if footer_len + 8 > max_bytes:
        raise InvalidDrop(
            f"Parquet footer is {footer_len} bytes, over the {max_bytes}-byte cap (CATALOG_MAX_BYTES)", url
        )
    if footer_len + 8 > len(tail):
        tail, etag, _ = storage.read_tail(url, footer_len + 8)
    return tail[-(footer_len + 8) :], etag


def _geo_metadata(metadata: dict[bytes, bytes], url: str) -> dict[str, Any]:
    raw = metadata.get(b"geo")
    if raw is None:
        raise InvalidDrop("not stac-geoparquet: the Parquet file has no GeoParquet 'geo' metadata", url)
    try:
        geo = json.loads(raw)
    except ValueError:
        raise InvalidDrop("not stac-geoparquet: the 'geo' metadata is not JSON", url) from None
    primary = geo.get("primary_column") if isinstance(geo, dict) else None
    columns = geo.get("columns") if isinstance(geo, dict) else None
    if not isinstance(primary, str) or not isinstance(columns, dict) or primary not in columns:
        raise InvalidDrop("not stac-geoparquet: the 'geo' metadata names no primary geometry column", url)
    return columns[primary] | {"name": primary}


def geoparquet_preflight(url: str, footer: bytes, container_url: str) -> Preflight:
    """What the footer says: item count, extent; INVALID (with the reason) when it is not stac-geoparquet."""
    try:
        meta = pq.read_metadata(pa.BufferReader(MAGIC + footer))
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidDrop(
            f"unreadable Parquet footer ({type(exc).__name__}): upload a stac-geoparquet file", url
        ) from None
    geometry = _geo_metadata(meta.metadata or {}, url)
    names = set(schema.names)
    missing = [c for c in (*REQUIRED_COLUMNS, geometry["name"]) if c not in names]
    if missing:
        raise InvalidDrop(f"not stac-geoparquet: missing column(s) {', '.join(missing)} (one row per STAC item)", url)
    if not pa.types.is_string(schema.field("id").type) and not pa.types.is_large_string(schema.field("id").type):
        raise InvalidDrop(f"not stac-geoparquet: column 'id' is {schema.field('id').type}, not a string", url)
    if meta.num_rows == 0:
        raise InvalidDrop("the stac-geoparquet file holds no items", url)
    stem = posixpath.splitext(posixpath.basename(url))[0]
    catalog_id = re.sub(r"[^A-Za-z0-9_-]", "-", stem)[:32] or "geoparquet"
    pf = Preflight(
        catalog_id=catalog_id,
        catalog={"type": "Catalog", "id": catalog_id, "title": stem, "description": f"stac-geoparquet drop {stem}"},
        item_count=meta.num_rows,
    )
    pf.asset_containers.add(container_url)
    bbox = geometry.get("bbox")
    if isinstance(bbox, list) and len(bbox) in (4, 6) and all(isinstance(v, int | float) for v in bbox):
        half = len(bbox) // 2
        pf.bboxes.append([bbox[0], bbox[1], bbox[half], bbox[half + 1]])
    absent = [c for c in RECOMMENDED_COLUMNS if c not in names]
    if absent:
        pf.warn(f"{url}: no column(s) {', '.join(absent)}: the service may reject the items")
    if meta.num_rows > ITEMS_PER_BULK_INGESTION:
        pf.warn(f"{url}: {meta.num_rows} items, over the {ITEMS_PER_BULK_INGESTION} a bulk ingestion takes: split it")
    return pf
