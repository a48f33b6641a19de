"""stac: catalog checks with readable reasons, and the bounded, concurrent preflight walk."""

import json
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from ingest_core import stac
from ingest_core.errors import InvalidDrop, TransientError
from ingest_core.stac import Preflight, collection_body, load_json, parse_catalog, preflight, sibling_url

C = "https://acct.blob.core.windows.net/catalogs"


def catalog(links, **extra):
    return {"type": "Catalog", "id": "cat-1", "stac_version": "1.0.0", "description": "d", "links": links, **extra}


def item(item_id, asset_href="./a.tif"):
    return {"type": "Feature", "id": item_id, "stac_version": "1.0.0", "geometry": {"type": "Point", "coordinates": [0, 0]},
            "bbox": [0, 0, 1, 1], "properties": {"datetime": "2021-01-01T00:00:00Z"},
            "assets": {"data": {"href": asset_href}}, "links": [{"rel": "root", "href": "../catalog.json"}]}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "not valid JSON at line 1 column 2"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (json.dumps({"type": "Feature"}).encode(), "\"type\" is 'Feature'"),
        (json.dumps({"type": "Catalog", "links": []}).encode(), '"id" must be a non-empty string'),
        (json.dumps({"type": "Catalog", "id": 5, "links": []}).encode(), '"id" must be a non-empty string'),
        (json.dumps({"type": "Catalog", "id": "x"}).encode(), '"links" must be a list'),
        (json.dumps({"type": "Catalog", "id": "x", "links": {}}).encode(), '"links" must be a list'),
        (json.dumps(catalog([{"rel": "child"}])).encode(), "links[0] (rel 'child') has no usable href"),
        (json.dumps(catalog(["./x.json"])).encode(), "links[0] (rel None) has no usable href"),
        (b'{"type": "Catalog", "id": "x", "links": [], "n": NaN}', "NaN and Infinity are not JSON"),
        (b'{"type": "Catalog", "id": "x", "links": [], "n": -Infinity}', "NaN and Infinity are not JSON"),
        (b'{"type": "Catalog", "id": "x", "links": [], "n": 1e999}', "out of range"),
        (b'{"type": "Catalog", "id": "x", "links": [], "n": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 100 levels"),
        (b'{"a": ' + b"[" * 150 + b"]" * 150 + b"}", "nested deeper than 100 levels"),
    ],
)
def test_bad_catalogs_say_what_is_wrong_and_where(data, fragment):
    with pytest.raises(InvalidDrop) as info:
        parse_catalog(data, f"{C}/t/catalog.json")
    assert fragment in info.value.reason
    assert info.value.where == f"{C}/t/catalog.json"


def test_brackets_inside_strings_do_not_count_as_nesting():
    doc = catalog([], title="[" * 500 + '\\"{' * 50)
    assert parse_catalog(json.dumps(doc).encode(), f"{C}/t/catalog.json")["title"] == doc["title"]


def test_what_only_the_stac_spec_asks_of_a_catalog_is_a_note_not_invalid():
    doc = {"type": "Catalog", "id": "cat-1", "links": [{"rel": "item", "href": "./i.json"}]}
    pf = preflight(f"{C}/t/catalog.json", parse_catalog(json.dumps(doc).encode(), "w"), C, lambda u: item("i"), 10)
    assert pf.item_count == 1 and pf.failing_items == 0
    assert any("has no description" in w for w in pf.warnings)
    assert any("stac_version is None" in w for w in pf.warnings)


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
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10, asset_containers=["assets"])
    assert pf.child_catalogs == [f"{C}/t/a/catalog.json"]
    assert pf.item_count == 2 and pf.links_checked == 3 and pf.missing == []
    assert pf.asset_containers == {C, "https://acct.blob.core.windows.net/assets"}
    assert pf.failing_items == 0


