"""bench.workload: the catalogs the bench makes and the order it delivers them in (pure, no storage)."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from bench.workload import Catalog, catalog_json, catalogs_for, deliveries, item_json, waves
from ingest_core.routing import valid_collection_id


def test_deliveries_hold_every_url_once_plus_the_duplicate_share_of_distinct_urls():
    urls = [f"u{i}" for i in range(200)]
    out = deliveries(urls, 0.2, random.Random(7))
    counts = Counter(out)
    assert len(out) == 240 and set(counts) == set(urls)
    assert sorted(Counter(counts.values()).items()) == [(1, 160), (2, 40)]
    assert out != sorted(out, key=urls.index)  # shuffled, not in upload order


def test_deliveries_repeat_for_the_same_seed_and_reject_a_bad_share():
    urls = [f"u{i}" for i in range(20)]
    assert deliveries(urls, 0.2, random.Random(1)) == deliveries(urls, 0.2, random.Random(1))
    assert deliveries(urls, 0.0, random.Random(1)) != []
    with pytest.raises(ValueError, match="outside 0-1"):
        deliveries(urls, 1.5, random.Random(1))


def test_waves_cut_in_order_and_keep_every_item():
    assert waves([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert waves([], 3) == []
    with pytest.raises(ValueError):
        waves([1], 0)


def test_catalogs_spread_round_robin_and_ids_of_reuses_the_other_tags_collection():
    first = catalogs_for(["c0", "c1", "c2", "c3"], 6, 3, "a")
    later = catalogs_for(["c0", "c1", "c2", "c3"], 6, 3, "b", ids_of="a")
    assert [c.container for c in first] == ["c0", "c1", "c2", "c3", "c0", "c1"]
    assert len({c.prefix for c in first + later}) == 12  # every catalog its own folder
    assert [c.catalog_id for c in later] == [c.catalog_id for c in first]
    assert all(valid_collection_id(c.catalog_id) for c in first)
    with pytest.raises(ValueError):
        catalogs_for([], 1, 1, "a")


def test_catalog_links_each_item_and_a_revision_changes_only_the_root():
    cat = Catalog("c0", "a0001", "bench-a0001", 3)
    doc = json.loads(catalog_json(cat))
    items = [link["href"] for link in doc["links"] if link["rel"] == "item"]
    assert items == [f"./items/bench-a0001-{i:04d}.json" for i in range(3)]
    assert doc["id"] == "bench-a0001" and cat.url("https://h/acct") == "https://h/acct/c0/a0001/catalog.json"
    assert catalog_json(cat, revision=1) != catalog_json(cat)
    item = json.loads(item_json("bench-a0001", 2))
    assert item["id"] == "bench-a0001-0002" and item["type"] == "Feature" and item["properties"]["datetime"]
