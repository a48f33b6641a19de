"""sources: RFC 3339 times from the service, and the container -> source service (cache, refresh, ownership)."""

from datetime import UTC, datetime, timedelta

import pytest

from ingest_core.errors import ServiceError
from ingest_core.sources import parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2099-12-31T23:59:59.0000000Z", datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2025-10-26T17:39:07.4852296Z", datetime(2025, 10, 26, 17, 39, 7, 485229, tzinfo=UTC)),
        ("2025-10-26T17:39:07.4852296+00:00", datetime(2025, 10, 26, 17, 39, 7, 485229, tzinfo=UTC)),
        ("2025-10-26T19:39:07.5+02:00", datetime(2025, 10, 26, 17, 39, 7, 500000, tzinfo=UTC)),
        ("2025-10-26T17:39:07", datetime(2025, 10, 26, 17, 39, 7, tzinfo=UTC)),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_empty_is_none():
    assert parse_time("") is None and parse_time(None) is None


# -- the Sources service, on the fast in-memory tier -------------------------------------------------
C = "https://acct.blob.core.windows.net/cat"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Now:
    """The wall clock of sources and the in-memory service, held still; the test moves it."""

    def __init__(self) -> None:
        self.at = datetime(2030, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def now(monkeypatch):
    import ingest_core.sources as sources_module
    from tests.unit import memory_twin

    clock = Now()
    monkeypatch.setattr(sources_module, "now_utc", clock)
    monkeypatch.setattr(memory_twin, "now_utc", clock)
    return clock


def service(**settings):
    from ingest_core.sources import Sources
    from tests.unit.memory_twin import memory_runtime

    rt = memory_runtime(**settings)
    clock = Clock()
    rt.sources = Sources(rt.settings, rt.geocatalog, rt.storage, rt.ledger, clock=clock)
    return rt, clock


def foreign(rt, container=C, expiry="2099-01-01T00:00:00+00:00", kind="SasToken"):
    """A source someone else registered on the service."""
    body = {"kind": kind, "connectionInfo": {"containerUrl": container, "sasToken": f"sv=x&se={expiry}&sig=X"}}
    return rt.geocatalog.create_source(body)["id"]


def test_a_new_container_gets_one_owned_source_with_its_sas_and_a_record():
    rt, _ = service()
    sid = rt.sources.ensure(C + "/")
    src = rt.geocatalog.sources[sid]
    assert src["connectionInfo"]["containerUrl"] == C and src["kind"] == "SasToken"
    rec = rt.ledger.get_source_record(C)
    assert rec["source_id"] == sid and rec["owned"] is True and rec["kind"] == "SasToken"
    assert parse_time(rec["expiration"]) == parse_time(src["connectionInfo"]["expiration"])
    assert parse_time(rec["intent_expiry"]) == parse_time(rec["expiration"])
    # Two writes: the intent, carrying its expiry from the first (a concurrent creator reads it), then the source.
    assert rt.ledger.store.writes() == 2
    assert rt.sources.ensure(C) == sid and rt.geocatalog.calls.count("create_source") == 1


def test_trust_runs_out_then_one_get_confirms_and_a_forgotten_source_is_looked_up_again():
    rt, clock = service(source_trust_seconds=60)
    sid = rt.sources.ensure(C)
    clock.now += 59
    rt.sources.ensure(C)
    assert "get_source" not in rt.geocatalog.calls
    clock.now += 2
    assert rt.sources.ensure(C) == sid and rt.geocatalog.calls.count("get_source") == 1
    rt.sources.ensure(C)
    assert rt.geocatalog.calls.count("get_source") == 1  # confirmed again: trusted for another minute
    rt.sources.forget_id("not-it")
    rt.sources.ensure(C)
    assert rt.geocatalog.calls.count("get_source") == 1
    rt.sources.forget_id(sid)
    rt.sources.ensure(C)
    assert rt.geocatalog.calls.count("get_source") == 2
    rt.sources.forget(C + "/")
    rt.sources.ensure(C)
    assert rt.geocatalog.calls.count("get_source") == 3


def test_last_used_is_written_at_most_every_ten_minutes(now):
    rt, _ = service()
    rt.sources.ensure(C)
    writes = rt.ledger.store.writes()
    now.at += timedelta(minutes=10) - timedelta(microseconds=1)
    rt.sources.ensure(C)
    assert rt.ledger.store.writes() == writes  # same source, recorded under ten minutes ago
    now.at += timedelta(microseconds=1)
    rt.sources.ensure(C)
    assert rt.ledger.store.writes() == writes + 1
    assert parse_time(rt.ledger.get_source_record(C)["last_used"]) == now.at


def test_a_source_deleted_on_the_service_is_registered_again():
    rt, _ = service(source_trust_seconds=0)
    first = rt.sources.ensure(C)
    rt.geocatalog.sources.clear()
    second = rt.sources.ensure(C)
    assert second != first and list(rt.geocatalog.sources) == [second]
    assert rt.ledger.get_source_record(C)["source_id"] == second


def test_a_refusal_to_read_the_source_is_raised_not_taken_for_deletion():
    rt, _ = service(source_trust_seconds=0)
    sid = rt.sources.ensure(C)

    def refuse(source_id):
        raise ServiceError(403, "Forbidden", "no")

    rt.geocatalog.get_source = refuse
    with pytest.raises(ServiceError):
        rt.sources.ensure(C)
    assert rt.ledger.get_source_record(C)["source_id"] == sid


def test_a_source_expiring_within_the_margin_is_refreshed_in_place():
    rt, _ = service(sas_lifetime_hours=24, sas_refresh_margin_hours=6)
    soon = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0).isoformat()
    sid = foreign(rt, expiry=soon)
    refreshed = {}

    def replace_source(source_id, body):
        refreshed.update(id=source_id, body=body)
        token = body["connectionInfo"]["sasToken"]
        rt.geocatalog.sources[source_id]["connectionInfo"]["expiration"] = token.split("se=", 1)[1].split("&")[0]
        return dict(rt.geocatalog.sources[source_id])

    rt.geocatalog.replace_source = replace_source
    assert rt.sources.ensure(C) == sid
    assert refreshed["id"] == sid and refreshed["body"]["id"] == sid
    assert refreshed["body"]["connectionInfo"]["containerUrl"] == C
    new_expiry = parse_time(rt.ledger.get_source_record(C)["expiration"])
    assert new_expiry - datetime.now(UTC) > timedelta(hours=23)
    refreshed.clear()
    rt.sources.ensure(C)
    assert refreshed == {}  # fresh now: no second refresh


