"""item_rules: a corpus of per-item problems and the warning each one gives (service rejection or STAC note)."""

import pytest

from ingest_core.item_rules import check_item

F = "https://acct.blob.core.windows.net/catalogs/t/i.json"


def good(**changes):
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "scene-1_(a),b+c.d",
            "geometry": {"type": "Point", "coordinates": [0, 0]}, "bbox": [0, 0, 1, 1],
            "properties": {"datetime": "2021-01-01T00:00:00Z"}, "assets": {"data": {"href": "./a.tif"}},
            "links": [{"rel": "root", "href": "../catalog.json"}]}  # fmt: skip
    item.update(changes)
    return {k: v for k, v in item.items() if v is not DELETE}


DELETE = object()

CORPUS = [
    # (what is wrong, the item, rule, predicted to fail)
    ("a list, not an object", [1], "not-an-item", True),
    ("type Collection", good(type="Collection"), "not-an-item", True),
    ("no id", good(id=DELETE), "item-id-missing", True),
    ("empty id", good(id=""), "item-id-missing", True),
    ("numeric id", good(id=7), "item-id-missing", True),
    ("slash in id", good(id="a/b"), "item-id-characters", True),
    ("space in id", good(id="a b"), "item-id-characters", True),
    ("colon in id", good(id="S2A:2021"), "item-id-characters", True),
    ("unicode in id", good(id="caf\u00e9"), "item-id-characters", True),
    ("id of 150 characters", good(id="a" * 150), "item-id-length", True),
    ("id of 100 characters", good(id="a" * 100), "item-id-length", False),
    ("no geometry", good(geometry=DELETE), "geometry-missing", True),
    ("null geometry", good(geometry=None), "geometry-missing", True),
    ("geometry of an unknown type", good(geometry={"type": "Circle"}), "geometry-missing", True),
    ("no properties", good(properties=DELETE), "datetime-missing", True),
    ("null datetime", good(properties={"datetime": None}), "datetime-missing", True),
    (
        "only a start",
        good(properties={"datetime": None, "start_datetime": "2021-01-01T00:00:00Z"}),
        "datetime-missing",
        True,
    ),  # fmt: skip
    ("no assets", good(assets=DELETE), "assets-missing", True),
    ("assets a list", good(assets=["a.tif"]), "assets-missing", True),
    ("asset without href", good(assets={"data": {"type": "image/tiff"}}), "asset-href-missing", True),
    ("asset href not text", good(assets={"data": {"href": 5}}), "asset-href-missing", True),
    ("asset a string", good(assets={"data": "a.tif"}), "asset-href-missing", True),
    ("asset key with a space", good(assets={"my data": {"href": "a.tif"}}), "asset-key-characters", True),
    ("asset key of 256 characters", good(assets={"k" * 256: {"href": "a.tif"}}), "asset-key-length", True),
    ("no stac_version", good(stac_version=DELETE), "stac-version", False),
    ("STAC 0.9", good(stac_version="0.9.0"), "stac-version", False),
    ("no links", good(links=DELETE), "item-without-links", False),
    ("foreign collection", good(collection="someone-else"), "foreign-collection", False),
]


@pytest.mark.parametrize(("what", "item", "rule", "fails"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_problem_gives_its_warning(what, item, rule, fails):
    _, warnings = check_item(item, F, collection_id="ours")
    matching = [w for w in warnings if w.rule == rule]
    assert len(matching) == 1, (what, warnings)
    (w,) = matching
    assert w.fails is fails and w.file == F and w.message
    text = w.text()
    assert F in text and rule in text and ("will fail" in text) is fails
    # Only the problem named: nothing else in the item is wrong.
    assert {x.rule for x in warnings} == {rule}


def test_a_good_item_has_no_warnings_and_gives_its_facts():
    facts, warnings = check_item(good(), F, collection_id="ours")
    assert warnings == []
    assert (facts.item_id, facts.bbox, facts.datetime, facts.asset_hrefs) == (
        "scene-1_(a),b+c.d", [0, 0, 1, 1], "2021-01-01T00:00:00Z", ["./a.tif"])  # fmt: skip


def test_start_and_end_datetime_stand_in_for_datetime():
    props = {"datetime": None, "start_datetime": "2021-01-01T00:00:00Z", "end_datetime": "2021-02-01T00:00:00Z"}
    assert check_item(good(properties=props), F)[1] == []


def test_three_d_box_and_bad_boxes():
    assert check_item(good(bbox=[0, 1, 2, 3, 4, 5]), F)[0].bbox == [0, 1, 3, 4]
    for bad in ([0, 0, 1], [0, 0, "1", 1], [0, 0, float("inf"), 1], [True, 0, 1, 1], "0,0,1,1"):
        assert check_item(good(bbox=bad), F)[0].bbox is None


def test_huge_ids_are_quoted_short():
    (w,) = check_item(good(id="x" * 1_000_000 + " "), F)[1][:1]
    assert len(w.text()) < 400 and "truncated" in w.item_id
