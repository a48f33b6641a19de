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


def test_last_used_is_written_at_most_every_ten_minutes(monkeypatch):
    import ingest_core.sources as sources_module

    rt, _ = service()
    rt.sources.ensure(C)
    writes = rt.ledger.store.writes()
    rt.sources.ensure(C)
    assert rt.ledger.store.writes() == writes  # same source, recorded just now
    later = sources_module.now_utc() + timedelta(minutes=10)
    monkeypatch.setattr(sources_module, "now_utc", lambda: later)
    rt.sources.ensure(C)
    assert rt.ledger.store.writes() == writes + 1
    assert parse_time(rt.ledger.get_source_record(C)["last_used"]) == later


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
    sid = rt.sources.ensure(C)
    src = rt.geocatalog.sources[sid]
    assert src["kind"] == "BlobManagedIdentity"
    assert rt.ledger.get_source_record(C)["owned"] is True
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
