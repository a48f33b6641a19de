"""The demo's progress line and its count of the sample's items."""

from __future__ import annotations

from pathlib import Path

from local_twin.demo import progress_line, sample_item_ids

ROOT = Path(__file__).resolve().parents[2]


def test_progress_line_before_and_during_the_job() -> None:
    assert "waiting for the host loop" in progress_line(None, 0.4)
    job = {"state": "RUNNING", "successful_items": 2, "total_items": 6, "failed_items": 0, "pending_items": 4}
    assert progress_line(job, 3.25) == "   3.2s  RUNNING    2/6 items ingested, 0 failed, 4 pending"


def test_the_sample_catalog_has_six_items() -> None:
    ids = sample_item_ids(ROOT / "samples" / "demo-catalog")
    assert len(ids) == 6 and all(i.startswith("landcover-") for i in ids)
