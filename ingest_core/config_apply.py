"""Apply a drop's collection configuration after the collection exists: compare first, PUT by id, delete only on
`configMode: replace`. Returns what it did, for the job row and the report."""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ingest_core.collection_config import CollectionConfig, load_config
from ingest_core.errors import InvalidDrop, ServiceError
from ingest_core.events import container_url_of, parse_blob_url
from ingest_core.geocatalog import GeoCatalogClient
from ingest_core.routing import ConfigMode, RoutingRule
from ingest_core.runtime import Runtime
from ingest_core.storage import BlobNotFound

log = logging.getLogger(__name__)

# Queryables the service defines itself: never deleted by `configMode: replace`.
BUILT_IN_QUERYABLES = frozenset({"id", "collection", "datetime", "geometry", "bbox", "start_datetime", "end_datetime"})
THUMBNAIL_KEY = "thumbnail"


def discover_config(
    rt: Runtime, catalog_url: str, rule: RoutingRule, fold: Callable[[str, bytes], None]
) -> CollectionConfig:
    """Find and validate the drop's configuration; every file read is folded into the job's content digest."""
    container_url = container_url_of(catalog_url)
    cap = rt.settings.catalog_max_bytes

    def read(url: str) -> bytes | None:
        try:
            data, _ = rt.storage.read_blob(url, cap)
        except BlobNotFound:
            return None
        fold(url, data)
        return data

    return load_config(catalog_url, rule, lambda folder: rt.storage.list_folder(container_url, folder, 5000), read)


def same(existing: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """True when the service already holds every field given (fields the service adds are not ours to compare)."""
    return existing is not None and all(existing.get(k) == v for k, v in wanted.items() if v is not None)


class _Record:
    """What one apply did, by kind."""

    def __init__(self) -> None:
        self.written: dict[str, list[str]] = {}
        self.unchanged: dict[str, int] = {}
        self.deleted: dict[str, list[str]] = {}

    def note(self, kind: str, name: str, wrote: bool) -> None:
        if wrote:
            self.written.setdefault(kind, []).append(name)
        else:
            self.unchanged[kind] = self.unchanged.get(kind, 0) + 1

    def writes(self) -> int:
        return sum(len(v) for v in self.written.values()) + sum(len(v) for v in self.deleted.values())


def _by_id(gc: GeoCatalogClient, cid: str, kind: str, wanted: list[dict], replace: bool, rec: _Record) -> None:
    """Render options or mosaics: PUT what differs; with `replace`, delete ids the drop does not name."""
    existing = {e.get("id"): e for e in gc.list_config(cid, kind)}
    for body in wanted:
        changed = not same(existing.get(body["id"]), body)
        if changed:
            gc.put_config(cid, kind, body["id"], body)
        rec.note(kind, body["id"], changed)
    if replace:
        for extra in sorted(set(existing) - {b["id"] for b in wanted} - {None}):
            gc.delete_config(cid, kind, extra)
            rec.deleted.setdefault(kind, []).append(extra)


def _queryables(gc: GeoCatalogClient, cid: str, wanted: list[dict], replace: bool, rec: _Record) -> None:
    # The read side shows only each definition: create_index / data_type changes alone are not seen.
    existing = gc.get_queryables(cid)
    for body in wanted:
        changed = existing.get(body["name"]) != body["definition"]
        if changed:
            gc.put_queryable(cid, body)
        rec.note("queryables", body["name"], changed)
    if replace:
        for extra in sorted(set(existing) - {b["name"] for b in wanted} - BUILT_IN_QUERYABLES):
            gc.delete_queryable(cid, extra)
            rec.deleted.setdefault("queryables", []).append(extra)


def _thumbnail(gc: GeoCatalogClient, cid: str, cfg: CollectionConfig, rec: _Record) -> None:
    thumb = cfg.thumbnail
    assert thumb is not None
    current = gc.get_thumbnail(cid)
    changed = current is None or hashlib.sha256(current).digest() != hashlib.sha256(thumb.content).digest()
    if changed:
        metadata = {"key": THUMBNAIL_KEY, "type": thumb.media_type, "roles": ["thumbnail"], "title": "Thumbnail"}
        name = posixpath.basename(parse_blob_url(thumb.url)[2])
        gc.put_collection_asset(cid, metadata, name, thumb.content, replace=current is not None)
    rec.note("thumbnail", THUMBNAIL_KEY, changed)


@contextmanager
def _refused_is_invalid(kind: str, cfg: CollectionConfig) -> Iterator[None]:
    """A 400 from the service on a configuration write is bad input the preflight missed: INVALID, naming the file."""
    try:
        yield
    except ServiceError as exc:
        if exc.status != 400:
            raise
        where = (cfg.files.get(kind) or [None])[0]
        raise InvalidDrop(
            f"the GeoCatalog rejected the {kind.replace('_', ' ')}: {exc.code}: {exc.message}; fix the file and "
            "upload the catalog again",
            where,
        ) from None


def apply_config(rt: Runtime, collection_id: str, cfg: CollectionConfig, rule: RoutingRule) -> str:
    """Make the collection hold the drop's configuration; returns the JSON record of what was done ('' if none)."""
    if cfg.empty:
        return ""
    gc, replace, rec = rt.geocatalog, rule.config_mode == ConfigMode.REPLACE, _Record()
    if cfg.render_options:
        with _refused_is_invalid("render_options", cfg):
            _by_id(gc, collection_id, "render-options", cfg.render_options, replace, rec)
    if cfg.mosaics:
        with _refused_is_invalid("mosaics", cfg):
            _by_id(gc, collection_id, "mosaics", cfg.mosaics, replace, rec)
    if cfg.tile_settings is not None:
        changed = not same(gc.get_tile_settings(collection_id), cfg.tile_settings)
        if changed:
            with _refused_is_invalid("tile_settings", cfg):
                gc.put_tile_settings(collection_id, cfg.tile_settings)
        rec.note("tile-settings", "tile-settings", changed)
    if cfg.queryables:
        with _refused_is_invalid("queryables", cfg):
            _queryables(gc, collection_id, cfg.queryables, replace, rec)
    if cfg.thumbnail is not None:
        with _refused_is_invalid("thumbnail", cfg):
            _thumbnail(gc, collection_id, cfg, rec)
    log.info("collection %s configuration: %d write(s), unchanged %s", collection_id, rec.writes(), rec.unchanged)
    record = {
        "mode": rule.config_mode.value,
        "files": {k: v for k, v in cfg.files.items()},
        "written": rec.written,
        "unchanged": rec.unchanged,
        "deleted": rec.deleted,
    }
    return json.dumps(record, separators=(",", ":"))[:30000]  # a table property holds 32K characters
