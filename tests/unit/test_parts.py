"""parts: catalogs over MAX_ITEMS_PER_INGESTION, on the fast in-memory tier (splitting, sums, retries, endings, sweep).

The acceptance run (25,000 items in 3 parts against Azurite and the emulator) is tests/integration/test_parts.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ingest_core.errors import ServiceError, TransientError
from ingest_core.job import MAX_LIST_TEXT, PART_ERROR_MAX, Job, Part, now_utc, parts_text
from ingest_core.parts import MAX_PARTS, outcome_of, part_url
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.reports import build_report
from ingest_core.states import JobState
from ingest_core.sweep import deleted_ids, sweep
from tests.unit.memory_twin import ACCOUNT, drop_of, memory_runtime, put_catalog

STAGING = "https://app.blob.core.windows.net/ingest-staging"


@pytest.fixture
def rt():
    return memory_runtime(max_items_per_ingestion=10)


def run_calls(rt) -> int:
    return rt.geocatalog.calls.count("create_run")


def finish_current(rt, job: Job, failed: int = 0, status: str = "Succeeded") -> Job:
    """End the job's current run on the service with all its items (minus `failed`), then reconcile once."""
    part = rt.ledger.get(job.job_id).current_part()
    rt.geocatalog.finish(rt.ledger.get(job.job_id).run_id, part.items - failed, failed, status)
    reconcile(rt)
    return rt.ledger.get(job.job_id)


def test_a_catalog_over_the_limit_is_split_into_parts_in_the_staging_container(rt):
    url = put_catalog(rt, "big", n_items=25, catalog_id="big")
    catalog_blobs = dict(rt.storage.blobs)
    job = handle_drop(rt, drop_of(rt, url))
    assert job.state == JobState.RUNNING and job.total_items == 25
    assert [(p.index, p.items) for p in job.parts] == [(0, 10), (1, 10), (2, 5)]
    assert [p.catalog_url for p in job.parts] == [f"{STAGING}/{job.job_id}/part-{i:03d}.json" for i in range(3)]
    linked = []
    for p in job.parts:
        doc = json.loads(rt.staging.blobs[p.catalog_url][0])
        assert doc["type"] == "Catalog"
        linked += [link["href"] for link in doc["links"] if link["rel"] == "item"]
        assert rt.geocatalog.ingestions[p.ingestion_id]["sourceCatalogUrl"] == p.catalog_url
    # Every original item, once, by absolute URL; the catalog account is never written.
    assert linked == [f"{ACCOUNT}/cat/big/items/i{k}.json" for k in range(25)]
    assert rt.storage.blobs == catalog_blobs
    # One run (the first part's), one source per container read; the staging SAS is minted by the app's storage.
    assert run_calls(rt) == 1 and job.ingestion_id == job.parts[0].ingestion_id
    assert f"{STAGING}" in job.container_urls and len(job.source_ids) == len(job.container_urls) == 2
    assert rt.staging.minted == [STAGING] and STAGING not in rt.storage.minted
    assert rt.ledger.get_source_record(STAGING)["owned"] is True


def test_at_the_limit_there_are_no_parts(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "ten", n_items=10, catalog_id="ten")))
    assert job.state == JobState.RUNNING and job.parts == []
    assert rt.staging.blobs == {} and rt.geocatalog.ingestions[job.ingestion_id]["sourceCatalogUrl"].endswith(
        "/cat/ten/catalog.json"
    )


