"""The ledger's storage: a few table operations, on Azure Table storage or in memory (the fast unit tier).

The ledger's rules (claims, guarded writes, the transition table, run slots) live in `ledger.py` and run
unchanged over either store, so the unit tier tests the same code that runs in Azure.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, TableTransactionError, UpdateMode

from ingest_core.connections import service_client
from ingest_core.errors import RowExists, StaleRow

Entity = dict[str, Any]
ETAG = "_etag"  # where a read row carries its ETag (never written back)


@dataclass(frozen=True)
class Op:
    """One write of an all-or-nothing batch; every op of a batch names the same partition."""

    kind: Literal["insert", "replace", "upsert", "delete"]
    entity: Entity
    etag: str | None = None  # replace/delete: only if the row still has this ETag


class TableStore(Protocol):
    """What the ledger needs from a table."""

    def get(self, pk: str, rk: str) -> Entity | None: ...
    def insert(self, entity: Entity) -> str: ...
    def replace(self, entity: Entity, etag: str) -> str: ...
    def upsert(self, entity: Entity) -> str: ...
    def delete(self, pk: str, rk: str, etag: str | None = None) -> None: ...
    def query(self, pk: str, **equals: str) -> list[Entity]: ...
    def transact(self, ops: Sequence[Op]) -> list[str]: ...
    def scan(self, **equals: str) -> list[Entity]: ...


def _clean(entity: Entity) -> Entity:
    return {k: v for k, v in entity.items() if k != ETAG}


class AzureTableStore:  # pragma: no mutate block (needs Azurite: the integration tier covers it)
    """A TableStore on one Azure (or Azurite) table; creates the table on first use."""

    def __init__(self, connection: str, table: str, credential: Any | None = None) -> None:
        self._table = service_client(TableServiceClient, connection, credential).get_table_client(table)
        self._ready = False

    def _ensure(self) -> None:
        if self._ready:
            return
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 403:  # a read-only operator's 403 means it exists: carry on
                raise
        self._ready = True

    @staticmethod
    def _row(entity: Any) -> Entity:
        row = dict(entity)
        row[ETAG] = entity.metadata.get("etag", "")
        return row

    def get(self, pk: str, rk: str) -> Entity | None:
        """The row, or None."""
        self._ensure()
        try:
            return self._row(self._table.get_entity(pk, rk))
        except ResourceNotFoundError:
            return None

    def insert(self, entity: Entity) -> str:
        """Insert a new row (RowExists if it is there); its ETag."""
        self._ensure()
        try:
            return self._table.create_entity(_clean(entity)).get("etag", "")
        except ResourceExistsError:
            raise RowExists(entity["RowKey"]) from None

    def replace(self, entity: Entity, etag: str) -> str:
        """Replace the row only if it still has `etag` (StaleRow otherwise)."""
        self._ensure()
        try:
            meta = self._table.update_entity(
                _clean(entity), mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise StaleRow(entity["RowKey"]) from None
        return meta.get("etag", "")

    def upsert(self, entity: Entity) -> str:
        """Insert or merge, unconditionally."""
        self._ensure()
        return self._table.upsert_entity(_clean(entity), mode=UpdateMode.MERGE).get("etag", "")

    def delete(self, pk: str, rk: str, etag: str | None = None) -> None:
        """Delete the row (gone already is fine); with `etag`, only if unchanged."""
        self._ensure()
        try:
            if etag:
                self._table.delete_entity(pk, rk, etag=etag, match_condition=MatchConditions.IfNotModified)
            else:
                self._table.delete_entity(pk, rk)
        except ResourceModifiedError:
            raise StaleRow(rk) from None
        except ResourceNotFoundError:
            pass

    def query(self, pk: str, **equals: str) -> list[Entity]:
        """Rows of one partition whose named properties equal the given values (filtered by the service)."""
        self._ensure()
        query, params = "PartitionKey eq @pk", {"pk": pk}
        for i, (name, value) in enumerate(sorted(equals.items())):
            query += f" and {name} eq @v{i}"
            params[f"v{i}"] = value
        return [self._row(e) for e in self._table.query_entities(query, parameters=params)]

    def scan(self, **equals: str) -> list[Entity]:
        """Rows of every partition whose named properties equal the given values (operators' tools only)."""
        self._ensure()
        clauses = [f"{name} eq @v{i}" for i, name in enumerate(sorted(equals))]
        params = {f"v{i}": equals[name] for i, name in enumerate(sorted(equals))}
        rows = (
            self._table.query_entities(" and ".join(clauses), parameters=params)
            if clauses
            else self._table.list_entities()
        )
        return [self._row(e) for e in rows]

    def transact(self, ops: Sequence[Op]) -> list[str]:
        """All of `ops` or none (one entity-group transaction), their new ETags; StaleRow if a precondition fails."""
        self._ensure()
        batch: list[Any] = []
        for op in ops:
            entity = _clean(op.entity)
            if op.kind == "insert":
                batch.append(("create", entity))
            elif op.kind == "upsert":
                batch.append(("upsert", entity, {"mode": UpdateMode.MERGE}))
            elif op.kind == "replace":
                kw = {"mode": UpdateMode.REPLACE, "etag": op.etag, "match_condition": MatchConditions.IfNotModified}
                batch.append(("update", entity, kw))
            else:
                kw = {"etag": op.etag, "match_condition": MatchConditions.IfNotModified} if op.etag else {}
                batch.append(("delete", entity, kw))
        try:
            results = self._table.submit_transaction(batch)
        except TableTransactionError as exc:
            if exc.status_code in (404, 409, 412):
                raise StaleRow(str(exc.error_code or exc.status_code)) from None
            raise
        return [r.get("etag", "") if isinstance(r, dict) else "" for r in results]


class MemoryTableStore:
    """A TableStore in a dict, with the same ETag rules; counts its calls (the unit tier and the bench)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Entity] = {}
        self._lock = threading.Lock()
        self._etags = itertools.count(1)
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _put(self, entity: Entity) -> str:
        row = _clean(entity)  # rows hold scalars only: a shallow copy is a copy
        row[ETAG] = f"W/{next(self._etags)}"
        self._rows[(row["PartitionKey"], row["RowKey"])] = row
        return row[ETAG]

    def _check(self, op: Op) -> None:
        if op.kind not in ("insert", "replace", "upsert", "delete"):
            raise ValueError(f"unknown table operation {op.kind!r}")  # Azure would refuse it too
        key = (op.entity["PartitionKey"], op.entity["RowKey"])
        have = self._rows.get(key)
        if op.kind == "insert" and have is not None:
            raise RowExists(key[1])
        if op.kind == "replace" and (have is None or have[ETAG] != op.etag):
            raise StaleRow(key[1])
        if op.kind == "delete" and op.etag and have is not None and have[ETAG] != op.etag:
            raise StaleRow(key[1])

    def _apply(self, op: Op) -> str:
        key = (op.entity["PartitionKey"], op.entity["RowKey"])
        if op.kind == "delete":
            self._rows.pop(key, None)
            return ""
        if op.kind == "upsert" and key in self._rows:
            return self._put({**self._rows[key], **op.entity})
        return self._put(op.entity)

    def get(self, pk: str, rk: str) -> Entity | None:
        """The row, or None."""
        with self._lock:
            self._count("get")
            row = self._rows.get((pk, rk))
            return dict(row) if row else None

    def _one(self, name: str, op: Op) -> str:
        with self._lock:
            self._count(name)
            self._check(op)
            return self._apply(op)

    def insert(self, entity: Entity) -> str:
        """Insert a new row (RowExists if it is there)."""
        return self._one("insert", Op("insert", entity))

    def replace(self, entity: Entity, etag: str) -> str:
        """Replace the row only if it still has `etag`."""
        return self._one("replace", Op("replace", entity, etag))

    def upsert(self, entity: Entity) -> str:
        """Insert or merge."""
        return self._one("upsert", Op("upsert", entity))

    def delete(self, pk: str, rk: str, etag: str | None = None) -> None:
        """Delete the row; with `etag`, only if unchanged."""
        self._one("delete", Op("delete", {"PartitionKey": pk, "RowKey": rk}, etag))

    def query(self, pk: str, **equals: str) -> list[Entity]:
        """Rows of one partition whose named properties equal the given values."""
        with self._lock:
            self._count("query")
            return [
                dict(r)
                for (p, _), r in sorted(self._rows.items())
                if p == pk and all(r.get(k) == v for k, v in equals.items())
            ]

    def scan(self, **equals: str) -> list[Entity]:
        """Rows of every partition whose named properties equal the given values."""
        with self._lock:
            self._count("query")
            return [dict(r) for _, r in sorted(self._rows.items()) if all(r.get(k) == v for k, v in equals.items())]

    def transact(self, ops: Sequence[Op]) -> list[str]:
        """All of `ops` or none; their new ETags."""
        with self._lock:
            self._count("transact")
            if len({op.entity["PartitionKey"] for op in ops}) > 1:
                raise ValueError("a transaction spans one partition")
            try:
                for op in ops:
                    self._check(op)
            except RowExists as exc:
                raise StaleRow(str(exc)) from None
            return [self._apply(op) for op in ops]

    def writes(self) -> int:
        """Table calls that write (the bench and the unit tier count these)."""
        return sum(n for k, n in self.calls.items() if k not in ("get", "query"))