def test_missing_links_are_reported_not_fatal():
    root = catalog([{"rel": "item", "href": "./later.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: None, max_links=10)
    assert pf.missing == [f"{C}/t/later.json"]


@pytest.mark.parametrize(
    "href",
    [
        "../../other/catalog.json",
        "./%2e%2e/%2e%2e/other/catalog.json",
        "./%2E%2E/%2e./other/catalog.json",
        "%2e%2e%2f%2e%2e%2fother%2fcatalog.json",
        "..%5c..%5cother%5ccatalog.json",
        "a/../../../other/catalog.json",
        "https://acct.blob.core.windows.net/catalogs-private/t/catalog.json",
        "https://acct.blob.core.windows.net/catalogs%2f..%2fsecret/catalog.json",
        "https://other.blob.core.windows.net/catalogs/t/catalog.json",
        "http://acct.blob.core.windows.net/catalogs/t/a.json",
        "https://acct.blob.core.windows.net:8443/catalogs/t/a.json",
        "file:///etc/passwd",
        "//evil.example/catalogs/x.json",
    ],
)
def test_links_leaving_the_container_are_invalid_naming_the_href(href):
    root = catalog([{"rel": "child", "href": href}])
    read = []
    with pytest.raises(InvalidDrop, match="outside the container") as info:
        preflight(f"{C}/t/catalog.json", root, C, read.append, max_links=10)
    assert repr(href) in info.value.reason and info.value.where == f"{C}/t/catalog.json"
    assert read == []  # refused before anything is read


def test_encoded_and_dotted_hrefs_inside_the_container_are_read_at_their_canonical_url():
    root = catalog([{"rel": "item", "href": "./a/%2e/b/../i%201.json?sig=x#frag"},
                    {"rel": "item", "href": "HTTPS://ACCT.blob.core.windows.net:443/catalogs/t/a/i%201.json"}])  # fmt: skip
    read = []
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: read.append(u) or item("i"), max_links=10)
    assert read == [f"{C}/t/a/i%201.json"] and pf.links_checked == 1  # one document, however it is spelled


def test_unusable_href_is_invalid_naming_it():
    with pytest.raises(InvalidDrop, match="not a usable URL"):
        preflight(f"{C}/t/catalog.json", catalog([{"rel": "item", "href": "https://[::1/x"}]), C, lambda u: None, 10)


def test_walk_is_bounded():
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}, {"rel": "item", "href": "./i.json"}])
    child = catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(3)])
    docs = {f"{C}/t/a/catalog.json": child}
    with pytest.raises(InvalidDrop, match="PREFLIGHT_MAX_LINKS") as info:
        preflight(f"{C}/t/catalog.json", root, C, lambda u: docs.get(u, item("x")), max_links=4)
    assert info.value.where == f"{C}/t/catalog.json"


def test_one_document_listing_more_links_than_the_bound_stops_at_once():
    reads = []
    root = catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(6)])
    with pytest.raises(InvalidDrop, match="lists 6 links"):
        preflight(f"{C}/t/catalog.json", root, C, reads.append, max_links=5)
    assert reads == []
    big_child = catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(6)])
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}, {"rel": "item", "href": "./x.json"}])
    docs = {f"{C}/t/a/catalog.json": big_child}
    with pytest.raises(InvalidDrop, match="lists 6 links") as info:
        preflight(f"{C}/t/catalog.json", root, C, lambda u: reads.append(u) or docs.get(u, item("x")), max_links=5)
    assert info.value.where == f"{C}/t/a/catalog.json"
    assert not any(u.startswith(f"{C}/t/a/") and u != f"{C}/t/a/catalog.json" for u in reads)


