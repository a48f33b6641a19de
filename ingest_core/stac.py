"""STAC checks and the preflight walker: is this a catalog we can ingest, and is all of it uploaded?

INVALID only for what makes the whole run fail (not JSON, not an object, wrong type, no id, unusable links,
links leaving the container, no items, every item rejected). What the service rejects item by item becomes
an ItemWarning that predicts the failure; what only the STAC spec asks for becomes a note.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ingest_core.errors import InvalidDrop
from ingest_core.events import container_url_of
from ingest_core.hrefs import SHOWN, inside, resolve_href, storage_root
from ingest_core.item_rules import ItemFacts, ItemWarning, check_item, duplicate_warning
from ingest_core.redaction import cap_text

CATALOG_TYPES = ("Catalog", "Collection")
MAX_WARNINGS = 20  # warning lines kept in `warnings` (the ledger/report summary); item_warnings keeps all
# Documents read at once: the shared azure-storage pool keeps 10 connections per host, so 8 never open extra TLS.
PREFLIGHT_WORKERS = 8
READ_AHEAD = 4  # reads in flight per worker: bounds the documents held while earlier ones are checked in order
MAX_JSON_DEPTH = 100  # nesting a STAC document never needs (GeoJSON is ~6 deep); deeper is refused, not crashed

# Reads a JSON document by URL; None when the blob does not exist (yet). Called from several threads at once.
JsonReader = Callable[[str], Any]

_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]")
_PAIR_RE = re.compile(r"\[\]|\{\}")


@dataclass
class Preflight:
    """What the walk found: enough to decide DEFERRED / IGNORED / go, and to build a placeholder collection."""

    catalog_id: str
    catalog: dict[str, Any]
    child_catalogs: list[str] = field(default_factory=list)  # every catalog below this one, in walk order
    item_count: int = 0
    item_urls: list[str] = field(default_factory=list)  # every item, in walk order (the parts of a split job)
    links_checked: int = 0
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # short summary: counts first, then the first problems
    item_warnings: list[ItemWarning] = field(default_factory=list)  # every per-item problem, sorted
    failing_items: int = 0  # items the service is predicted to reject
    asset_containers: set[str] = field(default_factory=set)
    bboxes: list[list[float]] = field(default_factory=list)
    datetimes: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a catalog-level note (kept to MAX_WARNINGS lines)."""
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(cap_text(message.replace("; ", ", "), 1000))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{cap_text(text, 40)} is out of range")
    return value


def _too_deep(data: bytes | str, limit: int) -> bool:
    """Nesting deeper than `limit` (the text is valid JSON): strings removed, then innermost pairs peeled off."""
    text = data if isinstance(data, str) else data.decode(json.detect_encoding(data), "replace")
    brackets = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _PAIR_RE.sub("", brackets)
    return bool(brackets)


