"""sweep: only owned sources that expired or sat idle past the TTL are deleted, never one an open job reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest_core.errors import ServiceError, TransientError
from ingest_core.job import now_utc
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