def test_bad_items_become_warnings_while_good_items_go():
    docs = {f"{C}/t/i.json": {"type": "Feature", "id": "i"}, f"{C}/t/ok.json": item("ok")}
    root = catalog([{"rel": "item", "href": "./i.json"}, {"rel": "item", "href": "./ok.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10)
    assert (pf.item_count, pf.failing_items) == (2, 1)
    assert [(w.rule, w.fails) for w in pf.item_warnings if w.file == f"{C}/t/i.json"] == [
        ("assets-missing", True), ("datetime-missing", True), ("geometry-missing", True),
        ("item-without-links", False), ("stac-version", False)]  # fmt: skip
    assert pf.warnings[0].startswith("1 of 2 items predicted to fail (assets-missing x1")
    assert f"item i ({C}/t/i.json): assets-missing [will fail]" in pf.warnings[1]
    assert all("; " not in w for w in pf.warnings)  # the ledger joins them with "; "


def test_no_items_at_all_is_invalid_but_missing_ones_defer():
    with pytest.raises(InvalidDrop, match="links no items"):
        preflight(f"{C}/t/catalog.json", catalog([]), C, lambda u: None, max_links=10)
    pf = preflight(f"{C}/t/catalog.json", catalog([{"rel": "item", "href": "./i.json"}]), C, lambda u: None, 10)
    assert pf.missing == [f"{C}/t/i.json"]


def test_every_item_failing_is_invalid_naming_the_first():
    docs = {f"{C}/t/b.json": {**item("b"), "geometry": None}, f"{C}/t/a.json": {**item("a"), "assets": {"x": {}}}}
    root = catalog([{"rel": "item", "href": "./b.json"}, {"rel": "item", "href": "./a.json"}])
    with pytest.raises(InvalidDrop, match="every one of the 2 items") as info:
        preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10)
    assert info.value.where == f"{C}/t/a.json" and "asset-href-missing" in info.value.reason


def test_the_same_item_id_twice_predicts_the_later_one_fails():
    docs = {f"{C}/t/a/i.json": item("same"), f"{C}/t/b/i.json": item("same"), f"{C}/t/c.json": item("c")}
    root = catalog([{"rel": "item", "href": "./a/i.json"}, {"rel": "item", "href": "./b/i.json"},
                    {"rel": "item", "href": "./c.json"}])  # fmt: skip
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10)
    dup = [w for w in pf.item_warnings if w.rule == "duplicate-item-id"]
    assert [(w.file, w.fails) for w in dup] == [(f"{C}/t/b/i.json", True)] and f"{C}/t/a/i.json" in dup[0].message
    assert pf.failing_items == 1


def test_foreign_collection_ids_are_notes_when_the_target_is_known():
    root = catalog([{"rel": "item", "href": "./i.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: {**item("i"), "collection": "theirs"}, 10,
                   collection_id="ours")  # fmt: skip
    (w,) = [w for w in pf.item_warnings if w.rule == "foreign-collection"]
    assert not w.fails and pf.failing_items == 0 and "theirs" in w.message


def _tree(n_children: int, n_items: int) -> tuple[dict, dict]:
    docs = {}
    for c in range(n_children):
        docs[f"{C}/t/c{c}/catalog.json"] = catalog([{"rel": "item", "href": f"./i{i}.json"} for i in range(n_items)])
        for i in range(n_items):
            bad = {"geometry": None} if (c + i) % 5 == 0 else {}
            docs[f"{C}/t/c{c}/i{i}.json"] = {**item(f"c{c}-i{i}"), **bad, "bbox": [c, i, c + 1, i + 1]}
    root = catalog([{"rel": "child", "href": f"./c{c}/catalog.json"} for c in range(n_children)]
                   + [{"rel": "item", "href": "./late.json"}])  # fmt: skip
    return root, docs


def test_concurrent_walk_reads_in_parallel_and_reports_the_same_as_one_at_a_time():
    root, docs = _tree(6, 12)
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def slow_read(url):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(random.random() / 500)  # completion order differs from the order asked for
        with lock:
            state["now"] -= 1
        return docs.get(url)

    one = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=1000, workers=1)
    many = preflight(f"{C}/t/catalog.json", root, C, slow_read, max_links=1000, workers=8)
    assert state["peak"] > 1  # reads overlapped
    for attr in ("item_count", "failing_items", "links_checked", "missing", "warnings", "item_warnings",
                 "asset_containers", "bboxes", "datetimes"):  # fmt: skip
        assert getattr(many, attr) == getattr(one, attr), attr
    assert many.missing == [f"{C}/t/late.json"] and many.item_count == 72 and many.failing_items == 15


def first_child_not_a_catalog(children):
    """A root linking `children` child catalogs, the first of them an item; its reader and the URLs it read."""
    root = catalog([{"rel": "child", "href": f"./c{c}/catalog.json"} for c in range(children)])
    reads = []

    def read(url):
        reads.append(url)
        return {"type": "Feature"} if url.endswith("/c0/catalog.json") else catalog([])

    return root, read, reads


def test_an_error_stops_the_walk_without_reading_the_rest():
    root, read, reads = first_child_not_a_catalog(300)
    with pytest.raises(InvalidDrop, match="is not a STAC catalog"):
        preflight(f"{C}/t/catalog.json", root, C, read, max_links=1000, workers=4)
    assert len(reads) <= 4 * 4 + 4  # the read-ahead window and the reads already running, not 300


def test_reader_faults_surface_in_link_order():
    root = catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(20)])

    def read(url):
        time.sleep(random.random() / 500)
        if url.endswith(("/3.json", "/11.json")):
            raise TransientError(f"storage call to {url} failed")
        return item("x")

    for _ in range(3):
        with pytest.raises(TransientError, match="/3.json"):
            preflight(f"{C}/t/catalog.json", root, C, read, max_links=100, workers=8)


