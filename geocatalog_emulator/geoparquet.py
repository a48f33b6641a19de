"""stac-geoparquet both ways: rows back to STAC items (the StacGeoparquet import) and items to a file (tests, demo).

One row per item: the item's top-level fields as columns, `properties` flattened into columns, geometry as WKB,
and GeoParquet `geo` file metadata naming the geometry column (stac-geoparquet 1.0).
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import Codes, IngestionFailure

TOP_LEVEL = ("type", "stac_version", "stac_extensions", "id", "geometry", "bbox", "links", "assets", "collection")
WKB_TYPES = {1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}
WKB_CODES = {name: code for code, name in WKB_TYPES.items()}


def _read_coords(buf: bytes, pos: int, order: str, dims: int) -> tuple[list[float], int]:
    values = struct.unpack_from(f"{order}{dims}d", buf, pos)
    return list(values), pos + 8 * dims


def _read_geometry(buf: bytes, pos: int = 0) -> tuple[dict[str, Any], int]:
    order = "<" if buf[pos] == 1 else ">"
    (code,) = struct.unpack_from(f"{order}I", buf, pos + 1)
    pos += 5
    dims = 3 if code // 1000 == 1 or code & 0x80000000 else 2
    kind = WKB_TYPES.get((code & 0x0FFFFFFF) % 1000)
    if kind is None:
        raise ValueError(f"WKB geometry type {code} is not supported")

    def count() -> int:
        nonlocal pos
        (n,) = struct.unpack_from(f"{order}I", buf, pos)
        pos += 4
        return n

    def ring() -> list[list[float]]:
        nonlocal pos
        points = []
        for _ in range(count()):
            point, pos = _read_coords(buf, pos, order, dims)
            points.append(point)
        return points

    if kind == "Point":
        coords, pos = _read_coords(buf, pos, order, dims)
    elif kind == "LineString":
        coords = ring()
    elif kind == "Polygon":
        coords = [ring() for _ in range(count())]
    else:  # Multi*: each part is a full WKB geometry
        coords = []
        for _ in range(count()):
            part, pos = _read_geometry(buf, pos)
            coords.append(part["coordinates"])
    return {"type": kind, "coordinates": coords}, pos


def wkb_to_geojson(data: bytes) -> dict[str, Any]:
    """A GeoJSON geometry from (ISO or EWKB-flagged) WKB."""
    return _read_geometry(data)[0]


def _write_points(points: list[list[float]]) -> bytes:
    return struct.pack("<I", len(points)) + b"".join(struct.pack("<2d", p[0], p[1]) for p in points)


def geojson_to_wkb(geometry: dict[str, Any]) -> bytes:
    """Little-endian 2-D WKB of a GeoJSON geometry."""
    kind, coords = geometry["type"], geometry["coordinates"]
    head = struct.pack("<BI", 1, WKB_CODES[kind])
    if kind == "Point":
        return head + struct.pack("<2d", coords[0], coords[1])
    if kind == "LineString":
        return head + _write_points(coords)
    if kind == "Polygon":
        return head + struct.pack("<I", len(coords)) + b"".join(_write_points(r) for r in coords)
    part = kind.removeprefix("Multi")
    return (
        head
        + struct.pack("<I", len(coords))
        + b"".join(geojson_to_wkb({"type": part, "coordinates": c}) for c in coords)
    )


def _bbox(value: Any) -> list[float] | None:
    if isinstance(value, dict):  # stac-geoparquet's struct form
        keys = ("xmin", "ymin", "xmax", "ymax")
        return [float(value[k]) for k in keys] if all(value.get(k) is not None for k in keys) else None
    return list(value) if isinstance(value, list) else None


def row_to_item(row: dict[str, Any]) -> dict[str, Any]:
    """One table row back to a STAC item."""
    item: dict[str, Any] = {k: row[k] for k in TOP_LEVEL if row.get(k) is not None and k not in ("geometry", "bbox")}
    geometry = row.get("geometry")
    item["geometry"] = wkb_to_geojson(geometry) if isinstance(geometry, bytes) else geometry
    if (box := _bbox(row.get("bbox"))) is not None:
        item["bbox"] = box
    props = {k: v for k, v in row.items() if k not in TOP_LEVEL and v is not None}
    for key, value in props.items():
        if hasattr(value, "isoformat"):  # timestamp columns
            props[key] = value.isoformat().replace("+00:00", "Z")
    item["properties"] = props
    item["assets"] = {
        k: {f: v for f, v in a.items() if v is not None} for k, a in (row.get("assets") or {}).items() if a
    }
    item.setdefault("type", "Feature")
    return item


def read_items(data: bytes) -> list[dict[str, Any]]:
    """Every item of a stac-geoparquet file; IngestionFailure(InvalidGeoparquet) when it is not one."""
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise IngestionFailure(Codes.INVALID_GEOPARQUET, f"Not a readable Parquet file: {exc}") from None
    meta = table.schema.metadata or {}
    if b"geo" not in meta or "id" not in table.column_names or "geometry" not in table.column_names:
        raise IngestionFailure(
            Codes.INVALID_GEOPARQUET, "Not stac-geoparquet: needs 'geo' metadata, 'id' and 'geometry'"
        )
    try:
        return [row_to_item(row) for row in table.to_pylist()]
    except (ValueError, struct.error, KeyError) as exc:
        raise IngestionFailure(Codes.INVALID_GEOPARQUET, f"Could not read an item: {exc}") from None


def write_items(items: list[dict[str, Any]]) -> bytes:
    """A stac-geoparquet file of `items` (properties flattened, WKB geometry, `geo` metadata)."""
    rows = []
    for item in items:
        row = {k: item[k] for k in TOP_LEVEL if k in item and k not in ("geometry", "bbox")}
        row["geometry"] = geojson_to_wkb(item["geometry"])
        if item.get("bbox"):
            row["bbox"] = dict(zip(("xmin", "ymin", "xmax", "ymax"), item["bbox"][:4], strict=True))
        row.update(item.get("properties") or {})
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    column: dict[str, Any] = {"encoding": "WKB", "geometry_types": sorted({i["geometry"]["type"] for i in items})}
    boxes = [i["bbox"] for i in items if i.get("bbox")]
    if boxes:
        column["bbox"] = [min(b[0] for b in boxes), min(b[1] for b in boxes),
                          max(b[2] for b in boxes), max(b[3] for b in boxes)]  # fmt: skip
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"geo": json.dumps(geo).encode()})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()
