"""One-shot move of job rows from the previous layout (every job in partition `job`) to the current one."""

from __future__ import annotations

import logging

from ingest_core.errors import RowExists
from ingest_core.job import Job
from ingest_core.ledger import LEGACY_JOB_PARTITION, OPEN, Ledger, blob_partition, job_id_for

log = logging.getLogger(__name__)


def migrate(ledger: Ledger) -> dict[str, int]:
    """Move every legacy job row; safe to run again (and after a crash half-way). Counts what it did."""
    moved = {"finished": 0, "open": 0, "already": 0}
    for row in ledger.store.query(LEGACY_JOB_PARTITION):
        job = Job.from_entity(row)
        # New ids start with the blob's hash, which is how a job id finds its partition.
        job.job_id = job_id_for(job.blob_url, job.etag, job.replay)
        partition = blob_partition(job.blob_url) if job.state.terminal else OPEN
        try:
            ledger.store.insert(job.to_entity(partition))
            moved["finished" if job.state.terminal else "open"] += 1
        except RowExists:
            moved["already"] += 1
        ledger.store.delete(LEGACY_JOB_PARTITION, row["RowKey"])
        log.info("migrated job %s -> %s (%s)", row["RowKey"], job.job_id, job.state.value)
    return moved
