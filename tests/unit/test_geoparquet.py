"""Footer-only preflight of stac-geoparquet drops, and the emulator's WKB codec."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geocatalog_emulator.geoparquet import geojson_to_wkb, wkb_to_geojson, write_items
from ingest_core.errors import InvalidDrop
from ingest_core.geoparquet import geoparquet_preflight, is_geoparquet_drop
from ingest_core.routing import RoutingRule

URL = "https://acct.blob.core.windows.net/drops/gp/items.parquet"
ITEM = {"type": "Feature", "stac_version": "1.0.0", "id": "a", "bbox": [0, 0, 1, 1],
        "geometry": {"type": "Point", "coordinates": [0.5, 0.5]}, "links": [],
        "properties": {"datetime": "2024-01-01T00:00:00Z"}, "assets": {"data": {"href": "https://x/a.tif"}}}  # fmt: skip


def footer(data: bytes) -> bytes:
    size = int.from_bytes(data[-8:-4], "little")
    return data[-(size + 8) :]


def test_preflight_reads_count_and_extent_from_the_footer_only():
    second = {**ITEM, "id": "b", "bbox": [-1, -2, 0.5, 0.5]}
    pf = geoparquet_preflight(URL, footer(write_items([ITEM, second])), "https://acct/drops")
    assert pf.item_count == 2 and pf.catalog_id == "items" and pf.warnings == []
    assert pf.bboxes == [[-1, -2, 1, 1]] and pf.asset_containers == {"https://acct/drops"}


def test_a_plain_parquet_file_is_refused_with_the_reason():
    out = io.BytesIO()
    pq.write_table(pa.table({"id": ["a"]}), out)
    with pytest.raises(InvalidDrop, match="no GeoParquet 'geo' metadata") as err:
        geoparquet_preflight(URL, footer(out.getvalue()), "https://acct/drops")
    assert err.value.where == URL


def test_a_numeric_id_column_is_refused():
    table = pa.table({"id": [1], "geometry": [geojson_to_wkb(ITEM["geometry"])], "assets": [{"k": {"href": "h"}}]})
    table = table.replace_schema_metadata({b"geo": b'{"primary_column": "geometry", "columns": {"geometry": {}}}'})
    out = io.BytesIO()
    pq.write_table(table, out)
    with pytest.raises(InvalidDrop, match="column 'id' is int64"):
        geoparquet_preflight(URL, footer(out.getvalue()), "https://acct/drops")


def test_only_rules_that_enable_it_take_parquet():
    rules = [RoutingRule(container="drops", prefix="gp/", stacGeoparquet=True), RoutingRule(container="drops")]
    assert is_geoparquet_drop(rules, "acct", "drops", "gp/items.parquet")
    assert not is_geoparquet_drop(rules, "acct", "drops", "other/items.parquet")
    assert not is_geoparquet_drop(rules, "acct", "drops", "gp/catalog.json")


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [1.0, 2.0]},
        {"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]},
        {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]},
        {"type": "MultiPolygon", "coordinates": [[[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]]},
    ],
)
def test_wkb_round_trip(geometry):
    assert wkb_to_geojson(geojson_to_wkb(geometry)) == geometry