def test_an_unreadable_item_is_a_predicted_failure_but_an_unreadable_child_is_invalid():
    def read(url):
        if url.endswith("/bad.json"):
            raise InvalidDrop("not valid JSON at line 1 column 1", where=url)
        if url.endswith("/deep.json"):
            return json.loads("[" * 100_000 + "]" * 100_000)  # a reader that parses without load_json
        return item(url.rsplit("/", 1)[1])

    root = catalog([{"rel": "item", "href": f"./{n}.json"} for n in ("bad", "deep", "ok")])
    pf = preflight(f"{C}/t/catalog.json", root, C, read, max_links=10)
    assert (pf.item_count, pf.failing_items) == (3, 2)
    assert [(w.file.rsplit("/", 1)[1], w.rule) for w in pf.item_warnings if w.fails] == [
        ("bad.json", "item-unreadable"), ("deep.json", "item-unreadable")]  # fmt: skip
    assert "nested deeper" in pf.item_warnings[1].message
    with pytest.raises(InvalidDrop, match="not valid JSON") as info:
        preflight(f"{C}/t/catalog.json", catalog([{"rel": "child", "href": "./bad.json"}]), C, read, max_links=10)
    assert info.value.where == f"{C}/t/bad.json"


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
        {"type": "Feature", "id": ["i"], "bbox": [float("nan"), 0, 1, True]},
        [1, 2],
        "text",
    ],
)
def test_malformed_items_are_warnings_not_crashes(bad_item):
    docs = {f"{C}/t/i.json": bad_item, f"{C}/t/ok.json": item("ok")}
    root = catalog([{"rel": "item", "href": "./i.json"}, {"rel": "item", "href": "./ok.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10)
    assert pf.item_count == 2 and pf.failing_items == 1 and pf.bboxes == [[0, 0, 1, 1]]
    assert {w.file for w in pf.item_warnings if w.fails} == {f"{C}/t/i.json"}


@pytest.mark.parametrize("href", [5, None, ""])
def test_malformed_link_hrefs_are_invalid_with_the_place(href):
    child = catalog([{"rel": "item", "href": href}])
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}])
    with pytest.raises(InvalidDrop, match="no usable href") as info:
        preflight(f"{C}/t/catalog.json", root, C, lambda u: child, max_links=10)
    assert info.value.where == f"{C}/t/a/catalog.json"


@pytest.mark.parametrize("child", [[1], {"type": "Catalog", "id": "x"}, {"type": "Catalog", "links": []}])
def test_child_catalogs_that_cannot_be_walked_are_invalid_naming_them(child):
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}])
    with pytest.raises(InvalidDrop) as info:
        preflight(f"{C}/t/catalog.json", root, C, lambda u: child, max_links=10)
    assert f"{C}/t/a/catalog.json" in (info.value.where or "") + info.value.reason


def test_collection_json_that_is_not_an_object_is_invalid():
    pf = preflight(f"{C}/t/catalog.json", catalog([{"rel": "item", "href": "./i.json"}]), C, lambda u: item("i"), 10)
    with pytest.raises(InvalidDrop, match="collection.json beside the catalog is not a JSON object"):
        collection_body("my-coll", pf, [1, 2])


def test_placeholder_collection_tolerates_non_text_catalog_fields():
    root = catalog([{"rel": "item", "href": "./i.json"}], description=5, title=["x"], license={})
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: item("i"), 10)
    body = collection_body("my-coll", pf, None)
    assert (body["title"], body["license"], body["msft:short_description"]) == ("cat-1", "other", "cat-1")


def test_the_summary_shows_predicted_failures_before_notes():
    docs = {f"{C}/t/c{c}/catalog.json": {"type": "Catalog", "id": f"c{c}", "links": [{"rel": "item", "href": "./i.json"}]}
            for c in range(30)}  # fmt: skip
    docs.update({f"{C}/t/c{c}/i.json": item(f"i{c}") for c in range(30)})
    docs[f"{C}/t/c29/i.json"] = {**item("i29"), "geometry": None}
    root = catalog([{"rel": "child", "href": f"./c{c}/catalog.json"} for c in range(30)])
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=100)
    assert len(pf.warnings) == 20
    assert pf.warnings[0].startswith("1 of 30 items predicted to fail (geometry-missing x1)")
    assert "c29/i.json): geometry-missing [will fail]" in pf.warnings[1]


