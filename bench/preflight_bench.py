"""Benchmark preflight for big catalogs against Azurite: items per second, concurrent against one at a time, memory.

    .venv/bin/python -m bench.preflight_bench                       # 10,000 and 50,000 items
    .venv/bin/python -m bench.preflight_bench --sizes 2000 --workers 8

Each size is one tree: a root catalog linking 10 child catalogs, each linking a tenth of the items. The walk is the
real `ingest_core.stac.preflight` reading every document from Azurite (https, in memory) through the pipeline's
TreeReader and CatalogStorage, so the figures include TLS, HTTP and JSON parsing on the shared connection pool.
It also collects `item_urls`, what a split job (ingest_core.parts) writes into its parts.

"Concurrent": when `preflight` takes `workers` (the bounded concurrent walk), it is called with that many; on a
tree without it, the walk's reader is wrapped so that every catalog's links are read ahead by `workers` threads
(`ReadAhead`), and the walk itself stays one document at a time. The JSON says which was measured.
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import sys
import time
import tracemalloc
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from azure.storage.blob import ContainerClient

from bench.harness import started_twin
from bench.machine import machine
from ingest_core.events import container_url_of, url_without_query
from ingest_core.pipeline import TreeReader
from ingest_core.runtime import Runtime
from ingest_core.stac import parse_catalog, preflight

CHILDREN = 10
UPLOADERS = 16
OUT = Path(__file__).parent / "results" / "preflight.json"
WALK_TAKES_WORKERS = "workers" in inspect.signature(preflight).parameters


class ReadAhead:
    """A reader that, for each catalog it returns, starts reading that catalog's child and item links on a pool."""

    def __init__(self, read: TreeReader, workers: int) -> None:
        self._read = read
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="read-ahead")
        self._ahead: dict[str, Future[Any]] = {}

    def prime(self, url: str, doc: dict[str, Any]) -> None:
        """Start reading the links of a document the caller already holds (the root)."""
        for link in doc.get("links", []):
            if isinstance(link, dict) and link.get("rel") in ("child", "item") and isinstance(link.get("href"), str):
                target = url_without_query(urljoin(url, link["href"]))
                if target not in self._ahead:
                    self._ahead[target] = self._pool.submit(self._read, target)

    def __call__(self, url: str) -> Any:
        ahead = self._ahead.pop(url, None)
        doc = ahead.result() if ahead else self._read(url)
        if isinstance(doc, dict) and doc.get("type") in ("Catalog", "Collection"):
            self.prime(url, doc)
        return doc

    def close(self) -> None:
        """Stop the pool."""
        self._pool.shutdown(cancel_futures=True)


def upload_tree(box: ContainerClient, prefix: str, n_items: int) -> str:
    """Upload the tree (items in parallel, catalogs last); return the root catalog's URL."""
    per_child = n_items // CHILDREN
    item = {"type": "Feature", "stac_version": "1.0.0", "geometry": {"type": "Point", "coordinates": [1, 2]},
            "bbox": [1, 2, 1, 2], "properties": {"datetime": "2024-01-01T00:00:00Z"}, "links": [],
            "assets": {"data": {"href": "./a.tif"}}}  # fmt: skip
    blobs = [(f"{prefix}/c{c}/items/i{i}.json", json.dumps({**item, "id": f"c{c}-i{i}"}))
             for c in range(CHILDREN) for i in range(per_child)]  # fmt: skip
    with ThreadPoolExecutor(UPLOADERS) as pool:
        list(pool.map(lambda b: box.upload_blob(b[0], b[1], overwrite=True), blobs))
    for c in range(CHILDREN):
        links = [{"rel": "item", "href": f"./items/i{i}.json"} for i in range(per_child)]
        child = {"type": "Catalog", "id": f"c{c}", "stac_version": "1.0.0", "description": "d", "links": links}
        box.upload_blob(f"{prefix}/c{c}/catalog.json", json.dumps(child), overwrite=True)
    root = {"type": "Catalog", "id": f"bench-{n_items}", "stac_version": "1.0.0", "description": "d",
            "links": [{"rel": "child", "href": f"./c{c}/catalog.json"} for c in range(CHILDREN)]}  # fmt: skip
    box.upload_blob(f"{prefix}/catalog.json", json.dumps(root), overwrite=True)
    return f"{box.url}/{prefix}/catalog.json"