def test_a_source_far_from_expiry_is_not_refreshed():
    rt, _ = service()
    foreign(rt, expiry=(datetime.now(UTC) + timedelta(hours=7)).isoformat())
    rt.sources.ensure(C)
    assert "replace_source" not in rt.geocatalog.calls


def test_a_conflict_naming_a_source_of_another_container_falls_back_to_the_listing():
    rt, _ = service()
    other = foreign(rt, container=C + "-other")
    mine = foreign(rt)

    def conflict(body):
        raise ServiceError(409, "Conflict", f"already contains a SAS token ingestion source with id {other}")

    rt.geocatalog.create_source = conflict
    assert rt.sources.ensure(C) == mine
    assert "list_sources" in rt.geocatalog.calls
    assert not rt.ledger.get_source_record(C).get("owned")


@pytest.mark.parametrize(
    "refusal", [ServiceError(409, "Conflict", "already exists"), ServiceError(403, "Forbidden", "no access")]
)
def test_a_refusal_to_create_with_no_source_to_reuse_is_raised(refusal):
    rt, _ = service()

    def refuse(body):
        raise refusal

    rt.geocatalog.create_source = refuse
    with pytest.raises(ServiceError, match=refusal.message):
        rt.sources.ensure(C)
    assert rt.ledger.get_source_record(C)["source_id"] == ""  # only the intent is recorded


def test_a_managed_identity_source_names_the_identity_and_is_never_refreshed():
    rt, _ = service(source_kind="BlobManagedIdentity", source_object_id="oid-1")
    posted = []
    real = rt.geocatalog.create_source
    rt.geocatalog.create_source = lambda body: posted.append(body) or real(body)
    sid = rt.sources.ensure(C)
    src = rt.geocatalog.sources[sid]
    assert src["kind"] == "BlobManagedIdentity"
    assert posted[0]["connectionInfo"] == {"containerUrl": C, "objectId": "oid-1"}
    rec = rt.ledger.get_source_record(C)
    assert rec["owned"] is True
    assert parse_time(rec["expiration"]) is None  # no expiry for sweep to read
    assert "replace_source" not in rt.geocatalog.calls