def load_json(data: bytes | str, where: str) -> Any:
    """Parse a JSON document; InvalidDrop (never another error) for bad JSON, NaN/Infinity or absurd nesting."""
    try:
        doc = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InvalidDrop(
            f"not valid JSON at line {exc.lineno} column {exc.colno}: fix the file and upload it again", where=where
        ) from None
    except UnicodeDecodeError:
        raise InvalidDrop("not valid JSON (not UTF-8 text): fix the file and upload it again", where=where) from None
    except RecursionError:
        raise InvalidDrop(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", where=where) from None
    except ValueError as exc:  # NaN/Infinity, 1e999, integers too long to convert
        raise InvalidDrop(
            f"not valid JSON: {cap_text(str(exc), 200)} (NaN and Infinity are not JSON)", where=where
        ) from None
    if isinstance(doc, dict | list) and _too_deep(data, MAX_JSON_DEPTH):
        raise InvalidDrop(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", where=where)
    return doc


def check_catalog(doc: Any, where: str) -> dict[str, Any]:
    """The checks every catalog in the tree must pass for the run to work; InvalidDrop names the file and field."""
    if not isinstance(doc, dict):
        raise InvalidDrop("not a STAC catalog: the document is not a JSON object", where=where)
    if doc.get("type") not in CATALOG_TYPES:
        raise InvalidDrop(
            f'not a STAC catalog: "type" is {cap_text(repr(doc.get("type")), SHOWN)}, expected "Catalog" or "Collection"',
            where=where,
        )
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        raise InvalidDrop('not a STAC catalog: "id" must be a non-empty string', where=where)
    if not isinstance(doc.get("links"), list):
        raise InvalidDrop('not a STAC catalog: "links" must be a list of link objects', where=where)
    for i, link in enumerate(doc["links"]):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str) or not link["href"].strip():
            rel = link.get("rel") if isinstance(link, dict) else None
            raise InvalidDrop(
                f"links[{i}] (rel {cap_text(repr(rel), SHOWN)}) has no usable href (must be a non-empty string)",
                where=where,
            )
    return doc


def parse_catalog(data: bytes, where: str) -> dict[str, Any]:
    """Parse and check the root document; InvalidDrop says exactly what is wrong."""
    return check_catalog(load_json(data, where), where)


def catalog_notes(doc: dict[str, Any], where: str) -> list[str]:
    """What the STAC spec asks of a catalog and the service does without (never INVALID)."""
    notes = []
    if not isinstance(doc.get("description"), str) or not doc["description"]:
        notes.append(f"{where}: catalog has no description (STAC asks for one, the GeoCatalog does not)")
    version = doc.get("stac_version")
    if not (isinstance(version, str) and version.startswith("1.")):
        notes.append(f"{where}: stac_version is {cap_text(repr(version), 40)}, STAC 1.x expected (read as 1.x)")
    return notes


def _links(doc: dict[str, Any], rel: str, base: str) -> list[tuple[str, str]]:
    """(href, canonical URL) of each `rel` link; check_catalog already made sure every href is a string."""
    return [(link["href"], resolve_href(base, link["href"])) for link in doc["links"] if link.get("rel") == rel]


class _Walk:
    """One preflight walk: bounds, the seen set, and folding each document's result in, in link order."""

    def __init__(
        self,
        pf: Preflight,
        url: str,
        container_url: str,
        max_links: int,
        collection_id: str | None,
        asset_containers: Iterable[str] = (),
    ):
        self.pf, self.url, self.container_url = pf, url, container_url
        self.max_links, self.collection_id = max_links, collection_id
        self.root = storage_root(container_url)
        # Containers of the account whose assets the GeoCatalog may be given a source for: its own, and those an
        # operator allowed (ASSET_CONTAINERS). Anyone who can write a catalog here must not reach the others.
        self.allowed = {container_url, *(f"{self.root}/{name}" for name in asset_containers)}
        self.seen = {url}
        self.first_file: dict[str, str] = {}  # item id -> first file that used it

    def bound(self, doc: dict[str, Any], where: str) -> None:
        """Stop at once when one document alone lists more links than the whole walk may read."""
        if len(doc["links"]) > self.max_links:
            raise InvalidDrop(
                f"document lists {len(doc['links'])} links, more than the {self.max_links} documents one catalog "
                "may link (PREFLIGHT_MAX_LINKS): split the catalog",
                where=where,
            )

    def targets(self, level: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str]]:
        """(rel, url, linking document) of every new child and item link of this level, in document order."""
        out = []
        for here, node in level:
            for rel in ("child", "item"):
                for href, target in _links(node, rel, here):
                    if target in self.seen:
                        continue
                    self.seen.add(target)
                    if not inside(target, self.container_url):
                        raise InvalidDrop(
                            f"{rel} link {cap_text(href, SHOWN)!r} resolves to {cap_text(target, SHOWN)}, outside the "
                            f"container {self.container_url}: every catalog and item must live in the catalog's container",
                            where=here,
                        )
                    out.append((rel, target, here))
        if self.pf.links_checked + len(out) > self.max_links:
            raise InvalidDrop(
                f"catalog links more than {self.max_links} documents (PREFLIGHT_MAX_LINKS); split it or raise the limit",
                where=self.url,
            )
        self.pf.links_checked += len(out)
        return out

    def child(self, target: str, doc: Any, here: str) -> dict[str, Any]:
        """A linked child catalog: checked like the root (INVALID names it) and bounded before its links are read."""
        if not isinstance(doc, dict) or doc.get("type") not in CATALOG_TYPES:
            raise InvalidDrop(f"child link {cap_text(target, SHOWN)} is not a STAC catalog", where=here)
        check_catalog(doc, target)
        self.bound(doc, target)
        for note in catalog_notes(doc, target):
            self.pf.warn(note)
        return doc

    def item(self, target: str, doc: Any) -> None:
        """A linked item: facts for the placeholder collection, asset containers, per-item warnings."""
        pf = self.pf
        pf.item_count += 1
        if isinstance(doc, Unreadable):
            facts, found = ItemFacts(), [ItemWarning(target, "item-unreadable", "", cap_text(doc.reason, 500))]
        else:
            facts, found = check_item(doc, target, self.collection_id)
        if facts.item_id:
            first = self.first_file.setdefault(facts.item_id, target)
            if first != target:
                found.append(duplicate_warning(target, facts.item_id, first))
        found.extend(self.assets(target, facts))
        pf.item_warnings.extend(found)
        pf.failing_items += any(w.fails for w in found)
        if facts.bbox:
            pf.bboxes.append(facts.bbox)
        if facts.datetime:
            pf.datetimes.append(facts.datetime)

    def assets(self, target: str, facts: ItemFacts) -> list[ItemWarning]:
        """Note each allowed container of this account the item's assets are in; a warning for the others."""
        refused: set[str] = set()
        for href in facts.asset_hrefs or []:
            try:
                url = resolve_href(target, href)
            except InvalidDrop:
                continue  # the service reads assets itself; an unusable href is its per-item failure
            if not url.startswith(self.root + "/"):
                continue  # another host: the service reads it itself (public URLs), no source of ours applies
            container = container_url_of(url)
            if container in self.allowed:
                self.pf.asset_containers.add(container)
            else:
                refused.add(container)
        return [
            ItemWarning(
                target,
                "asset-container-not-allowed",
                cap_text(facts.item_id, 80),
                f"an asset is in container {c}, which catalogs of {self.container_url} may not reach: the "
                "GeoCatalog gets no source for it, so the item fails. Copy the asset beside the item, or add "
                "the container's name to ASSET_CONTAINERS",
            )
            for c in sorted(refused)
        ]


