"""The twin's Event Grid filter and the BlobCreated events it builds for listed blobs."""

from __future__ import annotations

from ingest_core.events import drops_from_event
from local_twin.subscription import Subscription, event_for_blob, new_sequencer

URL = "https://127.0.0.1:10000/devstoreaccount1/catalogs/tenant-a/catalog.json"


def event(url: str = URL, copy_id: str | None = None) -> dict:
    return event_for_blob(url, '"0x8DE0001"', 123, "application/json", copy_id, new_sequencer())


def test_event_is_what_the_core_parses_back() -> None:
    ev = event()
    assert ev["subject"] == "/blobServices/default/containers/catalogs/blobs/tenant-a/catalog.json"
    assert ev["eventType"] == "Microsoft.Storage.BlobCreated"
    assert ev["data"]["api"] == "PutBlob"
    (drop,) = drops_from_event([ev])
    assert (drop.container, drop.path, drop.etag, drop.size) == ("catalogs", "tenant-a/catalog.json", "0x8DE0001", 123)
    assert event(copy_id="copy-1")["data"]["api"] == "CopyBlob"


def test_filter_matches_the_deployed_subscription() -> None:
    sub = Subscription("catalogs", "", "catalog.json", "on_catalog_blob")
    assert sub.subject_begins_with == "/blobServices/default/containers/catalogs/blobs/"
    assert sub.accepts(event())
    assert not sub.accepts(event(URL.replace("catalog.json", "items/a.json")))  # suffix
    assert not sub.accepts(event(URL.replace("/catalogs/", "/other/")))  # container
    assert not sub.accepts({**event(), "eventType": "Microsoft.Storage.BlobDeleted"})
    assert not sub.accepts({**event(), "data": {**event()["data"], "api": "PutBlock"}})  # not a completed upload
    prefixed = Subscription("catalogs", "tenant-b/", "catalog.json", "on_catalog_blob")
    assert not prefixed.accepts(event())


def test_sequencers_increase() -> None:
    first, second = new_sequencer(), new_sequencer()
    assert len(first) == 32 and first <= second


def test_the_host_loop_subscribes_to_parquet_uploads_only_when_a_rule_takes_geoparquet():
    import json

    from local_twin.functions import BlobTarget, EventGridTarget, Registry
    from local_twin.hostloop import build_routes

    conn = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
    env = {"GEOCATALOG_ENDPOINT": "https://geo.example", "CATALOG_STORAGE_CONNECTION": conn,
           "LEDGER_STORAGE_CONNECTION": conn, "CatalogStorage": conn}  # fmt: skip
    reg = Registry((BlobTarget("on_catalog_blob", "catalogs", "", "CatalogStorage", print),),
                   (EventGridTarget("on_blob_event", print),), ())  # fmt: skip
    plain, _ = build_routes(
        reg, {**env, "ROUTING_RULES": json.dumps([{"container": "catalogs"}, {"container": "more"}])}
    )
    assert sorted((r.subscription.container, r.subscription.subject_ends_with) for r in plain) == [
        ("catalogs", "catalog.json"), ("more", "catalog.json")]  # fmt: skip
    rules = [{"container": "catalogs", "stacGeoparquet": True}, {"container": "more"}]
    both, _ = build_routes(reg, {**env, "ROUTING_RULES": json.dumps(rules)})
    assert sorted((r.subscription.container, r.subscription.subject_ends_with) for r in both) == [
        ("catalogs", ".parquet"), ("catalogs", "catalog.json"), ("more", ".parquet"), ("more", "catalog.json")]  # fmt: skip
