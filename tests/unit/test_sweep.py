"""sweep: only owned sources that expired or sat idle past the TTL are deleted, never one an open job reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_core.errors import ServiceError, TransientError
from ingest_core.job import now_utc
from ingest_core.pipeline import handle_drop
from ingest_core.sweep import deleted_ids, sources_in_use, sweep
from tests.unit.memory_twin import ACCOUNT, drop_of, memory_runtime, put_catalog


@pytest.fixture
def rt():
    return memory_runtime(stale_source_ttl_hours=72)


def source(rt, name: str, owned: bool = True, expires_in: timedelta = timedelta(hours=12),
           idle_for: timedelta | None = timedelta(hours=1)) -> str:  # fmt: skip
    """A source on the service and its record in the ledger; the container's URL."""
    container = f"{ACCOUNT}/{name}"
    created = rt.geocatalog.create_source({"kind": "SasToken", "connectionInfo": {"containerUrl": container}})
    now = now_utc()
    rt.ledger.put_source_record(container, source_id=created["id"], owned=owned,
                                expiration=(now + expires_in).isoformat(),
                                last_used=(now - idle_for).isoformat() if idle_for is not None else "")  # fmt: skip
    return container


def source_id(rt, container: str) -> str:
    return rt.ledger.get_source_record(container)["source_id"]


def test_expired_and_idle_owned_sources_are_deleted_with_their_records(rt):
    expired = source(rt, "expired", expires_in=-timedelta(minutes=1))
    idle = source(rt, "idle", idle_for=timedelta(hours=73))
    never_used = source(rt, "neverused", idle_for=None)
    fresh = source(rt, "fresh")
    ids = {c: source_id(rt, c) for c in (expired, idle, never_used, fresh)}
    assert sorted(deleted_ids(sweep(rt))) == sorted(ids[c] for c in (expired, idle, never_used))
    assert list(rt.geocatalog.sources) == [ids[fresh]]
    assert rt.ledger.get_source_record(expired) is None and rt.ledger.get_source_record(idle) is None
    assert rt.ledger.get_source_record(fresh)["source_id"] == ids[fresh]
    assert deleted_ids(sweep(rt)) == []  # a second pass finds nothing more


def test_a_source_at_the_edge_of_the_ttl_is_kept(rt):
    kept = source(rt, "edge", idle_for=timedelta(hours=71, minutes=59))
    assert deleted_ids(sweep(rt)) == [] and rt.ledger.get_source_record(kept)


def test_sources_someone_else_made_or_an_open_job_reads_are_left_alone(rt):
    theirs = source(rt, "theirs", owned=False, expires_in=-timedelta(hours=1))
    url = put_catalog(rt, "a", catalog_id="coll")
    job = rt.ledger.claim(drop_of(rt, url), 60).job
    busy = source(rt, "busy", expires_in=-timedelta(hours=1))
    rt.ledger.update(job, source_ids=[source_id(rt, busy)])
    assert sources_in_use(rt) == {source_id(rt, busy)}
    assert deleted_ids(sweep(rt)) == []
    assert len(rt.geocatalog.sources) == 2 and rt.ledger.get_source_record(theirs)


def test_a_record_without_a_source_id_is_skipped(rt):
    rt.ledger.put_source_record(f"{ACCOUNT}/pending", owned=True, last_used="")
    assert deleted_ids(sweep(rt)) == [] and rt.ledger.get_source_record(f"{ACCOUNT}/pending")


def test_a_source_already_gone_on_the_service_still_loses_its_record(rt):
    gone = source(rt, "gone", expires_in=-timedelta(hours=1))
    sid = source_id(rt, gone)
    rt.geocatalog.sources.clear()

    def not_found(source_id):
        raise ServiceError(404, "ResourceNotFound", "gone")

    rt.geocatalog.delete_source = not_found  # the service's answer for a source deleted meanwhile
    assert deleted_ids(sweep(rt)) == [sid] and rt.ledger.get_source_record(gone) is None


@pytest.mark.parametrize("fault", [ServiceError(403, "Forbidden", "no"), TransientError("timeout")])
def test_a_refused_or_failed_delete_keeps_the_record_and_the_others_still_go(rt, fault):
    stuck = source(rt, "stuck", expires_in=-timedelta(hours=1))
    other = source(rt, "other", expires_in=-timedelta(hours=1))
    real = rt.geocatalog.delete_source
    stuck_id, other_id = source_id(rt, stuck), source_id(rt, other)

    def delete(sid):
        if sid == stuck_id:
            raise fault
        real(sid)

    rt.geocatalog.delete_source = delete
    assert deleted_ids(sweep(rt)) == [other_id] and rt.ledger.get_source_record(other) is None
    assert rt.ledger.get_source_record(stuck)["source_id"] == stuck_id and stuck_id in rt.geocatalog.sources


def test_a_deleted_source_is_forgotten_by_the_process_cache(rt):
    container = f"{ACCOUNT}/cat"
    first = rt.sources.ensure(container)
    rt.ledger.put_source_record(container, last_used=(now_utc() - timedelta(hours=100)).isoformat())
    assert deleted_ids(sweep(rt)) == [first]
    second = rt.sources.ensure(container)  # not the cached, deleted one: a new source is made
    assert second != first and list(rt.geocatalog.sources) == [second]


