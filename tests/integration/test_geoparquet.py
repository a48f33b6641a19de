"""stac-geoparquet drops end to end: the demo items as one Parquet file end SUCCEEDED and are found by STAC search;
what is not stac-geoparquet is INVALID with the reason, before any GeoCatalog call."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import requests

from geocatalog_emulator.geoparquet import read_items, write_items
from geocatalog_emulator.testing import SAMPLE_CATALOG, sample_items, upload_directory
from ingest_core.states import JobState
from tests.integration.twin_helpers import COLL_POST, ING_POST, TOKEN, admin, calls, drop, reconcile_until, runtime_for


def geoparquet_runtime(azurite, emulator, container):
    rule = {"container": container.container_name, "stacGeoparquet": True}
    return runtime_for(azurite, emulator, container, routing_rules=[rule])


def search_ids(emulator, collection: str) -> set[str]:
    resp = requests.get(f"{emulator.url}/stac/search", params={"collections": collection, "limit": 100,
                        "api-version": "2026-04-15"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)  # fmt: skip
    resp.raise_for_status()
    return {f["id"] for f in resp.json()["features"]}


def test_round_trip_of_the_demo_items_keeps_every_field():
    items = sample_items("https://acct.blob.core.windows.net/c/tree")
    back = {i["id"]: i for i in read_items(write_items(items))}
    for item in items:
        got = back[item["id"]]
        assert got["geometry"] == item["geometry"] and got["bbox"] == item["bbox"]
        assert got["properties"] == item["properties"] and got["assets"] == item["assets"]


def test_demo_items_as_stac_geoparquet_end_succeeded_and_are_searchable(twin, azurite, emulator):
    container, _ = twin
    rt = geoparquet_runtime(azurite, emulator, container)
    tree = upload_directory(azurite.connection_string, container.container_name, SAMPLE_CATALOG, "tree")
    items = sample_items(f"{tree}/tree")
    container.upload_blob("gp/demo-items.parquet", write_items(items))
    job = drop(rt, f"{container.url}/gp/demo-items.parquet")
    assert job.state == JobState.RUNNING, job.last_error
    assert job.collection_id == "demo-items" and job.total_items == len(items)
    (ingestion,) = admin(emulator, "state")["ingestions"]
    assert ingestion["importType"] == "StacGeoparquet" and ingestion["stacGeoparquetUrl"] == job.blob_url
    job = reconcile_until(rt, job.job_id, lambda j: j.state.terminal)
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert job.successful_items == len(items)
    assert search_ids(emulator, "demo-items") == {i["id"] for i in items}


def test_parquet_without_stac_geoparquet_metadata_is_invalid_with_the_reason(twin, azurite, emulator):
    container, _ = twin
    rt = geoparquet_runtime(azurite, emulator, container)
    plain = io.BytesIO()
    pq.write_table(pa.table({"id": ["a"], "value": [1]}), plain)
    container.upload_blob("gp/plain.parquet", plain.getvalue())
    job = drop(rt, f"{container.url}/gp/plain.parquet")
    assert job.state == JobState.INVALID and "no GeoParquet 'geo' metadata" in job.last_error
    container.upload_blob("gp/fake.parquet", b"just some bytes, not parquet")
    fake = drop(rt, f"{container.url}/gp/fake.parquet")
    assert fake.state == JobState.INVALID and "not a Parquet file" in fake.last_error
    assert calls(emulator, COLL_POST) == calls(emulator, ING_POST) == 0


def test_stac_geoparquet_missing_the_assets_column_is_invalid(twin, azurite, emulator):
    container, _ = twin
    rt = geoparquet_runtime(azurite, emulator, container)
    items = [{k: v for k, v in i.items() if k != "assets"} for i in sample_items("https://x.example/t")]
    container.upload_blob("gp/noassets.parquet", write_items(items))
    job = drop(rt, f"{container.url}/gp/noassets.parquet")
    assert job.state == JobState.INVALID and "missing column(s) assets" in job.last_error


def test_parquet_is_not_ours_unless_the_rule_enables_it(twin, emulator):
    container, rt = twin
    container.upload_blob("gp/demo.parquet", write_items(sample_items("https://x.example/t")))
    assert drop(rt, f"{container.url}/gp/demo.parquet") is None
