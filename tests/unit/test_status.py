"""status: the operator's views (filters, one job, progress) and replays, on the fast in-memory tier."""

from __future__ import annotations

from datetime import timedelta

from ingest_core import status
from ingest_core.job import now_utc
from ingest_core.pipeline import handle_drop
from ingest_core.states import JobState
from ingest_core.sweep import decide, deleted_ids, sweep
from tests.unit.memory_twin import ACCOUNT, drop_of, memory_runtime, put_catalog


def test_filters_combine_and_limit_keeps_the_newest():
    rt = memory_runtime()
    a = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll-a")))
    rt.storage.put(f"{ACCOUNT}/cat/b/catalog.json", "{not json")
    b = handle_drop(rt, drop_of(rt, f"{ACCOUNT}/cat/b/catalog.json"))
    c = handle_drop(rt, drop_of(rt, put_catalog(rt, "c", catalog_id="coll-a")))
    jobs = rt.ledger.jobs()
    assert [j.job_id for j in status.select(jobs, states={JobState.INVALID})] == [b.job_id]
    assert [j.job_id for j in status.select(jobs, collection="coll-a")] == [a.job_id, c.job_id]
    assert [j.job_id for j in status.select(jobs, limit=1)] == [c.job_id]
    assert status.select(jobs, since=now_utc() + timedelta(minutes=1)) == []
    assert "not valid JSON" in status.line(rt.ledger.get(b.job_id))


def test_watch_shows_progress_until_nothing_is_in_flight():
    rt = memory_runtime()
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    rt.ledger.update(job, total_items=4, successful_items=2, failed_items=1)
    lines: list[str] = []
    status.watch(rt.ledger, lines.append, interval=0, rounds=1)
    assert "1 job(s) in flight" in lines[0] and "3/4" in lines[1] and "#" in lines[1]
    rt.geocatalog.finish(job.run_id, ok=4)
    from ingest_core.reconcile import reconcile

    reconcile(rt)
    lines.clear()
    assert status.watch(rt.ledger, lines.append, interval=0) == 1 and "no job in flight" in lines[0]


def test_replay_starts_one_new_job_per_catalog_for_its_newest_upload():
    rt = memory_runtime()
    url = f"{ACCOUNT}/cat/b/catalog.json"
    rt.storage.put(url, "{not json")
    first = handle_drop(rt, drop_of(rt, url))
    rt.storage.put(url, "[]")
    second = handle_drop(rt, drop_of(rt, url))
    targets = status.replay_targets(status.select(rt.ledger.jobs(), states={JobState.INVALID}))
    assert [t.job_id for t in targets] == [second.job_id]
    said: list[str] = []
    assert status.replay(rt, targets, dry_run=True, out=said.append) == 1 and len(rt.ledger.jobs()) == 2
    put_catalog(rt, "b", catalog_id="fixed")  # the catalog was fixed meanwhile
    assert status.replay(rt, targets, dry_run=False, out=said.append) == 1
    newest = rt.ledger.jobs()[-1]
    assert newest.job_id not in (first.job_id, second.job_id) and newest.state == JobState.RUNNING


def test_sweep_dry_run_gives_every_source_a_decision_and_deletes_nothing():
    rt = memory_runtime(stale_source_ttl_hours=0.0001)
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "a", catalog_id="coll")))
    rt.geocatalog.create_source({"kind": "SasToken", "connectionInfo": {"containerUrl": f"{ACCOUNT}/other",
                                                                        "sasToken": "se=2030-01-01&sig=X"}})  # fmt: skip
    decisions = sweep(rt, dry_run=True)
    assert {(d.action, d.reason.split(":")[0].split(",")[0]) for d in decisions} == {
        ("keep", f"unfinished job {job.job_id} reads through it"),
        ("keep", "not in this app's ledger"),
    }
    assert len(rt.geocatalog.sources) == 2
    rt.geocatalog.finish(job.run_id, ok=2)
    from ingest_core.reconcile import reconcile

    reconcile(rt)
    from datetime import timedelta

    from ingest_core.job import now_utc

    past = (now_utc() - timedelta(hours=1)).isoformat()  # idle well past the (tiny) TTL, without sleeping
    rt.ledger.put_source_record(job.container_urls[0], last_used=past)
    assert [d.action for d in decide(rt)] == ["delete"]
    assert deleted_ids(sweep(rt)) == job.source_ids and len(rt.geocatalog.sources) == 1