def test_skipped_records_never_stop_the_pass(rt):
    skipped = [source(rt, f"theirs{i}", owned=False, expires_in=-timedelta(hours=1)) for i in range(4)]
    due = [source(rt, f"due{i}", expires_in=-timedelta(hours=1)) for i in range(4)]
    ids = sorted(source_id(rt, c) for c in due)
    assert sorted(deleted_ids(sweep(rt))) == ids
    assert all(rt.ledger.get_source_record(c) for c in skipped)


def test_every_source_gets_one_decision_with_its_reason(rt):
    now = now_utc()
    expired = source(rt, "expired", expires_in=-timedelta(minutes=1))
    idle = source(rt, "idle", idle_for=timedelta(hours=73))
    never = source(rt, "neverused", idle_for=None)
    fresh = source(rt, "fresh")
    theirs = source(rt, "theirs", owned=False)
    rt.ledger.put_source_record(f"{ACCOUNT}/pending", source_id="", intent_at=now.isoformat())
    job = handle_drop(rt, drop_of(rt, put_catalog(rt, "busy", catalog_id="busy")))
    only_service = rt.geocatalog.create_source({"kind": "SasToken", "connectionInfo": {"containerUrl": f"{ACCOUNT}/x"}})
    got = {d.container_url or d.source_id: (d.action, d.reason) for d in sweep(rt, dry_run=True)}
    assert got[expired][0] == "delete" and got[expired][1].startswith("owned, its SAS expired at ")
    assert got[idle] == ("delete", got[idle][1]) and got[idle][1].startswith("owned, idle since ")
    assert got[idle][1].endswith("(STALE_SOURCE_TTL_HOURS 3 days, 0:00:00)")
    assert got[never] == ("delete", "owned, never used (STALE_SOURCE_TTL_HOURS 3 days, 0:00:00)")
    assert (
        got[fresh][0] == "keep"
        and got[fresh][1].startswith("owned, last used ")
        and got[fresh][1].endswith(", within the TTL")
    )
    assert got[theirs] == ("keep", "not created by this app: never deleted")
    assert got[f"{ACCOUNT}/pending"] == ("keep", "no source recorded yet (a creation in progress)")
    assert got[f"{ACCOUNT}/cat"] == ("keep", f"unfinished job {job.job_id} reads through it")
    assert got[only_service["id"]] == ("keep", "not in this app's ledger: someone else's, never deleted")
    assert len(got) == 8
    ids = {d.container_url or d.source_id: d.source_id for d in sweep(rt, dry_run=True)}
    for container in (expired, idle, never, fresh, theirs, f"{ACCOUNT}/cat"):
        assert ids[container] == source_id(rt, container)  # every decision names its source
    assert ids[f"{ACCOUNT}/pending"] == "" and ids[only_service["id"]] == only_service["id"]
    assert len(rt.geocatalog.sources) == 7  # a dry run deletes nothing
    assert rt.geocatalog.calls.count("list_sources") == 2  # only the dry run asks the service for its sources
    done = {d.container_url: (d.action, d.reason) for d in sweep(rt)}
    assert done[expired][0] == done[idle][0] == done[never][0] == "deleted"
    assert done[fresh][0] == "keep" and f"{ACCOUNT}/x" not in done and rt.geocatalog.calls.count("list_sources") == 2


def test_an_expiry_exactly_now_counts_as_expired_and_an_idle_time_exactly_the_ttl_does_not(rt, monkeypatch):
    from ingest_core import sweep as sweep_module

    now = now_utc()
    monkeypatch.setattr(sweep_module, "now_utc", lambda: now)
    at_expiry = f"{ACCOUNT}/atexpiry"
    at_ttl = f"{ACCOUNT}/atttl"
    for container, expires, used in (
        (at_expiry, now, now),
        (at_ttl, now + timedelta(hours=1), now - timedelta(hours=72)),
    ):
        created = rt.geocatalog.create_source({"kind": "SasToken", "connectionInfo": {"containerUrl": container}})
        rt.ledger.put_source_record(container, source_id=created["id"], owned=True, expiration=expires.isoformat(),
                                    last_used=used.isoformat())  # fmt: skip
    got = {d.container_url: d.action for d in sweep_module.decide(rt)}
    assert got == {at_expiry: "delete", at_ttl: "keep"}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ServiceError(403, "Forbidden", "no"), "delete refused: Forbidden"),
        (TransientError("503"), "delete failed for now; next sweep tries again"),
    ],
)
def test_a_delete_that_fails_is_kept_with_the_reason_and_the_record_stays(rt, monkeypatch, error, reason):
    expired = source(rt, "expired", expires_in=-timedelta(minutes=1))

    def fail(source_id):
        raise error

    monkeypatch.setattr(rt.geocatalog, "delete_source", fail)
    (d,) = sweep(rt)
    assert (d.action, d.reason) == ("keep", reason) and rt.ledger.get_source_record(expired)["source_id"]