@pytest.mark.parametrize("rel", ["child", "item"])
def test_a_sibling_container_sharing_the_name_prefix_is_outside(rel):
    container = "https://acct.blob.core.windows.net/cat"
    href = "https://acct.blob.core.windows.net/cat-private/secret/x.json"
    root = catalog([{"rel": rel, "href": href}])
    read = []
    with pytest.raises(InvalidDrop) as info:
        preflight(f"{container}/t/catalog.json", root, container, lambda u: read.append(u) or item("x"), max_links=10)
    assert href in info.value.reason and "outside the container" in info.value.reason
    assert info.value.where == f"{container}/t/catalog.json"
    assert read == []  # nothing outside the container was read


# -- asset containers: the account's other containers are out of reach unless ASSET_CONTAINERS names them -----
ROOT = "https://acct.blob.core.windows.net"


@pytest.mark.parametrize(
    ("href", "container"),
    [
        (f"{ROOT}/secret/x.tif", f"{ROOT}/secret"),
        (f"{ROOT}/catalogs-private/x.tif", f"{ROOT}/catalogs-private"),  # a sibling sharing the name prefix
        ("./%2e%2e/%2e%2e/secret/x.tif", f"{ROOT}/secret"),  # decoded and normalised before the check
        ("..%5c..%5csecret%5cx.tif", f"{ROOT}/secret"),
    ],
)
def test_an_asset_in_a_container_not_allowed_is_a_predicted_failure_and_gets_no_source(href, container):
    docs = {f"{C}/t/bad.json": item("bad", asset_href=href), f"{C}/t/ok.json": item("ok")}
    root = catalog([{"rel": "item", "href": "./bad.json"}, {"rel": "item", "href": "./ok.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10, asset_containers=["assets"])
    assert pf.asset_containers == {C}  # no SAS for the other container is ever minted
    assert pf.failing_items == 1 and pf.item_count == 2
    (w,) = pf.item_warnings
    assert (w.file, w.rule, w.item_id, w.fails) == (f"{C}/t/bad.json", "asset-container-not-allowed", "bad", True)
    assert container in w.message and "ASSET_CONTAINERS" in w.message
    assert any("asset-container-not-allowed" in line and "bad" in line for line in pf.warnings)


def test_assets_in_allowed_containers_get_sources_and_other_hosts_are_left_to_the_service():
    hrefs = {"a": f"{ROOT}/assets/x.tif", "b": f"{ROOT}/cogs/y.tif", "c": "https://example.org/z.tif", "d": "./d.tif"}
    docs = {f"{C}/t/{k}.json": item(k, asset_href=h) for k, h in hrefs.items()}
    root = catalog([{"rel": "item", "href": f"./{k}.json"} for k in hrefs])
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=10, asset_containers=["assets", "cogs"])
    assert pf.asset_containers == {C, f"{ROOT}/assets", f"{ROOT}/cogs"}
    assert pf.item_warnings == [] and pf.failing_items == 0


def test_the_refusal_names_the_container_and_both_fixes_whatever_the_order_of_the_assets():
    doc = item("mixed")
    doc["assets"] = {"web": {"href": "https://example.org/w.tif"}, "own": {"href": "./o.tif"},
                     "far": {"href": f"{ROOT}/secret/x.tif"}}  # fmt: skip
    docs = {f"{C}/t/mixed.json": doc, f"{C}/t/ok.json": item("ok")}
    root = catalog([{"rel": "item", "href": "./mixed.json"}, {"rel": "item", "href": "./ok.json"}])
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, 10)
    (w,) = pf.item_warnings  # an asset on another host before it does not end the check
    assert w.message == (
        f"an asset is in container {ROOT}/secret, which catalogs of {C} may not reach: the GeoCatalog gets no "
        "source for it, so the item fails. Copy the asset beside the item, or add the container's name to "
        "ASSET_CONTAINERS"
    )


def test_every_item_with_its_assets_out_of_reach_makes_the_catalog_invalid():
    docs = {f"{C}/t/a.json": item("a", asset_href=f"{ROOT}/secret/x.tif")}
    with pytest.raises(InvalidDrop) as err:
        preflight(f"{C}/t/catalog.json", catalog([{"rel": "item", "href": "./a.json"}]), C, docs.get, max_links=10)
    assert "asset-container-not-allowed" in err.value.reason and err.value.where == f"{C}/t/a.json"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[1]", "not a STAC catalog: the document is not a JSON object"),
        (json.dumps({"type": "Catalog", "id": "", "links": []}).encode(), 'not a STAC catalog: "id" must be a non-empty string'),
        (json.dumps({"type": "Catalog", "id": "x", "links": "a"}).encode(), 'not a STAC catalog: "links" must be a list of link objects'),
        (b'{"type": "Catalog", "title": "\xff"}', "not valid JSON (not UTF-8 text): fix the file and upload it again"),
        (b"{not json", "not valid JSON at line 1 column 2: fix the file and upload it again"),
    ],
)  # fmt: skip
def test_catalog_reasons_read_in_full(data, reason):
    """The whole reason is what the user reads in the job: what is wrong and how to fix it."""
    with pytest.raises(InvalidDrop) as info:
        parse_catalog(data, f"{C}/t/catalog.json")
    assert (info.value.reason, info.value.where) == (reason, f"{C}/t/catalog.json")


