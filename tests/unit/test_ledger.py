"""ledger: the guarantees users rely on, pinned against the Ledger's interface (over the in-memory table).

The same Ledger code runs over Azure Tables; tests/integration/test_ledger_azure.py runs the same
guarantees against Azurite.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from ingest_core.errors import IllegalTransition, StaleJob, UnknownField
from ingest_core.events import Drop
from ingest_core.job import now_utc
from ingest_core.ledger import OPEN, Ledger, blob_partition, job_id_for
from ingest_core.states import TERMINAL, JobState
from ingest_core.table_store import MemoryTableStore

URL = "https://acct.blob.core.windows.net/cat/a/catalog.json"


def drop(etag: str = "e1", url: str = URL, sequencer: str = "") -> Drop:
    return Drop(account="acct", container="cat", path="a/catalog.json", url=url, etag=etag, sequencer=sequencer)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(MemoryTableStore())


def test_a_second_claim_while_the_lease_is_held_is_refused(ledger):
    first = ledger.claim(drop(), lease_seconds=60)
    second = ledger.claim(drop(), lease_seconds=60)
    assert first.mine and not second.mine
    assert second.job.job_id == first.job.job_id
    assert ledger.get(first.job.job_id).attempts == 1  # the refused claim wrote nothing


def test_a_claim_after_the_lease_ran_out_takes_over_and_counts_the_attempt(ledger):
    first = ledger.claim(drop(), lease_seconds=60)
    ledger.update(first.job, lease_until=now_utc() - timedelta(seconds=1))  # its worker died
    second = ledger.claim(drop(), lease_seconds=60)
    assert second.mine and second.job.attempts == 2


def test_concurrent_claims_of_one_upload_give_exactly_one_owner(ledger):
    results, barrier = [], threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(ledger.claim(drop(), lease_seconds=60).mine)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1 and len(ledger.open_jobs()) == 1


def test_a_write_from_a_stale_copy_raises_and_changes_nothing(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    stale = ledger.get(job.job_id)
    ledger.update(job, collection_id="fresh")
    with pytest.raises(StaleJob):
        ledger.update(stale, collection_id="stale")
    with pytest.raises(StaleJob):
        ledger.transition(stale, JobState.INVALID, last_error="from a stale copy")
    current = ledger.get(job.job_id)
    assert current.collection_id == "fresh" and current.state == JobState.RECEIVED
    assert ledger.store.get(blob_partition(URL), job.job_id) is None  # the stale terminal write left no trace


@pytest.mark.parametrize("terminal", sorted(TERMINAL, key=lambda s: s.value))
def test_a_terminal_job_cannot_move_or_change(ledger, terminal):
    job = ledger.claim(drop(), lease_seconds=60).job
    if terminal in (JobState.SUCCEEDED, JobState.PARTIAL):
        job = ledger.transition(job, JobState.RUNNING, run_id="r")
    job = ledger.transition(job, terminal)
    for target in (JobState.RUNNING, JobState.RECEIVED, JobState.QUEUED, JobState.FAILED):
        with pytest.raises(IllegalTransition):
            ledger.transition(ledger.get(job.job_id), target)
    with pytest.raises(IllegalTransition):
        ledger.update(ledger.get(job.job_id), run_id="other")
    assert ledger.get(job.job_id).state == terminal


def test_update_refuses_unknown_fields_and_the_state(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    with pytest.raises(UnknownField, match="colection_id"):
        ledger.update(job, colection_id="typo")
    with pytest.raises(UnknownField, match="state"):
        ledger.update(job, state=JobState.SUCCEEDED)
    assert ledger.get(job.job_id).state == JobState.RECEIVED


def test_illegal_transitions_are_refused_by_the_ledger_itself(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    job = ledger.transition(job, JobState.RUNNING, run_id="r")
    with pytest.raises(IllegalTransition):
        ledger.transition(job, JobState.QUEUED)
    assert ledger.get(job.job_id).state == JobState.RUNNING


def test_a_finished_job_leaves_the_open_index_and_is_found_in_its_blob_partition(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    ledger.transition(job, JobState.IGNORED, last_error="unchanged")
    assert ledger.open_jobs() == []
    row = ledger.store.get(blob_partition(URL), job.job_id)
    assert row["state"] == "IGNORED" and ledger.get(job.job_id).last_error == "unchanged"
    # A duplicate delivery of the finished upload finds it: no new job, no takeover.
    again = ledger.claim(drop(), lease_seconds=60)
    assert not again.mine and again.job.state == JobState.IGNORED


def test_history_holds_every_upload_of_the_blob_and_nothing_else(ledger):
    a = ledger.claim(drop("e1"), lease_seconds=60).job
    ledger.transition(a, JobState.IGNORED)
    ledger.claim(drop("x", url=URL.replace("/a/", "/b/")), lease_seconds=60)
    claim = ledger.claim(drop("e2"), lease_seconds=60)
    assert [j.job_id for j in claim.history] == [a.job_id]


def test_reconcile_reads_cost_nothing_per_finished_job(ledger):
    store = ledger.store
    for i in range(300):
        job = ledger.claim(drop(f"old{i}", url=f"{URL}{i}"), lease_seconds=60).job
        ledger.transition(job, JobState.IGNORED)
    ledger.claim(drop("live"), lease_seconds=60)
    before = dict(store.calls)
    (live,) = ledger.open_jobs()
    assert live.etag == "live"
    assert {k: store.calls[k] - before.get(k, 0) for k in store.calls if store.calls[k] != before.get(k, 0)} == {
        "query": 1
    }


def test_a_fresh_job_to_running_writes_three_times(ledger):
    store = ledger.store
    job = ledger.claim(drop(), lease_seconds=60).job
    assert ledger.take_slot(job, 5, collection_id="c", ingestion_id="i", run_requested_at=now_utc())
    ledger.transition(job, JobState.RUNNING, run_id="r")
    assert store.writes() == 3


def test_run_slots_never_exceed_the_cap_under_racing_instances():
    store = MemoryTableStore()
    ledgers = [Ledger(store) for _ in range(3)]  # three instances sharing one table
    jobs = [ledgers[i % 3].claim(drop(f"e{i}", url=f"{URL}{i}"), lease_seconds=60).job for i in range(10)]
    got, barrier = [], threading.Barrier(10)

    def start(i: int) -> None:
        barrier.wait()
        got.append(ledgers[i % 3].take_slot(jobs[i], 2, run_requested_at=now_utc()))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got.count(True) == 2 and ledgers[0].runs_in_flight(2) == 2
    holders = sorted(s["holder"] for s in ledgers[0].slots(2))
    assert holders == sorted(j.job_id for j in jobs if j.slot)


def test_a_slot_is_freed_when_its_job_ends_and_an_orphan_is_recovered(ledger):
    a = ledger.claim(drop("a", url=URL + "a"), lease_seconds=60).job
    b = ledger.claim(drop("b", url=URL + "b"), lease_seconds=60).job
    assert ledger.take_slot(a, 1, run_requested_at=now_utc())
    assert not ledger.take_slot(b, 1, run_requested_at=now_utc())
    assert b.run_requested_at is None and not b.slot  # the refused take left the copy as it was
    ledger.transition(ledger.transition(a, JobState.RUNNING, run_id="r"), JobState.SUCCEEDED)
    assert ledger.runs_in_flight(1) == 0
    assert ledger.take_slot(b, 1, run_requested_at=now_utc())
    ledger.store.delete(OPEN, b.job_id)  # its holder vanished without giving the slot back (a crash)
    assert ledger.free_orphan_slots(1) == [b.slot] and ledger.runs_in_flight(1) == 0


def test_job_ids_start_with_the_blob_hash_so_get_finds_finished_jobs(ledger):
    job_id = job_id_for(URL, "e1")
    assert job_id[:16] == blob_partition(URL)[1:]
    assert job_id != job_id_for(URL, "e2") and job_id != job_id_for(URL, "e1", replay="r")


def test_source_ownership_can_only_be_set(ledger):
    container = "https://acct.blob.core.windows.net/cat"
    ledger.put_source_record(container, source_id="s1", owned=True)
    ledger.put_source_record(container, source_id="s1", owned=False, last_used="now")
    assert ledger.get_source_record(container)["owned"] is True


def test_texts_are_capped_with_a_visible_mark_and_secrets_redacted(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    ledger.update(job, last_error="https://a/b?sv=1&sig=c2VjcmV0 " + "x" * 100_000, warnings=["w" * 50] * 5000)
    row = ledger.store.get(OPEN, job.job_id)
    assert len(row["last_error"]) <= 8_000 and "truncated" in row["last_error"]
    assert len(row["warnings"]) <= 30_000 and "more]" in ledger.get(job.job_id).warnings[-1]
    assert "c2VjcmV0" not in str(row)


def test_racing_instances_all_get_a_slot_while_slots_are_free():
    store = MemoryTableStore()
    ledgers = [Ledger(store) for _ in range(8)]
    jobs = [ledgers[i].claim(drop(f"e{i}", url=f"{URL}{i}"), lease_seconds=60).job for i in range(8)]
    got, barrier = [], threading.Barrier(8)

    def start(i: int) -> None:
        barrier.wait()
        got.append(ledgers[i].take_slot(jobs[i], 100, run_requested_at=now_utc()))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [True] * 8 and len({j.slot for j in jobs}) == 8
