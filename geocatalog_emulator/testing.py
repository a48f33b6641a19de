"""Helpers for tests and demos that drive the emulator; the emulator itself never imports this."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from .assets import BLOB_API_VERSION, blob_endpoint, parse_connection_string
from .config import DEFAULT_API_VERSION

SAMPLE_CATALOG = Path(__file__).resolve().parent.parent / "samples" / "demo-catalog"
T = TypeVar("T")


def upload_directory(connection_string: str, container: str, directory: Path, prefix: str = "") -> str:
    """Upload every file under `directory` (keeping relative paths) and return the container URL."""
    service = BlobServiceClient.from_connection_string(connection_string, api_version=BLOB_API_VERSION)
    client = service.get_container_client(container)
    try:
        client.create_container()
    except ResourceExistsError:
        pass
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = "/".join(filter(None, [prefix.strip("/"), path.relative_to(directory).as_posix()]))
        client.upload_blob(name, path.read_bytes(), overwrite=True)
    return f"{blob_endpoint(parse_connection_string(connection_string))}/{container}"


def container_sas(
    connection_string: str,
    container: str,
    permission: str = "rl",
    start: timedelta = timedelta(minutes=-5),
    expiry: timedelta = timedelta(hours=1),
) -> str:
    """A container SAS signed with the account key, times relative to now (negative expiry = expired)."""
    conn = parse_connection_string(connection_string)
    now = datetime.now(UTC).replace(microsecond=0)
    return generate_container_sas(
        conn["AccountName"],
        container,
        account_key=conn["AccountKey"],
        permission=ContainerSasPermissions.from_string(permission),
        start=now + start,
        expiry=now + expiry,
    )


def sdk_client(url: str, token: str = "test-token", **kwargs: Any) -> Any:
    """The official SDK client against http://…: a static bearer policy (contract §4.1), no LRO sleeps."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy
    from azure.planetarycomputer import PlanetaryComputerProClient

    class StaticBearer(SansIOHTTPPolicy):
        def on_request(self, request: Any) -> None:
            request.http_request.headers["Authorization"] = f"Bearer {token}"

    return PlanetaryComputerProClient(
        url, credential=object(), authentication_policy=StaticBearer(), polling_interval=0, **kwargs
    )


def auth_headers(token: str = "test-token") -> dict[str, str]:
    """Headers for raw HTTP calls to the emulator."""
    return {"Authorization": f"Bearer {token}"}


def api_params(**extra: Any) -> dict[str, Any]:
    """Query parameters carrying the default api-version."""
    return {"api-version": DEFAULT_API_VERSION, **extra}


def wait_for(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.02, what: str = "") -> T:
    """Poll `probe` until it returns something truthy; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or probe}")
        time.sleep(interval)


class RawClient:
    """Plain-HTTP calls to the emulator (requests), for tests that check the wire itself."""

    def __init__(self, url: str, token: str = "test-token", api_version: str = DEFAULT_API_VERSION) -> None:
        import requests

        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.api_version = api_version

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None, **params: Any) -> Any:
        """One request with the api-version; asserts the status when `expect` is given."""
        response = self.session.request(
            method, self.url + path, json=body, params={"api-version": self.api_version, **params}, timeout=30
        )
        if expect is not None and response.status_code != expect:
            raise AssertionError(f"{method} {path}: {response.status_code} != {expect}: {response.text[:500]}")
        return response

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call /_emulator/…; the JSON body or None."""
        response = self.session.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_operation(self, op_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll an operation until it is terminal."""

        def done() -> dict[str, Any] | None:
            op = self.call("GET", f"/inma/operations/{op_id}", expect=200).json()
            return op if op["status"] in ("Succeeded", "Failed", "Canceled") else None

        return wait_for(done, timeout, what=f"operation {op_id}")

    def create_collection(self, collection: dict[str, Any]) -> dict[str, Any]:
        """POST the collection and wait for its AddCollection operation."""
        op = self.call("POST", "/stac/collections", collection, expect=202).json()
        return self.wait_operation(op["id"])

    def add_sas_source(self, container_url: str, token: str) -> dict[str, Any]:
        """Create a SasToken ingestion source."""
        body = {"kind": "SasToken", "connectionInfo": {"containerUrl": container_url, "sasToken": token}}
        return self.call("POST", "/inma/ingestion-sources", body, expect=201).json()

    def start_run(self, collection_id: str, catalog_url: str, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Create an ingestion definition for the catalog and one run of it: (ingestion, run)."""
        body = {"importType": "StaticCatalog", "sourceCatalogUrl": catalog_url, **options}
        ingestion = self.call("POST", f"/inma/collections/{collection_id}/ingestions", body, expect=201).json()
        return ingestion, self.rerun(collection_id, ingestion["id"])

    def rerun(self, collection_id: str, ingestion_id: str) -> dict[str, Any]:
        """Another run of an existing ingestion."""
        path = f"/inma/collections/{collection_id}/ingestions/{ingestion_id}/runs"
        return self.call("POST", path, expect=201).json()

    def get_run(self, collection_id: str, ingestion_id: str, run_id: str) -> dict[str, Any]:
        """The run as it is now."""
        path = f"/inma/collections/{collection_id}/ingestions/{ingestion_id}/runs/{run_id}"
        return self.call("GET", path, expect=200).json()

    def wait_run(self, collection_id: str, ingestion_id: str, run_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """Poll a run until its operation is terminal."""

        def done() -> dict[str, Any] | None:
            run = self.get_run(collection_id, ingestion_id, run_id)
            return run if run["operation"]["status"] in ("Succeeded", "Failed", "Canceled") else None

        return wait_for(done, timeout, what=f"run {run_id}")


def sample_items(base_url: str) -> list[dict[str, Any]]:
    """The sample catalog's items with absolute asset hrefs under `base_url` (where the sample was uploaded)."""
    items = []
    for path in sorted(SAMPLE_CATALOG.rglob("*.json")):
        doc = json.loads(path.read_text())
        if doc.get("type") != "Feature":
            continue
        here = f"{base_url.rstrip('/')}/{path.relative_to(SAMPLE_CATALOG).as_posix()}"
        for asset in doc["assets"].values():
            asset["href"] = urljoin(here, asset["href"])
        items.append(doc)
    return items