@dataclass(frozen=True)
class Unreadable:
    """An item document that could not be read as JSON (or is over the size cap): the service fails that item."""

    reason: str


def _read_in_order(
    pool: ThreadPoolExecutor, read: JsonReader, targets: Iterable[tuple[str, str]], ahead: int
) -> Iterator[Any]:
    """Read (rel, url) documents concurrently, yielding them in the order asked for, whatever finishes first.

    At most `ahead` reads are in flight or waiting; leaving early (an error) cancels the ones not started.
    """
    pending: deque[Future[Any]] = deque()
    try:
        for rel, url in targets:
            pending.append(pool.submit(_read_one, read, rel, url))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()


def _read_one(read: JsonReader, rel: str, url: str) -> Any:
    try:
        return read(url)
    except RecursionError:  # a reader that parses without load_json: still a defined outcome
        failure = InvalidDrop(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", where=url)
    except InvalidDrop as exc:
        failure = exc
    if rel == "child":  # a catalog we cannot walk: the items below it would be lost
        raise failure
    return Unreadable(failure.reason)


def _summarise(pf: Preflight) -> None:
    """Sort what was found (completion order never shows) and write the short `warnings` summary."""
    pf.item_warnings.sort(key=lambda w: (not w.fails, w.file, w.rule, w.item_id, w.message))
    pf.missing.sort()
    notes = pf.warnings
    pf.warnings = []
    if pf.item_warnings:
        rules = Counter(w.rule for w in pf.item_warnings)
        counts = ", ".join(f"{rule} x{n}" for rule, n in sorted(rules.items()))
        pf.warn(f"{pf.failing_items} of {pf.item_count} items predicted to fail ({counts})")
    failing = [w.text() for w in pf.item_warnings if w.fails]  # predicted failures first: they cost items
    for line in [*failing, *notes, *(w.text() for w in pf.item_warnings if not w.fails)]:
        pf.warn(line)


def preflight(
    url: str,
    doc: dict[str, Any],
    container_url: str,
    read: JsonReader,
    max_links: int,
    workers: int = PREFLIGHT_WORKERS,
    collection_id: str | None = None,
    asset_containers: Iterable[str] = (),
) -> Preflight:
    """Walk child and item links breadth-first, reading up to `workers` documents at once; bounded by `max_links`.

    Every link must stay in the container (after decoding and normalising). `read` must be thread-safe.
    `collection_id` (when known) lets items that name another collection be noted. `asset_containers`: the
    names of the account's other containers that assets may be in (each gets an ingestion source).
    """
    check_catalog(doc, url)
    pf = Preflight(catalog_id=doc["id"], catalog=doc)
    walk = _Walk(pf, url, container_url, max_links, collection_id, asset_containers)
    walk.bound(doc, url)
    # `root` and `parent` links are not trusted (published children often claim to be roots): whether a
    # catalog is covered by another is decided by the catalogs above it (ingest_core.trees).
    pf.asset_containers.add(container_url)
    for note in catalog_notes(doc, url):
        pf.warn(note)
    level: list[tuple[str, dict[str, Any]]] = [(url, doc)]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="preflight") as pool:
        while level:
            targets = walk.targets(level)
            level = []
            docs = _read_in_order(pool, read, [(rel, t) for rel, t, _ in targets], max(1, workers) * READ_AHEAD)
            try:
                for (rel, target, here), child in zip(targets, docs, strict=False):
                    if child is None:
                        pf.missing.append(target)
                    elif rel == "child":
                        level.append((target, walk.child(target, child, here)))
                        pf.child_catalogs.append(target)
                    else:
                        walk.item(target, child)
                        pf.item_urls.append(target)
            finally:
                docs.close()  # on an error: cancel the reads not started, so leaving the pool waits for few
    _summarise(pf)
    _judge(pf, url)
    return pf


