"""What one reconcile pass costs with no finished jobs in the ledger, and with many (seeded straight into it).

Two functions here know ingest_core's insides, on purpose and nowhere else in the bench:
`finished_job_rows` (the ledger's row layout) and `use_ledger_table` (how the process-wide runtime is rebuilt).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient

# Azure Tables takes at most 100 operations per batch transaction, all in one partition.
BATCH = 100
SEED_THREADS = 4


def finished_job_rows(container_url: str, first: int, count: int) -> list[dict[str, Any]]:
    """Ledger rows of `count` SUCCEEDED jobs of other catalogs. The only code in bench/ that knows the layout:
    when the ledger's layout changes, this is the function to change."""
    from datetime import UTC, datetime

    from ingest_core.job import Job
    from ingest_core.ledger import blob_partition, job_id_for  # finished jobs live in their blob's partition
    from ingest_core.states import JobState

    rows = []
    when = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(first, first + count):
        url = f"{container_url}/old{i // 100:06d}/catalog.json"  # 100 earlier uploads per catalog
        etag = f"0x{i:08X}"
        job = Job(job_id_for(url, etag), url, etag, JobState.SUCCEEDED, created_at=when, updated_at=when)
        rows.append(job.to_entity(blob_partition(url)))
    return rows


def use_ledger_table(name: str) -> None:
    """Point the app at another ledger table: the setting, and a rebuilt process-wide runtime."""
    from ingest_core import entry

    os.environ["LEDGER_TABLE"] = name
    entry.reset_runtime()


def batches(rows: Iterable[dict[str, Any]], size: int = BATCH) -> list[list[dict[str, Any]]]:
    """Rows grouped by PartitionKey, then cut into transactions of at most `size`."""
    by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_partition[row["PartitionKey"]].append(row)
    return [part[i : i + size] for part in by_partition.values() for i in range(0, len(part), size)]


def seed_rows(connection: str, table: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert the rows with batch transactions (parallel), creating the table if needed; returns how many."""
    client = TableServiceClient.from_connection_string(connection).get_table_client(table)
    try:
        client.create_table()
    except ResourceExistsError:
        pass
    groups = batches(rows)
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(lambda group: client.submit_transaction([("upsert", row) for row in group]), groups))
    return sum(len(g) for g in groups)
