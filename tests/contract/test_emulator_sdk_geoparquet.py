"""Contract: the StacGeoparquet import type through the official SDK, with a real file of the sample items."""

from __future__ import annotations

from typing import Any

from azure.planetarycomputer import models as m
from azure.storage.blob import BlobServiceClient

from geocatalog_emulator.geoparquet import write_items
from geocatalog_emulator.testing import sample_items, wait_for


def geoparquet_run(client: Any, collection_id: str, container: dict[str, str], azurite: Any, data: bytes) -> Any:
    """Upload `data` as a .parquet blob, register the container, run a StacGeoparquet ingestion to its end."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.get_blob_client(container["name"], "items.parquet").upload_blob(data, overwrite=True)
    connection = m.SharedAccessSignatureTokenConnection(
        container_uri=container["url"], shared_access_signature_token=container["sas"]
    )
    source = client.ingestion.create_source(m.SharedAccessSignatureTokenIngestionSource(connection_info=connection))
    ingestion = client.ingestion.create(
        collection_id,
        m.IngestionDefinition(
            import_type=m.IngestionType.STAC_GEOPARQUET,
            stac_geoparquet_url=f"{container['url']}/items.parquet",
            skip_existing_items=True,
        ),
    )
    assert ingestion.import_type == "StacGeoparquet"
    run = client.ingestion.create_run(collection_id, ingestion.id)

    def done() -> Any:
        got = client.ingestion.get_run(collection_id, ingestion.id, run.id)
        return got if got.operation.status in ("Succeeded", "Failed", "Canceled") else None

    try:
        return wait_for(done, what="the geoparquet run").operation
    finally:
        client.ingestion.delete_source(source.id)


def test_a_stac_geoparquet_run_ingests_every_row(client, collection_id, sample_container, azurite):
    items = sample_items(sample_container["url"])
    op = geoparquet_run(client, collection_id, sample_container, azurite, write_items(items))
    assert op.status == "Succeeded", op.status_history
    assert (op.total_items, op.total_successful_items, op.total_failed_items) == (len(items), len(items), 0)
    stored = {f.id: f for f in client.stac.get_item_collection(collection_id, limit=100).features}
    assert set(stored) == {i["id"] for i in items}
    first = items[0]
    assert dict(stored[first["id"]].properties)["datetime"] == first["properties"]["datetime"]
    assert dict(stored[first["id"]].geometry)["coordinates"] == first["geometry"]["coordinates"]


def test_a_parquet_that_is_not_stac_geoparquet_fails_the_run_with_invalid_geoparquet(
    client, collection_id, sample_container, azurite
):
    op = geoparquet_run(client, collection_id, sample_container, azurite, b"not parquet")
    assert op.status == "Failed" and op.status_history[-1].error_code == "InvalidGeoparquet"
    assert client.stac.get_item_collection(collection_id, limit=10).features == []
