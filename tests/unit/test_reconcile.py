"""reconcile: how a run maps to a terminal job state, and what one pass over the open jobs does."""

from datetime import timedelta

import pytest

from ingest_core.errors import ServiceError
from ingest_core.ledger import OPEN
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import MAX_ATTEMPTS, outcome, reconcile
from ingest_core.states import JobState
from tests.unit.memory_twin import drop_of, memory_runtime, put_catalog, run_fails_for


def run(status, ok=0, failed=0, history=None):
    return {"operation": {"status": status, "totalSuccessfulItems": ok, "totalFailedItems": failed,
                          "statusHistory": history or [{"status": status}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("r", "state"),
    [
        (run("Pending"), None),
        (run("Running", ok=3), None),
        (run("Succeeded", ok=6), JobState.SUCCEEDED),
        (run("Succeeded", ok=5, failed=1), JobState.PARTIAL),
        (run("Failed", ok=5, failed=1), JobState.PARTIAL),
        (run("Failed"), JobState.FAILED),
        (run("Canceled"), JobState.FAILED),
    ],
)
def test_outcome(r, state):
    assert outcome(r)[0] == state


def test_failure_reason_comes_from_status_history():
    r = run("Failed", history=[{"status": "Pending"},
                               {"status": "Failed", "errorCode": "IngestionAuthenticationFailed", "errorMessage": "SAS expired"}])  # fmt: skip
    assert outcome(r) == (JobState.FAILED, "IngestionAuthenticationFailed: SAS expired")


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (run("SUCCESS", ok=2), (JobState.SUCCEEDED, "")),
        (run("suceeded", ok=2), (JobState.SUCCEEDED, "")),  # a spelling the service has used
        (run("Finished", ok=2, failed=3), (JobState.PARTIAL, "3 item(s) failed")),
        (run("Canceled"), (JobState.FAILED, "run canceled")),
        (run("Failed", ok=1, failed=1), (JobState.PARTIAL, "run failed")),
        (run("Failed", ok=1), (JobState.FAILED, "run failed")),
        (run("Failed", failed=1, history=[{"errorCode": "Boom"}]), (JobState.FAILED, "Boom")),
        (run("Failed", history=[{"errorMessage": "no code"}]), (JobState.FAILED, "run failed")),
        ({}, (None, "")),
        ({"operation": {"status": "Failed", "statusHistory": []}}, (JobState.FAILED, "run failed")),
        # counters the service left out count as none
        ({"operation": {"status": "Succeeded", "totalSuccessfulItems": 2}}, (JobState.SUCCEEDED, "")),
        ({"operation": {"status": "Failed", "totalFailedItems": 2}}, (JobState.FAILED, "run failed")),
        # the error text keeps the code and the message whole
        (
            run("Failed", history=[{"errorCode": "XmlInvalid", "errorMessage": "bad XML"}]),
            (JobState.FAILED, "XmlInvalid: bad XML"),
        ),
    ],
)
def test_outcome_with_its_error_text(r, expected):
    assert outcome(r) == expected


# -- reconcile passes, on the fast in-memory tier ---------------------------------------------------


@pytest.fixture
def rt():
    return memory_runtime()


def running_job(rt, folder="a"):
    return handle_drop(rt, drop_of(rt, put_catalog(rt, folder, catalog_id=f"coll-{folder}")))


def test_a_run_deleted_on_the_service_fails_its_job_and_frees_the_slot(rt):
    job = running_job(rt)
    del rt.geocatalog.runs[job.run_id]
    assert reconcile(rt).finished == {job.job_id: "FAILED"}
    done = rt.ledger.get(job.job_id)
    assert done.last_error == f"ResourceNotFound: run {job.run_id} no longer exists"
    assert rt.ledger.runs_in_flight(rt.settings.max_concurrent_runs) == 0


def test_counters_in_flight_are_recorded_and_the_end_takes_the_final_ones(rt):
    job = running_job(rt)
    op = rt.geocatalog.runs[job.run_id]["operation"]
    op.update(status="Running", totalItems=4, totalSuccessfulItems=1, totalFailedItems=1, totalPendingItems=2)
    assert reconcile(rt).finished == {}
    mid = rt.ledger.get(job.job_id)
    assert (mid.total_items, mid.successful_items, mid.failed_items, mid.pending_items) == (4, 1, 1, 2)
    op.update(totalItems=0)  # the service's total is 0 until it has walked the catalog: keep what we know
    reconcile(rt)
    assert rt.ledger.get(job.job_id).total_items == 4
    rt.geocatalog.finish(job.run_id, ok=3, failed=1)
    assert reconcile(rt).finished == {job.job_id: "PARTIAL"}
    done = rt.ledger.get(job.job_id)
    assert (done.successful_items, done.failed_items) == (3, 1) and done.last_error.startswith("1 item(s) failed")
    assert "no re-run" in done.last_error  # no error code: the service named no cause, so no re-run


