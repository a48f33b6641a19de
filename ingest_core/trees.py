"""Catalog trees, whatever the upload order: the settle window, the ready marker, and coverage by an ancestor.

A tree arrives as many blobs in any order (children first, root first, in parallel). A catalog starts only
once its top folder (the first folder below the rule's prefix) has stopped changing for SETTLE_SECONDS, or once
the rule's ready marker sits beside it. Then it is ingested only if no catalog.json in a folder above it (inside
the rule's prefix) lists it, directly or through other catalogs, as a child: whatever its own `root` link says,
the top-most catalog of the tree is the one ingested, with every item.
"""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from ingest_core.events import url_without_query
from ingest_core.routing import RoutingRule

# Reads a JSON document by URL (None when absent); the pipeline's TreeReader.
Reader = Callable[[str], dict[str, Any] | None]
# Bounds the child-only walk of an ancestor: catalogs, not items, so far below the item bound.
MAX_COVERAGE_CATALOGS = 5_000


def top_folder(rule: RoutingRule, path: str) -> str:
    """The blob prefix of the catalog's top folder: the rule's prefix plus the first folder below it."""
    rest = path[len(rule.prefix) :].lstrip("/")
    head = rest.split("/", 1)[0] if "/" in rest else ""
    return (rule.prefix.rstrip("/") + "/" if rule.prefix.strip("/") else "") + (head + "/" if head else "")


def ancestor_catalogs(rule: RoutingRule, path: str, name: str = "catalog.json") -> list[str]:
    """Blob paths of the possible catalogs in the folders above `path` that the rule covers, top-most first."""
    found = []
    folder = posixpath.dirname(posixpath.dirname(path))  # the folder above the catalog's own folder
    own = posixpath.dirname(path)
    while own:
        candidate = f"{folder}/{name}" if folder else name
        if candidate.startswith(rule.prefix):
            found.append(candidate)
        own, folder = folder, posixpath.dirname(folder)
    return list(reversed(found))


def settles_at(changes: list[datetime], settle: timedelta) -> datetime | None:
    """When the folder counts as settled: `settle` after its latest change (None if it has no blob)."""
    return max(changes) + settle if changes else None


def covered_by(url: str, ancestors: list[str], read: Reader) -> str | None:
    """The top-most ancestor catalog whose child links reach `url` (directly or through other catalogs)."""
    for top in ancestors:
        doc = read(top)
        if doc is not None and _reaches(top, doc, url, read):
            return top
    return None


def _child_links(doc: dict[str, Any], base: str) -> list[str]:
    links = doc.get("links")
    if not isinstance(links, list):
        return []
    out = []
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "child" and isinstance(link.get("href"), str):
            out.append(url_without_query(urljoin(base, link["href"])))
    return out


def _reaches(start: str, doc: dict[str, Any], target: str, read: Reader) -> bool:
    queue: deque[tuple[str, dict[str, Any]]] = deque([(start, doc)])
    seen = {start}
    while queue and len(seen) <= MAX_COVERAGE_CATALOGS:
        here, node = queue.popleft()
        for child in _child_links(node, here):
            if child == target:
                return True
            if child in seen:
                continue
            seen.add(child)
            sub = read(child)
            if isinstance(sub, dict):
                queue.append((child, sub))
    return False
