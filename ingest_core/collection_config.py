"""Collection configuration shipped with a drop: find the nearest files of each kind, validate them before any call.

Layout and precedence are documented in docs/after-ingestion.md. In short: from the catalog's folder up to the
routing rule's prefix, each kind comes from the nearest folder that has it; within a folder, `config/` wins over
files lying in the folder itself.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest_core.errors import InvalidDrop
from ingest_core.events import container_url_of, parse_blob_url
from ingest_core.routing import RoutingRule

CONFIG_FOLDER = "config"
# Names by kind, matched case-insensitively on the file name: the spellings published sample datasets use.
KIND_PATTERNS: dict[str, re.Pattern[str]] = {
    "collection": re.compile(r"^collection\.json$", re.I),
    "render_options": re.compile(r"^render.*\.json$", re.I),
    "mosaics": re.compile(r"^mosaic.*\.json$", re.I),
    "tile_settings": re.compile(r"^tile[_-]?settings.*\.json$", re.I),
    "queryables": re.compile(r"^queryables.*\.json$", re.I),
    "thumbnail": re.compile(r"^(.*[_-])?thumbnail\.(png|jpe?g|webp)$", re.I),
}
MAX_NAMES_PER_FOLDER = 5000  # a folder with more entries is an item folder, not a configuration folder
MAX_ENTRIES = 100  # render options, mosaics or queryables per collection
CONFIG_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # safe as a URL path segment; the service's own rule is unpublished
QUERYABLE_NAME = r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,99}$"  # STAC extension fields carry a prefix: eo:cloud_cover
THUMBNAIL_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RenderOption(_Strict):
    """A render option as the 2026-04-15 API takes it."""

    id: str = Field(pattern=CONFIG_ID)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    type: Literal["raster-tile", "vt-polygon", "vt-line"] | None = None
    options: str | None = Field(default=None, max_length=4000)
    vectorOptions: dict[str, Any] | None = None  # noqa: N815 (the wire name)
    minZoom: int | None = Field(default=None, ge=0, le=24)  # noqa: N815
    legend: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] | None = None


class Mosaic(_Strict):
    """A mosaic: named CQL2 JSON filters."""

    id: str = Field(pattern=CONFIG_ID)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    cql: list[dict[str, Any]]


class DefaultLocation(_Strict):
    """Where a map of the collection opens."""

    zoom: int = Field(ge=0, le=24)
    coordinates: list[float] = Field(min_length=2, max_length=2)


class TileSettings(_Strict):
    """Tile settings: one object per collection."""

    minZoom: int = Field(ge=0, le=24)  # noqa: N815
    maxItemsPerTile: int = Field(ge=1, le=1000)  # noqa: N815
    defaultLocation: DefaultLocation | None = None  # noqa: N815


class Queryable(_Strict):
    """A queryable by name."""

    name: str = Field(pattern=QUERYABLE_NAME)
    definition: dict[str, Any]
    create_index: bool | None = None
    data_type: Literal["string", "number", "boolean", "timestamp"] | None = None


@dataclass
class Thumbnail:
    """The thumbnail image found for the collection."""

    url: str
    content: bytes
    media_type: str


@dataclass
class CollectionConfig:
    """What the drop says about its collection; every body exactly as given (validated)."""

    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> blob URLs it came from
    collection: dict[str, Any] | None = None
    render_options: list[dict[str, Any]] = field(default_factory=list)
    mosaics: list[dict[str, Any]] = field(default_factory=list)
    tile_settings: dict[str, Any] | None = None
    queryables: list[dict[str, Any]] = field(default_factory=list)
    thumbnail: Thumbnail | None = None

    @property
    def collection_id(self) -> str | None:
        """The id of the nearest `config/collection.json`; a loose collection.json gives the body only, as before."""
        urls = self.files.get("collection") or [""]
        value = (self.collection or {}).get("id")
        in_config = posixpath.basename(posixpath.dirname(urls[0])) == CONFIG_FOLDER
        return value if in_config and isinstance(value, str) and value else None

    @property
    def empty(self) -> bool:
        """True when the drop carries no configuration beyond (maybe) collection.json."""
        return not (self.render_options or self.mosaics or self.tile_settings or self.queryables or self.thumbnail)


# Reads a blob by URL: (bytes) or None when missing; the pipeline's TreeReader folds them into the digest.
BlobReader = Callable[[str], bytes | None]
FolderLister = Callable[[str], list[str]]


def folders_up(catalog_path: str, prefix: str) -> list[str]:
    """The catalog's folder and each folder above it that is still inside the rule's prefix, nearest first."""
    out, folder = [], posixpath.dirname(catalog_path)
    while True:
        here = f"{folder}/" if folder else ""
        if not here.startswith(prefix):
            return out
        out.append(here)
        if not folder:
            return out
        folder = posixpath.dirname(folder)


def find_files(catalog_url: str, rule: RoutingRule, list_folder: FolderLister) -> dict[str, list[str]]:
    """Blob paths of each kind: per kind the nearest folder that has it (`config/` before the folder itself)."""
    _, _, path = parse_blob_url(catalog_url)
    found: dict[str, list[str]] = {}
    for folder in folders_up(path, rule.prefix):
        names = list_folder(folder)
        places = []
        if f"{CONFIG_FOLDER}/" in names:
            places.append((f"{folder}{CONFIG_FOLDER}/", list_folder(f"{folder}{CONFIG_FOLDER}/")))
        places.append((folder, names))
        for where, entries in places:
            files = [n for n in entries if not n.endswith("/")]
            for kind, pattern in KIND_PATTERNS.items():
                hits = sorted(n for n in files if pattern.match(n))
                if hits and kind not in found:
                    found[kind] = [f"{where}{n}" for n in hits]
    return found


def _json(url: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        pos = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidDrop(
            f"configuration file is not valid JSON{pos}: fix it and upload the catalog again", url
        ) from None


def _checked(model: type[BaseModel], body: Any, url: str, at: str = "") -> dict[str, Any]:
    """The body as given, after the model accepted it; else INVALID naming the file and the field."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = at + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        raise InvalidDrop(
            f"configuration field {where.lstrip('.') or '(document)'}: {err['msg']}; fix it and upload the catalog again",
            url,
        ) from None
    return body


