"""STAC checks and the preflight walker: is this a catalog we can ingest, and is all of it uploaded?"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingest_core.errors import InvalidDrop
from ingest_core.events import url_without_query

CATALOG_TYPES = ("Catalog", "Collection")
MAX_WARNINGS = 20

# Reads a JSON document by URL; None when the blob does not exist (yet).
JsonReader = Callable[[str], dict[str, Any] | None]


@dataclass
class Preflight:
    """What the walk found: enough to decide DEFERRED / IGNORED / go, and to build a placeholder collection."""

    catalog_id: str
    catalog: dict[str, Any]
    child_catalogs: list[str] = field(default_factory=list)  # every catalog below this one
    item_count: int = 0
    item_urls: list[str] = field(default_factory=list)  # every item, in walk order (the parts of a split job)
    links_checked: int = 0
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    asset_containers: set[str] = field(default_factory=set)
    bboxes: list[list[float]] = field(default_factory=list)
    datetimes: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a per-item problem; the run still goes ahead (the service counts those items failed)."""
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)


def parse_catalog(data: bytes, where: str) -> dict[str, Any]:
    """Parse and check the root document; InvalidDrop says exactly what is wrong."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        pos = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidDrop(f"not valid JSON{pos}: fix the file and upload it again", where=where) from None
    if not isinstance(doc, dict):
        raise InvalidDrop("not a STAC catalog: the document is not a JSON object", where=where)
    if doc.get("type") not in CATALOG_TYPES:
        raise InvalidDrop(
            f'not a STAC catalog: "type" is {doc.get("type")!r}, expected "Catalog" or "Collection"', where=where
        )
    missing = [k for k in ("id", "stac_version", "description", "links") if k not in doc]
    if missing:
        raise InvalidDrop(f"not a STAC catalog: missing required field(s) {', '.join(missing)}", where=where)
    if not isinstance(doc["links"], list) or not all(
        isinstance(link, dict) and "href" in link for link in doc["links"]
    ):
        raise InvalidDrop('not a STAC catalog: "links" must be a list of objects with an href', where=where)
    if not isinstance(doc["id"], str) or not doc["id"]:
        raise InvalidDrop('not a STAC catalog: "id" must be a non-empty string', where=where)
    return doc


def _links(doc: dict[str, Any], rel: str, base: str) -> list[str]:
    """Resolved hrefs of `rel` links; a malformed links list is bad input, said where."""
    links = doc.get("links", [])
    if not isinstance(links, list):
        raise InvalidDrop('"links" must be a list', where=base)
    out = []
    for link in links:
        if not isinstance(link, dict) or link.get("rel") != rel:
            continue
        if not isinstance(link.get("href"), str) or not link["href"]:
            raise InvalidDrop(f'a "{rel}" link has no usable href (must be a non-empty string)', where=base)
        out.append(url_without_query(urljoin(base, link["href"])))
    return out


def _inside(url: str, container_url: str) -> bool:
    return url.startswith(container_url.rstrip("/") + "/")


def _storage_root(container_url: str) -> str:
    """scheme://host[/account] for path-style URLs: the part shared by every container of the account."""
    return container_url.rstrip("/").rsplit("/", 1)[0]


def _check_item(item: dict[str, Any] | Any, where: str, pf: Preflight, container_url: str) -> None:
    if not isinstance(item, dict) or item.get("type") != "Feature":
        pf.warn(f'{where}: not a STAC item (type must be "Feature")')
        return
    problems = [f"missing {k}" for k in ("id", "geometry", "assets") if not item.get(k)]
    assets = item.get("assets") or {}
    if not isinstance(assets, dict):
        problems.append('"assets" must be an object of asset objects')
        assets = {}
    if problems:
        pf.warn(f"{where}: {', '.join(problems)}")
    bbox = item.get("bbox")
    if isinstance(bbox, list) and len(bbox) in (4, 6) and all(isinstance(v, int | float) for v in bbox):
        half = len(bbox) // 2  # 3-D boxes: keep x/y of the min and max corners
        pf.bboxes.append([bbox[0], bbox[1], bbox[half], bbox[half + 1]])
    props = item.get("properties")
    if isinstance(props, dict) and isinstance(props.get("datetime"), str):
        pf.datetimes.append(props["datetime"])
    root = _storage_root(container_url)
    for key, asset in assets.items():
        if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            pf.warn(f"{where}: asset {key!r} has no href")
            continue
        href = url_without_query(urljoin(where, asset["href"]))
        if href.startswith(root + "/"):  # blob in this storage account: its container needs a source too
            pf.asset_containers.add(root + "/" + href[len(root) + 1 :].split("/", 1)[0])


def preflight(url: str, doc: dict[str, Any], container_url: str, read: JsonReader, max_links: int) -> Preflight:
    """Walk child and item links breadth-first (bounded), checking they stay in the container and exist."""
    # `root` and `parent` links are not trusted (published children often claim to be roots): whether a
    # catalog is covered by another is decided by the catalogs above it (ingest_core.trees).
    pf = Preflight(catalog_id=doc["id"], catalog=doc)
    pf.asset_containers.add(container_url)
    queue: deque[tuple[str, dict[str, Any]]] = deque([(url, doc)])
    seen = {url}
    while queue:
        here, node = queue.popleft()
        for rel in ("child", "item"):
            for target in _links(node, rel, here):
                if target in seen:
                    continue
                seen.add(target)
                if not _inside(target, container_url):
                    raise InvalidDrop(
                        f"{rel} link {target} leaves the container {container_url}: "
                        "every catalog and item must live in the catalog's container",
                        where=here,
                    )
                if pf.links_checked >= max_links:
                    raise InvalidDrop(
                        f"catalog links more than {max_links} documents (PREFLIGHT_MAX_LINKS); "
                        "split it or raise the limit",
                        where=url,
                    )
                pf.links_checked += 1
                child = read(target)
                if child is None:
                    pf.missing.append(target)
                elif rel == "child":
                    if not isinstance(child, dict) or child.get("type") not in CATALOG_TYPES:
                        raise InvalidDrop(f"child link {target} is not a STAC catalog", where=here)
                    queue.append((target, child))
                    pf.child_catalogs.append(target)
                else:
                    pf.item_count += 1
                    pf.item_urls.append(target)
                    _check_item(child, target, pf, container_url)
    return pf


def collection_body(collection_id: str, pf: Preflight, from_file: dict[str, Any] | None) -> dict[str, Any]:
    """The collection to create: the uploaded collection.json (id forced), or a placeholder from the catalog."""
    if from_file is not None:
        body = {k: v for k, v in from_file.items() if k != "links"}
        body.update(id=collection_id, type="Collection", links=[])
        return body
    bbox = [-180.0, -90.0, 180.0, 90.0]
    if pf.bboxes:
        bbox = [min(b[0] for b in pf.bboxes), min(b[1] for b in pf.bboxes),
                max(b[2] for b in pf.bboxes), max(b[3] for b in pf.bboxes)]  # fmt: skip
    times = sorted(pf.datetimes)
    cat = pf.catalog
    return {
        "id": collection_id,
        "type": "Collection",
        "stac_version": "1.0.0",
        "title": cat.get("title") or cat["id"],
        "description": cat.get("description") or f"Created for catalog {cat['id']}",
        "license": cat.get("license", "other"),
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [[times[0] if times else None, times[-1] if times else None]]},
        },
        "links": [],
        "msft:short_description": (cat.get("description") or cat["id"])[:100],
    }


def sibling_url(url: str, name: str) -> str:
    """The URL of `name` in the same folder as `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/{name}"
