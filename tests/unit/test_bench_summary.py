"""bench.summary and bench.reconcile_cost.batches: the figures of latest.json from measured windows (pure)."""

from __future__ import annotations

from bench.measure import Window
from bench.reconcile_cost import batches
from bench.summary import RUN_ROUTE, describe, describe_reconcile, describe_route, latency, ratios


def window(**kw) -> Window:
    base = dict(seconds=2.0, cpu_seconds=0.5, other_cpu_seconds={"azurite": 0.2, "emulator": 0.1},
                latencies_ms=[float(v) for v in range(1, 101)], deliveries=5)  # fmt: skip
    base.update(kw)
    return Window(**base)


def test_describe_rates_over_catalogs_and_counts_per_delivered_drop():
    w = window(geocatalog={RUN_ROUTE: 4, "POST /inma/ingestion-sources": 4}, http={"app table": 10, "host blob": 5})
    d = describe(w, catalogs=4)
    assert d["catalogs_per_s"] == 2.0 and d["drops"] == 5 and d["runs_created"] == 4
    assert d["geocatalog_calls_per_catalog"] == 2.0
    assert d["table_calls_per_drop"] == 2.0 and d["blob_calls_per_drop"] == 0.0 and d["host_blob_reads_per_drop"] == 1.0
    assert d["cpu_ms_per_drop"] == 100.0 and d["service_cpu_ms_per_drop"] == {"azurite": 40.0, "emulator": 20.0}
    assert d["latency_ms"] == {"p50": 50.5, "p95": round(95.05, 1)}  # ranks 50.5 and 95.05 of 1..100


def test_describe_reports_errors_and_keeps_only_the_first_three():
    d = describe(window(errors=[f"e{i}" for i in range(5)]), 5)
    assert d["errors"] == 5 and d["first_errors"] == ["e0", "e1", "e2"]


def test_route_counts_show_a_disagreement_as_a_range():
    samples = [window(geocatalog={RUN_ROUTE: 1}, http={"app table": 3}, latencies_ms=[10.0]),
               window(geocatalog={RUN_ROUTE: 1, "GET /x": 1}, http={"app table": 3}, latencies_ms=[30.0])]  # fmt: skip
    r = describe_route(samples)
    assert r["geocatalog_calls"] == "1-2" and r["geocatalog_routes"] == {"GET /x": "0-1", RUN_ROUTE: 1}
    assert r["table_calls"] == 3 and r["median_ms"] == 20.0


def test_reconcile_and_ratios_and_empty_latency():
    rec = describe_reconcile(window(http={"app table": 6}, geocatalog={"GET /r": 5}, latencies_ms=[12.34]), 0, 5)
    assert (rec["table_calls"], rec["geocatalog_calls"], rec["ms"]) == (6, 5, 12.3)
    product = {"a": {"catalogs_per_s": 8.0}, "b": {"catalogs_per_s": 1.0}}
    assert ratios(product, {"m": {"catalogs_per_s": 2.0}}, {"a": "m", "b": "m", "c": "m"}) == {"a": 4.0, "b": 0.5}
    assert latency([]) == {"p50": None, "p95": None}


def test_batches_stay_in_one_partition_and_hold_at_most_100():
    rows = [{"PartitionKey": f"p{i % 3}", "RowKey": str(i)} for i in range(250)]
    groups = batches(rows)
    assert all(len({r["PartitionKey"] for r in g}) == 1 and len(g) <= 100 for g in groups)
    assert sorted(r["RowKey"] for g in groups for r in g) == sorted(r["RowKey"] for r in rows)
    assert len(groups) == 3  # 84 + 83 + 83 rows: one transaction per partition