def test_one_jobs_fault_never_stops_the_pass_and_a_stuck_job_ends_failed(rt, monkeypatch):
    bad, good = running_job(rt, "bad"), running_job(rt, "good")
    monkeypatch.setattr(rt.geocatalog, "get_run", run_fails_for(rt, bad.run_id, KeyError("a bug this job triggers")))
    rt.geocatalog.finish(good.run_id, ok=2)
    summary = reconcile(rt)
    assert summary.finished == {good.job_id: "SUCCEEDED"}
    assert summary.errors == {bad.job_id: "KeyError: 'a bug this job triggers'"}
    assert rt.ledger.get(bad.job_id).state == JobState.RUNNING  # one attempt: not given up yet
    rt.ledger.update(rt.ledger.get(bad.job_id), attempts=MAX_ATTEMPTS - 1)
    reconcile(rt)
    assert rt.ledger.get(bad.job_id).state == JobState.RUNNING
    rt.ledger.update(rt.ledger.get(bad.job_id), attempts=MAX_ATTEMPTS)
    reconcile(rt)
    stuck = rt.ledger.get(bad.job_id)
    assert stuck.state == JobState.FAILED
    assert stuck.last_error == f"internal error after {MAX_ATTEMPTS} attempts (KeyError): report it with this job id"


def test_a_service_fault_is_retried_forever_not_given_up(rt, monkeypatch):
    job = running_job(rt)
    rt.ledger.update(job, attempts=MAX_ATTEMPTS + 3)

    def get_run(collection_id, ingestion_id, run_id):
        raise ServiceError(500, "InternalServerError", "try later")

    monkeypatch.setattr(rt.geocatalog, "get_run", get_run)
    error = reconcile(rt).errors[job.job_id]
    assert error.startswith("ServiceError: ") and error.endswith("InternalServerError: try later")
    assert rt.ledger.get(job.job_id).state == JobState.RUNNING


def test_a_job_whose_row_ended_elsewhere_is_tidied(rt, monkeypatch):
    job = running_job(rt)
    rt.geocatalog.finish(job.run_id, ok=2)
    stale = rt.ledger.get(job.job_id)
    monkeypatch.setattr(rt.ledger, "open_jobs", lambda states=None: [stale])  # read before it ended elsewhere
    rt.ledger.transition(rt.ledger.get(job.job_id), JobState.SUCCEEDED)
    summary = reconcile(rt)
    assert summary.finished == {} and summary.errors == {}
    assert rt.ledger.get(job.job_id).state == JobState.SUCCEEDED


def test_due_jobs_go_before_waiting_ones_oldest_first():
    from ingest_core.job import Job, now_utc
    from ingest_core.reconcile import _due_first

    now = now_utc()
    old = Job(job_id="old", blob_url="u", etag="e", created_at=now - timedelta(hours=2))
    new = Job(job_id="new", blob_url="u", etag="e", created_at=now - timedelta(hours=1))
    waiting = Job(job_id="wait", blob_url="u", etag="e", created_at=now - timedelta(hours=3),
                  next_attempt_at=now + timedelta(minutes=5))  # fmt: skip
    assert [j.job_id for j in sorted([waiting, new, old], key=_due_first)] == ["old", "new", "wait"]


@pytest.mark.parametrize("operation", [{"status": "Running"}, None], ids=["no counters yet", "no operation yet"])
def test_a_run_that_reports_no_counters_yet_is_followed_with_none_and_no_write(rt, operation):
    job = running_job(rt)
    if operation is None:
        del rt.geocatalog.runs[job.run_id]["operation"]
    else:
        rt.geocatalog.runs[job.run_id]["operation"] = operation
    before = rt.ledger.get(job.job_id)
    summary = reconcile(rt)
    assert summary.followed == {job.job_id: "RUNNING"} and summary.errors == {}
    after = rt.ledger.get(job.job_id)
    assert (after.successful_items, after.failed_items, after.pending_items) == (0, 0, 0)
    assert after.row_etag == before.row_etag  # nothing new: the row is not rewritten


def test_a_run_is_read_under_its_own_collection_and_ingestion(rt, monkeypatch):
    job = running_job(rt)
    real = rt.geocatalog.get_run

    def get_run(collection_id, ingestion_id, run_id):  # the service's path names all three: a wrong one is a 404
        ingestion = rt.geocatalog.ingestions[rt.geocatalog.runs[run_id]["ingestion"]]
        if (collection_id, ingestion_id) != (ingestion["collection"], ingestion["id"]):
            raise ServiceError(404, "ResourceNotFound", f"run {run_id} not found")
        return real(collection_id, ingestion_id, run_id)

    monkeypatch.setattr(rt.geocatalog, "get_run", get_run)
    rt.geocatalog.finish(job.run_id, ok=2)
    assert reconcile(rt).finished == {job.job_id: "SUCCEEDED"}


def test_a_job_whose_row_was_removed_meanwhile_does_not_stop_the_pass(rt, monkeypatch):
    bad, good = running_job(rt, "bad"), running_job(rt, "good")
    rt.ledger.update(rt.ledger.get(bad.job_id), attempts=MAX_ATTEMPTS)
    real = rt.geocatalog.get_run

    def get_run(collection_id, ingestion_id, run_id):
        if run_id == bad.run_id:
            rt.ledger.store.delete(OPEN, bad.job_id)  # an operator cleared the row while the pass read its run
            raise KeyError("a bug this job triggers")
        return real(collection_id, ingestion_id, run_id)

    monkeypatch.setattr(rt.geocatalog, "get_run", get_run)
    rt.geocatalog.finish(good.run_id, ok=2)
    summary = reconcile(rt)
    assert summary.finished == {good.job_id: "SUCCEEDED"} and list(summary.errors) == [bad.job_id]
    assert rt.ledger.get(bad.job_id) is None
