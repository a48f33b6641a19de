"""The emulator really ingests: catalogs read from Azurite with the source's SAS, assets copied, STAC search."""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from pystac_client import Client

from geocatalog_emulator import EmulatorServer
from geocatalog_emulator.testing import SAMPLE_CATALOG, RawClient, container_sas, upload_directory

SAMPLE_IDS = {f"landcover-{region}-{n}" for region in "ab" for n in (1, 2, 3)}


@dataclass
class Sample:
    """The demo catalog in its own container, with a collection of its own in the emulator."""

    container: str
    container_url: str
    collection_id: str

    @property
    def catalog_url(self) -> str:
        return f"{self.container_url}/catalog.json"


def history(run: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in run["operation"]["statusHistory"]]


def counters(run: dict[str, Any]) -> tuple[int, int, int, int]:
    op = run["operation"]
    return op["totalItems"], op["totalSuccessfulItems"], op["totalFailedItems"], op["totalPendingItems"]


def new_sample(azurite: Any, api: RawClient) -> Sample:
    """Upload the demo catalog to a fresh container and create a fresh collection."""
    suffix = uuid.uuid4().hex[:10]
    container = f"emu-{suffix}"
    url = upload_directory(azurite.connection_string, container, SAMPLE_CATALOG)
    collection = json.loads((SAMPLE_CATALOG / "collection.json").read_text())
    sample = Sample(container, url, f"demo-{suffix}")
    assert api.create_collection({**collection, "id": sample.collection_id})["status"] == "Succeeded"
    return sample


@pytest.fixture
def api(emulator: EmulatorServer) -> RawClient:
    return RawClient(emulator.url)


@pytest.fixture
def sample(azurite: Any, api: RawClient) -> Sample:
    return new_sample(azurite, api)


