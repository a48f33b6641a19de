"""The figures of bench/results/latest.json, computed from measured windows (pure: no I/O, no timing)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bench.counting import per_unit
from bench.measure import Window
from bench.stats import count_summary, median, percentile, ratio

RUN_ROUTE = "POST /inma/collections/{collectionId}/ingestions/{ingestionId}/runs"
# The secret parts of a SAS or a bearer header, should an error text ever carry one into the results file.
_SECRET = re.compile(r"(?i)(sig=|Bearer\s+)[^&\s\"']+")


def scrub(text: str) -> str:
    """The text with SAS signatures and bearer tokens replaced."""
    return _SECRET.sub(r"\1<redacted>", text)


def latency(values: Sequence[float]) -> dict[str, float | None]:
    """p50 and p95 in ms (None for no samples)."""
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1)}


def describe(window: Window, catalogs: int) -> dict[str, Any]:
    """One side's phase: throughput over distinct catalogs; calls, CPU and latency per delivered drop."""
    drops = window.deliveries
    geocatalog = sum(window.geocatalog.values())
    return {
        "catalogs": catalogs,
        "drops": drops,
        "seconds": round(window.seconds, 2),
        "catalogs_per_s": ratio(catalogs, window.seconds),
        "runs_created": window.geocatalog.get(RUN_ROUTE, 0),
        "geocatalog_calls_per_catalog": ratio(geocatalog, catalogs),
        "geocatalog_routes_per_catalog": {r: ratio(n, catalogs) for r, n in sorted(window.geocatalog.items())},
        "table_calls_per_drop": per_unit(window.http, "app", "table", drops),
        "blob_calls_per_drop": per_unit(window.http, "app", "blob", drops),
        "host_blob_reads_per_drop": per_unit(window.http, "host", "blob", drops),
        "cpu_ms_per_drop": ratio(window.cpu_seconds * 1000, drops, 1),
        "service_cpu_ms_per_drop": {k: ratio(v * 1000, drops, 1) for k, v in sorted(window.other_cpu_seconds.items())},
        "latency_ms": latency(window.latencies_ms),
        "errors": len(window.errors),
        "first_errors": [scrub(e) for e in window.errors[:3]],
    }


def describe_route(samples: Sequence[Window]) -> dict[str, Any]:
    """One route of the sequential probe (one drop per sample): exact counts, "lo-hi" if the samples disagreed."""
    routes = sorted({r for s in samples for r in s.geocatalog})
    return {
        "samples": len(samples),
        "geocatalog_calls": count_summary([sum(s.geocatalog.values()) for s in samples]),
        "geocatalog_routes": {r: count_summary([s.geocatalog.get(r, 0) for s in samples]) for r in routes},
        "table_calls": count_summary([s.http.get("app table", 0) for s in samples]),
        "blob_calls": count_summary([s.http.get("app blob", 0) for s in samples]),
        "host_blob_reads": count_summary([s.http.get("host blob", 0) for s in samples]),
        "median_ms": round(median([s.latencies_ms[0] for s in samples if s.latencies_ms] or [0.0]), 1),
    }


def describe_reconcile(window: Window, finished_jobs: int, in_flight: int) -> dict[str, Any]:
    """One reconcile pass: its table and GeoCatalog calls, its time, and the CPU it cost Azurite."""
    return {
        "finished_jobs": finished_jobs,
        "in_flight_jobs": in_flight,
        "table_calls": window.http.get("app table", 0),
        "geocatalog_calls": sum(window.geocatalog.values()),
        "ms": round(window.latencies_ms[0], 1) if window.latencies_ms else None,
        "azurite_cpu_ms": round(window.other_cpu_seconds.get("azurite", 0.0) * 1000, 1),
        "errors": len(window.errors),
    }


def _met(value: Any, op: str, goal: float) -> bool | None:
    if not isinstance(value, int | float):
        return None  # missing, or samples that disagreed ("lo-hi")
    return {"==": value == goal, "<=": value <= goal, ">=": value >= goal}[op]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 10's acceptance figures: each measured value against its goal, and whether it is met."""
    product, routes, ratio_ = results["product"], results["routes"], results["ratio"]
    rec = [r for r in results["reconcile"].values() if isinstance(r, dict)]
    rows = [
        ("GeoCatalog calls per new catalog into an existing collection", product["existing_collection"]
         ["geocatalog_calls_per_catalog"], "==", 2),
        ("GeoCatalog calls per re-drop", product["redrop"]["geocatalog_calls_per_catalog"], "==", 1),
        ("GeoCatalog calls per duplicate delivery", routes["duplicate"]["geocatalog_calls"], "==", 0),
        ("GeoCatalog calls, first catalog in a new container", routes["first_in_new_container"]["geocatalog_calls"],
         "<=", 5),
        ("throughput ÷ manual, new collections", ratio_.get("new_collection"), ">=", 4),
        ("throughput ÷ manual, existing collections", ratio_.get("existing_collection"), ">=", 4),
        ("reconcile table calls, most finished jobs minus none",
         rec[-1]["table_calls"] - rec[0]["table_calls"] if len(rec) > 1 else None, "==", 0),
    ]  # fmt: skip
    return [{"what": w, "measured": v, "goal": f"{op} {g}", "met": _met(v, op, g)} for w, v, op, g in rows]


def ratios(product: dict[str, Any], manual: dict[str, Any], pairs: dict[str, str]) -> dict[str, float | None]:
    """Product throughput over the manual procedure's, per product phase (`pairs`: product phase -> manual phase)."""
    return {
        phase: ratio(product[phase]["catalogs_per_s"] or 0.0, manual[base]["catalogs_per_s"] or 0.0)
        for phase, base in pairs.items()
        if phase in product and base in manual
    }
