"""When things go wrong, against Azurite and the emulator's injected faults: visible, bounded, recovered, no leak.

Each test here is named in docs/reliability.md next to the fault it injects and the guarantee it pins.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from ingest_core.errors import TransientError
from ingest_core.job import now_utc, parse_time
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.states import JobState
from ingest_core.sweep import deleted_ids, sweep
from tests.integration.twin_helpers import (
    COLL_POST,
    ING_POST,
    RUN_POST,
    SRC_POST,
    admin,
    calls,
    drop_for,
    new_container,
    runtime_for,
    upload_catalog,
)


def until_terminal(rt, job_ids, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reconcile(rt)
        jobs = [rt.ledger.get(j) for j in job_ids]
        if all(j.state.terminal for j in jobs):
            return jobs
        time.sleep(0.2)
    raise AssertionError(f"not terminal: {[(j.job_id, j.state.value, j.last_error) for j in jobs]}")


def rules(*containers):
    return [{"container": c.container_name} for c in containers]


def test_fifty_drops_through_429s_503s_and_latency_all_succeed_exactly_once(azurite, emulator, twin):
    boxes = [new_container(azurite) for _ in range(3)]
    rt = runtime_for(azurite, emulator, boxes[0], routing_rules=rules(*boxes), stale_source_ttl_hours=0.0002,
                     max_concurrent_runs=50, http_max_retries=8)  # fmt: skip
    urls = [upload_catalog(boxes[i % 3], f"c{i}", n_items=1, catalog_id=f"chaos-{i:02d}") for i in range(50)]
    admin(emulator, "faults", "POST", {"route": "*", "status": 429, "rate": 0.2, "retryAfter": 1})
    admin(emulator, "faults", "POST", {"route": "*", "status": 503, "rate": 0.1})
    admin(emulator, "faults", "POST", {"route": "*", "latencyMs": 100})

    def deliver(url):  # at least once: the platform redelivers while the trigger raises
        for _ in range(10):
            try:
                return handle_drop(rt, drop_for(rt, url))
            except TransientError:
                continue
        raise AssertionError(f"{url} never got through")

    with ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(deliver, urls))
    ended = until_terminal(rt, [j.job_id for j in jobs])
    admin(emulator, "faults", "DELETE")
    assert [j.state for j in ended] == [JobState.SUCCEEDED] * 50, [(j.state, j.last_error) for j in ended]
    st = admin(emulator, "state")
    assert sorted(i["sourceCatalogUrl"] for i in st["ingestions"]) == sorted(urls)  # one definition per catalog
    assert sorted(s["connectionInfo"]["containerUrl"] for s in st["sources"]) == sorted(b.url for b in boxes)
    assert all(rt.ledger.get_source_record(b.url).get("owned") for b in boxes)
    listed = sweep(rt, dry_run=True)
    assert {d.container_url for d in listed} == {b.url for b in boxes} and len(st["sources"]) == 3
    time.sleep(1)  # past the idle TTL
    assert sorted(deleted_ids(sweep(rt))) == sorted(s["id"] for s in st["sources"])
    assert admin(emulator, "state")["sources"] == []


def test_a_geocatalog_answering_503_everywhere_shows_the_error_then_recovers_without_duplicates(
    azurite, emulator, twin
):
    container, _ = twin
    rt = runtime_for(azurite, emulator, container, reconcile_budget_seconds=5)
    url = upload_catalog(container, "down", catalog_id="cat-down")
    admin(emulator, "faults", "POST", {"route": "*", "status": 503, "rate": 1.0, "retryAfter": 60})
    with pytest.raises(TransientError):
        handle_drop(rt, drop_for(rt, url))
    (job,) = rt.ledger.jobs()
    assert job.state == JobState.RECEIVED and "503" in job.last_error and job.error_where
    assert job.next_attempt_at is not None and job.next_attempt_at > now_utc()
    rt.ledger.update(job, next_attempt_at=now_utc() - timedelta(seconds=1))  # due now
    started = time.monotonic()
    summary = reconcile(rt)  # Retry-After 60 is not waited out: the job is rescheduled
    assert time.monotonic() - started < 20 and job.job_id in summary.errors
    again = rt.ledger.get(job.job_id)
    assert "503" in again.last_error and again.next_attempt_at > now_utc() and again.attempts == 2
    admin(emulator, "faults", "DELETE")  # the fault lifts
    rt.ledger.update(again, next_attempt_at=None)
    (done,) = until_terminal(rt, [job.job_id])
    assert done.state == JobState.SUCCEEDED
    assert [calls(emulator, r) for r in (SRC_POST, ING_POST, RUN_POST)] == [1, 1, 1]
    assert len(admin(emulator, "state")["runs"]) == 1


def test_with_a_short_give_up_a_job_that_keeps_failing_ends_failed_with_the_error(azurite, emulator, twin):
    container, _ = twin
    rt = runtime_for(azurite, emulator, container, transient_give_up_minutes=0.01, http_max_retries=0)
    url = upload_catalog(container, "gone", catalog_id="cat-gone")
    admin(emulator, "faults", "POST", {"route": "*", "status": 503, "rate": 1.0})
    with pytest.raises(TransientError):
        handle_drop(rt, drop_for(rt, url))
    time.sleep(1)  # past TRANSIENT_GIVE_UP_MINUTES
    (job,) = rt.ledger.jobs()
    rt.ledger.update(job, next_attempt_at=None)
    reconcile(rt)
    ended = rt.ledger.get(job.job_id)
    admin(emulator, "faults", "DELETE")
    assert ended.state == JobState.FAILED and "gave up after" in ended.last_error and "503" in ended.last_error


def _in_flight_peak(runs):
    """The most runs the service had in flight at once (creation to finish)."""
    edges = []
    for run in runs:
        start = parse_time(run["creationTime"])
        end = parse_time(run["operation"].get("finishTime")) or datetime.max.replace(tzinfo=start.tzinfo)
        edges += [(start, 1), (end, -1)]
    peak = level = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


def test_the_run_cap_holds_across_three_runtimes_racing(azurite, emulator, twin):
    container, _ = twin
    admin(emulator, "config", "PATCH", {"itemDelayMs": 150})
    try:
        first = runtime_for(azurite, emulator, container, max_concurrent_runs=2)
        shared = {"ledger_table": first.settings.ledger_table, "report_container": first.settings.report_container}
        # Three instances of the app: their own clients and caches, one ledger.
        runtimes = [first] + [runtime_for(azurite, emulator, container, max_concurrent_runs=2, **shared) for _ in "ab"]
        urls = [upload_catalog(container, f"cap{i}", n_items=2, catalog_id=f"cap-{i:02d}") for i in range(10)]
        barrier = threading.Barrier(10)

        def deliver(i):
            barrier.wait()
            rt = runtimes[i % 3]
            return handle_drop(rt, drop_for(rt, urls[i]))

        with ThreadPoolExecutor(10) as pool:
            jobs = list(pool.map(deliver, range(10)))
        assert sum(j.state == JobState.RUNNING for j in jobs) == 2
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for rt in random.sample(runtimes, 3):  # three reconcilers too
                reconcile(rt)
            if all(runtimes[0].ledger.get(j.job_id).state.terminal for j in jobs):
                break
            time.sleep(0.1)
        ended = [runtimes[0].ledger.get(j.job_id) for j in jobs]
        assert [j.state for j in ended] == [JobState.SUCCEEDED] * 10
        runs = admin(emulator, "state")["runs"]
        assert len(runs) == 10 and _in_flight_peak(runs) <= 2
    finally:
        admin(emulator, "config", "PATCH", {"itemDelayMs": 0})


@pytest.mark.parametrize("call", ["create_source", "create_collection", "create_ingestion", "create_run"])
def test_a_crash_right_after_each_service_call_then_redelivery_makes_one_of_each(twin, emulator, monkeypatch, call):
    container, rt = twin
    url = upload_catalog(container, "crash", catalog_id="cat-crash")
    real = getattr(rt.geocatalog, call)

    def then_crash(*args, **kwargs):
        real(*args, **kwargs)  # the service did it...
        raise TransientError("the process died before it heard back")  # ...and this attempt never knew

    monkeypatch.setattr(rt.geocatalog, call, then_crash)
    with pytest.raises(TransientError):
        handle_drop(rt, drop_for(rt, url))
    monkeypatch.setattr(rt.geocatalog, call, real)
    rt.sources.forget(container.url)  # a new instance after the crash: nothing cached
    rt.known_collections.clear()
    job = handle_drop(rt, drop_for(rt, url))  # the redelivery
    assert job.state == JobState.RUNNING, job.last_error
    st = admin(emulator, "state")
    assert (len(st["sources"]), st["collections"], len(st["ingestions"]), len(st["runs"])) == (1, ["cat-crash"], 1, 1)
    assert rt.ledger.get_source_record(container.url)["owned"] is True


def test_two_concurrent_first_drops_into_a_new_container_post_one_source_owned_and_swept(azurite, emulator, twin):
    container, _ = twin
    rt = runtime_for(azurite, emulator, container, stale_source_ttl_hours=0.0002)
    urls = [upload_catalog(container, f"first{i}", catalog_id=f"first-{i}") for i in range(2)]
    barrier = threading.Barrier(2)

    def deliver(url):
        barrier.wait()
        return handle_drop(rt, drop_for(rt, url))

    with ThreadPoolExecutor(2) as pool:
        jobs = list(pool.map(deliver, urls))
    assert calls(emulator, SRC_POST) == 1 and calls(emulator, COLL_POST) == 2
    assert jobs[0].source_ids == jobs[1].source_ids
    assert rt.ledger.get_source_record(container.url)["owned"] is True
    until_terminal(rt, [j.job_id for j in jobs])
    time.sleep(1)
    assert deleted_ids(sweep(rt)) == jobs[0].source_ids and admin(emulator, "state")["sources"] == []
