"""State in SQLite: JSON documents per resource kind, plus an indexed table of STAC items."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any

KINDS = ("source", "collection", "ingestion", "run", "operation")

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL, id TEXT NOT NULL, scope TEXT, body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS docs_scope ON docs (kind, scope);
CREATE TABLE IF NOT EXISTS items (
    collection_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    minx REAL, miny REAL, maxx REAL, maxy REAL, dt_start TEXT, dt_end TEXT,
    PRIMARY KEY (collection_id, id)
);
CREATE INDEX IF NOT EXISTS items_dt ON items (dt_start);
"""

Bbox = tuple[float, float, float, float]


class Store:
    """Thread-safe state: one connection, one re-entrant lock (callers may hold it across steps)."""

    def __init__(self, path: str | None = None) -> None:
        self.lock = threading.RLock()
        # Autocommit; multi-step invariants are protected by `lock`, which every writer takes.
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if path:
            # A file database: WAL without a sync per write keeps item-by-item ingestion fast.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self._db.close()

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self.lock:
            return self._db.execute(sql, tuple(args)).rowcount

    # Documents: sources, collections, ingestions, runs and operations.

    def put(self, kind: str, doc_id: str, body: dict[str, Any], scope: str | None = None) -> None:
        """Insert or replace a document; replacing keeps its place in listing order."""
        self._exec(
            "INSERT INTO docs (kind, id, scope, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET scope = excluded.scope, body = excluded.body",
            (kind, doc_id, scope, json.dumps(body)),
        )

    def get(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        """One document, or None."""
        rows = self._rows("SELECT body FROM docs WHERE kind = ? AND id = ?", (kind, doc_id))
        return json.loads(rows[0]["body"]) if rows else None

    def list(self, kind: str, scope: str | None = None) -> list[dict[str, Any]]:
        """Documents of a kind (optionally of one scope) in insertion order."""
        if scope is None:
            rows = self._rows("SELECT body FROM docs WHERE kind = ? ORDER BY rowid", (kind,))
        else:
            rows = self._rows("SELECT body FROM docs WHERE kind = ? AND scope = ? ORDER BY rowid", (kind, scope))
        return [json.loads(row["body"]) for row in rows]

    def update(
        self, kind: str, doc_id: str, change: dict[str, Any] | Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Atomically merge a dict into (or apply a function to) a document; None if it is gone."""
        with self.lock:
            rows = self._rows("SELECT scope, body FROM docs WHERE kind = ? AND id = ?", (kind, doc_id))
            if not rows:
                return None
            body = json.loads(rows[0]["body"])
            if callable(change):
                change(body)
            else:
                body.update(change)
            self.put(kind, doc_id, body, rows[0]["scope"])
            return body

    def delete(self, kind: str, doc_id: str) -> bool:
        """Remove one document; True if it existed."""
        return self._exec("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, doc_id)) > 0

    def delete_scope(self, kind: str, scope: str) -> int:
        """Remove every document of a kind in one scope (e.g. the runs of an ingestion)."""
        return self._exec("DELETE FROM docs WHERE kind = ? AND scope = ?", (kind, scope))

    # STAC items, indexed for search.

    def put_item(self, collection_id: str, item: dict[str, Any], bbox: Bbox, start: str, end: str) -> None:
        """Insert or replace an item with its search keys."""
        self._exec(
            "INSERT INTO items (collection_id, id, body, minx, miny, maxx, maxy, dt_start, dt_end) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (collection_id, id) DO UPDATE SET "
            "body = excluded.body, minx = excluded.minx, miny = excluded.miny, maxx = excluded.maxx, "
            "maxy = excluded.maxy, dt_start = excluded.dt_start, dt_end = excluded.dt_end",
            (collection_id, item["id"], json.dumps(item), *bbox, start, end),
        )

    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None:
        """One item, or None."""
        rows = self._rows("SELECT body FROM items WHERE collection_id = ? AND id = ?", (collection_id, item_id))
        return json.loads(rows[0]["body"]) if rows else None

    def delete_item(self, collection_id: str, item_id: str) -> bool:
        """Remove one item; True if it existed."""
        return self._exec("DELETE FROM items WHERE collection_id = ? AND id = ?", (collection_id, item_id)) > 0

    def delete_items(self, collection_id: str) -> int:
        """Remove every item of a collection."""
        return self._exec("DELETE FROM items WHERE collection_id = ?", (collection_id,))

    def query_items(
        self,
        collections: list[str] | None = None,
        ids: list[str] | None = None,
        bbox: Bbox | None = None,
        interval: tuple[str | None, str | None] = (None, None),
        limit: int = 10,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Items matching every given filter, newest first; returns (page, number matched)."""
        where, args = ["1 = 1"], []
        for column, values in (("collection_id", collections), ("id", ids)):
            if values is not None:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        if bbox is not None:
            where.append("minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?")
            args.extend((bbox[2], bbox[0], bbox[3], bbox[1]))
        if interval[0] is not None:
            where.append("dt_end >= ?")
            args.append(interval[0])
        if interval[1] is not None:
            where.append("dt_start <= ?")
            args.append(interval[1])
        clause = " AND ".join(where)
        with self.lock:
            matched = self._rows(f"SELECT COUNT(*) AS n FROM items WHERE {clause}", args)[0]["n"]
            rows = self._rows(
                f"SELECT body FROM items WHERE {clause} ORDER BY dt_start DESC, collection_id, id LIMIT ? OFFSET ?",
                [*args, limit, offset],
            )
        return [json.loads(row["body"]) for row in rows], int(matched)

    # Whole-state helpers for the admin API.

    def reset(self) -> None:
        """Forget everything."""
        with self.lock:
            self._exec("DELETE FROM docs")
            self._exec("DELETE FROM items")

    def item_counts(self) -> dict[str, int]:
        """Number of items per collection."""
        rows = self._rows("SELECT collection_id, COUNT(*) AS n FROM items GROUP BY collection_id")
        return {row["collection_id"]: int(row["n"]) for row in rows}
