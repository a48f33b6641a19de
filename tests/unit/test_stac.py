"""stac: catalog checks with readable reasons, and the bounded preflight walk."""

import json

import pytest

from ingest_core.errors import InvalidDrop
from ingest_core.stac import collection_body, parse_catalog, preflight

C = "https://acct.blob.core.windows.net/catalogs"


def catalog(links, **extra):
    return {"type": "Catalog", "id": "cat-1", "stac_version": "1.0.0", "description": "d", "links": links, **extra}


def item(item_id, asset_href="./a.tif"):
    return {"type": "Feature", "id": item_id, "stac_version": "1.0.0", "geometry": {"type": "Point", "coordinates": [0, 0]},
            "bbox": [0, 0, 1, 1], "properties": {"datetime": "2021-01-01T00:00:00Z"},
            "assets": {"data": {"href": asset_href}}, "links": []}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "not valid JSON at line 1 column 2"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1]", "not a JSON object"),
        (json.dumps({"type": "Feature"}).encode(), "\"type\" is 'Feature'"),
        (
            json.dumps({"type": "Catalog", "id": "x"}).encode(),
            "missing required field(s) stac_version, description, links",
        ),
        (json.dumps(catalog([{"rel": "child"}])).encode(), "must be a list of objects with an href"),
    ],
)
def test_bad_catalogs_say_what_is_wrong_and_where(data, fragment):
    with pytest.raises(InvalidDrop) as info:
        parse_catalog(data, f"{C}/t/catalog.json")
    assert fragment in info.value.reason
    assert info.value.where == f"{C}/t/catalog.json"


def test_walk_follows_relative_children_and_items():
    docs = {
        f"{C}/t/a/catalog.json": catalog(
            [{"rel": "item", "href": "./i1/i1.json"}, {"rel": "root", "href": "../catalog.json"}]
        ),
        f"{C}/t/a/i1/i1.json": item("i1"),
        f"{C}/t/i2.json": item("i2", asset_href="https://acct.blob.core.windows.net/assets/x.tif"),
    }
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}, {"rel": "item", "href": f"{C}/t/i2.json"},
                    {"rel": "root", "href": "./catalog.json"}])  # fmt: skip
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10)
    assert pf.root_url is None
    assert pf.item_count == 2 and pf.links_checked == 3 and pf.missing == []
    assert pf.asset_containers == {C, "https://acct.blob.core.windows.net/assets"}


def test_missing_links_are_reported_not_fatal():
    root = catalog([{"rel": "item", "href": "./later.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: None, max_links=10)
    assert pf.missing == [f"{C}/t/later.json"]


def test_links_escaping_the_container_are_invalid():
    root = catalog([{"rel": "child", "href": "../../other/catalog.json"}])
    with pytest.raises(InvalidDrop, match="leaves the container"):
        preflight(f"{C}/t/catalog.json", root, C, lambda u: None, max_links=10)


def test_walk_is_bounded():
    root = catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(5)])
    with pytest.raises(InvalidDrop, match="PREFLIGHT_MAX_LINKS"):
        preflight(f"{C}/t/catalog.json", root, C, lambda u: item("x"), max_links=3)


def test_child_catalog_is_recognised_by_its_root_link():
    child = catalog([{"rel": "root", "href": "../catalog.json"}])
    pf = preflight(f"{C}/t/a/catalog.json", child, C, lambda u: None, max_links=10)
    assert pf.root_url == f"{C}/t/catalog.json"


def test_bad_items_become_warnings():
    root = catalog([{"rel": "item", "href": "./i.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: {"type": "Feature", "id": "i"}, max_links=10)
    assert pf.item_count == 1
    assert pf.warnings == [f"{C}/t/i.json: missing geometry, missing assets"]


def test_placeholder_collection_extent_comes_from_items():
    root = catalog([{"rel": "item", "href": "./i.json"}], title="T")
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: item("i"), max_links=10)
    body = collection_body("my-coll", pf, None)
    assert body["id"] == "my-coll" and body["type"] == "Collection" and body["title"] == "T"
    assert body["extent"]["spatial"]["bbox"] == [[0, 0, 1, 1]]
    assert body["extent"]["temporal"]["interval"] == [["2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]]
    from_file = collection_body(
        "my-coll", pf, {"id": "other", "type": "Collection", "links": [{"rel": "x"}], "license": "MIT"}
    )
    assert from_file["id"] == "my-coll" and from_file["links"] == [] and from_file["license"] == "MIT"


@pytest.mark.parametrize(
    "bad_item",
    [
        {"type": "Feature", "id": "i", "geometry": {}, "assets": ["a.tif"], "properties": "x", "bbox": ["a"]},
        {"type": "Feature", "id": "i", "geometry": {}, "assets": {"data": "a.tif"}, "properties": None},
        {"type": "Feature", "id": "i", "geometry": {}, "assets": {"data": {"href": 5}}},
    ],
)
def test_malformed_items_are_warnings_not_crashes(bad_item):
    root = catalog([{"rel": "item", "href": "./i.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: bad_item, max_links=10)
    assert pf.item_count == 1 and pf.warnings
    assert all(w.startswith(f"{C}/t/i.json: ") for w in pf.warnings)


@pytest.mark.parametrize("href", [5, None, ""])
def test_malformed_link_hrefs_are_invalid_with_the_place(href):
    child = catalog([{"rel": "item", "href": href}])
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}])
    with pytest.raises(InvalidDrop, match="no usable href") as info:
        preflight(f"{C}/t/catalog.json", root, C, lambda u: child, max_links=10)
    assert info.value.where == f"{C}/t/a/catalog.json"


@pytest.mark.parametrize("rel", ["child", "item"])
def test_a_sibling_container_sharing_the_name_prefix_is_outside(rel):
    container = "https://acct.blob.core.windows.net/cat"
    href = "https://acct.blob.core.windows.net/cat-private/secret/x.json"
    root = catalog([{"rel": rel, "href": href}])
    read = []
    with pytest.raises(InvalidDrop) as info:
        preflight(f"{container}/t/catalog.json", root, container, lambda u: read.append(u) or item("x"), max_links=10)
    assert href in info.value.reason and "leaves the container" in info.value.reason
    assert info.value.where == f"{container}/t/catalog.json"
    assert read == []  # nothing outside the container was read
