"""job: the typed Job survives the table boundary, reads the previous layout, and shows users no lease internals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ingest_core.job import MAX_LIST_TEXT, Job, parse_time
from ingest_core.states import JobState

T = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)


def full_job() -> Job:
    return Job(job_id="j1", blob_url="https://a/c/x.json", etag="0x1", state=JobState.RUNNING, sequencer="s",
               collection_id="c", source_ids=["s1", "s2"], container_urls=["https://a/c"], ingestion_id="i",
               ingestion_options='{"a": true}', run_id="r", run_requested_at=T, slot="slot-00", content_digest="d",
               replay="rp", total_items=5, successful_items=3, failed_items=1, pending_items=1, attempts=2,
               last_error="e", error_where="w", warnings=["w1; with a semicolon", "w2"], lease_until=T,
               next_attempt_at=T + timedelta(seconds=1), created_at=T - timedelta(days=1), updated_at=T)  # fmt: skip


def test_every_field_survives_a_round_trip_through_a_row():
    job = full_job()
    entity = job.to_entity("open")
    assert entity["PartitionKey"] == "open" and entity["RowKey"] == "j1" and entity["kind"] == "job"
    assert entity["state"] == "RUNNING" and entity["run_requested_at"] == T.isoformat()
    assert "row_etag" not in entity
    back = Job.from_entity({**entity, "_etag": "W/7"})
    assert back == job and back.row_etag == "W/7"
    assert Job.from_entity(job.to_entity("open", row_key="other"))  # a row key of its own is allowed
    assert job.to_entity("open", row_key="other")["RowKey"] == "other"


def test_empty_times_and_missing_fields_read_as_defaults():
    job = Job(job_id="j", blob_url="u", etag="e")
    entity = job.to_entity("open")
    assert entity["lease_until"] == "" and entity["source_ids"] == "[]"
    back = Job.from_entity(entity)
    assert back.lease_until is None and back.source_ids == [] and back.state == JobState.RECEIVED
    bare = Job.from_entity({"job_id": "j", "blob_url": "u", "etag": "e", "state": "", "created_at": "",
                            "attempts": ""})  # fmt: skip
    assert bare.state == JobState.RECEIVED and bare.attempts == 0 and bare.created_at.tzinfo is not None
    assert bare.row_etag == ""


def test_the_previous_layouts_lists_are_read():
    legacy = Job.from_entity({"job_id": "j", "blob_url": "u", "etag": "e", "source_ids": "s1,s2,",
                              "warnings": "w1; w2", "container_urls": ["https://a/c"]})  # fmt: skip
    assert legacy.source_ids == ["s1", "s2"] and legacy.warnings == ["w1", "w2"]
    assert legacy.container_urls == ["https://a/c"]
    cut = Job.from_entity({"job_id": "j", "blob_url": "u", "etag": "e", "source_ids": '["s1", "s2'})
    assert cut.source_ids == ['["s1"', ' "s2']  # a capped JSON list falls back to splitting, never crashes


def test_a_long_list_is_capped_with_a_visible_marker():
    job = Job(job_id="j", blob_url="u", etag="e", warnings=[f"warning {i} " + "x" * 100 for i in range(1000)])
    text = job.to_entity("open")["warnings"]
    assert len(text) <= MAX_LIST_TEXT
    back = Job.from_entity(job.to_entity("open")).warnings
    assert back[0] == job.warnings[0] and back[-1].startswith("[truncated: ") and back[-1].endswith(" more]")
    assert len(back) - 1 + int(back[-1].split()[1]) == 1000


def test_public_shows_no_lease_internals_and_is_json_ready():
    out = full_job().public()
    assert "row_etag" not in out and "lease_until" not in out and "slot" not in out
    assert out["state"] == "RUNNING" and out["run_requested_at"] == T.isoformat()
    assert out["source_ids"] == ["s1", "s2"] and out["attempts"] == 2
    assert Job(job_id="j", blob_url="u", etag="e").public()["next_attempt_at"] == ""


def test_parse_time_accepts_datetimes_naive_or_not():
    assert parse_time(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    plus2 = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert parse_time(plus2) is plus2
    assert parse_time("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-01T00:00:00.1234567") == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