def test_nan_is_named_in_the_reason():
    with pytest.raises(InvalidDrop) as info:
        parse_catalog(b'{"type": "Catalog", "id": "x", "links": [], "n": NaN}', f"{C}/t/catalog.json")
    assert "NaN is not a JSON number" in info.value.reason


def test_nesting_is_checked_on_text_as_well_as_bytes():
    with pytest.raises(InvalidDrop, match="nested deeper than 100 levels") as info:
        load_json("[" * 150 + "]" * 150, f"{C}/t/i.json")
    assert info.value.where == f"{C}/t/i.json"
    assert load_json('{"a": [[1]]}', "w") == {"a": [[1]]}


def test_a_lone_surrogate_that_json_accepts_is_not_a_crash():
    """json.loads takes UTF-8-encoded surrogates; the nesting check must not fail on the same bytes."""
    data = b'{"type": "Catalog", "id": "x", "links": [], "title": "\xed\xa0\x80"}'
    assert parse_catalog(data, f"{C}/t/catalog.json")["title"] == "\ud800"


def test_a_clean_catalog_has_no_notes_and_a_bad_version_is_quoted():
    pf = preflight(f"{C}/t/catalog.json", catalog([{"rel": "item", "href": "./i.json"}]), C, lambda u: item("i"), 10)
    assert pf.warnings == [] and pf.item_warnings == []
    root = catalog([{"rel": "item", "href": "./i.json"}], stac_version="0.9; beta")
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: item("i"), 10)
    assert pf.warnings == [f"{C}/t/catalog.json: stac_version is '0.9, beta', STAC 1.x expected (read as 1.x)"]


def test_notes_name_the_catalog_they_are_about():
    child = {"type": "Catalog", "id": "c", "stac_version": "1.0.0", "links": [{"rel": "item", "href": "./i.json"}]}
    docs = {f"{C}/t/a/catalog.json": child, f"{C}/t/a/i.json": item("i")}
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}], description="")
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, 10)
    assert [w.split(": ", 1)[0] for w in pf.warnings] == [f"{C}/t/catalog.json", f"{C}/t/a/catalog.json"]
    assert all("has no description" in w for w in pf.warnings)


def test_root_problems_name_the_root_file():
    url = f"{C}/t/catalog.json"
    with pytest.raises(InvalidDrop, match='"id" must be') as info:
        preflight(url, {"type": "Catalog", "links": []}, C, lambda u: None, 10)
    assert info.value.where == url
    with pytest.raises(InvalidDrop, match="lists 3 links") as info:
        preflight(url, catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(3)]), C, lambda u: None, 2)
    assert info.value.where == url
    with pytest.raises(InvalidDrop) as info:
        preflight(url, catalog([{"rel": "root", "href": "./catalog.json"}]), C, lambda u: None, 10)
    assert info.value.reason == "the catalog links no items (through item or child links): nothing to ingest"
    assert info.value.where == url


def test_a_document_may_link_exactly_the_limit():
    root = catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(5)])
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: item(u.rsplit("/", 1)[1][:-5]), max_links=5)
    assert pf.item_count == 5 and pf.links_checked == 5


def test_the_per_document_limit_reason_says_how_to_fix_it():
    root = catalog([{"rel": "item", "href": f"./{i}.json"} for i in range(3)])
    with pytest.raises(InvalidDrop) as info:
        preflight(f"{C}/t/catalog.json", root, C, lambda u: None, max_links=2)
    assert info.value.reason == (
        "document lists 3 links, more than the 2 documents one catalog may link (PREFLIGHT_MAX_LINKS): split the catalog"
    )


