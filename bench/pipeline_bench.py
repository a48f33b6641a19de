"""Benchmark handle_drop against Azurite and the GeoCatalog emulator: time, calls, scaling, latency, memory.

Run: .venv/bin/python -m bench.pipeline_bench [--drops N] [--latency-ms L] (see bench/README.md).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from bench.findings import run_ledger_size, run_read_path, run_round_trip, run_source_lookup
from bench.harness import CASE_ITEMS, Sample, Twin, drop_for, started_twin
from bench.machine import machine
from bench.report import publish, render
from bench.stats import count_summary, median, ratio, summary, value_summary
from ingest_core.pipeline import handle_drop
from ingest_core.runtime import Runtime
from tests.integration.twin_helpers import upload_catalog, upload_root_catalog

ROOT = Path(__file__).resolve().parent.parent
CASES = ("first", "later_new_collection", "later_same_collection", "duplicate", "reupload")
SERVICES = ("geocatalog", "blob", "table")
CASE_TITLES = {
    "first": "first catalog in a new container",
    "later_new_collection": "later catalog, same container, new collection",
    "later_same_collection": "later catalog, same container, existing collection",
    "duplicate": "duplicate delivery of the same event",
    "reupload": "identical re-upload (new ETag, same content)",
}


def case_round(twin: Twin, rt: Runtime, tag: str, latency_ms: int = 0) -> dict[str, Sample]:
    """One sample of every drop case, in a fresh container against a reset GeoCatalog."""
    twin.reset(latency_ms)
    box = twin.container()
    first_url = upload_catalog(box, "a", CASE_ITEMS, catalog_id=f"{tag}a")
    first = drop_for(rt, first_url)
    out = {"first": twin.measure(handle_drop, rt, first)}
    url = upload_catalog(box, "b", CASE_ITEMS, catalog_id=f"{tag}b")
    out["later_new_collection"] = twin.measure(handle_drop, rt, drop_for(rt, url))
    url = upload_catalog(box, "c", CASE_ITEMS, catalog_id=f"{tag}a")
    out["later_same_collection"] = twin.measure(handle_drop, rt, drop_for(rt, url))
    out["duplicate"] = twin.measure(handle_drop, rt, first)
    upload_catalog(box, "a", CASE_ITEMS, catalog_id=f"{tag}a")  # the same bytes again: a new ETag
    again = drop_for(rt, first_url)
    out["reupload"] = twin.measure(handle_drop, rt, again)
    twin.cancel_runs(rt)
    return out


def run_cases(
    twin: Twin, rt: Runtime, rounds: int, latency_ms: int, label: str, warm_up: bool
) -> dict[str, list[Sample]]:
    """`rounds` samples of every case, after an untimed round if the runtime is cold (table, reports, connections)."""
    if warm_up:
        case_round(twin, rt, f"w{label}", latency_ms)
    samples: dict[str, list[Sample]] = {case: [] for case in CASES}
    for i in range(rounds):
        for case, sample in case_round(twin, rt, f"{label}{i}", latency_ms).items():
            samples[case].append(sample)
    return samples


def describe_cases(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    """Per case: end state, median/p90 ms, and the (deterministic) call counts with the GeoCatalog routes."""
    out = {}
    for case, runs in samples.items():
        routes = sorted({r for s in runs for r in s.geocatalog})
        out[case] = {
            "title": CASE_TITLES[case],
            "state": value_summary([s.state for s in runs]),
            "ms": summary([s.ms for s in runs]),
            "geocatalog_calls": count_summary([s.geocatalog_calls for s in runs]),
            "geocatalog_routes": {r: count_summary([s.geocatalog.get(r, 0) for s in runs]) for r in routes},
            "blob_reads": count_summary([s.storage("blob GET") for s in runs]),
            "blob_calls": count_summary([s.storage("blob") for s in runs]),
            "table_calls": count_summary([s.storage("table") for s in runs]),
            "http_ms": {svc: round(median([s.http_ms.get(svc, 0.0) for s in runs]), 1) for svc in SERVICES},
        }
    return out


def latency_effect(base: dict[str, Any], slow: dict[str, Any], latency_ms: int) -> dict[str, Any]:
    """Per case: added median time against calls x latency (1.0: the calls explain all of it)."""
    out = {}
    for case, row in slow.items():
        added = row["ms"]["median"] - base[case]["ms"]["median"]
        calls = row["geocatalog_calls"] if isinstance(row["geocatalog_calls"], int) else None
        predicted = calls * latency_ms if calls is not None else None
        out[case] = {
            "ms": row["ms"],
            "added_ms": round(added, 1),
            "predicted_ms": predicted,
            "added_over_predicted": ratio(added, predicted) if predicted else None,
        }
    return out


def revise_root(box: ContainerClient, prefix: str, n_items: int, catalog_id: str, revision: int) -> None:
    """Upload the root catalog again with one extra `related` link: new content, same items."""
    links = [{"rel": "root", "href": "./catalog.json"}, {"rel": "related", "href": f"./rev-{revision}"}]
    links += [{"rel": "item", "href": f"./items/{catalog_id}-item-{i}.json"} for i in range(n_items)]
    upload_root_catalog(box, prefix, links, catalog_id)


def run_scaling(twin: Twin, rt: Runtime, sizes: list[int], drops: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """handle_drop up to RUNNING for catalogs of each size (source and collection exist); memory of the largest."""
    twin.reset()
    box = twin.container()
    cat_id = "benchscale"
    handle_drop(rt, drop_for(rt, upload_catalog(box, "warm", 1, catalog_id=cat_id)))  # source + collection
    results: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    for n in sizes:
        url = upload_catalog(box, f"n{n}", n, catalog_id=cat_id)
        first = drop_for(rt, url)
        if n == max(sizes):  # the untimed first drop (it creates the ingestion) doubles as the memory probe
            memory = measure_memory(n, handle_drop, rt, first)
        else:
            handle_drop(rt, first)
        runs = []
        for rev in range(reps_for(n, drops)):
            revise_root(box, f"n{n}", n, cat_id, rev)
            drop = drop_for(rt, url)
            runs.append(twin.measure(handle_drop, rt, drop))
            twin.cancel_runs(rt)
        ms = summary([s.ms for s in runs])
        results[str(n)] = {
            "state": value_summary([s.state for s in runs]),
            "ms": ms,
            "ms_per_item": round(ms["median"] / n, 2),
            "blob_reads": count_summary([s.storage("blob GET") for s in runs]),
            "geocatalog_calls": count_summary([s.geocatalog_calls for s in runs]),
        }
    smallest = results[str(sizes[0])]["ms"]["median"]
    for n in sizes:
        row = results[str(n)]
        row["x_smallest"] = ratio(row["ms"]["median"], smallest)
        row["marginal_ms_per_item"] = ratio(row["ms"]["median"] - smallest, n - sizes[0]) if n != sizes[0] else None
    return results, memory


def reps_for(n_items: int, drops: int) -> int:
    """Fewer repetitions for large catalogs: about 500 items' worth, at least 3."""
    return max(3, min(drops, 500 // n_items))


def measure_memory(n_items: int, call: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Peak traced Python allocation during call(*args) (every thread), and the process's peak RSS after it."""
    tracemalloc.start()
    try:
        call(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "items": n_items,
        "tracemalloc_peak_mib": round(peak / 2**20, 2),
        "kib_per_item": round(peak / 1024 / n_items, 1),
        "process_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.pipeline_bench", description=__doc__.splitlines()[0])
    p.add_argument("--drops", type=int, default=10, help="timed samples per drop case (default 10)")
    p.add_argument("--latency-ms", type=int, default=50, help="GeoCatalog latency injected per call (default 50)")
    p.add_argument("--sizes", default="10,100,1000", help="catalog sizes (items) for the scaling runs")
    p.add_argument("--sources", default="0,10,50", help="pre-existing GeoCatalog sources for the lookup runs")
    p.add_argument(
        "--ledger-rows", default="0,1000,5000", help="finished jobs already in the ledger, for the ledger runs"
    )
    p.add_argument(
        "--delayed-ack",
        dest="nodelay",
        action="store_false",
        help="turn the emulator's TCP_NODELAY off (its behaviour before the fix) to see what it cost",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json", help="JSON results")
    args = p.parse_args(argv)
    if args.drops < 1 or args.latency_ms < 1:
        p.error("--drops and --latency-ms must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print the markdown tables, write the JSON."""
    args = parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    sources = [int(s) for s in args.sources.split(",")]
    ledger_rows = sorted(int(s) for s in args.ledger_rows.split(","))
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.pipeline_bench", *(sys.argv[1:] if argv is None else argv)]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "drops": args.drops,
            "latency_ms": args.latency_ms,
            "case_items": CASE_ITEMS,
            "nodelay": args.nodelay,
        },
    }
    with started_twin(args.nodelay) as twin:
        slow_rounds, lookup_rounds = max(3, args.drops // 2), max(3, args.drops // 3)
        containers = (args.drops + 1) + slow_rounds + 1 + len(sources) * lookup_rounds + 2
        # One warm runtime for everything, as one Functions worker; runs are never capped here.
        rt = twin.runtime(containers, max_concurrent_runs=100)

        def step(name: str) -> None:
            print(f"bench: {name} ({time.perf_counter() - started:.0f} s in)", file=sys.stderr, flush=True)

        step("GeoCatalog round trip")
        round_trip = run_round_trip(twin, args.nodelay)
        step("drop cases")
        base = describe_cases(run_cases(twin, rt, args.drops, 0, "c", warm_up=True))
        step(f"drop cases with {args.latency_ms} ms per GeoCatalog call")
        slow = describe_cases(run_cases(twin, rt, slow_rounds, args.latency_ms, "l", warm_up=False))
        step("preflight scaling")
        scaling, memory = run_scaling(twin, rt, sizes, args.drops)
        step("source lookup")
        lookup = run_source_lookup(twin, rt, sources, lookup_rounds)
        step("blob read path")
        read_path = run_read_path(twin, rt, 200, 3)
        step("ledger size (last: it fills the ledger)")
        ledger = run_ledger_size(twin, rt, ledger_rows, 3)
    results.update(
        cases=base,
        latency=latency_effect(base, slow, args.latency_ms),
        scaling=scaling,
        memory=memory,
        source_lookup=lookup,
        read_path=read_path,
        round_trip=round_trip,
        ledger_size=ledger,
        runtime_s=round(time.perf_counter() - started, 1),
    )
    publish(render(results), results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
