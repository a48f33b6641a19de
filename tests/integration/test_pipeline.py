"""pipeline.handle_drop against Azurite and the GeoCatalog emulator, over real HTTP: exactly one of everything."""

from __future__ import annotations

import threading
from datetime import timedelta

from ingest_core.geocatalog import GeoCatalogClient, StaticToken
from ingest_core.pipeline import handle_drop
from ingest_core.states import JobState
from tests.integration.twin_helpers import (
    COLL_POST,
    ING_POST,
    RUN_POST,
    SRC_POST,
    SRC_PUT,
    TOKEN,
    admin,
    calls,
    drop_for,
    runtime_for,
    upload_catalog,
)


def state(emulator):
    return admin(emulator, "state")


def test_one_drop_creates_exactly_one_of_each_with_the_contract_body(twin, emulator):
    container, rt = twin
    url = upload_catalog(container, "a", n_items=2, catalog_id="cat-one")
    job = handle_drop(rt, drop_for(rt, url))
    assert job.state == JobState.RUNNING, job.last_error
    assert [calls(emulator, r) for r in (SRC_POST, COLL_POST, ING_POST, RUN_POST)] == [1, 1, 1, 1]
    st = state(emulator)
    (src,) = st["sources"]
    assert src["connectionInfo"]["containerUrl"] == container.url and "sasToken" not in src["connectionInfo"]
    (ing,) = st["ingestions"]
    assert ing["sourceCatalogUrl"] == url and ing["importType"] == "StaticCatalog"
    assert ing["skipExistingItems"] is True and ing["keepOriginalAssets"] is False
    assert job.collection_id == "cat-one" and job.ingestion_id == ing["id"] and job.run_id
    assert job.source_ids == [src["id"]] and job.total_items == 2


def test_five_concurrent_deliveries_still_make_one_of_each(twin, emulator):
    container, rt = twin
    url = upload_catalog(container, "b", n_items=2, catalog_id="cat-five")
    drop = drop_for(rt, url)
    results, errors = [], []

    def deliver():
        try:
            results.append(handle_drop(rt, drop))
        except Exception as exc:  # surfaced below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [calls(emulator, r) for r in (SRC_POST, COLL_POST, ING_POST, RUN_POST)] == [1, 1, 1, 1]
    assert len({j.job_id for j in results}) == 1
    assert len(rt.ledger.jobs()) == 1


def test_second_catalog_in_the_same_container_reuses_the_source(twin, emulator):
    container, rt = twin
    handle_drop(rt, drop_for(rt, upload_catalog(container, "c1", catalog_id="cat-c1")))
    job = handle_drop(rt, drop_for(rt, upload_catalog(container, "c2", catalog_id="cat-c2")))
    assert job.state == JobState.RUNNING
    assert calls(emulator, SRC_POST) == 1 and calls(emulator, SRC_PUT) == 0
    assert len(state(emulator)["sources"]) == 1


def test_source_reused_across_instances_through_the_ledger(twin, azurite, emulator):
    container, rt = twin
    handle_drop(rt, drop_for(rt, upload_catalog(container, "d1", catalog_id="cat-d1")))
    other = runtime_for(azurite, emulator, container, ledger_table=rt.settings.ledger_table)  # a second instance
    assert (
        handle_drop(other, drop_for(other, upload_catalog(container, "d2", catalog_id="cat-d2"))).state
        == JobState.RUNNING
    )
    assert calls(emulator, SRC_POST) == 1


def test_sas_expiring_inside_the_margin_is_refreshed_in_place(twin, azurite, emulator):
    container, rt = twin
    handle_drop(rt, drop_for(rt, upload_catalog(container, "e1", catalog_id="cat-e1")))
    (before,) = state(emulator)["sources"]
    # Same ledger, but now a 24 h SAS is "too close" to expiry: margin 30 h of a 48 h lifetime.
    later = runtime_for(azurite, emulator, container, ledger_table=rt.settings.ledger_table,
                        sas_lifetime_hours=48, sas_refresh_margin_hours=30)  # fmt: skip
    handle_drop(later, drop_for(later, upload_catalog(container, "e2", catalog_id="cat-e2")))
    (after,) = state(emulator)["sources"]
    assert calls(emulator, SRC_PUT) == 1 and calls(emulator, SRC_POST) == 1
    assert after["id"] == before["id"]
    assert after["connectionInfo"]["expiration"] > before["connectionInfo"]["expiration"]


