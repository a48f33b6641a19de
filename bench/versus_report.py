"""Readable tables from bench.versus_manual's results (the same data as bench/results/latest.json)."""

from __future__ import annotations

from typing import Any

from bench.report import table

PHASE_TITLES = {
    "new_collection": "new catalog, new collection",
    "existing_collection": "new catalog, existing collection",
    "redrop": "re-drop (changed content, same URL)",
}
ROUTE_TITLES = {
    "first_in_new_container": "first catalog in a new container, new collection",
    "new_collection": "new catalog with a new collection (known container)",
    "existing_collection": "new catalog into an existing collection",
    "redrop": "re-drop (same blob, changed content)",
    "duplicate": "duplicate delivery (same event again)",
}
# The manual procedure's phase that stands for each probe route (None: the operator never sees it).
MANUAL_FOR_ROUTE = {
    "first_in_new_container": "new_collection",
    "new_collection": "new_collection",
    "existing_collection": "existing_collection",
    "redrop": "existing_collection",
    "duplicate": None,
}


def _pair(values: dict[str, Any]) -> str:
    return " · ".join(str(values.get(k)) for k in ("azurite", "emulator"))


def throughput_table(results: dict[str, Any]) -> str:
    """Catalogs per second on both sides and the ratio."""
    manual, product = results["manual"], results["product"]
    pairs = {"new_collection": "new_collection", "existing_collection": "existing_collection",
             "redrop": "existing_collection"}  # fmt: skip
    rows = [
        [PHASE_TITLES[phase], manual[base]["catalogs_per_s"], row["catalogs_per_s"], results["ratio"].get(phase)]
        for phase, row in product.items()
        for base in [pairs[phase]]
    ]
    return table(["phase", "manual catalogs/s", "product catalogs/s", "product ÷ manual"], rows)


def sides_table(results: dict[str, Any]) -> str:
    """Every measured phase of both sides."""
    rows = []
    for side in ("manual", "product"):
        for phase, r in results[side].items():
            rows.append([
                f"{side}: {PHASE_TITLES[phase]}", r["catalogs"], r["drops"], r["seconds"], r["catalogs_per_s"],
                r["geocatalog_calls_per_catalog"], r["runs_created"], r["table_calls_per_drop"],
                r["blob_calls_per_drop"], r["host_blob_reads_per_drop"], r["cpu_ms_per_drop"],
                _pair(r["service_cpu_ms_per_drop"]), r["latency_ms"]["p50"], r["latency_ms"]["p95"], r["errors"],
            ])  # fmt: skip
    header = ["side: phase", "catalogs", "drops", "s", "catalogs/s", "GeoCatalog calls/catalog", "runs created",
              "table calls/drop", "blob calls/drop", "host blob reads/drop", "CPU ms/drop",
              "Azurite · emulator CPU ms/drop", "p50 ms", "p95 ms", "errors"]  # fmt: skip
    return table(header, rows)


def routes_table(results: dict[str, Any]) -> str:
    """Calls per route, one drop at a time, against the manual procedure's calls for the same catalog."""
    rows = []
    for route, r in results["routes"].items():
        base = MANUAL_FOR_ROUTE[route]
        manual = results["manual"][base]["geocatalog_calls_per_catalog"] if base else None
        detail = ", ".join(f"{k} ×{v}" for k, v in r["geocatalog_routes"].items() if v)
        rows.append([ROUTE_TITLES[route], r["geocatalog_calls"], manual, r["table_calls"], r["blob_calls"],
                     r["host_blob_reads"], r["median_ms"], detail or "-"])  # fmt: skip
    header = ["route (one drop at a time)", "GeoCatalog calls", "manual", "table calls", "blob calls",
              "host blob reads", "median ms", "GeoCatalog routes"]  # fmt: skip
    return table(header, rows)


def reconcile_table(results: dict[str, Any]) -> str:
    """One reconcile pass, with and without a long history of finished jobs."""
    rec = results["reconcile"]
    rows = [
        [r["finished_jobs"], r["in_flight_jobs"], r["table_calls"], r["geocatalog_calls"], r["ms"],
         r["azurite_cpu_ms"], r["errors"]]
        for r in rec.values()
        if isinstance(r, dict)
    ]  # fmt: skip
    header = ["reconcile: finished jobs in the ledger", "runs in flight", "table calls", "GeoCatalog calls", "ms",
              "Azurite CPU ms", "errors"]  # fmt: skip
    return table(header, rows) + f"\n\n(seeding the finished jobs took {rec.get('seed_seconds')} s)"


def targets_table(results: dict[str, Any]) -> str:
    """Issue 10's acceptance figures against this run."""
    marks = {True: "yes", False: "NO", None: "?"}
    rows = [[t["what"], t["measured"], t["goal"], marks[t["met"]]] for t in results.get("targets", [])]
    return table(["target (issue 10)", "measured", "goal", "met"], rows)


def render(results: dict[str, Any]) -> str:
    """Every table, with the settings they were measured under."""
    s = results["settings"]
    head = (f"{s['catalogs']} catalogs of {s['items']} items per phase over {s['containers']} containers, "
            f"{s['duplicates']:.0%} duplicate drops, {s['workers']} workers, +{s['latency_ms']} ms per GeoCatalog "
            f"call; manual: the first {s['manual_catalogs']} catalogs of each phase, one after another")  # fmt: skip
    parts = [head, throughput_table(results), sides_table(results), routes_table(results), reconcile_table(results),
             targets_table(results)]  # fmt: skip
    if "runtime_s" in results:
        parts.append(f"total {results['runtime_s']} s")
    return "\n\n".join(parts)