def walk(rt: Runtime, url: str, workers: int) -> Any:
    """One preflight of the tree at `url`, as the pipeline runs it (workers=1: one document at a time)."""
    data, _ = rt.storage.read_blob(url, rt.settings.catalog_max_bytes)
    doc = parse_catalog(data, url)
    reader = TreeReader(rt)
    limit = rt.settings.preflight_max_links
    if WALK_TAKES_WORKERS:
        return preflight(url, doc, container_url_of(url), reader, limit, workers=workers)  # type: ignore[call-arg]
    if workers == 1:
        return preflight(url, doc, container_url_of(url), reader, limit)
    ahead = ReadAhead(reader, workers)
    try:
        ahead.prime(url, doc)
        return preflight(url, doc, container_url_of(url), ahead, limit)
    finally:
        ahead.close()


def timed_walk(rt: Runtime, url: str, workers: int, n_items: int) -> dict[str, Any]:
    """Wall time and rate of one walk (untraced: tracemalloc slows Python several times), then max RSS."""
    start = time.perf_counter()
    pf = walk(rt, url, workers)
    seconds = time.perf_counter() - start
    assert pf.item_count == n_items == len(pf.item_urls) and not pf.missing, (pf.item_count, pf.missing[:3])
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "items_per_second": round(n_items / seconds),
        "process_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def traced_walk(rt: Runtime, url: str, workers: int, n_items: int) -> dict[str, Any]:
    """Peak Python allocation (every thread) of one more walk, and what the walk's result itself holds."""
    tracemalloc.start()
    try:
        pf = walk(rt, url, workers)
        held, peak = tracemalloc.get_traced_memory()  # held: what the walk's result keeps
    finally:
        tracemalloc.stop()
    urls = sys.getsizeof(pf.item_urls) + sum(sys.getsizeof(u) for u in pf.item_urls)
    return {
        "workers": workers,
        "tracemalloc_peak_mib": round(peak / 2**20, 1),
        "kib_per_item": round(peak / 1024 / n_items, 2),
        "held_after_walk_mib": round(held / 2**20, 1),
        "item_urls_mib": round(urls / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a markdown table and write the JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.preflight_bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,50000", help="items per tree (default 10000,50000)")
    p.add_argument("--workers", type=int, default=8, help="concurrent reads against one at a time (default 8)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    how = "preflight(workers=N)" if WALK_TAKES_WORKERS else "ReadAhead reader around a one-at-a-time walk"
    results: dict[str, Any] = {"machine": machine(), "concurrent_walk": how, "sizes": []}
    with started_twin() as twin:
        rt = twin.runtime(1, preflight_max_links=200_000)
        box = twin.container()
        warm = upload_tree(box, "warm", 100)
        walk(rt, warm, args.workers)  # connections and imports warm
        for n in sizes:
            start = time.perf_counter()
            url = upload_tree(box, f"t{n}", n)
            print(f"uploaded {n} items in {time.perf_counter() - start:.0f}s", file=sys.stderr)
            # One at a time first: the concurrent run's threads never inflate its max RSS.
            runs = [timed_walk(rt, url, 1, n), timed_walk(rt, url, args.workers, n)]
            memory = traced_walk(rt, url, args.workers, n)
            results["sizes"].append({"items": n, "runs": runs, "memory": memory})
            print(json.dumps(results["sizes"][-1]), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"concurrent: {how}")
    print("| items | workers | seconds | items/s | max RSS MiB after | peak traced MiB (concurrent) | item_urls MiB |")
    print("|---|---|---|---|---|---|---|")
    for size in results["sizes"]:
        mem = size["memory"]
        for r in size["runs"]:
            print(f"| {size['items']} | {r['workers']} | {r['seconds']} | {r['items_per_second']} | "
                  f"{r['process_maxrss_mib']} | {mem['tracemalloc_peak_mib']} | {mem['item_urls_mib']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
