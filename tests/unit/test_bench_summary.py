"""bench.summary and bench.reconcile_cost.batches: the figures of latest.json from measured windows (pure)."""

from __future__ import annotations

from bench.measure import Window
from bench.reconcile_cost import batches
from bench.summary import RUN_ROUTE, describe, describe_reconcile, describe_route, latency, ratios, scrub, targets


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


def test_describe_reports_errors_and_keeps_only_the_first_three_without_secrets():
    leaky = "GET https://a/c/x.json?sv=2024&sig=SECRETSIG&sp=rl failed; Authorization: Bearer SECRETTOKEN"
    d = describe(window(errors=[leaky, *(f"e{i}" for i in range(4))]), 5)
    assert d["errors"] == 5 and d["first_errors"][1:] == ["e0", "e1"]
    assert "SECRET" not in d["first_errors"][0] and "sig=<redacted>&sp=rl" in d["first_errors"][0]
    assert scrub("nothing secret") == "nothing secret"


def test_targets_compare_each_figure_with_its_goal():
    results = {
        "product": {"existing_collection": {"geocatalog_calls_per_catalog": 2.0},
                    "redrop": {"geocatalog_calls_per_catalog": 4.0}},
        "routes": {"duplicate": {"geocatalog_calls": 0}, "first_in_new_container": {"geocatalog_calls": "5-7"}},
        "ratio": {"new_collection": 4.5},
        "reconcile": {"0": {"table_calls": 6}, "seed_seconds": 1.0, "20000": {"table_calls": 9}},
    }  # fmt: skip
    met = {t["what"]: t["met"] for t in targets(results)}
    assert met["GeoCatalog calls per new catalog into an existing collection"] is True
    assert met["GeoCatalog calls per re-drop"] is False
    assert met["GeoCatalog calls per duplicate delivery"] is True
    assert met["GeoCatalog calls, first catalog in a new container"] is None  # the samples disagreed
    assert met["throughput ÷ manual, new collections"] is True
    assert met["throughput ÷ manual, existing collections"] is None  # not measured
    assert met["reconcile table calls, most finished jobs minus none"] is False


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
