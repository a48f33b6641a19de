"""Measurements behind the benchmark's findings: source lookup, blob read path, emulator round trip, ledger size."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from bench.harness import CASE_ITEMS, Twin, drop_for, set_emulator_nodelay
from bench.stats import count_summary, median, ratio, summary
from ingest_core.geocatalog import GeoCatalogClient, StaticToken
from ingest_core.job import Job
from ingest_core.ledger import blob_partition, job_id_for
from ingest_core.pipeline import handle_drop
from ingest_core.runtime import Runtime
from ingest_core.states import JobState
from tests.integration.twin_helpers import TOKEN, upload_catalog


def run_source_lookup(twin: Twin, rt: Runtime, counts: list[int], rounds: int) -> dict[str, Any]:
    """First drop into a new container when the GeoCatalog already holds K sources of other containers."""
    out = {}
    for k in counts:
        twin.reset()
        for j in range(k):
            other = f"{twin.azurite.blob_url}/other{j}"
            sas = rt.storage.mint_container_sas(other, timedelta(hours=1)).token
            rt.geocatalog.create_source(
                {"kind": "SasToken", "connectionInfo": {"containerUrl": other, "sasToken": sas}}
            )
        runs = []
        for i in range(rounds):
            box = twin.container()
            drop = drop_for(rt, upload_catalog(box, "a", CASE_ITEMS, catalog_id=f"src{k}x{i}"))
            runs.append(twin.measure(handle_drop, rt, drop))
            twin.cancel_runs(rt)
            rt.geocatalog.delete_source(runs[-1].job.source_ids)  # back to k sources for the next round
        out[str(k)] = {
            "ms": summary([s.ms for s in runs]),
            "geocatalog_calls": count_summary([s.geocatalog_calls for s in runs]),
            "source_gets": count_summary([s.geocatalog.get("GET /inma/ingestion-sources/{id}", 0) for s in runs]),
        }
    return out


def run_read_path(twin: Twin, rt: Runtime, n_blobs: int, rounds: int) -> dict[str, Any]:
    """Blob reads as CatalogStorage.read_blob does them (a client per blob) vs one shared pipeline."""
    box = twin.container()
    url = upload_catalog(box, "r", n_blobs, catalog_id="readpath")
    names = [f"r/items/readpath-item-{i}.json" for i in range(n_blobs)]
    shared = BlobServiceClient.from_connection_string(twin.azurite.connection_string)
    cap = rt.settings.catalog_max_bytes
    base = url.rsplit("/r/", 1)[0]

    def per_blob() -> None:
        for name in names:
            rt.storage.read_blob(f"{base}/{name}", cap)

    def pooled() -> None:
        for name in names:
            blob = shared.get_blob_client(box.container_name, name)
            blob.download_blob(offset=0, length=cap + 1, max_concurrency=1).readall()

    times: dict[str, list[float]] = {"read_blob": [], "shared_pipeline": []}
    for _ in range(rounds):
        for name, fn in (("read_blob", per_blob), ("shared_pipeline", pooled)):
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000 / n_blobs)
    out: dict[str, Any] = {name: summary(v, 2) for name, v in times.items()}
    out["blobs"] = n_blobs
    out["speedup"] = ratio(median(times["read_blob"]), median(times["shared_pipeline"]))
    return out


def run_round_trip(twin: Twin, nodelay: bool, calls: int = 30) -> dict[str, Any]:
    """One GeoCatalog GET on a kept-alive connection, without TCP_NODELAY (before the fix) and with it."""
    out = {}
    for mode, on in (("as_is", False), ("tcp_nodelay", True)):
        set_emulator_nodelay(twin.emulator, on)
        client = GeoCatalogClient(twin.emulator.url, StaticToken(TOKEN))  # a new connection per mode
        times = []
        for _ in range(calls + 1):
            start = time.perf_counter()
            client.request("GET", "/inma/ingestion-sources")
            times.append((time.perf_counter() - start) * 1000)
        out[mode] = summary(times[1:], 2)  # the first call opened the connection
    set_emulator_nodelay(twin.emulator, nodelay)
    return out


def seed_finished_jobs(twin: Twin, rt: Runtime, container_url: str, first: int, count: int) -> None:
    """Insert `count` SUCCEEDED job rows of other catalogs straight into the ledger table (batches of 100).

    Each batch is 100 earlier uploads of one catalog: one blob's finished jobs share a partition.
    """
    table = TableServiceClient.from_connection_string(twin.azurite.connection_string)
    client = table.get_table_client(rt.settings.ledger_table)
    for start in range(first, first + count, 100):
        url = f"{container_url}/old{start // 100}/catalog.json"
        rows = [
            Job(job_id_for(url, f"seed{i}"), url, f"seed{i}", JobState.SUCCEEDED).to_entity(blob_partition(url))
            for i in range(start, min(start + 100, first + count))
        ]
        client.submit_transaction([("create", row) for row in rows])


def run_ledger_size(twin: Twin, rt: Runtime, sizes: list[int], rounds: int) -> dict[str, Any]:
    """A later drop (source and collection exist) when the ledger holds at least N jobs (earlier runs' plus seeded)."""
    twin.reset()
    box = twin.container()
    handle_drop(rt, drop_for(rt, upload_catalog(box, "warm", CASE_ITEMS, catalog_id="ledgersize")))
    seeded = len(rt.ledger.jobs())
    out = {}
    for n in sizes:
        if n > seeded:
            seed_finished_jobs(twin, rt, box.url, seeded, n - seeded)
            seeded = n
        jobs_before = len(rt.ledger.jobs())
        runs = []
        for i in range(rounds):
            drop = drop_for(rt, upload_catalog(box, f"n{n}r{i}", CASE_ITEMS, catalog_id="ledgersize"))
            runs.append(twin.measure(handle_drop, rt, drop))
            twin.cancel_runs(rt)
        out[str(n)] = {
            "jobs_in_ledger": jobs_before,
            "ms": summary([s.ms for s in runs]),
            "table_calls": count_summary([s.storage("table") for s in runs]),
            "table_ms": round(median([s.http_ms.get("table", 0.0) for s in runs]), 1),
        }
    return out