def _entries(doc: Any, url: str, list_key: str) -> list[Any]:
    """A render/mosaic/queryables file: a JSON array, one object, or an object holding the array."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get(list_key), list):
        return doc[list_key]
    if isinstance(doc, dict):
        return [doc]
    raise InvalidDrop(
        f"configuration file must hold a JSON array of objects or one object (found {type(doc).__name__})", url
    )


def _queryable_entries(doc: Any, url: str) -> list[Any]:
    """Queryables: the API's array, or a JSON schema whose `properties` are the definitions."""
    if isinstance(doc, dict) and isinstance(doc.get("properties"), dict):
        return [{"name": name, "definition": d} for name, d in doc["properties"].items()]
    return _entries(doc, url, "queryables")


def _merge(kind: str, urls: list[str], read: BlobReader, model: type[BaseModel], key: str, list_key: str) -> list[dict]:
    """All entries of one kind's files (in name order), each validated; an id given twice is INVALID."""
    out: dict[str, dict[str, Any]] = {}
    for url in urls:
        data = read(url)
        if data is None:
            continue
        entries = (
            _queryable_entries(_json(url, data), url)
            if kind == "queryables"
            else _entries(_json(url, data), url, list_key)
        )
        for i, entry in enumerate(entries):
            body = _checked(model, entry, url, f"[{i}]")
            if body[key] in out:
                raise InvalidDrop(f"{kind.replace('_', ' ')} {key} {body[key]!r} is given twice", url)
            out[body[key]] = body
    if len(out) > MAX_ENTRIES:
        raise InvalidDrop(
            f"more than {MAX_ENTRIES} {kind.replace('_', ' ')}: keep the ones the collection needs", urls[0]
        )
    return list(out.values())


def _single(kind: str, urls: list[str]) -> str:
    if len(urls) > 1:
        names = ", ".join(posixpath.basename(u) for u in urls)
        raise InvalidDrop(f"more than one {kind.replace('_', ' ')} file ({names}): keep one", urls[0])
    return urls[0]


def load_config(catalog_url: str, rule: RoutingRule, list_folder: FolderLister, read: BlobReader) -> CollectionConfig:
    """Discover and validate the drop's configuration; InvalidDrop names the file and the field."""
    base = container_url_of(catalog_url).rstrip("/")
    paths = find_files(catalog_url, rule, list_folder)
    cfg = CollectionConfig(files={kind: [f"{base}/{p}" for p in ps] for kind, ps in paths.items()})
    urls = cfg.files
    if "collection" in urls:
        url = _single("collection", urls["collection"])
        data = read(url)
        doc = _json(url, data) if data is not None else None
        if doc is not None and not (isinstance(doc, dict) and doc.get("type", "Collection") == "Collection"):
            raise InvalidDrop('collection.json must be a STAC Collection object ("type": "Collection")', url)
        cfg.collection = doc
    if "render_options" in urls:
        cfg.render_options = _merge("render_options", urls["render_options"], read, RenderOption, "id", "renderOptions")
    if "mosaics" in urls:
        cfg.mosaics = _merge("mosaics", urls["mosaics"], read, Mosaic, "id", "mosaics")
    if "queryables" in urls:
        cfg.queryables = _merge("queryables", urls["queryables"], read, Queryable, "name", "queryables")
    if "tile_settings" in urls:
        url = _single("tile_settings", urls["tile_settings"])
        data = read(url)
        if data is not None:
            cfg.tile_settings = _checked(TileSettings, _json(url, data), url)
    if "thumbnail" in urls:
        url = _single("thumbnail", urls["thumbnail"])
        data = read(url)
        if data:
            ext = url.rsplit(".", 1)[-1].lower()
            cfg.thumbnail = Thumbnail(url=url, content=data, media_type=THUMBNAIL_TYPES[ext])
    return cfg


def collection_id_for(rule: RoutingRule, path: str, catalog_id: str, cfg: CollectionConfig) -> str:
    """A rule that fixes or templates the id wins; the default defers to collection.json, then the catalog's id."""
    if rule.collection == RoutingRule.model_fields["collection"].default and cfg.collection_id:
        return cfg.collection_id
    return rule.collection_id(path, catalog_id)
