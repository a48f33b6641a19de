"""trees: which catalog of a tree is ingested (coverage by an ancestor) and when a tree counts as complete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest_core.routing import RoutingRule
from ingest_core.trees import ancestor_catalogs, covered_by, settles_at, top_folder

C = "https://acct.blob.core.windows.net/cat"


def cat(*children: str, root: str | None = None) -> dict:
    links = [{"rel": "child", "href": h} for h in children]
    if root:
        links.append({"rel": "root", "href": root})
    return {"type": "Catalog", "id": "x", "links": links}


@pytest.mark.parametrize(
    ("prefix", "path", "ancestors", "top"),
    [
        ("", "A/B/catalog.json", ["catalog.json", "A/catalog.json"], "A/"),
        ("", "catalog.json", [], ""),
        ("p/", "p/A/B/catalog.json", ["p/catalog.json", "p/A/catalog.json"], "p/A/"),
        ("p/", "p/catalog.json", [], "p/"),
        ("p/A/", "p/A/B/C/catalog.json", ["p/A/catalog.json", "p/A/B/catalog.json"], "p/A/B/"),
    ],
)
def test_ancestors_stay_inside_the_rules_prefix(prefix, path, ancestors, top):
    rule = RoutingRule(container="cat", prefix=prefix)
    assert ancestor_catalogs(rule, path) == ancestors
    assert top_folder(rule, path) == top


def test_a_child_that_claims_to_be_its_own_root_is_covered_by_the_catalog_above_it():
    docs = {f"{C}/catalog.json": cat("./ev1/catalog.json", "./ev2/catalog.json"),
            f"{C}/ev2/catalog.json": cat(root="./catalog.json")}  # fmt: skip
    assert covered_by(f"{C}/ev2/catalog.json", [f"{C}/catalog.json"], docs.get) == f"{C}/catalog.json"


def test_coverage_follows_child_links_through_intermediate_catalogs_to_the_top_most():
    docs = {f"{C}/catalog.json": cat("./a/catalog.json"), f"{C}/a/catalog.json": cat("./b/catalog.json"),
            f"{C}/a/b/catalog.json": cat("./c/catalog.json")}  # fmt: skip
    got = covered_by(f"{C}/a/b/c/catalog.json", [f"{C}/catalog.json", f"{C}/a/catalog.json"], docs.get)
    assert got == f"{C}/catalog.json"


def test_a_catalog_above_that_does_not_list_it_does_not_cover_it():
    docs = {f"{C}/catalog.json": cat("./other/catalog.json"), f"{C}/other/catalog.json": cat()}
    assert covered_by(f"{C}/mine/catalog.json", [f"{C}/catalog.json"], docs.get) is None
    assert covered_by(f"{C}/mine/catalog.json", [f"{C}/missing/catalog.json"], docs.get) is None


def test_cycles_in_child_links_end():
    docs = {f"{C}/catalog.json": cat("./a/catalog.json"), f"{C}/a/catalog.json": cat("../catalog.json")}
    assert covered_by(f"{C}/z/catalog.json", [f"{C}/catalog.json"], docs.get) is None


def test_the_folder_settles_a_window_after_its_last_change():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert settles_at([t, t + timedelta(seconds=5), t + timedelta(seconds=2)], timedelta(seconds=60)) == t + timedelta(
        seconds=65
    )
    assert settles_at([], timedelta(seconds=60)) is None