def test_a_child_that_is_not_a_catalog_is_reported_where_it_is_linked():
    root = catalog([{"rel": "child", "href": "./a/catalog.json"}])
    with pytest.raises(InvalidDrop, match="is not a STAC catalog") as info:
        preflight(f"{C}/t/catalog.json", root, C, lambda u: item("i"), 10)
    assert f"child link {C}/t/a/catalog.json" in info.value.reason and info.value.where == f"{C}/t/catalog.json"
    docs = {f"{C}/t/a/catalog.json": catalog([{"rel": "child", "href": "./b.json"}]), f"{C}/t/a/b.json": [1]}
    with pytest.raises(InvalidDrop, match="is not a STAC catalog") as info:
        preflight(f"{C}/t/catalog.json", root, C, docs.get, 10)
    assert info.value.where == f"{C}/t/a/catalog.json"


def test_a_child_too_deep_for_the_reader_is_invalid_naming_it():
    def read(url):
        raise RecursionError

    root = catalog([{"rel": "child", "href": "./a/catalog.json"}])
    with pytest.raises(InvalidDrop, match="nested deeper than 100 levels") as info:
        preflight(f"{C}/t/catalog.json", root, C, read, 10)
    assert info.value.where == f"{C}/t/a/catalog.json"


def test_a_link_back_to_a_seen_catalog_is_skipped_and_the_next_links_are_followed():
    root = catalog([{"rel": "child", "href": "./catalog.json"}, {"rel": "item", "href": "./i.json"},
                    {"rel": "item", "href": "./i.json"}, {"rel": "item", "href": "./j.json"}])  # fmt: skip
    pf = preflight(f"{C}/t/catalog.json", root, C, lambda u: item(u.rsplit("/", 1)[1][:-5]), 10)
    assert pf.child_catalogs == [] and pf.item_urls == [f"{C}/t/i.json", f"{C}/t/j.json"]


def test_item_urls_are_listed_in_walk_order():
    root, docs = _tree(3, 2)
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, max_links=100, workers=4)
    assert pf.item_urls == [f"{C}/t/c{c}/i{i}.json" for c in range(3) for i in range(2)]


def test_unreadable_and_duplicate_items_are_shown_with_their_id():
    docs = {f"{C}/t/a.json": item("same"), f"{C}/t/b.json": item("same")}

    def read(url):
        if url.endswith("/bad.json"):
            raise InvalidDrop("not valid JSON at line 1 column 1", where=url)
        return docs[url]

    root = catalog([{"rel": "item", "href": f"./{n}.json"} for n in ("a", "b", "bad")])
    pf = preflight(f"{C}/t/catalog.json", root, C, read, 10)
    texts = [w.text() for w in pf.item_warnings]
    assert f"item ? ({C}/t/bad.json): item-unreadable [will fail]: not valid JSON at line 1 column 1" in texts
    assert [w.item_id for w in pf.item_warnings if w.rule == "duplicate-item-id"] == ["same"]


def test_asset_containers_come_from_hrefs_relative_to_the_item_past_unusable_ones():
    doc = {**item("i"), "assets": {"bad": {"href": "https://[::1/x"}, "data": {"href": "../../assets/x.tif"}}}
    pf = preflight(
        f"{C}/t/catalog.json", catalog([{"rel": "item", "href": "./i.json"}]), C, lambda u: doc, 10,
        asset_containers=["assets"],
    )  # fmt: skip
    assert pf.asset_containers == {C, "https://acct.blob.core.windows.net/assets"}


def test_item_warnings_put_predicted_failures_first_and_the_summary_keeps_every_kind_once():
    docs = {f"{C}/t/a.json": {**item("a"), "stac_version": "0.9"}, f"{C}/t/b.json": {**item("b"), "geometry": None}}
    root = catalog([{"rel": "item", "href": "./a.json"}, {"rel": "item", "href": "./b.json"}], description="")
    pf = preflight(f"{C}/t/catalog.json", root, C, docs.get, 10)
    assert [(w.file, w.rule) for w in pf.item_warnings] == [(f"{C}/t/b.json", "geometry-missing"),
                                                            (f"{C}/t/a.json", "stac-version")]  # fmt: skip
    assert pf.warnings[0] == "1 of 2 items predicted to fail (geometry-missing x1, stac-version x1)"
    assert pf.warnings[1:] == [pf.item_warnings[0].text(), f"{C}/t/catalog.json: catalog has no description "
                               "(STAC asks for one, the GeoCatalog does not)", pf.item_warnings[1].text()]  # fmt: skip