def test_ownership_after_a_lost_reply_sas_and_managed_identity():
    from ingest_core.sources import OWNERSHIP_SKEW, SourceInfo, Sources

    rt, _ = service()
    s: Sources = rt.sources
    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    sas = SourceInfo("s", C, "SasToken", expiry)
    assert s._made_by_us(sas, expiry + timedelta(milliseconds=900), expiry)
    assert not s._made_by_us(sas, expiry + timedelta(seconds=1), expiry)
    assert not s._made_by_us(SourceInfo("s", C, "SasToken", None), expiry, expiry)
    intent = datetime(2030, 1, 1, tzinfo=UTC)
    mi = SourceInfo("s", C, "BlobManagedIdentity", None, created=intent - OWNERSHIP_SKEW)
    assert s._made_by_us(mi, expiry, intent)
    assert not s._made_by_us(
        SourceInfo("s", C, "BlobManagedIdentity", None, intent - 2 * OWNERSHIP_SKEW), expiry, intent
    )
    assert not s._made_by_us(SourceInfo("s", C, "BlobManagedIdentity", None, None), expiry, intent)


def renewing(rt, with_id=True):
    """The service's PUT: the source takes the new SAS's expiry; its reply (without the id when told)."""

    def replace_source(source_id, body):
        rt.geocatalog.calls.append("replace_source")
        src = rt.geocatalog.sources[source_id]
        src["connectionInfo"]["expiration"] = body["connectionInfo"]["sasToken"].split("se=", 1)[1].split("&")[0]
        return {k: v for k, v in src.items() if with_id or k != "id"}

    rt.geocatalog.replace_source = replace_source


def conflict(rt, source_id=None):
    """POST answers 409, naming `source_id` (or no id at all), as the service does for a container it knows."""

    def create_source(body):
        rt.geocatalog.calls.append("create_source")
        named = f" with id {source_id}" if source_id else ""
        raise ServiceError(409, "Conflict", f"Container url already contains an ingestion source{named}")

    rt.geocatalog.create_source = create_source


@pytest.mark.parametrize("kind", ["SasToken", "BlobManagedIdentity"])
def test_a_source_whose_creation_reply_was_lost_is_still_ours_when_retried_later(now, kind):
    from ingest_core.errors import TransientError
    from tests.unit.memory_twin import done_then_lost

    rt, _ = service(source_kind=kind, source_object_id="oid-1")
    real = rt.geocatalog.create_source
    rt.geocatalog.create_source = done_then_lost(real, TransientError("reply lost"))
    with pytest.raises(TransientError):
        rt.sources.ensure(C)
    assert rt.ledger.get_source_record(C)["source_id"] == ""  # the process knows nothing of the source
    rt.geocatalog.create_source = real
    now.at += timedelta(hours=1)
    sid = rt.sources.ensure(C)
    assert list(rt.geocatalog.sources) == [sid]
    rec = rt.ledger.get_source_record(C)
    assert rec["source_id"] == sid and rec["owned"] is True  # sweep may delete it when idle


def test_a_retry_after_a_failed_post_carries_the_expiry_first_recorded(now):
    """Every creator sends the recorded expiry, so a concurrent one recognises the source by it."""
    rt, _ = service(sas_lifetime_hours=24, sas_refresh_margin_hours=6)
    real = rt.geocatalog.create_source

    def refuse(body):
        rt.geocatalog.create_source = real
        raise ServiceError(503, "ServiceUnavailable", "busy")

    rt.geocatalog.create_source = refuse
    with pytest.raises(ServiceError):
        rt.sources.ensure(C)
    first = now.at
    now.at += timedelta(hours=1)
    sid = rt.sources.ensure(C)
    expiry = parse_time(rt.geocatalog.sources[sid]["connectionInfo"]["expiration"])
    assert expiry == first + timedelta(hours=24)
    rec = rt.ledger.get_source_record(C)
    assert parse_time(rec["intent_expiry"]) == expiry and parse_time(rec["intent_at"]) == first


@pytest.mark.parametrize(("hours_left", "renewed"), [(1, True), (6, False)])
def test_an_intent_whose_expiry_is_within_the_margin_is_recorded_afresh(now, hours_left, renewed):
    """An old intent (a crashed attempt) would give a SAS needing a refresh at once: a new one replaces it."""
    rt, _ = service(sas_lifetime_hours=24, sas_refresh_margin_hours=6)
    old_at = now.at - timedelta(days=1)
    rt.ledger.source_intent(
        C, intent_at=old_at.isoformat(), intent_expiry=(now.at + timedelta(hours=hours_left)).isoformat()
    )
    sid = rt.sources.ensure(C)
    expiry = parse_time(rt.geocatalog.sources[sid]["connectionInfo"]["expiration"])
    rec = rt.ledger.get_source_record(C)
    if renewed:
        assert expiry == now.at + timedelta(hours=24)
        assert rec["intent_at"] == now.at.isoformat()
    else:  # exactly the margin left: still usable, and not refreshed either
        assert expiry == now.at + timedelta(hours=6)
        assert rec["intent_at"] == old_at.isoformat()
    assert parse_time(rec["intent_expiry"]) == expiry and parse_time(rec["expiration"]) == expiry
    assert rec["owned"] is True and "replace_source" not in rt.geocatalog.calls