def ingest(api: RawClient, sample: Sample, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run an ingestion of the sample to its end: (ingestion, final run)."""
    ingestion, run = api.start_run(sample.collection_id, sample.catalog_url, **options)
    return ingestion, api.wait_run(sample.collection_id, ingestion["id"], run["id"])


def test_sample_catalog_is_ingested_and_found_with_pystac_client(azurite, emulator, api, sample):
    api.add_sas_source(sample.container_url, container_sas(azurite.connection_string, sample.container))
    _, run = ingest(api, sample)
    assert run["operation"]["status"] == "Succeeded", run
    assert counters(run) == (6, 6, 0, 0) and history(run) == ["Pending", "Running", "Finished"]

    stac = Client.open(
        f"{emulator.url}/stac",
        headers={"Authorization": "Bearer test-token"},
        parameters={"api-version": api.api_version},
    )
    items = list(stac.search(collections=[sample.collection_id], limit=4).items())
    assert {item.id for item in items} == SAMPLE_IDS
    assert len(list(stac.search(collections=[sample.collection_id], limit=4).pages())) == 2
    assert {i.id for i in stac.get_collection(sample.collection_id).get_items()} == SAMPLE_IDS

    blobs = BlobServiceClient.from_connection_string(azurite.connection_string, api_version="2025-11-05")
    prefix = f"{azurite.blob_url}/{emulator.settings.asset_container}/{sample.collection_id}/"
    for item in items:
        region = item.id.split("-")[1]
        for key, asset in item.assets.items():
            assert asset.href.startswith(prefix + f"{item.id}/{key}/"), asset.href
            blob = asset.href[len(f"{azurite.blob_url}/{emulator.settings.asset_container}/") :]
            copied = blobs.get_blob_client(emulator.settings.asset_container, blob).download_blob().readall()
            original = SAMPLE_CATALOG / f"region-{region}" / item.id / asset.href.rsplit("/", 1)[1]
            assert copied == original.read_bytes()
        assert item.collection_id == sample.collection_id
        assert item.get_single_link("self").href.endswith(f"/stac/collections/{sample.collection_id}/items/{item.id}")


def test_search_filters_bbox_datetime_ids(azurite, emulator, api, sample):
    api.add_sas_source(sample.container_url, container_sas(azurite.connection_string, sample.container))
    assert ingest(api, sample)[1]["operation"]["status"] == "Succeeded"
    stac = Client.open(
        f"{emulator.url}/stac", headers={"Authorization": "Bearer t"}, parameters={"api-version": api.api_version}
    )

    def ids(**query: Any) -> set[str]:
        return {i.id for i in stac.search(collections=[sample.collection_id], **query).items()}

    assert ids(bbox=[9.95, 49.95, 10.35, 50.2]) == {"landcover-a-1", "landcover-a-2", "landcover-a-3"}
    assert ids(bbox=[10.15, 50.05, 10.16, 50.06]) == {"landcover-a-2"}
    assert ids(datetime="2024-01-01T00:00:00Z/..") == {"landcover-b-1", "landcover-b-2", "landcover-b-3"}
    assert ids(datetime="2023-06-02T10:00:00Z") == {"landcover-a-2"}
    assert ids(ids=["landcover-b-3", "nope"]) == {"landcover-b-3"}
    page = api.call("GET", f"/stac/collections/{sample.collection_id}/items", expect=200, limit=4).json()
    assert len(page["features"]) == 4 and page["numberMatched"] == 6
    (nxt,) = [link for link in page["links"] if link["rel"] == "next"]
    rest = api.session.get(nxt["href"], timeout=10).json()  # the next link alone is enough (api-version inside)
    assert {f["id"] for f in page["features"] + rest["features"]} == SAMPLE_IDS


@pytest.mark.parametrize(
    ("permission", "start", "expiry", "code"),
    [
        ("rl", -120, -60, "IngestionAuthenticationFailed"),  # expired
        ("r", -5, 60, "IngestionResourceForbidden"),  # no list permission
        ("l", -5, 60, "IngestionResourceForbidden"),  # no read permission
    ],
)
def test_unusable_sas_fails_the_run_with_the_error_code(azurite, api, sample, permission, start, expiry, code):
    from datetime import timedelta

    token = container_sas(
        azurite.connection_string,
        sample.container,
        permission,
        start=timedelta(minutes=start),
        expiry=timedelta(minutes=expiry),
    )
    api.add_sas_source(sample.container_url, token)
    _, run = ingest(api, sample)
    op = run["operation"]
    assert op["status"] == "Failed" and history(run) == ["Pending", "Running", "Failed"]
    assert op["statusHistory"][-1]["errorCode"] == code
    assert counters(run) == (0, 0, 0, 0)
    signature = token.split("sig=")[1]
    assert signature not in json.dumps(run) and signature not in json.dumps(api.admin("GET", "state"))


def test_catalog_without_an_ingestion_source_fails_authentication(api, sample):
    _, run = ingest(api, sample)
    entry = run["operation"]["statusHistory"][-1]
    assert run["operation"]["status"] == "Failed" and entry["errorCode"] == "IngestionAuthenticationFailed"
    assert sample.container_url in entry["errorMessage"] and "?" not in entry["errorMessage"]


def test_a_missing_item_counts_as_one_failed_item(azurite, api, sample):
    api.add_sas_source(sample.container_url, container_sas(azurite.connection_string, sample.container))
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        sample.container
    )
    container.delete_blob("region-b/landcover-b-2/landcover-b-2.json")
    _, run = ingest(api, sample)
    assert counters(run) == (6, 5, 1, 0)
    # The contract infers a run with failed items ends Failed with ErrorsInBatchOperation.
    assert run["operation"]["status"] == "Failed"
    assert run["operation"]["statusHistory"][-1]["errorCode"] == "ErrorsInBatchOperation"
    ids = {
        f["id"] for f in api.call("POST", "/stac/search", {"collections": [sample.collection_id]}).json()["features"]
    }
    assert ids == SAMPLE_IDS - {"landcover-b-2"}


def test_partial_failure_status_can_be_succeeded(azurite):
    conn = azurite.connection_string
    with EmulatorServer(asset_connection_string=conn, partial_failure_status="Succeeded") as server:
        api = RawClient(server.url)
        sample = new_sample(azurite, api)
        api.add_sas_source(sample.container_url, container_sas(conn, sample.container))
        BlobServiceClient.from_connection_string(conn).get_container_client(sample.container).delete_blob(
            "region-a/catalog.json"  # a whole child catalog is gone: it counts as one failed entry
        )
        _, run = ingest(api, sample)
        assert run["operation"]["status"] == "Succeeded" and counters(run) == (4, 3, 1, 0)


def test_skip_existing_items_on_a_second_run(azurite, api, sample):
    api.add_sas_source(sample.container_url, container_sas(azurite.connection_string, sample.container))
    ingestion, first = ingest(api, sample, skipExistingItems=True)
    assert counters(first) == (6, 6, 0, 0)
    # Change one item in storage: a skipping run must not pick the change up.
    blob = "region-a/landcover-a-1/landcover-a-1.json"
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        sample.container
    )
    doc = json.loads(container.download_blob(blob).readall())
    doc["properties"]["title"] = "changed"
    container.upload_blob(blob, json.dumps(doc), overwrite=True)

    second = api.rerun(sample.collection_id, ingestion["id"])
    second = api.wait_run(sample.collection_id, ingestion["id"], second["id"])
    assert second["operation"]["status"] == "Succeeded" and counters(second) == (6, 6, 0, 0)
    state = api.admin("GET", "state")
    assert state["itemCounts"][sample.collection_id] == 6
    (extras,) = [r for r in state["runs"] if r["id"] == second["id"]]
    assert extras["skippedItems"] == 6
    item_path = f"/stac/collections/{sample.collection_id}/items/landcover-a-1"
    assert api.call("GET", item_path, expect=200).json()["properties"]["title"] == "landcover-a-1"

    path = f"/inma/collections/{sample.collection_id}/ingestions/{ingestion['id']}"
    api.call("PATCH", path, {"skipExistingItems": False}, expect=200)
    third = api.rerun(sample.collection_id, ingestion["id"])
    third = api.wait_run(sample.collection_id, ingestion["id"], third["id"])
    assert counters(third) == (6, 6, 0, 0) and third["skipExistingItems"] is False
    assert api.call("GET", item_path, expect=200).json()["properties"]["title"] == "changed"
    assert api.admin("GET", "state")["itemCounts"][sample.collection_id] == 6


def test_keep_original_assets_leaves_hrefs_on_the_source(azurite, api, sample):
    api.add_sas_source(sample.container_url, container_sas(azurite.connection_string, sample.container))
    _, run = ingest(api, sample, keepOriginalAssets=True)
    assert run["operation"]["status"] == "Succeeded"
    item = api.call("GET", f"/stac/collections/{sample.collection_id}/items/landcover-b-1", expect=200).json()
    base = f"{sample.container_url}/region-b/landcover-b-1/landcover-b-1"
    assert item["assets"]["data"]["href"] == base + ".tif" and item["assets"]["thumbnail"]["href"] == base + ".png"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def upload_single_item_catalog(azurite: Any, container: str, item: dict[str, Any]) -> str:
    """A root catalog with one item beside it; returns the catalog URL."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.create_container(container)
    catalog = {"type": "Catalog", "id": "one", "stac_version": "1.0.0", "description": "d", "links": []}
    catalog["links"].append({"rel": "item", "href": "./item.json"})
    client.upload_blob("catalog.json", json.dumps(catalog))
    client.upload_blob("item.json", json.dumps(item))
    client.upload_blob("asset.bin", b"bytes")
    return f"{client.url}/catalog.json"


def test_external_assets_fail_unless_kept(azurite, api, sample):
    item = json.loads((SAMPLE_CATALOG / "region-a/landcover-a-1/landcover-a-1.json").read_text())
    item["assets"] = {
        "remote": {"href": f"http://127.0.0.1:{closed_port()}/remote.tif"},
        "local": {"href": "./asset.bin"},
    }
    container = f"ext-{uuid.uuid4().hex[:10]}"
    catalog_url = upload_single_item_catalog(azurite, container, item)
    api.add_sas_source(catalog_url.rsplit("/", 1)[0], container_sas(azurite.connection_string, container))
    ingestion, run = api.start_run(sample.collection_id, catalog_url)
    run = api.wait_run(sample.collection_id, ingestion["id"], run["id"])
    assert counters(run) == (1, 0, 1, 0)

    api.admin("PATCH", "config", {"keepExternalAssetHrefs": True})
    try:
        run = api.wait_run(
            sample.collection_id, ingestion["id"], api.rerun(sample.collection_id, ingestion["id"])["id"]
        )
    finally:
        api.admin("PATCH", "config", {"keepExternalAssetHrefs": False})
    assert counters(run) == (1, 1, 0, 0)
    stored = api.call("GET", f"/stac/collections/{sample.collection_id}/items/landcover-a-1", expect=200).json()
    assert stored["assets"]["remote"]["href"] == item["assets"]["remote"]["href"]
    assert "/geocatalog-assets/" in stored["assets"]["local"]["href"]


@pytest.mark.parametrize(
    ("breakage", "code"),
    [
        ({"geometry": None}, "StacValidationFailed"),
        ({"id": ""}, "StacValidationFailed"),
        ({"assets": {"a": {"title": "no href"}}}, "StacValidationFailed"),
        ({"properties": {}}, "StacValidationFailed"),
    ],
)
def test_invalid_items_are_counted_failed(azurite, api, sample, caplog, breakage, code):
    item = {**json.loads((SAMPLE_CATALOG / "region-a/landcover-a-1/landcover-a-1.json").read_text()), **breakage}
    container = f"bad-{uuid.uuid4().hex[:10]}"
    catalog_url = upload_single_item_catalog(azurite, container, item)
    api.add_sas_source(catalog_url.rsplit("/", 1)[0], container_sas(azurite.connection_string, container))
    with caplog.at_level("INFO", logger="geocatalog_emulator"):
        ingestion, run = api.start_run(sample.collection_id, catalog_url)
        run = api.wait_run(sample.collection_id, ingestion["id"], run["id"])
    assert counters(run) == (1, 0, 1, 0)
    assert code in caplog.text and "sig=" not in caplog.text


def test_missing_collection_and_invalid_catalog_fail_the_run(azurite, api, sample):
    api.add_sas_source(sample.container_url, container_sas(azurite.connection_string, sample.container))
    absent = f"absent-{uuid.uuid4().hex[:6]}"
    ingestion, run = api.start_run(absent, sample.catalog_url)
    run = api.wait_run(absent, ingestion["id"], run["id"])
    assert run["operation"]["statusHistory"][-1]["errorCode"] == "CollectionDoesNotExist"

    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        sample.container
    )
    container.upload_blob("broken.json", b"{not json")
    container.upload_blob("array.json", b"[1, 2]")
    for name in ("broken.json", "array.json", "region-a/landcover-a-1/landcover-a-1.json"):
        ingestion, run = api.start_run(sample.collection_id, f"{sample.container_url}/{name}")
        run = api.wait_run(sample.collection_id, ingestion["id"], run["id"])
        assert run["operation"]["statusHistory"][-1]["errorCode"] == "InvalidStacCatalog", name
    ingestion, run = api.start_run(sample.collection_id, f"{sample.container_url}/nothing-here.json")
    run = api.wait_run(sample.collection_id, ingestion["id"], run["id"])
    assert run["operation"]["statusHistory"][-1]["errorCode"] == "IngestionResourceUriNotFound"
