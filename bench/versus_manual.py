"""`make bench`: the function app against the seed how-to's manual procedure, in one run, on the same catalogs,
the same Azurite and the same GeoCatalog emulator with latency added to every call.

Run: .venv/bin/python -m bench.versus_manual [--catalogs N] ... (see bench/README.md for every flag and field).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.counting import HttpCounter
from bench.machine import machine
from bench.manual_procedure import ManualProcedure
from bench.measure import Window, measured
from bench.product import Product
from bench.reconcile_cost import finished_job_rows, seed_rows, use_ledger_table
from bench.report import publish
from bench.summary import describe, describe_reconcile, describe_route, ratios, targets
from bench.twin import Twin, started_twin
from bench.versus_report import render
from bench.workload import Catalog, catalogs_for, deliveries, upload, waves

ROOT = Path(__file__).resolve().parent.parent
# Product phase -> the manual phase it is compared with (the how-to has no re-drop: it runs the same steps again).
PAIRS = {
    "new_collection": "new_collection",
    "existing_collection": "existing_collection",
    "redrop": "existing_collection",
}
RECONCILE_TABLE = "benchreconcile"
# The how-to's procedure never sees a duplicate: an operator runs each catalog once.
PROBE_ROUTES = ("first_in_new_container", "new_collection", "existing_collection", "redrop", "duplicate")


def step(started: float, what: str) -> None:
    """Progress on stderr (stdout holds the tables)."""
    print(f"bench: {what} ({time.perf_counter() - started:.0f} s in)", file=sys.stderr, flush=True)


def run_manual(twin: Twin, counter: HttpCounter, cats: list[Catalog], create_collection: bool) -> Window:
    """The how-to's procedure for each catalog, one after another."""
    proc = ManualProcedure(twin.emulator_url, twin.token, twin.azurite.connection_string,
                           twin.settings.get("GEOCATALOG_API_VERSION", "2026-04-15"))  # fmt: skip

    def work() -> list[float]:
        latencies = []
        for cat in cats:
            start = time.perf_counter()
            proc.ingest(cat.url(twin.azurite.blob_url), cat.catalog_id, create_collection)
            latencies.append((time.perf_counter() - start) * 1000)
        return latencies

    window = measured(twin, counter, work)
    window.deliveries = len(cats)
    return window


def run_phase(product: Product, cats: list[Catalog], args: argparse.Namespace, rng: random.Random) -> Window:
    """Deliver the catalogs (plus duplicates, shuffled) in waves no larger than the app's run cap."""
    total = Window()
    urls = [c.url(product.twin.azurite.blob_url) for c in cats]
    for wave in waves(urls, args.wave):
        total.add(product.run(deliveries(wave, args.duplicates, rng), args.workers))
        product.drain(args.latency_ms)
    return total


