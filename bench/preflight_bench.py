"""Benchmark the preflight walk against Azurite: items per second, concurrent against one at a time, peak memory.

    .venv/bin/python -m bench.preflight_bench                      # 10,000 and 50,000 items, 1 and 8 workers
    .venv/bin/python -m bench.preflight_bench --sizes 2000 --workers 1,4,8

Each size is one tree: a root catalog linking 10 child catalogs, each linking a tenth of the items (as a real
sample tree does). The walk reads every document from Azurite (https, in memory) through the pipeline's own
TreeReader and CatalogStorage, so the figures include TLS, HTTP and JSON parsing on the shared connection pool.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from bench.harness import started_twin
from bench.pipeline_bench import machine, measure_memory
from ingest_core.events import container_url_of
from ingest_core.pipeline import TreeReader
from ingest_core.runtime import Runtime
from ingest_core.stac import parse_catalog, preflight
from tests.integration.twin_helpers import item_doc

CHILDREN = 10
UPLOADERS = 16
OUT = Path(__file__).parent / "results" / "preflight.json"


def upload_tree(box: ContainerClient, prefix: str, n_items: int) -> str:
    """Upload the tree (items in parallel, catalogs last); return the root catalog's URL."""
    per_child = n_items // CHILDREN
    jobs = []
    for c in range(CHILDREN):
        for i in range(per_child):
            item_id = f"c{c}-item-{i}"
            doc = {**item_doc(item_id), "links": [{"rel": "parent", "href": "../catalog.json"}]}
            jobs.append((f"{prefix}/c{c}/items/{item_id}.json", json.dumps(doc)))
    with ThreadPoolExecutor(UPLOADERS) as pool:
        list(pool.map(lambda job: box.upload_blob(job[0], job[1], overwrite=True), jobs))
    for c in range(CHILDREN):
        links = [{"rel": "item", "href": f"./items/c{c}-item-{i}.json"} for i in range(per_child)]
        child = {"type": "Catalog", "id": f"c{c}", "stac_version": "1.0.0", "description": "d",
                 "links": [{"rel": "root", "href": "../catalog.json"}, *links]}  # fmt: skip
        box.upload_blob(f"{prefix}/c{c}/catalog.json", json.dumps(child), overwrite=True)
    root = {"type": "Catalog", "id": f"bench-{n_items}", "stac_version": "1.0.0", "description": "d",
            "links": [{"rel": "child", "href": f"./c{c}/catalog.json"} for c in range(CHILDREN)]}  # fmt: skip
    box.upload_blob(f"{prefix}/catalog.json", json.dumps(root), overwrite=True)
    return f"{box.url}/{prefix}/catalog.json"


def walk(rt: Runtime, url: str, workers: int) -> Any:
    """One preflight of the tree at `url`, as the pipeline runs it."""
    data, _ = rt.storage.read_blob(url, rt.settings.catalog_max_bytes)
    reader = TreeReader(rt)
    return preflight(url, parse_catalog(data, url), container_url_of(url), reader, 200_000, workers=workers)


def time_walk(rt: Runtime, url: str, workers: int, n_items: int) -> dict[str, Any]:
    """Wall time of one walk and what it found."""
    start = time.perf_counter()
    pf = walk(rt, url, workers)
    seconds = time.perf_counter() - start
    assert pf.item_count == n_items and not pf.missing, (pf.item_count, pf.missing[:3])
    return {"workers": workers, "seconds": round(seconds, 2), "items_per_second": round(n_items / seconds)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a markdown table and write the JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.preflight_bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,50000", help="items per tree (default 10000,50000)")
    p.add_argument("--workers", default="1,8", help="concurrent reads to compare (default 1,8)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    results: dict[str, Any] = {"machine": machine(), "sizes": []}
    with started_twin() as twin:
        rt = twin.runtime(1, preflight_max_links=200_000)
        box = twin.container()
        walk(rt, upload_tree(box, "warm", 100), max(worker_counts))  # connections and imports warm
        for n in sizes:
            start = time.perf_counter()
            url = upload_tree(box, f"t{n}", n)
            print(f"uploaded {n} items in {time.perf_counter() - start:.0f}s", file=sys.stderr)
            runs = [time_walk(rt, url, w, n) for w in worker_counts]
            memory = measure_memory(n, walk, rt, url, max(worker_counts))
            results["sizes"].append({"items": n, "runs": runs, "memory": memory})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("| items | workers | seconds | items/s | peak traced MiB (most workers) | KiB/item |")
    print("|---|---|---|---|---|---|")
    for size in results["sizes"]:
        for run in size["runs"]:
            mem = size["memory"]
            print(f"| {size['items']} | {run['workers']} | {run['seconds']} | {run['items_per_second']} | "
                  f"{mem['tracemalloc_peak_mib']} | {mem['kib_per_item']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
