"""Markdown tables from the benchmark's results dictionary (the same data as bench/results/latest.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A markdown table; None cells show as a dash."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cases_table(results: dict[str, Any]) -> str:
    """One row per drop case: calls, time, and the time added by injected GeoCatalog latency."""
    latency_ms = results["settings"]["latency_ms"]
    rows = []
    for case, row in results["cases"].items():
        slow = results["latency"][case]
        rows.append([
            row["title"], row["state"], row["geocatalog_calls"], row["blob_reads"], row["table_calls"],
            row["ms"]["median"], row["ms"]["p90"], " · ".join(str(row["http_ms"][k]) for k in ("geocatalog", "blob", "table")),
            slow["ms"]["median"], slow["added_ms"], slow["added_over_predicted"],
        ])  # fmt: skip
    header = ["handle_drop case", "returns", "GeoCatalog calls", "blob reads", "table calls", "median ms", "p90 ms",
              "ms in GeoCatalog · blob · table calls", f"median ms, +{latency_ms} ms/call", "added ms", "added ÷ (calls × latency)"]  # fmt: skip
    return table(header, rows)


def scaling_table(results: dict[str, Any]) -> str:
    """One row per catalog size: time to RUNNING, per item, against the smallest size."""
    rows = [
        [n, r["state"], r["ms"]["n"], r["ms"]["median"], r["ms"]["p90"], r["ms_per_item"], r["marginal_ms_per_item"],
         r["x_smallest"], r["blob_reads"]]
        for n, r in results["scaling"].items()
    ]  # fmt: skip
    header = ["items", "ends", "runs", "median ms", "p90 ms", "ms per item", "marginal ms per item",
              "× smallest", "blob reads"]  # fmt: skip
    return table(header, rows)


def other_table(results: dict[str, Any]) -> str:
    """Memory, source lookup, GeoCatalog round trip and blob-read-path figures."""
    mem, read, trip = results["memory"], results["read_path"], results["round_trip"]
    rows = [
        [
            f"peak traced memory, {mem['items']}-item drop (tracemalloc)",
            f"{mem['tracemalloc_peak_mib']} MiB ({mem['kib_per_item']} KiB per item); "
            f"process max RSS {mem['process_maxrss_mib']} MiB",
        ]
    ]
    for k, r in results["source_lookup"].items():
        calls = f"{r['geocatalog_calls']} GeoCatalog calls ({r['source_gets']} source GETs)"
        rows.append(
            [
                f"first drop, new container, {k} other sources in the GeoCatalog",
                f"{calls}, median {r['ms']['median']} ms",
            ]
        )
    rows.append(
        [
            "one GeoCatalog GET on a kept-alive connection: without TCP_NODELAY (before the fix) vs with",
            f"{trip['as_is']['median']} vs {trip['tcp_nodelay']['median']} ms",
        ]
    )
    rows.append(
        [
            f"blob read, {read['blobs']} item documents: `read_blob` vs one shared pipeline",
            f"{read['read_blob']['median']} vs {read['shared_pipeline']['median']} ms per blob (×{read['speedup']})",
        ]
    )
    for r in results["ledger_size"].values():
        rows.append(
            [
                f"later drop with {r['jobs_in_ledger']} jobs already in the ledger",
                f"median {r['ms']['median']} ms; {r['table_calls']} table calls, {r['table_ms']} ms in them",
            ]
        )
    return table(["measurement", "result"], rows)


def render(results: dict[str, Any]) -> str:
    """Every table, with the command and machine they came from."""
    m = results["machine"]
    head = (
        f"`{results['command']}` on {m['cores']} cores, {m['platform']}, Python {m['python']}, commit {m['commit']}; "
        f"{results['runtime_s']} s"
        + ("" if results["settings"]["nodelay"] else "; emulator without TCP_NODELAY (--delayed-ack)")
    )
    return "\n\n".join([head, cases_table(results), scaling_table(results), other_table(results)])


def publish(text: str, results: dict[str, Any], out: Path) -> None:
    """Print the tables, write the results as JSON to `out`, and say where."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
