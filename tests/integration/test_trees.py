"""A published-shaped tree, uploaded in any order, gives exactly one ingestion of its root with every item.

The tree is shaped like the published sample that broke the first version: a root catalog without a
`description` linking 8 event catalogs, each of which claims to be its own root, 40 items each with no links and
a `collection` id that is not ours. Each upload of a catalog.json is delivered at once (as Event Grid would),
so children are seen before, after and while the root arrives; the settle window holds them all until the tree
has stopped changing.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.states import JobState
from local_twin.demo import stac_search
from tests.integration.twin_helpers import TOKEN, admin, drop_for, runtime_for

CHILDREN, ITEMS = 8, 40
SETTLE = 5.0  # longer than any gap between two uploads of the tree, even on a loaded machine


def tree_files(top: str) -> dict[str, bytes]:
    """Blob name → content for the whole tree under `top/`."""
    files: dict[str, bytes] = {}
    root_links = [{"rel": "self", "href": "./catalog.json"}]
    for c in range(CHILDREN):
        ev = f"event-{c}"
        root_links.append({"rel": "child", "href": f"./{ev}/catalog.json"})
        links = [{"rel": "root", "href": "./catalog.json"}, {"rel": "self", "href": "./catalog.json"}]
        for i in range(ITEMS):
            item_id = f"{ev}-item-{i:03d}"
            links.append({"rel": "item", "href": f"./{item_id}/{item_id}.json"})
            files[f"{top}/{ev}/{item_id}/{item_id}.json"] = json.dumps({
                "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "upstream-collection",
                "geometry": {"type": "Point", "coordinates": [c, i / 10]}, "bbox": [c, i / 10, c, i / 10],
                "properties": {"datetime": "2024-05-01T00:00:00Z"},
                "assets": {"data": {"href": f"./{item_id}.tif", "type": "image/tiff"}},
            }).encode()  # fmt: skip
            files[f"{top}/{ev}/{item_id}/{item_id}.tif"] = b"II*\x00tiny"
        files[f"{top}/{ev}/catalog.json"] = json.dumps(
            {"type": "Catalog", "id": ev, "stac_version": "1.0.0", "description": f"event {c}", "links": links}
        ).encode()
    # The root has no description: the STAC spec wants one, the service does not.
    files[f"{top}/catalog.json"] = json.dumps(
        {"type": "Catalog", "id": "tree-root", "stac_version": "1.0.0", "links": root_links}
    ).encode()
    return files


def children_first(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (n.endswith("catalog.json"), -n.count("/"), n))


def root_first(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (n.count("/"), not n.endswith("catalog.json"), n))


def search_ids(emulator: Any, collection: str) -> set[str]:
    """Every item id STAC search finds in the collection (the twin's own search, following `next` links)."""
    env = {"GEOCATALOG_ENDPOINT": emulator.url, "GEOCATALOG_STATIC_TOKEN": TOKEN}
    return {item["id"] for item in stac_search(env, collection)}


def upload(container, rt, names: list[str], files: dict[str, bytes], workers: int, jobs: list) -> None:
    """Upload in this order (spread over `workers` threads); each catalog.json is delivered right after it lands."""
    lock = threading.Lock()

    def one(name: str) -> None:
        container.upload_blob(name, files[name], overwrite=True)
        if name.endswith("catalog.json"):
            job = handle_drop(rt, drop_for(rt, f"{container.url}/{name}"))
            with lock:
                jobs.append(job)

    if workers == 1:
        for name in names:
            one(name)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, names))


ORDERS: dict[str, tuple[Callable[[list[str]], list[str]], int]] = {
    "children first": (children_first, 1),
    "root first": (root_first, 1),
    "shuffled, 8 threads": (lambda names: random.Random(7).sample(names, len(names)), 8),
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_a_tree_in_any_upload_order_is_one_ingestion_of_its_root(azurite, emulator, twin, order):
    container, _ = twin
    rt = runtime_for(azurite, emulator, container, settle_seconds=SETTLE)
    files = tree_files("tree")
    arrange, workers = ORDERS[order]
    jobs: list = []
    upload(container, rt, arrange(list(files)), files, workers, jobs)
    assert len(jobs) == CHILDREN + 1
    assert all(j.state == JobState.DEFERRED for j in jobs), [j.state for j in jobs]  # nothing ran yet
    assert admin(emulator, "requests")["total"] == 0  # ... and the GeoCatalog was not called

    root_url = f"{container.url}/tree/catalog.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reconcile(rt)
        states = {j.blob_url: rt.ledger.get(j.job_id).state for j in jobs}
        if all(s.terminal for s in states.values()):
            break
        time.sleep(0.3)
    assert states[root_url] == JobState.SUCCEEDED, rt.ledger.get(next(j.job_id for j in jobs if j.blob_url == root_url))
    for j in jobs:
        if j.blob_url != root_url:
            child = rt.ledger.get(j.job_id)
            assert child.state == JobState.IGNORED and f"covered by catalog {root_url}" in child.last_error

    st = admin(emulator, "state")
    (ingestion,) = st["ingestions"]
    assert ingestion["sourceCatalogUrl"] == root_url
    assert st["collections"] == ["tree-root"] and len(st["runs"]) == 1
    root_job = rt.ledger.get(next(j.job_id for j in jobs if j.blob_url == root_url))
    assert root_job.total_items == CHILDREN * ITEMS and root_job.successful_items == CHILDREN * ITEMS
    # The exact GeoCatalog calls: one source, one collection (and its operation polled), one ingestion, one run,
    # and the run followed by reconcile until it ended. Nothing else was created, changed or deleted.
    log = admin(emulator, "requests")["counts"]
    writes = {route: n for route, n in log.items() if not route.startswith("GET ")}
    assert writes == {
        "POST /inma/ingestion-sources": 1,
        "POST /stac/collections": 1,
        "POST /inma/collections/{collectionId}/ingestions": 1,
        "POST /inma/collections/{collectionId}/ingestions/{ingestionId}/runs": 1,
    }
    reads = {route for route in log if route.startswith("GET ")}
    assert reads <= {"GET /inma/operations/{operationId}",
                     "GET /inma/collections/{collectionId}/ingestions/{ingestionId}/runs/{runId}"}  # fmt: skip
    assert len(search_ids(emulator, "tree-root")) == CHILDREN * ITEMS  # every item found (after the call log)
