"""ledger: the guarantees users rely on, pinned against the Ledger's interface (over the in-memory table).

The same Ledger code runs over Azure Tables; tests/integration/test_ledger_azure.py runs the same
guarantees against Azurite.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from ingest_core.errors import IllegalTransition, RowExists, StaleJob, UnknownField
from ingest_core.events import Drop
from ingest_core.job import now_utc
from ingest_core.ledger import OPEN, Ledger, blob_partition, job_id_for, source_key_for
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


# Every way the ledger writes a job row; each must carry the ETag of the copy it was given.
STALE_WRITES = {
    "update": lambda ledger, job: ledger.update(job, collection_id="stale"),
    "transition": lambda ledger, job: ledger.transition(job, JobState.QUEUED, collection_id="stale"),
    "transition to an end": lambda ledger, job: ledger.transition(job, JobState.INVALID, collection_id="stale"),
    "take_slot": lambda ledger, job: ledger.take_slot(job, 2, collection_id="stale"),
}


@pytest.mark.parametrize("write", STALE_WRITES.values(), ids=list(STALE_WRITES))
def test_a_write_from_a_stale_copy_raises_and_changes_nothing(ledger, write):
    job = ledger.claim(drop(), lease_seconds=60).job
    stale = ledger.get(job.job_id)
    ledger.update(job, collection_id="fresh")
    with pytest.raises(StaleJob, match=job.job_id):
        write(ledger, stale)
    assert (stale.state, stale.slot) == (JobState.RECEIVED, "")  # the refused state change is undone in the copy
    if write in (STALE_WRITES["update"], STALE_WRITES["take_slot"]):
        assert stale.collection_id == ""  # these leave the copy exactly as it was read
    current = ledger.get(job.job_id)
    assert current.collection_id == "fresh" and current.state == JobState.RECEIVED and not current.slot
    assert ledger.runs_in_flight(2) == 0  # no slot taken for the stale copy
    assert ledger.store.get(blob_partition(URL), job.job_id) is None  # a stale terminal write left no trace


def test_a_stale_copy_neither_takes_over_nor_releases_the_lease(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    ledger.update(job, lease_until=now_utc() - timedelta(seconds=1))  # its worker died
    stale = ledger.get(job.job_id)
    assert ledger.take_lease(job, 60)  # another worker takes over first
    held = ledger.get(job.job_id).lease_until
    assert not ledger.take_lease(stale, 60)
    ledger.release(stale)
    after = ledger.get(job.job_id)
    assert after.lease_until == held and after.attempts == 2


@pytest.mark.parametrize("terminal", sorted(TERMINAL, key=lambda s: s.value))
def test_a_terminal_job_cannot_move_or_change(ledger, terminal):
    job = ledger.claim(drop(), lease_seconds=60).job
    if terminal in (JobState.SUCCEEDED, JobState.PARTIAL):
        job = ledger.transition(job, JobState.RUNNING, run_id="r")
    job = ledger.transition(job, terminal)
    for target in (JobState.RUNNING, JobState.RECEIVED, JobState.QUEUED, JobState.FAILED):
        with pytest.raises(IllegalTransition):
            ledger.transition(ledger.get(job.job_id), target)
    with pytest.raises(IllegalTransition, match=f"is {terminal.value}: finished jobs never change"):
        ledger.update(ledger.get(job.job_id), run_id="other")
    assert ledger.get(job.job_id).state == terminal


def test_update_refuses_unknown_fields_and_the_state(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    with pytest.raises(UnknownField, match="no such field\\(s\\) to update: colection_id, stat$"):
        ledger.update(job, colection_id="typo", stat="x")
    with pytest.raises(UnknownField, match="colection_id"):
        ledger.take_slot(job, 2, colection_id="typo")
    with pytest.raises(UnknownField, match="state"):
        ledger.update(job, state=JobState.SUCCEEDED)
    assert ledger.get(job.job_id).state == JobState.RECEIVED


def test_illegal_transitions_are_refused_by_the_ledger_itself(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    job = ledger.transition(job, JobState.RUNNING, run_id="r")
    with pytest.raises(IllegalTransition, match=f"job {job.job_id}: illegal transition RUNNING -> QUEUED"):
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
    assert ledger.free_orphan_slots() == [b.slot] and ledger.runs_in_flight(1) == 0


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


def test_jobs_lists_every_job_once_filtered_and_oldest_first(ledger):
    a = ledger.claim(drop("e1"), lease_seconds=60).job
    other = ledger.claim(drop("x", url=URL + "x"), lease_seconds=60).job
    b = ledger.claim(drop("e2"), lease_seconds=60).job
    ledger.transition(a, JobState.IGNORED)
    ledger.store.insert({**a.to_entity(OPEN), "state": "RECEIVED"})  # a crash left its open row behind
    ledger.store.insert({"PartitionKey": OPEN, "RowKey": "slot-00", "kind": "slot", "holder": ""})
    assert [j.job_id for j in ledger.jobs()] == [a.job_id, other.job_id, b.job_id]
    assert ledger.get(a.job_id).state == JobState.IGNORED and ledger.jobs()[0].state == JobState.IGNORED
    assert [j.job_id for j in ledger.jobs(blob_url=URL)] == [a.job_id, b.job_id]
    assert [j.job_id for j in ledger.jobs(states={JobState.RECEIVED})] == [other.job_id, b.job_id]
    assert [j.job_id for j in ledger.finished_jobs(URL)] == [a.job_id] and ledger.finished_jobs(URL + "x") == []


def test_tidy_removes_only_an_open_row_whose_job_already_ended(ledger):
    done = ledger.claim(drop("e1"), lease_seconds=60).job
    ledger.transition(done, JobState.IGNORED)
    ledger.store.insert(done.to_entity(OPEN))  # the crash between archive and delete
    live = ledger.claim(drop("e2"), lease_seconds=60).job
    assert ledger.tidy(done.job_id) is True and ledger.store.get(OPEN, done.job_id) is None
    assert ledger.tidy(live.job_id) is False and ledger.store.get(OPEN, live.job_id) is not None


def test_a_takeover_holds_a_fresh_lease(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    ledger.update(job, lease_until=now_utc() - timedelta(seconds=1))
    before = now_utc()
    assert ledger.take_lease(job, 120)
    held = ledger.get(job.job_id).lease_until
    assert before + timedelta(seconds=119) < held <= now_utc() + timedelta(seconds=120)
    assert not ledger.claim(drop(), lease_seconds=60).mine  # so a third delivery is refused


def test_the_loser_of_the_insert_race_finds_the_winners_job(ledger, monkeypatch):
    first = ledger.claim(drop(), lease_seconds=60)
    older = ledger.claim(drop("e0"), lease_seconds=60).job
    real_history = ledger.history
    # This delivery read the blob's history before the other delivery's insert landed.
    monkeypatch.setattr(ledger, "history", lambda url: [j for j in real_history(url) if j.job_id != first.job.job_id])
    raced = ledger.claim(drop(), lease_seconds=60)
    assert not raced.mine and raced.job.job_id == first.job.job_id
    assert raced.job.row_etag == ledger.get(first.job.job_id).row_etag and raced.job.attempts == 1
    assert [j.job_id for j in raced.history] == [older.job_id]
    ledger.update(ledger.get(first.job.job_id), lease_until=now_utc() - timedelta(seconds=1))  # the winner died
    taken = ledger.claim(drop(), lease_seconds=60)
    assert taken.mine and taken.job.attempts == 2


def test_an_insert_race_whose_row_vanished_claims_nothing(ledger, monkeypatch):
    def lost(entity):
        raise RowExists(entity["RowKey"])

    older = ledger.claim(drop("e0"), lease_seconds=60).job
    monkeypatch.setattr(ledger.store, "insert", lost)
    claim = ledger.claim(drop(), lease_seconds=60)
    assert claim.mine is False and claim.job.job_id == job_id_for(URL, "e1")
    assert [j.job_id for j in claim.history] == [older.job_id]


def test_a_duplicate_claim_still_sees_the_blobs_other_uploads(ledger):
    older = ledger.claim(drop("e0"), lease_seconds=60).job
    ledger.claim(drop("e1"), lease_seconds=60)
    again = ledger.claim(drop("e1"), lease_seconds=60)
    assert not again.mine and [j.job_id for j in again.history] == [older.job_id]


def test_a_replay_is_a_new_job_for_the_same_upload(ledger):
    plain = ledger.claim(drop(), lease_seconds=60).job
    replayed = ledger.claim(drop(), lease_seconds=60, replay="r1")
    assert replayed.mine and replayed.job.replay == "r1" and replayed.job.job_id == job_id_for(URL, "e1", "r1")
    assert ledger.get(replayed.job.job_id).replay == "r1" and plain.job_id != replayed.job.job_id


def test_ids_and_keys_are_stable_hashes_so_existing_rows_keep_their_meaning():
    import hashlib

    def h(text, n):
        return hashlib.sha256(text.encode()).hexdigest()[:n]

    assert job_id_for(URL, "e1") == h(URL, 16) + h(f"{URL}|e1", 16)
    assert job_id_for(URL, "e1", "r") == h(URL, 16) + h(f"{URL}|e1|replay:r", 16)
    container = "https://acct.blob.core.windows.net/cat"
    assert source_key_for(container + "/") == source_key_for(container) == h(container, 32)
    assert source_key_for("/" + container) != source_key_for(container)


def test_get_history_and_open_jobs_read_what_was_written(ledger):
    assert ledger.get("b" * 32) is None
    first = ledger.claim(drop("e9"), lease_seconds=60).job
    second = ledger.claim(drop("e1"), lease_seconds=60).job
    third = ledger.claim(drop("e5"), lease_seconds=60).job
    ledger.transition(second, JobState.QUEUED)
    assert [j.job_id for j in ledger.history(URL)] == [first.job_id, second.job_id, third.job_id]
    assert [j.job_id for j in ledger.open_jobs({JobState.QUEUED})] == [second.job_id]
    assert [j.job_id for j in ledger.open_jobs()] == [first.job_id, second.job_id, third.job_id]


def test_a_write_stamps_updated_at_and_an_end_clears_the_lease_and_slot(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    created = job.updated_at
    ledger.update(job, collection_id="c")
    assert ledger.get(job.job_id).updated_at > created
    assert ledger.take_slot(job, 1, run_requested_at=now_utc())
    ended = ledger.transition(ledger.transition(job, JobState.RUNNING, run_id="r"), JobState.SUCCEEDED)
    row = ledger.store.get(blob_partition(URL), job.job_id)
    assert ended.row_etag == row["_etag"] and row["slot"] == "" and row["lease_until"] == ""


def test_a_job_holding_a_slot_writes_its_changes_without_a_second_slot(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    assert ledger.take_slot(job, 2, run_requested_at=now_utc())
    held = job.slot
    assert ledger.take_slot(job, 2, collection_id="again") is True
    assert ledger.get(job.job_id).collection_id == "again" and job.slot == held and ledger.runs_in_flight(2) == 1


def test_slot_rows_say_since_when_they_are_held_and_are_cleared_when_freed(ledger):
    assert ledger.slots(2) == [{"PartitionKey": OPEN, "RowKey": f"slot-0{i}", "kind": "slot", "holder": ""}
                               for i in range(2)]  # fmt: skip
    a = ledger.claim(drop("a", url=URL + "a"), lease_seconds=60).job
    b = ledger.claim(drop("b", url=URL + "b"), lease_seconds=60).job
    before = now_utc()
    assert ledger.take_slot(a, 2, run_requested_at=now_utc()) and ledger.take_slot(b, 2, run_requested_at=now_utc())
    held = {s["holder"]: s for s in ledger.slots(2)}
    assert before <= datetime.fromisoformat(held[a.job_id]["since"]) <= now_utc()
    ledger.transition(ledger.transition(a, JobState.RUNNING, run_id="r"), JobState.SUCCEEDED)
    ledger.store.delete(OPEN, b.job_id)  # b's holder vanished
    assert ledger.free_orphan_slots() == [b.slot]
    assert [(s["holder"], s["since"]) for s in ledger.slots(2)] == [("", ""), ("", "")]


def test_the_first_source_intent_wins_and_records_are_of_their_container(ledger):
    container = "https://acct.blob.core.windows.net/cat"
    first = ledger.source_intent(container, intent_at="t1")
    second = ledger.source_intent(container, intent_at="t2")
    assert first["intent_at"] == second["intent_at"] == "t1" and second["_etag"] == first["_etag"]
    rec = ledger.get_source_record(container)
    assert (rec["kind"], rec["container_url"], rec["source_id"]) == ("source", container, "")
    ledger.put_source_record(container, source_id="s1")
    assert ledger.source_records() == [ledger.get_source_record(container)]
    assert ledger.get_source_record(container)["intent_at"] == "t1"  # a merge keeps the intent
    ledger.delete_source_record(container)
    assert ledger.get_source_record(container) is None and ledger.source_records() == []


def test_a_copy_that_ends_a_job_someone_else_ended_first_raises_and_keeps_its_state(ledger):
    job = ledger.claim(drop(), lease_seconds=60).job
    copy = ledger.get(job.job_id)
    ledger.transition(job, JobState.IGNORED)
    with pytest.raises(StaleJob, match=job.job_id):
        ledger.transition(copy, JobState.INVALID, last_error="late")
    assert copy.state == JobState.RECEIVED and ledger.get(job.job_id).state == JobState.IGNORED