def test_reads_run_on_at_most_workers_named_threads(monkeypatch):
    made = []

    class Pool(stac.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self._max_workers)

    monkeypatch.setattr(stac, "ThreadPoolExecutor", Pool)
    names = set()
    root = catalog([{"rel": "item", "href": "./i.json"}])
    for workers in (0, 1, 3):
        preflight(f"{C}/t/catalog.json", root, C, lambda u: names.add(threading.current_thread().name) or item("i"),
                  10, workers=workers)  # fmt: skip
    assert made == [1, 1, 3]
    assert all(n.startswith("preflight_") for n in names)  # what the local twin's log lines show


class _NowPool:
    """An executor that reads at submit time: what was read is exactly what was asked for."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        fut = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


@pytest.mark.parametrize(("workers", "window"), [(1, 4), (2, 8)])
def test_reads_ahead_of_the_document_being_checked_are_bounded_by_the_window(monkeypatch, workers, window):
    monkeypatch.setattr(stac, "ThreadPoolExecutor", _NowPool)
    root, read, reads = first_child_not_a_catalog(30)
    with pytest.raises(InvalidDrop, match="is not a STAC catalog"):
        preflight(f"{C}/t/catalog.json", root, C, read, max_links=100, workers=workers)
    assert len(reads) == window == workers * stac.READ_AHEAD


def test_read_in_order_yields_in_the_order_asked_and_asks_at_most_ahead():
    asked = []

    def targets():
        for i in range(10):
            asked.append(i)
            yield "item", str(i)

    with ThreadPoolExecutor(max_workers=4) as pool:
        docs = stac._read_in_order(pool, lambda u: int(u), targets(), 3)
        assert next(docs) == 0 and asked == [0, 1, 2]
        assert list(docs) == list(range(1, 10))


def test_placeholder_collection_from_catalog_fields_and_item_extents():
    pf = Preflight(catalog_id="cat-1", catalog=catalog([], title="T", license="CC-BY-4.0", description="D" * 150))
    pf.bboxes = [[1, 2, 3, 4], [-5, -6, 0, 1], [0, 0, 7, 8]]
    pf.datetimes = ["2022-01-01T00:00:00Z", "2020-06-01T00:00:00Z", "2021-01-01T00:00:00Z"]
    assert collection_body("my-coll", pf, None) == {
        "id": "my-coll", "type": "Collection", "stac_version": "1.0.0", "title": "T", "description": "D" * 150,
        "license": "CC-BY-4.0", "links": [], "msft:short_description": "D" * 100,
        "extent": {"spatial": {"bbox": [[-5, -6, 7, 8]]},
                   "temporal": {"interval": [["2020-06-01T00:00:00Z", "2022-01-01T00:00:00Z"]]}},
    }  # fmt: skip


def test_placeholder_collection_without_facts_covers_the_world_and_all_time():
    pf = Preflight(catalog_id="cat-1", catalog={"type": "Catalog", "id": "cat-1", "links": []})
    body = collection_body("my-coll", pf, None)
    assert body["extent"] == {
        "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
        "temporal": {"interval": [[None, None]]},
    }
    assert (body["title"], body["description"], body["license"]) == ("cat-1", "Created for catalog cat-1", "other")


@pytest.mark.parametrize("uploaded", [{"id": "x", "type": "Catalog", "license": "MIT"}, {"license": "MIT"}])
def test_an_uploaded_collection_is_always_a_collection(uploaded):
    pf = Preflight(catalog_id="cat-1", catalog=catalog([]))
    assert collection_body("my-coll", pf, uploaded) == {"id": "my-coll", "type": "Collection", "license": "MIT",
                                                        "links": []}  # fmt: skip


def test_collection_json_reason_reads_in_full():
    with pytest.raises(InvalidDrop) as info:
        collection_body("my-coll", Preflight(catalog_id="c", catalog=catalog([])), "text")
    assert info.value.reason == "collection.json beside the catalog is not a JSON object: fix it and upload it again"


@pytest.mark.parametrize(
    ("url", "sibling"),
    [(f"{C}/a/b/catalog.json", f"{C}/a/b/collection.json"), (f"{C}/catalog.json", f"{C}/collection.json"),
     (f"{C}/my dir/catalog.json?sig=x", f"{C}/my dir/collection.json")],
)  # fmt: skip
def test_sibling_url_is_in_the_same_folder(url, sibling):
    assert sibling_url(url, "collection.json") == sibling