def test_409_race_on_source_create_reuses_the_winner(twin, emulator, monkeypatch):
    container, rt = twin
    competitor = GeoCatalogClient(emulator.url, StaticToken(TOKEN))
    winner: dict = {}
    real_create = rt.geocatalog.create_source

    def another_instance_wins_first(body):
        if not winner:  # another instance registers the container a moment before our POST lands
            sas = rt.storage.mint_container_sas(container.url, timedelta(hours=1))
            winner.update(competitor.create_source(
                {"kind": "SasToken", "connectionInfo": {"containerUrl": container.url, "sasToken": sas.token}}))  # fmt: skip
        return real_create(body)

    monkeypatch.setattr(rt.geocatalog, "create_source", another_instance_wins_first)
    job = handle_drop(rt, drop_for(rt, upload_catalog(container, "f", catalog_id="cat-f")))
    assert job.state == JobState.RUNNING, job.last_error
    assert calls(emulator, SRC_POST) == 2  # the winner's 201 and our 409
    assert calls(emulator, "GET /inma/ingestion-sources") == 0  # the 409 named the source: no listing
    assert [s["id"] for s in state(emulator)["sources"]] == [winner["id"]]
    assert job.source_ids == [winner["id"]]
    assert not rt.ledger.get_source_record(container.url).get("owned")  # not ours: sweep leaves it alone


def test_existing_collection_is_not_recreated(twin, emulator):
    container, rt = twin
    rt.geocatalog.create_collection({"id": "cat-g", "type": "Collection", "stac_version": "1.0.0",
                                     "description": "pre-existing", "license": "other", "links": [],
                                     "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                                "temporal": {"interval": [[None, None]]}}})  # fmt: skip
    before = calls(emulator, COLL_POST)
    rt.known_collections.clear()  # as in a fresh process that has not seen it
    job = handle_drop(rt, drop_for(rt, upload_catalog(container, "g", catalog_id="cat-g")))
    assert job.state == JobState.RUNNING
    # Creation goes first: its operation answers "exists", and the collection is left as it was.
    assert calls(emulator, COLL_POST) == before + 1
    assert rt.geocatalog.get_collection("cat-g")["description"] == "pre-existing"
    assert state(emulator)["collections"].count("cat-g") == 1
    # Known from then on: a later catalog into it makes no collection call at all.
    later = handle_drop(rt, drop_for(rt, upload_catalog(container, "g2", catalog_id="cat-g")))
    assert later.state == JobState.RUNNING and later.collection_id == "cat-g"
    assert calls(emulator, COLL_POST) == before + 1


def test_redrop_of_the_same_catalog_url_reuses_the_ingestion_and_starts_a_new_run(twin, emulator):
    container, rt = twin
    url = upload_catalog(container, "h", catalog_id="cat-h")
    first = handle_drop(rt, drop_for(rt, url))
    url = upload_catalog(container, "h", n_items=3, catalog_id="cat-h")  # same URL, new content
    second = handle_drop(rt, drop_for(rt, url))
    assert second.job_id != first.job_id
    assert second.ingestion_id == first.ingestion_id and second.run_id != first.run_id
    assert calls(emulator, ING_POST) == 1 and calls(emulator, RUN_POST) == 2


def test_reupload_of_identical_content_starts_nothing(twin, emulator):
    container, rt = twin
    first = handle_drop(rt, drop_for(rt, upload_catalog(container, "u", catalog_id="cat-u")))
    url = upload_catalog(container, "u", catalog_id="cat-u")  # same bytes again: storage still gives a new ETag
    again = handle_drop(rt, drop_for(rt, url))
    assert again.job_id != first.job_id and again.state == JobState.IGNORED
    assert f"same catalog, items and links as job {first.job_id}" in again.last_error
    assert calls(emulator, ING_POST) == 1 and calls(emulator, RUN_POST) == 1
