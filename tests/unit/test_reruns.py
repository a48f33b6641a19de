"""reruns: failed-items-only re-runs decided and started by reconcile, on the fast in-memory tier.

The same paths run against Azurite and the emulator in tests/integration/test_reruns.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_core.errors import StaleJob
from ingest_core.job import now_utc
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import follow_run, reconcile
from ingest_core.states import JobState
from tests.unit.memory_twin import done_then_lost, drop_of, memory_runtime, put_catalog


@pytest.fixture
def rt():
    return memory_runtime()


def running(rt, n_items=3, **rule):
    if rule:
        rt = memory_runtime(routing_rules=[{"container": "cat", **rule}])
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", n_items=n_items, catalog_id="coll")))
    assert job.state == JobState.RUNNING
    return rt, job


def runs_made(rt):
    return rt.geocatalog.calls.count("create_run")


def test_a_transient_item_failure_gets_one_rerun_then_the_job_succeeds(rt):
    rt, job = running(rt)
    first = job.run_id
    rt.geocatalog.finish(first, ok=2, failed=1, status="Failed", code="InternalIntermitentError")
    reconcile(rt)
    rerun = rt.ledger.get(job.job_id)
    assert rerun.state == JobState.RUNNING and rerun.run_id != first and runs_made(rt) == 2
    assert rerun.run_ids == [first, rerun.run_id] and rerun.reruns == 1 and rerun.rerun_requested_at is None
    assert "InternalIntermitentError" in rerun.last_error and "re-run 1 of at most 2" in rerun.warnings[-1]
    assert rt.geocatalog.runs[rerun.run_id]["skipExistingItems"] is True
    reconcile(rt)  # the re-run is in flight: a second pass changes nothing
    assert runs_made(rt) == 2
    rt.geocatalog.finish(rerun.run_id, ok=3)
    assert reconcile(rt).finished == {job.job_id: "SUCCEEDED"}
    done = rt.ledger.get(job.job_id)
    assert (done.successful_items, done.failed_items, done.last_error) == (3, 0, "")
    assert done.run_ids == [first, rerun.run_id] and runs_made(rt) == 2


def test_a_non_transient_code_gets_no_rerun_and_ends_partial_with_codes_and_counts(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="StacValidationFailed")
    assert reconcile(rt).finished == {job.job_id: "PARTIAL"}
    done = rt.ledger.get(job.job_id)
    assert runs_made(rt) == 1 and done.reruns == 0 and done.run_ids == []
    assert "StacValidationFailed" in done.last_error and "1 of 3 item(s) failed" in done.last_error
    assert "no re-run: not transient" in done.last_error


@pytest.mark.parametrize(
    ("status", "code"), [("Failed", "ErrorsInBatchOperation"), ("Succeeded", ""), ("Failed", "BrandNewCode")]
)
def test_a_run_that_names_no_known_cause_is_not_rerun(rt, status, code):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status=status, code=code)
    assert reconcile(rt).finished == {job.job_id: "PARTIAL"} and runs_made(rt) == 1
    assert "no re-run" in rt.ledger.get(job.job_id).last_error


def test_a_wholly_failed_run_with_a_transient_code_is_rerun(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=0, status="Failed", code="InternalError")
    reconcile(rt)
    rerun = rt.ledger.get(job.job_id)
    assert rerun.state == JobState.RUNNING and runs_made(rt) == 2
    rt.geocatalog.finish(rerun.run_id, ok=3)
    assert reconcile(rt).finished == {job.job_id: "SUCCEEDED"}


def test_reruns_stop_at_max_reruns_and_the_job_says_so():
    rt, job = running(memory_runtime(max_reruns=2))
    for _ in range(3):
        current = rt.ledger.get(job.job_id)
        rt.geocatalog.finish(current.run_id, ok=2, failed=1, status="Failed", code="IngestionResourceTimeout")
        reconcile(rt)
    done = rt.ledger.get(job.job_id)
    assert done.state == JobState.PARTIAL and runs_made(rt) == 3 and done.reruns == 2 and len(done.run_ids) == 3
    assert "MAX_RERUNS (2)" in done.last_error and "after 2 re-run(s)" in done.last_error


def test_max_reruns_zero_turns_reruns_off():
    rt, job = running(memory_runtime(max_reruns=0))
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    assert reconcile(rt).finished == {job.job_id: "PARTIAL"} and runs_made(rt) == 1


def test_an_authentication_failure_renews_the_sas_before_the_rerun(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=0, status="Failed", code="IngestionAuthenticationFailed")
    before = len(rt.geocatalog.calls)
    reconcile(rt)
    calls = rt.geocatalog.calls[before:]
    # The cached source is not trusted: confirmed, its SAS replaced (whatever its expiry), then the run.
    assert calls[:3] == ["get_run", "get_source", "replace_source"] and calls[-1] == "create_run"
    assert calls.count("create_run") == 1  # (the twin's PUT answers through one more get_source)
    assert rt.ledger.get(job.job_id).source_ids == job.source_ids


def test_a_transient_failure_without_authentication_leaves_the_sas_alone(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    before = len(rt.geocatalog.calls)
    reconcile(rt)
    assert rt.geocatalog.calls[before:] == ["get_run", "create_run"]


def test_skip_existing_items_is_turned_on_first_when_the_rule_had_it_off(rt):
    rt, job = running(rt, skipExistingItems=False)
    assert rt.geocatalog.runs[job.run_id]["skipExistingItems"] is False
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    before = len(rt.geocatalog.calls)
    reconcile(rt)
    assert rt.geocatalog.calls[before:] == ["get_run", "update_ingestion", "create_run"]
    rerun = rt.ledger.get(job.job_id)
    assert rt.geocatalog.ingestions[job.ingestion_id]["skipExistingItems"] is True
    assert rt.geocatalog.runs[rerun.run_id]["skipExistingItems"] is True
    assert '"skipExistingItems": true' in rerun.ingestion_options and "turned on" in rerun.warnings[-1]
    rt.geocatalog.finish(rerun.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    before = len(rt.geocatalog.calls)
    reconcile(rt)  # the second re-run: already on, no second PATCH
    assert rt.geocatalog.calls[before:] == ["get_run", "create_run"]


def test_a_crash_after_the_rerun_post_adopts_that_run_instead_of_making_another(rt, monkeypatch):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    real = rt.geocatalog.create_run

    monkeypatch.setattr(rt.geocatalog, "create_run", done_then_lost(real, ConnectionResetError("reply lost")))
    assert job.job_id in reconcile(rt).errors
    staged = rt.ledger.get(job.job_id)
    assert staged.rerun_requested_at and staged.reruns == 1 and staged.lease_until is None  # intent, lease given back
    monkeypatch.setattr(rt.geocatalog, "create_run", real)
    reconcile(rt)
    after = rt.ledger.get(job.job_id)
    (made,) = [r for r in rt.geocatalog.runs if r != job.run_id]
    assert after.run_id == made and after.reruns == 1 and after.rerun_requested_at is None
    assert len(rt.geocatalog.runs) == 2 and rt.geocatalog.calls.count("list_runs") == 1


def test_a_pass_that_died_holding_the_intent_is_waited_for_then_taken_over(rt, monkeypatch):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    monkeypatch.setattr(rt.ledger, "release", lambda job: None)  # a hard kill: nothing runs after the POST
    real = rt.geocatalog.create_run

    monkeypatch.setattr(rt.geocatalog, "create_run", done_then_lost(real, SystemExit("killed")))
    with pytest.raises(SystemExit):
        follow_run(rt, rt.ledger.get(job.job_id))
    monkeypatch.setattr(rt.geocatalog, "create_run", real)
    reconcile(rt)  # its lease is live: maybe it is only slow, so this pass leaves it alone
    held = rt.ledger.get(job.job_id)
    assert held.run_id == job.run_id and len(rt.geocatalog.runs) == 2
    rt.ledger.update(held, lease_until=now_utc() - timedelta(seconds=1))  # the lease runs out
    reconcile(rt)
    after = rt.ledger.get(job.job_id)
    assert after.run_id != job.run_id and after.run_id in rt.geocatalog.runs and len(rt.geocatalog.runs) == 2


def test_two_passes_on_the_same_ended_run_make_one_rerun(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    a, b = rt.ledger.get(job.job_id), rt.ledger.get(job.job_id)  # two instances read the same row
    follow_run(rt, a)
    with pytest.raises(StaleJob):
        follow_run(rt, b)  # its intent write loses: it never reaches the POST
    assert runs_made(rt) == 2 and rt.ledger.get(job.job_id).reruns == 1


def test_a_rerun_the_service_refuses_ends_the_job_as_the_run_did(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    del rt.geocatalog.ingestions[job.ingestion_id]  # deleted on the service meanwhile
    assert reconcile(rt).finished == {job.job_id: "PARTIAL"}
    done = rt.ledger.get(job.job_id)
    assert "the re-run could not start (ResourceNotFound" in done.last_error and done.reruns == 1


def test_final_counters_count_items_a_rerun_skipped(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=2, failed=1, status="Failed", code="InternalError")
    reconcile(rt)
    rerun = rt.ledger.get(job.job_id)
    rt.geocatalog.finish(rerun.run_id, ok=1)  # a service that counts only the item it ingested this time
    reconcile(rt)
    done = rt.ledger.get(job.job_id)
    assert (done.state, done.total_items, done.successful_items) == (JobState.SUCCEEDED, 3, 3)


def test_a_wholly_failed_run_with_a_permanent_code_ends_failed_saying_none_was_ingested(rt):
    rt, job = running(rt)
    rt.geocatalog.finish(job.run_id, ok=0, status="Failed", code="IngestionResourceUriNotFound")
    assert reconcile(rt).finished == {job.job_id: "FAILED"} and runs_made(rt) == 1
    error = rt.ledger.get(job.job_id).last_error
    assert error.startswith("IngestionResourceUriNotFound: ") and "0 of 3 item(s) ingested" in error
    assert "codes: IngestionResourceUriNotFound; no re-run: not transient" in error
