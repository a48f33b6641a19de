"""The seed how-to's bulk ingestion, scripted faithfully: per catalog, one after another, plain `requests` calls.

Steps (shared/reference/seed-bulk-ingestion-how-to.md, with the corrections of geocatalog-api.md §10):
SAS for the container, create the ingestion source, create the collection and poll its operation, create the
ingestion, create its run, delete the source. Against Azurite the SAS is an account-key SAS, as
ingest_core/storage.py mints it locally; the how-to's user-delegation key needs Entra, which does not exist here.
Nothing here uses ingest_core.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

# The how-to's timeout for the ingestion POST, used for every call.
TIMEOUT_SECONDS = 300
# Poll schedule of the collection's operation: the product's client's (first look soon, then every 0.5 s).
FIRST_POLL_SECONDS, POLL_SECONDS = 0.1, 0.5
TERMINAL = {"succeeded", "failed", "canceled"}


class ManualFailed(RuntimeError):
    """A step of the manual procedure got an answer the how-to does not expect."""


def _check(resp: requests.Response, expected: int, step: str) -> requests.Response:
    if resp.status_code != expected:
        raise ManualFailed(f"{step}: HTTP {resp.status_code} (expected {expected}): {resp.text[:300]}")
    return resp


class ManualProcedure:
    """One operator's script against one GeoCatalog and one storage account."""

    def __init__(self, geocatalog_url: str, token: str, connection_string: str, api_version: str) -> None:
        self.geocatalog_url = geocatalog_url.rstrip("/")
        self.params = {"api-version": api_version}
        self.headers = {"Authorization": f"Bearer {token}"}
        credential = BlobServiceClient.from_connection_string(connection_string).credential
        self._account_key = credential.account_key

    def container_sas(self, container_url: str) -> str:
        """Read + list SAS for the container, valid from an hour ago to an hour from now (the how-to's window)."""
        parts = urlsplit(container_url)
        account, container = parts.path.strip("/").split("/", 1)  # Azurite: /account/container
        now = datetime.now(UTC).replace(microsecond=0)
        return generate_container_sas(
            account_name=account,
            container_name=container,
            account_key=self._account_key,
            permission=ContainerSasPermissions(read=True, list=True),
            start=now - timedelta(hours=1),
            expiry=now + timedelta(hours=1),
        )

    def _post(self, path: str, body: Any, expected: int, step: str) -> requests.Response:
        url = f"{self.geocatalog_url}{path}"
        resp = requests.post(url, json=body, headers=self.headers, params=self.params, timeout=TIMEOUT_SECONDS)
        return _check(resp, expected, step)

    def create_collection(self, collection_id: str) -> None:
        """POST the how-to's basic collection (202, not its 201) and poll the operation to its end."""
        collection = {
            "id": collection_id,
            "type": "Collection",
            "title": collection_id,
            "description": "An example collection",
            "license": "CC-BY-4.0",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [["2018-01-01T00:00:00Z", "2018-12-31T23:59:59Z"]]},
            },
            "links": [],
            "stac_version": "1.0.0",
            "msft:short_description": "An example collection",
        }
        resp = self._post("/stac/collections", collection, 202, "create collection")
        op_url = resp.headers["operation-location"]
        time.sleep(FIRST_POLL_SECONDS)
        while True:
            op = _check(requests.get(op_url, headers=self.headers, params=self.params, timeout=TIMEOUT_SECONDS),
                        200, "poll collection operation").json()  # fmt: skip
            if op.get("status", "").lower() in TERMINAL:
                break
            time.sleep(POLL_SECONDS)
        if op["status"].lower() != "succeeded":
            raise ManualFailed(f"collection {collection_id}: operation ended {op['status']}")

    def ingest(self, catalog_url: str, collection_id: str, create_collection: bool) -> None:
        """The whole procedure for one catalog; `create_collection` False when the operator knows it exists."""
        parts = urlsplit(catalog_url)
        account, container = parts.path.strip("/").split("/", 2)[:2]
        container_url = f"{parts.scheme}://{parts.netloc}/{account}/{container}"
        source = {"kind": "SasToken", "connectionInfo": {"containerUrl": container_url,
                                                          "sasToken": self.container_sas(container_url)}}  # fmt: skip
        source_id = self._post("/inma/ingestion-sources", source, 201, "create ingestion source").json()["id"]
        if create_collection:
            self.create_collection(collection_id)
        body = {
            "importType": "StaticCatalog",
            "sourceCatalogUrl": catalog_url,
            "skipExistingItems": False,
            "keepOriginalAssets": False,
        }
        ingestions = f"/inma/collections/{collection_id}/ingestions"
        ingestion_id = self._post(ingestions, body, 201, "create ingestion").json()["id"]
        self._post(f"{ingestions}/{ingestion_id}/runs", None, 201, "create run")
        resp = requests.delete(f"{self.geocatalog_url}/inma/ingestion-sources/{source_id}", headers=self.headers,
                               params=self.params, timeout=TIMEOUT_SECONDS)  # fmt: skip
        _check(resp, 204, "delete ingestion source")