def test_a_conflict_naming_the_containers_source_costs_one_get_and_no_listing():
    rt, _ = service()
    sid = foreign(rt)
    assert rt.sources.ensure(C) == sid
    assert "list_sources" not in rt.geocatalog.calls and rt.geocatalog.calls.count("get_source") == 1
    assert not rt.ledger.get_source_record(C).get("owned")  # someone else's: sweep leaves it alone


@pytest.mark.parametrize("named", [True, False])
def test_a_source_registered_with_a_trailing_slash_is_the_containers_and_trusted(named):
    rt, _ = service()
    sid = foreign(rt, container=C + "/")
    conflict(rt, sid if named else None)
    assert rt.sources.ensure(C) == sid
    assert rt.ledger.get_source_record(C)["source_id"] == sid
    gets = rt.geocatalog.calls.count("get_source")
    assert rt.sources.ensure(C + "/") == sid and rt.geocatalog.calls.count("get_source") == gets  # cached


@pytest.mark.parametrize("named", ["odd-kind", "odd-empty"])
def test_the_listing_passes_over_sources_it_cannot_read_and_ones_deleted_meanwhile(named):
    """Another kind without connection details, one without a container URL, one gone: the container's is found."""
    rt, _ = service()
    mine = foreign(rt)
    odd = {"odd-kind": {"id": "odd-kind", "kind": "Future"},
           "odd-empty": {"id": "odd-empty", "kind": "SasToken", "connectionInfo": {}}}  # fmt: skip
    real_get, real_list = rt.geocatalog.get_source, rt.geocatalog.list_sources

    def get_source(source_id):
        return dict(odd[source_id]) if source_id in odd else real_get(source_id)

    rt.geocatalog.get_source = get_source
    rt.geocatalog.list_sources = lambda: [{"id": "gone"}, *odd.values(), *real_list()]
    conflict(rt, named)
    assert rt.sources.ensure(C) == mine


def test_a_managed_identity_source_is_reused_as_is_by_a_sas_app():
    """Someone registered the container with an identity: the app neither overwrites it with a SAS nor renews it."""
    rt, _ = service()
    body = {"kind": "BlobManagedIdentity", "connectionInfo": {"containerUrl": C, "objectId": "theirs"}}
    sid = rt.geocatalog.create_source(body)["id"]
    assert rt.sources.ensure(C) == sid
    assert rt.sources.ensure(C, renew=True) == sid
    assert "replace_source" not in rt.geocatalog.calls


@pytest.mark.parametrize("with_id", [True, False])
def test_a_refresh_from_the_trusted_cache_restarts_the_trust(now, with_id):
    rt, clock = service(source_trust_seconds=60, sas_lifetime_hours=24, sas_refresh_margin_hours=6)
    renewing(rt, with_id)
    sid = rt.sources.ensure(C)
    clock.now += 50
    now.at += timedelta(hours=19)  # 5 hours left: inside the margin
    assert rt.sources.ensure(C) == sid and rt.geocatalog.calls.count("replace_source") == 1
    rec = rt.ledger.get_source_record(C)
    assert rec["source_id"] == sid and parse_time(rec["expiration"]) == now.at + timedelta(hours=24)
    clock.now += 20  # 70 s after creation, 20 s after the PUT confirmed it
    assert rt.sources.ensure(C) == sid
    assert "get_source" not in rt.geocatalog.calls and rt.geocatalog.calls.count("replace_source") == 1


def test_a_slow_creation_for_one_container_does_not_hold_up_another():
    import threading

    rt, _ = service()
    other, done = C + "2", {}
    real = rt.geocatalog.create_source

    def slow(body):
        if body["connectionInfo"]["containerUrl"] == C:
            thread = threading.Thread(target=lambda: done.update(sid=rt.sources.ensure(other)))
            thread.start()
            thread.join(timeout=2)
        return real(body)

    rt.geocatalog.create_source = slow
    rt.sources.ensure(C)
    assert done.get("sid") in rt.geocatalog.sources
    assert rt.ledger.get_source_record(other)["source_id"] == done["sid"]
