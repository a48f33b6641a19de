"""Helpers for tests that run the core against Azurite and the GeoCatalog emulator over real HTTP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
from azure.storage.blob import BlobServiceClient, ContainerClient

from ingest_core.events import Drop, drop_from_blob_trigger
from ingest_core.job import Job
from ingest_core.ledger import OPEN
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.runtime import Runtime, build_runtime
from ingest_core.settings import Settings

TOKEN = "local-test-token"

# Emulator request-count keys (route templates) for the "exactly one of each" assertions.
SRC_POST = "POST /inma/ingestion-sources"
SRC_PUT = "PUT /inma/ingestion-sources/{id}"
COLL_POST = "POST /stac/collections"
ING_POST = "POST /inma/collections/{collectionId}/ingestions"
ING_PATCH = "PATCH /inma/collections/{collectionId}/ingestions/{ingestionId}"
RUN_POST = "POST /inma/collections/{collectionId}/ingestions/{ingestionId}/runs"


def make_settings(azurite: Any, emulator: Any, container: str, **overrides: Any) -> Settings:
    """Settings for one test: its own container and ledger table."""
    values: dict[str, Any] = {
        "geocatalog_endpoint": emulator.url,
        "geocatalog_static_token": TOKEN,
        "catalog_connection": azurite.connection_string,
        "catalog_container": container,
        "ledger_connection": azurite.connection_string,
        "report_connection": azurite.connection_string,
        "report_container": "reports" + uuid.uuid4().hex[:12],
        "ledger_table": "jobs" + uuid.uuid4().hex[:12],
        "http_backoff_cap_seconds": 0.2,
        "claim_lease_seconds": 30,
        "settle_seconds": 0,  # tests of the settle window set it themselves
    }
    values.update(overrides)
    return Settings(**values)


def new_container(azurite: Any) -> ContainerClient:
    """A fresh, uniquely named container."""
    name = f"cat{uuid.uuid4().hex[:12]}"
    return BlobServiceClient.from_connection_string(azurite.connection_string).create_container(name)


def runtime_for(azurite: Any, emulator: Any, container: ContainerClient, **overrides: Any) -> Runtime:
    """A runtime wired to Azurite and the emulator for this container."""
    return build_runtime(make_settings(azurite, emulator, container.container_name, **overrides))


def item_doc(item_id: str) -> dict[str, Any]:
    """A small valid STAC item with one asset beside it."""
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {"data": {"href": f"./{item_id}.txt", "type": "text/plain", "roles": ["data"]}},
        "links": [{"rel": "root", "href": "../catalog.json"}, {"rel": "parent", "href": "../catalog.json"}],
    }


def upload_catalog(
    container: ContainerClient, prefix: str, n_items: int = 2, catalog_id: str = "test-cat", upload_root: bool = True
) -> str:
    """Upload a catalog with n items (and their assets) under prefix; return the catalog blob URL."""
    links = [{"rel": "root", "href": "./catalog.json"}]
    for i in range(n_items):
        item_id = f"{catalog_id}-item-{i}"
        container.upload_blob(f"{prefix}/items/{item_id}.json", json.dumps(item_doc(item_id)), overwrite=True)
        container.upload_blob(f"{prefix}/items/{item_id}.txt", b"asset bytes", overwrite=True)
        links.append({"rel": "item", "href": f"./items/{item_id}.json"})
    if upload_root:
        upload_root_catalog(container, prefix, links, catalog_id)
    return f"{container.url}/{prefix}/catalog.json"


def upload_root_catalog(container: ContainerClient, prefix: str, links: list[dict[str, str]], catalog_id: str) -> None:
    """Upload just the root catalog.json."""
    doc = {"type": "Catalog", "id": catalog_id, "stac_version": "1.0.0", "description": "test catalog", "links": links}
    container.upload_blob(f"{prefix}/catalog.json", json.dumps(doc), overwrite=True)


def admin(emulator: Any, path: str, method: str = "GET", body: Any = None) -> Any:
    """Call the emulator's admin API."""
    resp = requests.request(method, f"{emulator.url}/_emulator/{path}", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def calls(emulator: Any, route: str) -> int:
    """How many requests the emulator has served for `METHOD /route/template`."""
    return int(admin(emulator, "requests").get(route, 0))


def drop_for(rt: Runtime, url: str) -> Drop:
    """The Drop the blob trigger would hand over for this blob now (its current ETag)."""
    return drop_from_blob_trigger(url, rt.storage.blob_etag(url))


def drop(rt: Runtime, url: str, replay: str = "") -> Job | None:
    """Deliver the blob's BlobCreated once, straight to the pipeline."""
    return handle_drop(rt, drop_for(rt, url), replay=replay)


def fresh_emulator(emulator: Any) -> None:
    """Forget every resource, count and fault of earlier tests."""
    admin(emulator, "reset", "POST")
    admin(emulator, "faults", "DELETE")


def force(rt: Runtime, job: Job, **fields: Any) -> Job:
    """Write an unfinished job's row directly, state included: the state a crash or a bug would leave.

    The ledger's guarded writer refuses such writes on purpose; tests that stage a situation use this.
    """
    for key, value in fields.items():
        setattr(job, key, value)
    job.row_etag = rt.ledger.store.replace(job.to_entity(OPEN), job.row_etag)
    return job


def reconcile_until(rt: Runtime, job_id: str, predicate: Callable[[Job], bool], timeout: float = 30.0) -> Job:
    """Run reconcile passes until the job satisfies `predicate`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reconcile(rt)
        job = rt.ledger.get(job_id)
        if job is not None and predicate(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stuck in {rt.ledger.get(job_id).state}")
