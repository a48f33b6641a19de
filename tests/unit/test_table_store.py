"""table_store.MemoryTableStore: the same ETag rules as Azure Tables, so the unit tier tests the real ledger rules.

AzureTableStore runs against Azurite in the integration tier.
"""

from __future__ import annotations

import pytest

from ingest_core.errors import RowExists, StaleRow
from ingest_core.table_store import MemoryTableStore, Op


def row(pk: str = "p", rk: str = "r", **props):
    return {"PartitionKey": pk, "RowKey": rk, **props}


@pytest.fixture
def store():
    return MemoryTableStore()


def test_insert_once_then_row_exists(store):
    etag = store.insert(row(v=1))
    with pytest.raises(RowExists):
        store.insert(row(v=2))
    got = store.get("p", "r")
    assert got["v"] == 1 and got["_etag"] == etag
    assert store.get("p", "other") is None and store.get("q", "r") is None


def test_replace_needs_the_current_etag_and_gives_a_new_one(store):
    first = store.insert(row(v=1))
    second = store.replace(row(v=2), first)
    assert second != first and store.get("p", "r")["v"] == 2
    with pytest.raises(StaleRow):
        store.replace(row(v=3), first)  # a stale copy
    with pytest.raises(StaleRow):
        store.replace(row("p", "missing", v=3), second)  # no such row
    assert store.get("p", "r") == {**row(v=2), "_etag": second}


def test_a_read_row_is_a_copy_and_its_etag_is_never_stored(store):
    store.insert(row(v=1))
    got = store.get("p", "r")
    got["v"] = 99
    assert store.get("p", "r")["v"] == 1
    etag = store.replace({**got, "_etag": "W/forged"}, got["_etag"])
    assert store.get("p", "r")["_etag"] == etag != "W/forged"


def test_upsert_inserts_or_merges(store):
    store.upsert(row(a=1))
    store.upsert(row(b=2))
    got = store.get("p", "r")
    assert (got["a"], got["b"]) == (1, 2)


def test_delete_with_an_etag_only_if_unchanged_and_a_missing_row_is_fine(store):
    etag = store.insert(row())
    store.replace(row(v=1), etag)
    with pytest.raises(StaleRow):
        store.delete("p", "r", etag)
    assert store.get("p", "r") is not None
    store.delete("p", "r", store.get("p", "r")["_etag"])
    assert store.get("p", "r") is None
    store.delete("p", "r")  # gone already
    store.insert(row())
    store.delete("p", "r")  # unconditional
    assert store.get("p", "r") is None


def test_query_keeps_one_partition_and_the_named_values_scan_all(store):
    store.insert(row("p", "a", kind="job", blob="x"))
    store.insert(row("p", "b", kind="job", blob="y"))
    store.insert(row("p", "c", kind="slot"))
    store.insert(row("q", "a", kind="job", blob="x"))
    assert [r["RowKey"] for r in store.query("p")] == ["a", "b", "c"]
    assert [r["RowKey"] for r in store.query("p", kind="job")] == ["a", "b"]
    assert [r["RowKey"] for r in store.query("p", kind="job", blob="x")] == ["a"]
    assert [(r["PartitionKey"], r["RowKey"]) for r in store.scan(blob="x")] == [("p", "a"), ("q", "a")]
    assert len(store.scan()) == 4


def test_a_transaction_is_all_or_nothing(store):
    etag = store.insert(row("p", "a", v=1))
    store.insert(row("p", "b", v=1))
    with pytest.raises(StaleRow):
        store.transact([Op("replace", row("p", "a", v=2), etag), Op("insert", row("p", "b", v=2))])
    assert store.get("p", "a")["v"] == 1 and store.get("p", "b")["v"] == 1
    with pytest.raises(StaleRow):
        store.transact([Op("replace", row("p", "a", v=2), "W/old")])
    etags = store.transact([Op("replace", row("p", "a", v=3), etag), Op("insert", row("p", "c")),
                            Op("upsert", row("p", "b", w=1)), Op("delete", row("p", "b"))])  # fmt: skip
    assert len(etags) == 4 and etags[0] == store.get("p", "a")["_etag"] and etags[3] == ""
    assert store.get("p", "a")["v"] == 3 and store.get("p", "c") and store.get("p", "b") is None


def test_a_transaction_spans_one_partition(store):
    with pytest.raises(ValueError, match="one partition"):
        store.transact([Op("insert", row("p", "a")), Op("insert", row("q", "a"))])
    assert store.scan() == []


def test_calls_are_counted_and_writes_are_the_non_reads(store):
    etag = store.insert(row())
    store.get("p", "r")
    store.query("p")
    store.scan()
    store.replace(row(), etag)
    store.upsert(row())
    store.delete("p", "r")
    store.transact([Op("insert", row())])
    assert store.calls == {"insert": 1, "get": 1, "query": 2, "replace": 1, "upsert": 1, "delete": 1, "transact": 1}
    assert store.writes() == 5