def _judge(pf: Preflight, url: str) -> None:
    """No items at all, or every item rejected: the run could only fail, so INVALID now (once nothing is missing)."""
    if pf.missing:
        return
    if pf.item_count == 0:
        raise InvalidDrop("the catalog links no items (through item or child links): nothing to ingest", where=url)
    if pf.failing_items == pf.item_count:
        first = next(w for w in pf.item_warnings if w.fails)
        raise InvalidDrop(
            f"every one of the {pf.item_count} items would be rejected by the GeoCatalog; first: {first.text()}",
            where=first.file,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def collection_body(collection_id: str, pf: Preflight, from_file: Any) -> dict[str, Any]:
    """The collection to create: the uploaded collection.json (id forced), or a placeholder from the catalog."""
    if from_file is not None:
        if not isinstance(from_file, dict):
            raise InvalidDrop("collection.json beside the catalog is not a JSON object: fix it and upload it again")
        body = {k: v for k, v in from_file.items() if k != "links"}
        body.update(id=collection_id, type="Collection", links=[])
        return body
    bbox = [-180.0, -90.0, 180.0, 90.0]
    if pf.bboxes:
        bbox = [min(b[0] for b in pf.bboxes), min(b[1] for b in pf.bboxes),
                max(b[2] for b in pf.bboxes), max(b[3] for b in pf.bboxes)]  # fmt: skip
    times = sorted(pf.datetimes)
    cat = pf.catalog
    description = _text(cat.get("description"))
    return {
        "id": collection_id,
        "type": "Collection",
        "stac_version": "1.0.0",
        "title": _text(cat.get("title")) or cat["id"],
        "description": description or f"Created for catalog {cat['id']}",
        "license": _text(cat.get("license")) or "other",
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [[times[0] if times else None, times[-1] if times else None]]},
        },
        "links": [],
        "msft:short_description": (description or cat["id"])[:100],
    }


def sibling_url(url: str, name: str) -> str:
    """The URL of `name` in the same folder as `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/{name}"
