"""The catalogs the bench drops (STAC documents it makes itself) and the order they are delivered in."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from azure.storage.blob import BlobServiceClient

UPLOAD_THREADS = 8


@dataclass(frozen=True)
class Catalog:
    """One catalog folder: `prefix/catalog.json` linking `n_items` items; its STAC id names its collection."""

    container: str
    prefix: str
    catalog_id: str
    n_items: int

    def url(self, blob_url: str) -> str:
        """The catalog.json blob URL under the account URL `blob_url`."""
        return f"{blob_url}/{self.container}/{self.prefix}/catalog.json"


def item_json(catalog_id: str, index: int) -> bytes:
    """A small valid STAC item (one data asset beside it; runs are held, so nothing reads the asset)."""
    item_id = f"{catalog_id}-{index:04d}"
    x = float(index % 90)
    doc = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "bbox": [x, 0.0, x + 1, 1.0],
        "geometry": {"type": "Polygon", "coordinates": [[[x, 0], [x + 1, 0], [x + 1, 1], [x, 1], [x, 0]]]},
        "properties": {"datetime": f"2024-01-{index % 28 + 1:02d}T00:00:00Z"},
        "assets": {"image": {"href": f"./{item_id}.tif", "type": "image/tiff", "roles": ["data"]}},
        "links": [{"rel": "root", "href": "../catalog.json"}, {"rel": "parent", "href": "../catalog.json"}],
    }
    return json.dumps(doc).encode()


def catalog_json(cat: Catalog, revision: int = 0) -> bytes:
    """The root catalog; a new `revision` changes its content (a re-drop with something new to ingest)."""
    links = [{"rel": "root", "href": "./catalog.json"}]
    links += [{"rel": "item", "href": f"./items/{cat.catalog_id}-{i:04d}.json"} for i in range(cat.n_items)]
    doc = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": cat.catalog_id,
        "description": f"bench catalog {cat.catalog_id}, revision {revision}",
        "links": links,
    }
    return json.dumps(doc).encode()


def _put(service: BlobServiceClient, container: str, name: str, data: bytes) -> None:
    service.get_blob_client(container, name).upload_blob(data, overwrite=True)


def upload(
    service: BlobServiceClient, catalogs: Iterable[Catalog], revision: int = 0, roots_only: bool = False
) -> None:
    """Upload the catalogs in parallel: every item first, then the roots (a root never links a missing item)."""
    cats = list(catalogs)
    items = [] if roots_only else [
        (c.container, f"{c.prefix}/items/{c.catalog_id}-{i:04d}.json", item_json(c.catalog_id, i))
        for c in cats for i in range(c.n_items)
    ]  # fmt: skip
    roots = [(c.container, f"{c.prefix}/catalog.json", catalog_json(c, revision)) for c in cats]
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for batch in (items, roots):
            list(pool.map(lambda blob: _put(service, *blob), batch))


def catalogs_for(containers: Sequence[str], count: int, n_items: int, tag: str, ids_of: str = "") -> list[Catalog]:
    """`count` catalogs spread round-robin over the containers under prefixes `{tag}NNN`.

    With `ids_of`, catalog i takes the STAC id of catalog i of that tag: it lands in that catalog's collection.
    """
    if not containers:
        raise ValueError("catalogs need at least one container")
    return [
        Catalog(containers[i % len(containers)], f"{tag}{i:04d}", f"bench-{ids_of or tag}{i:04d}", n_items)
        for i in range(count)
    ]


def deliveries(urls: Sequence[str], duplicate_fraction: float, rng: random.Random) -> list[str]:
    """Every URL once plus round(n × fraction) of them a second time (distinct ones), shuffled."""
    if not 0 <= duplicate_fraction <= 1:
        raise ValueError(f"duplicate fraction {duplicate_fraction} is outside 0-1")
    twice = rng.sample(list(urls), round(len(urls) * duplicate_fraction))
    out = [*urls, *twice]
    rng.shuffle(out)
    return out


def waves(items: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive chunks of at most `size` (the last one may be shorter)."""
    if size < 1:
        raise ValueError("a wave holds at least one catalog")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