def test_parts_run_one_after_another_and_the_counters_are_the_sums(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    job = finish_current(rt, job, failed=0)
    assert job.state == JobState.RUNNING and run_calls(rt) == 2
    assert job.ingestion_id == job.parts[1].ingestion_id and job.parts[0].state == "SUCCEEDED"
    assert (job.total_items, job.successful_items, job.pending_items) == (25, 10, 15)
    assert len(rt.ledger.store.query("open", kind="slot")) == 1  # one slot, the job's, all along
    reconcile(rt)  # the second part's run has not ended: nothing new, no new run
    assert run_calls(rt) == 2
    job = finish_current(rt, job)
    job = finish_current(rt, job)
    assert job.state == JobState.SUCCEEDED and run_calls(rt) == 3 and job.last_error == ""
    assert (job.total_items, job.successful_items, job.failed_items, job.pending_items) == (25, 25, 0, 0)
    assert len({p.run_id for p in job.parts}) == 3 and all(p.run_id in rt.geocatalog.runs for p in job.parts)
    assert rt.ledger.runs_in_flight(rt.settings.max_concurrent_runs) == 0


def test_a_failed_part_does_not_stop_the_others_and_the_job_ends_partial_naming_it(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    job = finish_current(rt, job)
    job = finish_current(rt, job, failed=10, status="Failed")
    assert job.state == JobState.RUNNING  # the third part still runs
    job = finish_current(rt, job, failed=1)
    assert job.state == JobState.PARTIAL
    assert (job.successful_items, job.failed_items) == (14, 11)
    assert "part 2 of 3" in job.last_error and "FAILED" in job.last_error and "part 3 of 3" in job.last_error
    assert "part 1 of 3" not in job.last_error


def test_when_no_part_got_an_item_in_the_job_is_failed(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    for _ in range(3):
        job = finish_current(rt, job, failed=rt.ledger.get(job.job_id).current_part().items, status="Failed")
    assert job.state == JobState.FAILED and job.successful_items == 0 and job.failed_items == 25


def test_ending_rules():
    ok = Part(0, "u0", 10, state="SUCCEEDED", successful_items=10)
    partial = Part(1, "u1", 10, state="PARTIAL", successful_items=9, failed_items=1, error="1 item(s) failed")
    failed = Part(2, "u2", 5, state="FAILED", failed_items=5, error="Oops")
    assert outcome_of([ok, ok]) == (JobState.SUCCEEDED, "")
    state, reason = outcome_of([ok, partial])
    assert state == JobState.PARTIAL and "part 2 of 2" in reason and "1 item(s) failed" in reason
    assert outcome_of([failed, Part(0, "u", 3, state="FAILED")])[0] == JobState.FAILED


def test_a_run_deleted_on_the_service_fails_that_part_only(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    rt.geocatalog.runs.pop(job.run_id)
    reconcile(rt)
    job = rt.ledger.get(job.job_id)
    assert job.state == JobState.RUNNING and job.parts[0].state == "FAILED" and "no longer exists" in job.parts[0].error
    assert job.ingestion_id == job.parts[1].ingestion_id and run_calls(rt) == 2


def test_a_retry_after_a_crash_before_the_plan_was_recorded_reuses_the_parts(rt):
    url = put_catalog(rt, "big", n_items=25, catalog_id="big")
    real_take_slot = rt.ledger.take_slot
    rt.ledger.take_slot = lambda *a, **k: (_ for _ in ()).throw(TransientError("table down"))
    with pytest.raises(TransientError):
        handle_drop(rt, drop_of(rt, url))
    rt.ledger.take_slot = real_take_slot
    made = dict(rt.geocatalog.ingestions)
    staged = set(rt.staging.blobs)
    assert len(made) == 3 and len(staged) == 3
    job = handle_drop(rt, drop_of(rt, url))  # the platform's retry (the lease was given back)
    assert job.attempts == 2
    assert job.state == JobState.RUNNING
    assert rt.geocatalog.ingestions == made and set(rt.staging.blobs) == staged
    assert [p.ingestion_id for p in job.parts] == list(made) and run_calls(rt) == 1


def test_a_crash_between_recording_the_next_part_and_its_run_starts_it_once(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    rt.geocatalog.finish(job.run_id, 10)
    real = rt.geocatalog.create_run
    rt.geocatalog.create_run = lambda *a: (_ for _ in ()).throw(TransientError("connection reset"))
    summary = reconcile(rt)
    assert "connection reset" in summary.errors[job.job_id]
    job = rt.ledger.get(job.job_id)
    assert job.state == JobState.RUNNING and job.run_id == "" and job.ingestion_id == job.parts[1].ingestion_id
    rt.geocatalog.create_run = real
    rt.ledger.update(job, next_attempt_at=None)  # its next attempt is due
    reconcile(rt)
    job = rt.ledger.get(job.job_id)
    assert job.run_id and run_calls(rt) == 2
    assert [r["ingestion"] for r in rt.geocatalog.runs.values()] == [job.parts[0].ingestion_id, job.ingestion_id]


def test_a_part_run_created_whose_reply_was_lost_is_adopted_not_made_twice(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    rt.geocatalog.finish(job.run_id, 10)
    real = rt.geocatalog.create_run

    def created_then_lost(collection_id, ingestion_id):
        real(collection_id, ingestion_id)
        raise TransientError("read timeout: may or may not have taken effect")

    rt.geocatalog.create_run = created_then_lost
    reconcile(rt)
    rt.geocatalog.create_run = real
    rt.ledger.update(rt.ledger.get(job.job_id), next_attempt_at=None)  # its next attempt is due
    reconcile(rt)
    job = rt.ledger.get(job.job_id)
    runs_of_part = [rid for rid, r in rt.geocatalog.runs.items() if r["ingestion"] == job.parts[1].ingestion_id]
    assert runs_of_part == [job.run_id]


def test_a_part_run_the_service_refuses_fails_that_part_and_the_next_one_starts(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    rt.geocatalog.finish(job.run_id, 10)
    real = rt.geocatalog.create_run
    refused = {"n": 0}

    def refuse_once(collection_id, ingestion_id):
        if not refused["n"]:
            refused["n"] += 1
            raise ServiceError(400, "BadRequest", "no", "POST", "runs")
        return real(collection_id, ingestion_id)

    rt.geocatalog.create_run = refuse_once
    reconcile(rt)
    job = rt.ledger.get(job.job_id)
    assert job.parts[1].state == "FAILED" and "BadRequest" in job.parts[1].error
    assert job.ingestion_id == job.parts[2].ingestion_id and job.run_id and run_calls(rt) == 2
    job = finish_current(rt, job)
    assert job.state == JobState.PARTIAL and "part 2 of 3" in job.last_error


def test_a_deleted_part_ingestion_is_registered_again_for_the_part_not_the_catalog(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    rt.geocatalog.finish(job.run_id, 10)
    rt.geocatalog.ingestions.pop(job.parts[1].ingestion_id)
    reconcile(rt)
    job = rt.ledger.get(job.job_id)
    assert rt.geocatalog.ingestions[job.ingestion_id]["sourceCatalogUrl"] == job.parts[1].catalog_url
    assert job.parts[1].ingestion_id == job.ingestion_id and job.run_id


def test_too_many_parts_is_invalid_and_says_what_to_do():
    rt = memory_runtime(max_items_per_ingestion=1)
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=MAX_PARTS + 1, catalog_id="big")))
    assert job.state == JobState.INVALID and "MAX_ITEMS_PER_INGESTION" in job.last_error
    assert rt.geocatalog.ingestions == {} and "split it" in job.last_error


def test_a_non_split_redrop_never_reuses_a_part_ingestion(rt):
    url = put_catalog(rt, "big", n_items=25, catalog_id="big")
    first = handle_drop(rt, drop_of(rt, url))
    for _ in range(3):
        first = finish_current(rt, first)
    put_catalog(rt, "big", n_items=3, catalog_id="big")  # the same catalog, now small
    job = handle_drop(rt, drop_of(rt, url))
    assert job.parts == [] and job.ingestion_id not in {p.ingestion_id for p in first.parts}
    assert rt.geocatalog.ingestions[job.ingestion_id]["sourceCatalogUrl"] == url


def test_sweep_removes_staging_blobs_once_the_job_ended_and_then_the_idle_staging_source():
    rt = memory_runtime(max_items_per_ingestion=10, stale_source_ttl_hours=0.0001)
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    staging_source = job.source_ids[-1]
    rt.ledger.put_source_record(STAGING, last_used=(now_utc() - timedelta(hours=1)).isoformat())
    assert deleted_ids(sweep(rt)) == [] and len(rt.staging.blobs) == 3  # running: everything stays
    for _ in range(3):
        job = finish_current(rt, job)
    assert job.state == JobState.SUCCEEDED
    for url in (STAGING, f"{ACCOUNT}/cat"):
        rt.ledger.put_source_record(url, last_used=(now_utc() - timedelta(hours=1)).isoformat())
    deleted = deleted_ids(sweep(rt))
    assert rt.staging.blobs == {} and staging_source in deleted
    assert staging_source not in rt.geocatalog.sources and rt.ledger.get_source_record(STAGING) is None


def test_sweep_leaves_the_parts_of_an_unfinished_job(rt):
    running = handle_drop(rt, drop_of(rt, put_catalog(rt, "aaa", n_items=25, catalog_id="aaa")))
    ended = handle_drop(rt, drop_of(rt, put_catalog(rt, "bbb", n_items=25, catalog_id="bbb")))
    for _ in range(3):
        ended = finish_current(rt, ended)
    sweep(rt)
    assert ended.state == JobState.SUCCEEDED and running.state == JobState.RUNNING
    assert sorted(rt.staging.blobs) == [p.catalog_url for p in running.parts]


def test_parts_survive_the_table_boundary_and_stay_far_below_the_cap():
    job = Job(job_id="j" * 32, blob_url=f"{ACCOUNT}/cat/a/catalog.json", etag="e")
    rt = memory_runtime()
    job.parts = [Part(i, part_url(rt, job.job_id, i), 10_000, "i" * 36, "r" * 36, "PARTIAL", 10_000, 9_000, 1_000,
                      "x" * 5_000) for i in range(3)]  # fmt: skip
    row = job.to_entity("open")
    back = Job.from_entity(row)
    assert [(p.index, p.catalog_url, p.items, p.state, p.failed_items) for p in back.parts] == [
        (p.index, p.catalog_url, p.items, p.state, p.failed_items) for p in job.parts
    ]
    assert len(back.parts[0].error) == PART_ERROR_MAX and "truncated" in back.parts[0].error
    assert len(row["parts"]) < 2_500  # three parts
    longest = [Part(i, "https://" + "a" * 200 + "/" + "s" * 63 + "/" + "j" * 32 + "/part-000.json", 10_000,
                    "i" * 36, "r" * 36, "SUCCEEDED", 10_000, 10_000, 0, "e" * 9_999) for i in range(MAX_PARTS)]  # fmt: skip
    assert len(parts_text(longest)) < MAX_LIST_TEXT * 0.8


def test_the_report_of_a_split_job_lists_its_parts(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "big", n_items=25, catalog_id="big")))
    for _ in range(3):
        job = finish_current(rt, job)
    report = rt.ledger._on_terminal.written[-1]
    assert [p["items"] for p in report["job"]["parts"]] == [10, 10, 5]
    json.dumps(build_report(job))  # JSON-ready


def test_sweep_removes_blobs_of_a_job_the_ledger_does_not_know_only_once_they_are_old():
    rt = memory_runtime(stale_source_ttl_hours=1)
    fresh, stale = f"{STAGING}/{'f' * 32}/part-000.json", f"{STAGING}/{'e' * 32}/part-000.json"
    rt.staging.put(fresh, b"{}")
    rt.staging.put(stale, b"{}")
    rt.staging.changed[stale] = now_utc() - timedelta(hours=2)
    sweep(rt)
    assert list(rt.staging.blobs) == [fresh]