def run_probe(product: Product, twin: Twin, containers: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Each route alone, one drop at a time, counters zeroed before each: exact calls per route."""
    blob_url = twin.azurite.blob_url
    samples: dict[str, list[Window]] = {route: [] for route in PROBE_ROUTES}
    for i, box in enumerate(containers):
        first, other = catalogs_for([box], 2, args.items, f"p{i}x")
        same = catalogs_for([box], 1, args.items, f"p{i}y", ids_of=f"p{i}x")[0]
        upload(twin.blob, [first, other, same])
        for route, cat in (("first_in_new_container", first), ("new_collection", other), ("existing_collection", same)):
            samples[route].append(product.run([cat.url(blob_url)], 1))
        upload(twin.blob, [first], revision=1, roots_only=True)
        samples["redrop"].append(product.run([first.url(blob_url)], 1))
        samples["duplicate"].append(product.run([first.url(blob_url)], 1))  # the same event (ETag) again
        product.drain(args.latency_ms)
    return {route: describe_route(s) for route, s in samples.items()}


def run_reconcile(product: Product, twin: Twin, box: str, args: argparse.Namespace) -> dict[str, Any]:
    """Reconcile with `--in-flight` held runs and no finished job, then with `--finished-jobs` more in the ledger."""
    use_ledger_table(RECONCILE_TABLE)
    cats = catalogs_for([box], args.in_flight, args.items, "r")
    upload(twin.blob, cats)
    product.run([c.url(twin.azurite.blob_url) for c in cats], args.workers)
    # One untimed pass first: it records the held runs' first counters, a one-off write per run. The two measured
    # passes then see the same work in flight, with and without the finished jobs.
    product.reconcile()
    out = {"0": describe_reconcile(product.reconcile(), 0, args.in_flight)}
    if not args.finished_jobs:
        return out
    start = time.perf_counter()
    rows = finished_job_rows(f"{twin.azurite.blob_url}/{box}", 0, args.finished_jobs)
    seeded = seed_rows(twin.azurite.connection_string, RECONCILE_TABLE, rows)
    out["seed_seconds"] = round(time.perf_counter() - start, 1)
    out[str(seeded)] = describe_reconcile(product.reconcile(), seeded, args.in_flight)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.versus_manual", description=__doc__.splitlines()[0])
    p.add_argument("--catalogs", type=int, default=200, help="catalogs per product phase (default 200)")
    p.add_argument("--items", type=int, default=20, help="items per catalog (default 20)")
    p.add_argument("--containers", type=int, default=4, help="containers the catalogs are spread over (default 4)")
    p.add_argument("--duplicates", type=float, default=0.2, help="share of drops delivered twice (default 0.2)")
    p.add_argument("--workers", type=int, default=8, help="parallel deliveries (default 8)")
    p.add_argument("--latency-ms", type=int, default=50, help="latency added to every GeoCatalog call (default 50)")
    p.add_argument("--manual-catalogs", type=int, default=50,
                   help="catalogs the manual procedure runs per phase, the first of the same ones (default 50)")  # fmt: skip
    p.add_argument("--wave", type=int, default=100, help="drops between drains = MAX_CONCURRENT_RUNS (default 100)")
    p.add_argument("--probe-rounds", type=int, default=3, help="samples per route in the sequential probe")
    p.add_argument("--in-flight", type=int, default=5, help="held runs while reconcile is measured (default 5)")
    p.add_argument("--finished-jobs", type=int, default=20_000, help="finished jobs seeded for reconcile")
    p.add_argument("--seed", type=int, default=1, help="random seed of the duplicates and the shuffle")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json", help="JSON results")
    args = p.parse_args(argv)
    if min(args.catalogs, args.items, args.containers, args.workers, args.wave, args.probe_rounds) < 1:
        p.error("--catalogs, --items, --containers, --workers, --wave and --probe-rounds must be positive")
    if not 0 <= args.duplicates <= 1 or args.finished_jobs < 0 or args.in_flight < 0:
        p.error("--duplicates must be 0-1, --finished-jobs and --in-flight not negative")
    if not 1 <= args.wave <= 100:
        p.error("--wave must be 1-100: it is the app's MAX_CONCURRENT_RUNS, which allows at most 100")
    args.manual_catalogs = max(1, min(args.manual_catalogs, args.catalogs))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run both sides, print the tables, write the JSON."""
    args = parse_args(argv)
    started = time.perf_counter()
    rng = random.Random(args.seed)
    boxes = [f"bench{i}" for i in range(args.containers)]
    probes = [f"probe{i}" for i in range(args.probe_rounds)]
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.versus_manual", *(sys.argv[1:] if argv is None else argv)]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    with started_twin([*boxes, "warmup", *probes], max_concurrent_runs=args.wave) as twin:
        counter = HttpCounter(twin.ports)
        counter.install()
        try:
            step(started, "uploading catalogs")
            first = catalogs_for(boxes, args.catalogs, args.items, "a")
            later = catalogs_for(boxes, args.catalogs, args.items, "b", ids_of="a")
            warm = catalogs_for(["warmup"], 1, 2, "w")
            upload(twin.blob, first + later + warm)
            step(started, f"manual procedure, {args.manual_catalogs} catalogs per phase")
            twin.fresh_geocatalog(args.latency_ms)
            manual = {
                "new_collection": run_manual(twin, counter, first[: args.manual_catalogs], True),
                "existing_collection": run_manual(twin, counter, later[: args.manual_catalogs], False),
            }
            results["manual"] = {k: describe(w, w.deliveries) for k, w in manual.items()}
            twin.fresh_geocatalog(args.latency_ms)
            product = Product(twin, counter)
            product.run([warm[0].url(twin.azurite.blob_url)], 1)  # untimed: builds the runtime, the table
            product.drain(args.latency_ms)
            phases: dict[str, Any] = {}
            for name, cats in (("new_collection", first), ("existing_collection", later), ("redrop", first)):
                if name == "redrop":
                    upload(twin.blob, first, revision=1, roots_only=True)  # new content at the same URLs
                step(started, f"product: {name}")
                phases[name] = describe(run_phase(product, cats, args, rng), len(cats))
            results["product"] = phases
            results["ratio"] = ratios(phases, results["manual"], PAIRS)
            step(started, "probe: one route at a time")
            results["routes"] = run_probe(product, twin, probes, args)
            step(started, f"reconcile with 0 and {args.finished_jobs} finished jobs")
            results["reconcile"] = run_reconcile(product, twin, "warmup", args)
            results["targets"] = targets(results)
        finally:
            counter.uninstall()
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    publish(render(results), results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
