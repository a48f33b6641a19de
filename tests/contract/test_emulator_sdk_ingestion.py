"""Contract: collections, ingestions, runs and operations through the official SDK, with real ingestion."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.planetarycomputer import models as m

from geocatalog_emulator.testing import wait_for
from tests.contract.conftest import collection_body

SAMPLE_ITEMS = 6


def sas_source(url: str, token: str) -> m.SharedAccessSignatureTokenIngestionSource:
    connection = m.SharedAccessSignatureTokenConnection(container_uri=url, shared_access_signature_token=token)
    return m.SharedAccessSignatureTokenIngestionSource(connection_info=connection)


def finished_run(client, collection_id: str, ingestion_id: str, run_id: str) -> m.IngestionRun:
    """Poll get_run until the operation is terminal (what the SDK sample does)."""

    def done():
        run = client.ingestion.get_run(collection_id, ingestion_id, run_id)
        return run if run.operation.status in ("Succeeded", "Failed", "Canceled") else None

    return wait_for(done, what=f"run {run_id}")


def test_create_collection_lro_completes_and_is_readable(client, collection_id):
    collection = client.stac.get_collection(collection_id)
    assert collection.id == collection_id and collection.license == "CC-BY-4.0"
    assert collection_id in {c.id for c in client.stac.get_collections().collections}
    ops = list(client.ingestion.list_operations(collection_id=collection_id))
    (op,) = [o for o in ops if o.type == "AddCollection"]
    assert op.status == "Succeeded"
    assert [entry.status for entry in op.status_history] == ["Pending", "Running", "Finished"]


def test_replace_and_delete_collection(client, collection_id):
    replaced = client.stac.replace_collection(collection_id, {**collection_body(collection_id), "title": "New"})
    assert replaced.title == "New" and client.stac.get_collection(collection_id).title == "New"
    client.stac.begin_delete_collection(collection_id).result()
    with pytest.raises(ResourceNotFoundError):
        client.stac.get_collection(collection_id)


def test_deleting_a_missing_collection_fails_asynchronously(client, unique):
    poller = client.stac.begin_delete_collection(f"missing-{unique}")
    with pytest.raises(HttpResponseError):
        poller.result()
    (op,) = [o for o in client.ingestion.list_operations(collection_id=f"missing-{unique}")]
    assert op.status == "Failed" and op.status_history[-1].error_code == "ExecutionError"
    assert op.status_history[-1].error_message == f"Collection with id 'missing-{unique}' not exists in the geo-catalog"


def test_ingestion_definition_lifecycle(client, collection_id):
    body = m.IngestionDefinition(
        import_type=m.IngestionType.STATIC_CATALOG,
        display_name="contract",
        source_catalog_url="https://contractacct.blob.core.windows.net/c/catalog.json",
        keep_original_assets=True,
        skip_existing_items=True,
    )
    created = client.ingestion.create(collection_id, body)
    uuid.UUID(created.id)
    assert created.status == "Ready" and created.creation_time is not None
    assert client.ingestion.get(collection_id, created.id).display_name == "contract"
    updated = client.ingestion.update(collection_id, created.id, {"displayName": "renamed"})
    assert updated.display_name == "renamed" and updated.skip_existing_items is True
    assert [i.id for i in client.ingestion.list(collection_id)] == [created.id]
    client.ingestion.begin_delete(collection_id, created.id).result()
    with pytest.raises(ResourceNotFoundError):
        client.ingestion.get(collection_id, created.id)
    (op,) = [o for o in client.ingestion.list_operations(collection_id=collection_id) if o.type == "DeleteIngestion"]
    assert op.additional_information == {"IngestionId": created.id}


def test_run_ingests_the_sample_catalog(client, collection_id, sample_container):
    source = client.ingestion.create_source(sas_source(sample_container["url"], sample_container["sas"]))
    ingestion = client.ingestion.create(
        collection_id,
        m.IngestionDefinition(
            import_type="StaticCatalog",
            source_catalog_url=f"{sample_container['url']}/catalog.json",
            keep_original_assets=False,
            skip_existing_items=True,
        ),
    )
    run = client.ingestion.create_run(collection_id, ingestion.id)
    assert run.operation.status == "Pending" and run.operation.total_items == 0
    assert [e.status for e in run.operation.status_history] == ["Pending"]

    final = finished_run(client, collection_id, ingestion.id, run.id)
    op = final.operation
    assert op.status == "Succeeded", op.status_history
    assert (op.total_items, op.total_successful_items, op.total_failed_items, op.total_pending_items) == (6, 6, 0, 0)
    assert [e.status for e in op.status_history] == ["Pending", "Running", "Finished"]
    assert op.start_time is not None and op.finish_time is not None
    assert final.source_catalog_url == ingestion.source_catalog_url and final.skip_existing_items is True

    assert [r.id for r in client.ingestion.list_runs(collection_id, ingestion.id)] == [run.id]
    operation = client.ingestion.get_operation(run.operation.id)
    assert operation.type == "IngestionStaticCatalog" and operation.status == "Succeeded"
    assert operation.additional_information["TotalSuccessfulItems"] == str(SAMPLE_ITEMS)
    page = client.stac.get_item_collection(collection_id, limit=100)
    assert len(page.features) == SAMPLE_ITEMS
    client.ingestion.delete_source(source.id)


def test_items_lro_create_update_delete(client, collection_id):
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "single-item",
        "geometry": {"type": "Point", "coordinates": [10.0, 50.0]},
        "properties": {"datetime": "2024-05-01T00:00:00Z"},
        "assets": {},
        "links": [],
    }
    client.stac.begin_create_item(collection_id, item).result()
    assert client.stac.get_item(collection_id, "single-item").properties["datetime"] == "2024-05-01T00:00:00Z"
    with pytest.raises(HttpResponseError):  # a second AddItem fails: ItemAlreadyExistsInCollection
        client.stac.begin_create_item(collection_id, item).result()
    client.stac.begin_update_item(collection_id, "single-item", {"properties": {"title": "patched"}}).result()
    assert client.stac.get_item(collection_id, "single-item").properties["title"] == "patched"
    client.stac.begin_delete_item(collection_id, "single-item").result()
    with pytest.raises(ResourceNotFoundError):
        client.stac.get_item(collection_id, "single-item")
    failed = [o for o in client.ingestion.list_operations(collection_id=collection_id, status="Failed")]
    assert [o.status_history[-1].error_code for o in failed] == ["ItemAlreadyExistsInCollection"]


def test_cancel_operations(client, emulator, collection_id):
    ingestion = client.ingestion.create(
        collection_id,
        m.IngestionDefinition(import_type="StaticCatalog", source_catalog_url="https://example.invalid/catalog.json"),
    )
    emulator.settings.run_start_delay = 5.0  # keep the runs Pending long enough to cancel them
    try:
        first = client.ingestion.create_run(collection_id, ingestion.id)
        second = client.ingestion.create_run(collection_id, ingestion.id)
        client.ingestion.cancel_operation(first.operation.id)
        client.ingestion.cancel_all_operations()
    finally:
        emulator.settings.run_start_delay = 0.0
    for run in (first, second):
        op = client.ingestion.get_operation(run.operation.id)
        assert op.status == "Canceled"
        (entry,) = op.status_history  # canceled while Pending: only the Canceled entry, as recorded
        assert entry.error_code == "CanceledOperation"
        assert entry.error_message == f"Operation '{op.id}' for collection '{collection_id}' has been cancelled"
