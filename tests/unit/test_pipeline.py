"""pipeline: every branch of handle_drop/advance, and the API's minimum calls, on the fast in-memory tier.

The same branches run against Azurite and the emulator in tests/integration (test_pipeline*, test_resilience).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from ingest_core.errors import ServiceError, TransientError
from ingest_core.job import now_utc
from ingest_core.pipeline import advance, handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.states import JobState
from tests.unit.memory_twin import ACCOUNT, done_then_lost, drop_of, memory_runtime, put_catalog


@pytest.fixture
def rt():
    return memory_runtime()


def calls_during(rt, fn):
    before = len(rt.geocatalog.calls)
    result = fn()
    return result, rt.geocatalog.calls[before:]


def test_first_catalog_in_a_new_container_with_a_new_collection(rt):
    url = put_catalog(rt, "a", catalog_id="coll-a")
    job, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, url)))
    assert job.state == JobState.RUNNING and job.run_id
    # Creation goes first everywhere: no GET of the collection, no list of ingestions of a new collection.
    assert calls == ["create_collection", "create_source", "create_ingestion", "create_run"]
    assert rt.ledger.get_source_record(f"{ACCOUNT}/cat")["owned"] is True


def test_new_catalog_into_a_known_container_and_collection_costs_two_calls(rt):
    handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    store = rt.ledger.store
    writes = store.writes()
    job, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, put_catalog(rt, "b", catalog_id="coll"))))
    assert job.state == JobState.RUNNING
    assert calls == ["create_ingestion", "create_run"]
    assert store.writes() - writes <= 4  # claim, run slot with the preflight results, RUNNING


def test_a_redrop_costs_one_call_on_the_ingestion_the_ledger_holds(rt):
    url = put_catalog(rt, "a", catalog_id="coll")
    first = handle_drop(rt, drop_of(rt, url))
    put_catalog(rt, "a", n_items=3, catalog_id="coll")  # changed content, same URL
    job, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, url)))
    assert calls == ["create_run"]
    assert job.ingestion_id == first.ingestion_id and job.run_id != first.run_id


def test_a_redrop_whose_ingestion_was_deleted_lists_then_registers_it_again(rt):
    url = put_catalog(rt, "a", catalog_id="coll")
    first = handle_drop(rt, drop_of(rt, url))
    rt.geocatalog.ingestions.clear()  # deleted on the service
    put_catalog(rt, "a", n_items=3, catalog_id="coll")
    job, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, url)))
    assert job.state == JobState.RUNNING and job.ingestion_id != first.ingestion_id
    assert calls == ["create_run", "list_ingestions", "create_ingestion", "create_run"]
    assert len(rt.geocatalog.ingestions) == 1


def test_a_duplicate_delivery_costs_nothing(rt):
    url = put_catalog(rt, "a", catalog_id="coll")
    d = drop_of(rt, url)
    first = handle_drop(rt, d)
    reads = len(rt.storage.reads)
    again, calls = calls_during(rt, lambda: handle_drop(rt, d))
    assert calls == [] and len(rt.storage.reads) == reads
    assert again.job_id == first.job_id and again.state == JobState.RUNNING


def test_the_blob_triggers_content_is_used_instead_of_reading_the_catalog_again(rt):
    url = put_catalog(rt, "a", catalog_id="coll")
    content = rt.storage.blobs[url][0]
    job = handle_drop(rt, drop_of(rt, url), content=content)
    assert job.state == JobState.RUNNING and url not in rt.storage.reads


def test_an_identical_reupload_is_ignored_without_a_call(rt):
    url = put_catalog(rt, "a", catalog_id="coll")
    first = handle_drop(rt, drop_of(rt, url))
    put_catalog(rt, "a", catalog_id="coll")  # same bytes, new ETag
    job, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, url)))
    assert job.state == JobState.IGNORED and first.job_id in job.last_error and calls == []


def test_a_changed_reupload_is_not_mistaken_for_an_unchanged_one(rt):
    url = put_catalog(rt, "a", catalog_id="coll")
    handle_drop(rt, drop_of(rt, url))
    item = f"{ACCOUNT}/cat/a/items/i0.json"
    doc = json.loads(rt.storage.blobs[item][0])
    doc["properties"]["datetime"] = "2025-01-01T00:00:00Z"
    rt.storage.put(item, json.dumps(doc))  # only an item changed
    put_catalog_same = rt.storage.blobs[url][0]
    rt.storage.put(url, put_catalog_same)
    job = handle_drop(rt, drop_of(rt, url))
    assert job.state == JobState.RUNNING


def test_a_queued_older_upload_is_superseded_by_a_newer_one():
    rt = memory_runtime(max_concurrent_runs=1)
    handle_drop(rt, drop_of(rt, put_catalog(rt, "busy", catalog_id="busy")))  # takes the only slot
    url = put_catalog(rt, "a", catalog_id="coll")
    older = handle_drop(rt, drop_of(rt, url))
    assert older.state == JobState.QUEUED and not older.slot
    put_catalog(rt, "a", n_items=3, catalog_id="coll")
    newer = handle_drop(rt, drop_of(rt, url))
    assert newer.state == JobState.QUEUED
    after = rt.ledger.get(older.job_id)
    assert after.state == JobState.SUPERSEDED and newer.job_id in after.last_error


SEQ_OLD = "0000000000000000000000000000111100000000000000a1"
SEQ_NEW = "0000000000000000000000000000111100000000000000b2"


@pytest.mark.parametrize("order", ["older first", "newer first"])
def test_the_newer_sequencer_wins_whatever_the_arrival_order(order):
    rt = memory_runtime(max_concurrent_runs=1)
    handle_drop(rt, drop_of(rt, put_catalog(rt, "busy", catalog_id="busy")))  # jobs below stay QUEUED
    url = put_catalog(rt, "a", catalog_id="coll")
    old_drop = drop_of(rt, url, sequencer=SEQ_OLD)
    if order == "older first":
        old = handle_drop(rt, old_drop)
        assert old.state == JobState.QUEUED
        put_catalog(rt, "a", n_items=3, catalog_id="coll")
        new = handle_drop(rt, drop_of(rt, url, sequencer=SEQ_NEW))
    else:  # Event Grid delivered the later write first
        put_catalog(rt, "a", n_items=3, catalog_id="coll")
        new = handle_drop(rt, drop_of(rt, url, sequencer=SEQ_NEW))
        old = handle_drop(rt, old_drop)
    assert rt.ledger.get(new.job_id).state == JobState.QUEUED  # the newer upload is the one that goes
    assert rt.ledger.get(old.job_id).state == JobState.SUPERSEDED


def test_a_catalog_before_its_items_is_deferred_then_started(rt):
    url = f"{ACCOUNT}/cat/late/catalog.json"
    rt.storage.put(url, json.dumps({"type": "Catalog", "id": "late", "stac_version": "1.0.0", "description": "d",
                                    "links": [{"rel": "item", "href": "./items/i0.json"}]}))  # fmt: skip
    job, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, url)))
    assert job.state == JobState.DEFERRED and "i0.json" in job.last_error and calls == []
    assert job.next_attempt_at and job.next_attempt_at > now_utc()
    put_catalog(rt, "late", n_items=1, catalog_id="late")  # the items arrive (the catalog is re-uploaded too)
    rt.storage.blobs[url] = (rt.storage.blobs[url][0], job.etag)  # ...with the same ETag, as if only items came
    rt.ledger.update(job, lease_until=None, next_attempt_at=None)
    reconcile(rt)
    assert rt.ledger.get(job.job_id).state == JobState.RUNNING


def test_a_deferred_job_is_not_retried_before_its_next_attempt(rt):
    url = f"{ACCOUNT}/cat/late/catalog.json"
    rt.storage.put(url, json.dumps({"type": "Catalog", "id": "late", "stac_version": "1.0.0", "description": "d",
                                    "links": [{"rel": "item", "href": "./items/i0.json"}]}))  # fmt: skip
    job = handle_drop(rt, drop_of(rt, url))
    rt.ledger.update(job, lease_until=None)  # lease free, but the back-off has not passed
    reads = len(rt.storage.reads)
    assert reconcile(rt).resumed == {} and len(rt.storage.reads) == reads


def test_a_run_created_by_an_attempt_that_died_is_adopted_not_duplicated(rt, monkeypatch):
    url = put_catalog(rt, "a", catalog_id="coll")
    real = rt.geocatalog.create_run

    monkeypatch.setattr(rt.geocatalog, "create_run", done_then_lost(real, TransientError("reply lost")))
    with pytest.raises(TransientError):
        handle_drop(rt, drop_of(rt, url))
    monkeypatch.setattr(rt.geocatalog, "create_run", real)
    (job,) = rt.ledger.open_jobs()
    assert job.run_requested_at and job.slot and not job.lease_until
    resumed, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, url)))
    assert resumed.state == JobState.RUNNING and calls == ["list_runs"]
    assert len(rt.geocatalog.runs) == 1 and resumed.run_id in rt.geocatalog.runs


def test_a_crash_after_the_ingestion_post_adopts_it_on_the_retry(rt, monkeypatch):
    url = put_catalog(rt, "a", catalog_id="coll")
    real = rt.geocatalog.create_ingestion

    monkeypatch.setattr(rt.geocatalog, "create_ingestion", done_then_lost(real, TransientError("reply lost")))
    with pytest.raises(TransientError):
        handle_drop(rt, drop_of(rt, url))
    monkeypatch.setattr(rt.geocatalog, "create_ingestion", real)
    job = handle_drop(rt, drop_of(rt, url))
    assert job.state == JobState.RUNNING and len(rt.geocatalog.ingestions) == 1
    assert job.attempts == 2


def test_a_crash_after_the_source_post_keeps_the_source_owned(rt, monkeypatch):
    url = put_catalog(rt, "a", catalog_id="coll")
    real = rt.geocatalog.create_source

    monkeypatch.setattr(rt.geocatalog, "create_source", done_then_lost(real, TransientError("reply lost")))
    with pytest.raises(TransientError):
        handle_drop(rt, drop_of(rt, url))
    monkeypatch.setattr(rt.geocatalog, "create_source", real)
    rt.sources.forget(f"{ACCOUNT}/cat")
    job = handle_drop(rt, drop_of(rt, url))
    assert job.state == JobState.RUNNING and len(rt.geocatalog.sources) == 1
    assert rt.ledger.get_source_record(f"{ACCOUNT}/cat")["owned"] is True  # the 409 named our own source


def test_a_source_someone_else_made_is_reused_but_not_owned(rt):
    rt.geocatalog.create_source({"kind": "SasToken", "connectionInfo": {
        "containerUrl": f"{ACCOUNT}/cat", "sasToken": "sv=x&se=2031-01-01T00:00:00+00:00&sig=THEIRS"}})  # fmt: skip
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    assert job.state == JobState.RUNNING and job.source_ids == list(rt.geocatalog.sources)
    assert not rt.ledger.get_source_record(f"{ACCOUNT}/cat").get("owned")


def test_concurrent_first_drops_into_one_container_share_one_source_creation(rt):
    urls = [put_catalog(rt, f"c{i}", catalog_id=f"coll{i}") for i in range(6)]
    barrier, jobs = threading.Barrier(6), []

    def go(u):
        barrier.wait()
        jobs.append(handle_drop(rt, drop_of(rt, u)))

    threads = [threading.Thread(target=go, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rt.geocatalog.calls.count("create_source") == 1
    assert {tuple(j.source_ids) for j in jobs} == {tuple(rt.geocatalog.sources)}


def test_a_trusted_source_is_not_fetched_again_until_the_trust_runs_out(rt):
    handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    _, calls = calls_during(rt, lambda: handle_drop(rt, drop_of(rt, put_catalog(rt, "b", catalog_id="coll"))))
    assert "get_source" not in calls
    untrusting = memory_runtime(source_trust_seconds=0)
    handle_drop(untrusting, drop_of(untrusting, put_catalog(untrusting, "a", catalog_id="coll")))
    _, calls = calls_during(
        untrusting,
        lambda: handle_drop(untrusting, drop_of(untrusting, put_catalog(untrusting, "b", catalog_id="coll"))),
    )
    assert calls.count("get_source") == 1


def test_a_service_refusal_ends_failed_with_its_code_and_frees_the_slot(rt, monkeypatch):
    def refuse(collection_id, ingestion_id):
        raise ServiceError(403, "Forbidden", "no access", "POST", "/runs")

    monkeypatch.setattr(rt.geocatalog, "create_run", refuse)
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    assert job.state == JobState.FAILED and job.last_error.startswith("Forbidden")
    assert rt.ledger.runs_in_flight(rt.settings.max_concurrent_runs) == 0 and rt.ledger.open_jobs() == []


def test_a_job_advanced_twice_makes_no_second_run(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    again, calls = calls_during(rt, lambda: advance(rt, rt.ledger.get(job.job_id)))
    assert calls == [] and again.run_id == job.run_id


def test_reconcile_follows_a_run_to_its_end_and_writes_counters_only_when_they_change(rt):
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    writes = rt.ledger.store.writes()
    reconcile(rt)
    reconcile(rt)
    assert rt.ledger.store.writes() == writes  # a Pending run with unchanged counters: no write
    rt.geocatalog.finish(job.run_id, ok=2)
    assert reconcile(rt).finished == {job.job_id: "SUCCEEDED"}
    done = rt.ledger.get(job.job_id)
    assert (done.successful_items, done.failed_items) == (2, 0)
    assert rt.ledger._on_terminal.written[-1]["outcome"] == "SUCCEEDED"


def test_the_report_of_a_job_is_redacted_whatever_the_job_holds(rt, monkeypatch):
    secret = "sig=c2VjcmV0c2VjcmV0"

    def refuse(collection_id, ingestion_id):
        raise ServiceError(403, "AuthorizationFailure", f"denied for https://a/b?sv=1&{secret}", "POST", "/runs")

    monkeypatch.setattr(rt.geocatalog, "create_run", refuse)
    handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    (report,) = rt.ledger._on_terminal.written
    assert report["outcome"] == "FAILED" and "c2VjcmV0c2VjcmV0" not in json.dumps(report)
    assert "AuthorizationFailure" in report["error"]


def test_legacy_rows_are_moved_by_migrate(rt):
    from ingest_core.job import Job
    from ingest_core.ledger import LEGACY_JOB_PARTITION
    from ingest_core.migrate import migrate

    url = f"{ACCOUNT}/cat/old/catalog.json"
    legacy = {"PartitionKey": LEGACY_JOB_PARTITION, "RowKey": "a" * 32, "job_id": "a" * 32, "blob_url": url,
              "etag": "0x1", "state": "SUCCEEDED", "source_ids": "s1,s2", "warnings": "w1; w2",
              "created_at": (now_utc() - timedelta(days=1)).isoformat(), "lease_until": ""}  # fmt: skip
    rt.ledger.store.insert(legacy)
    assert migrate(rt.ledger) == {"finished": 1, "open": 0, "already": 0}
    assert migrate(rt.ledger) == {"finished": 0, "open": 0, "already": 0}
    (job,) = rt.ledger.jobs()
    assert isinstance(job, Job) and job.source_ids == ["s1", "s2"] and job.warnings == ["w1", "w2"]
    # The migrated job is found as this upload's job: a late duplicate delivery does nothing.
    assert not rt.ledger.claim(drop_of_url(url, "0x1"), 60).mine


def drop_of_url(url: str, etag: str):
    from ingest_core.events import Drop, parse_blob_url

    account, container, path = parse_blob_url(url)
    return Drop(account=account, container=container, path=path, url=url, etag=etag)


def test_pipeline_never_lists_ingestions_of_a_collection_it_just_created(rt):
    handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    assert "list_ingestions" not in rt.geocatalog.calls


@pytest.mark.parametrize(("allowed", "sources"), [("", 1), ("private", 2)])
def test_an_asset_in_another_container_gets_a_source_only_when_asset_containers_names_it(allowed, sources):
    rt = memory_runtime(asset_containers=[allowed] if allowed else [])
    base = f"{ACCOUNT}/cat/a"
    private = {"type": "Feature", "stac_version": "1.0.0", "id": "p", "geometry": {"type": "Point", "coordinates": [0, 0]},
               "bbox": [0, 0, 0, 0], "properties": {"datetime": "2024-01-01T00:00:00Z"}, "links": [],
               "assets": {"data": {"href": f"{ACCOUNT}/private/p.tif"}}}  # fmt: skip
    rt.storage.put(f"{base}/items/p.json", json.dumps(private))
    url = put_catalog(rt, "a", n_items=1, catalog_id="coll")
    doc = json.loads(rt.storage.blobs[url][0])
    doc["links"].append({"rel": "item", "href": "./items/p.json"})
    rt.storage.put(url, json.dumps(doc))
    job = handle_drop(rt, drop_of(rt, url))
    assert job.state == JobState.RUNNING and len(rt.geocatalog.sources) == sources == len(job.source_ids)
    containers = {s["connectionInfo"]["containerUrl"] for s in rt.geocatalog.sources.values()}
    assert (f"{ACCOUNT}/private" in containers) is bool(allowed)
    assert (f"{ACCOUNT}/private" in rt.storage.minted) is bool(allowed)  # no SAS minted for a refused container
    assert job.predicted_failures == (0 if allowed else 1)
    assert any("asset-container-not-allowed" in w for w in job.warnings) is not bool(allowed)
