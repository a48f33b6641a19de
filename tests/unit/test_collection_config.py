"""Discovery, precedence and validation of a drop's collection configuration (no storage: a dict of blobs)."""

from __future__ import annotations

import json

import pytest

from ingest_core.collection_config import collection_id_for, find_files, folders_up, load_config
from ingest_core.errors import InvalidDrop
from ingest_core.routing import RoutingRule

BASE = "https://acct.blob.core.windows.net/drops"
RENDER = {"id": "rgb", "name": "RGB", "type": "raster-tile", "options": "assets=image"}


def tree(files: dict[str, object]):
    """(lister, reader) over an in-memory container: path -> JSON body or bytes."""
    blobs = {p: (b if isinstance(b, bytes) else json.dumps(b).encode()) for p, b in files.items()}

    def list_folder(folder: str) -> list[str]:
        names = set()
        for path in blobs:
            if path.startswith(folder):
                rest = path[len(folder) :]
                names.add(rest.split("/", 1)[0] + "/" if "/" in rest else rest)
        return sorted(names)

    def read(url: str) -> bytes | None:
        return blobs.get(url.removeprefix(BASE + "/"))

    return list_folder, read


def test_folders_up_stop_at_the_rule_prefix():
    assert folders_up("a/b/c/catalog.json", "") == ["a/b/c/", "a/b/", "a/", ""]
    assert folders_up("a/b/c/catalog.json", "a/") == ["a/b/c/", "a/b/", "a/"]
    assert folders_up("catalog.json", "") == [""]


@pytest.mark.parametrize(
    "name,kind",
    [
        ("render_config.json", "render_options"),
        ("render_configuration.json", "render_options"),
        ("Render-Options.json", "render_options"),
        ("mosaic_config.json", "mosaics"),
        ("tile_settings_config.json", "tile_settings"),
        ("tile-settings.json", "tile_settings"),
        ("queryables.json", "queryables"),
        ("collection.json", "collection"),
        ("landcover_thumbnail.png", "thumbnail"),
    ],
)
def test_spellings_in_use_are_recognised(name, kind):
    lister, _ = tree({f"x/config/{name}": {}, "x/cat/catalog.json": {}})
    assert find_files(f"{BASE}/x/cat/catalog.json", RoutingRule(container="drops"), lister) == {
        kind: [f"x/config/{name}"]
    }


def test_nearest_folder_wins_per_kind_and_config_folder_before_loose_files():
    lister, _ = tree(
        {
            "x/config/collection.json": {},
            "x/config/render.json": [],
            "x/cat/render_config.json": [],
            "x/cat/config/mosaics.json": [],
            "x/cat/mosaic-loose.json": [],
            "x/cat/catalog.json": {},
        }
    )
    found = find_files(f"{BASE}/x/cat/catalog.json", RoutingRule(container="drops"), lister)
    assert found == {
        "collection": ["x/config/collection.json"],
        "render_options": ["x/cat/render_config.json"],
        "mosaics": ["x/cat/config/mosaics.json"],
    }


def test_nothing_outside_the_rule_prefix_is_read():
    lister, read = tree({"config/render.json": [RENDER], "in/cat/catalog.json": {}})
    cfg = load_config(f"{BASE}/in/cat/catalog.json", RoutingRule(container="drops", prefix="in/"), lister, read)
    assert cfg.empty and cfg.files == {}


def test_collection_id_precedence():
    lister, read = tree({"x/config/collection.json": {"type": "Collection", "id": "shared"}})
    cfg = load_config(f"{BASE}/x/cat/catalog.json", RoutingRule(container="drops"), lister, read)
    assert collection_id_for(RoutingRule(container="drops"), "x/cat/catalog.json", "cat", cfg) == "shared"
    fixed = RoutingRule(container="drops", collection="fixed-{folder}")
    assert collection_id_for(fixed, "x/cat/catalog.json", "cat", cfg) == "fixed-x"
    none = load_config(f"{BASE}/y/catalog.json", RoutingRule(container="drops", prefix="y/"), lister, read)
    assert collection_id_for(RoutingRule(container="drops"), "y/catalog.json", "cat", none) == "cat"


def test_files_of_one_kind_merge_and_a_duplicate_id_is_invalid():
    lister, read = tree({"c/render_a.json": [RENDER], "c/render_b.json": {**RENDER, "id": "two"}})
    cfg = load_config(f"{BASE}/c/catalog.json", RoutingRule(container="drops"), lister, read)
    assert [r["id"] for r in cfg.render_options] == ["rgb", "two"]
    lister, read = tree({"c/render_a.json": [RENDER], "c/render_b.json": [RENDER]})
    with pytest.raises(InvalidDrop) as err:
        load_config(f"{BASE}/c/catalog.json", RoutingRule(container="drops"), lister, read)
    assert "'rgb' is given twice" in err.value.reason and err.value.where == f"{BASE}/c/render_b.json"


@pytest.mark.parametrize(
    "name,body,field",
    [
        ("render.json", [{**RENDER, "type": "heatmap"}], "[0].type"),
        ("render.json", [{**RENDER, "minZoom": 30}], "[0].minZoom"),
        ("render.json", [{**RENDER, "id": "has space"}], "[0].id"),
        ("render.json", [{**RENDER, "opacity": 1}], "[0].opacity"),
        ("mosaic.json", [{"id": "m", "name": "M"}], "[0].cql"),
        ("tile_settings.json", {"minZoom": 3}, "maxItemsPerTile"),
        ("queryables.json", [{"name": "a", "definition": "string"}], "[0].definition"),
    ],
)
def test_malformed_files_name_the_file_and_the_field(name, body, field):
    lister, read = tree({f"c/config/{name}": body})
    with pytest.raises(InvalidDrop) as err:
        load_config(f"{BASE}/c/catalog.json", RoutingRule(container="drops"), lister, read)
    assert err.value.where == f"{BASE}/c/config/{name}"
    assert f"configuration field {field}:" in err.value.reason


def test_not_json_and_two_tile_settings_files_are_invalid():
    lister, read = tree({"c/render.json": b"[{"})
    with pytest.raises(InvalidDrop, match="not valid JSON at line 1"):
        load_config(f"{BASE}/c/catalog.json", RoutingRule(container="drops"), lister, read)
    lister, read = tree({"c/tile_settings.json": {}, "c/tile-settings-2.json": {}})
    with pytest.raises(InvalidDrop, match="more than one tile settings file"):
        load_config(f"{BASE}/c/catalog.json", RoutingRule(container="drops"), lister, read)


def test_queryables_as_a_json_schema_are_accepted():
    schema = {"type": "object", "properties": {"eo:cloud_cover": {"type": "number"}}}
    lister, read = tree({"c/queryables.json": schema})
    cfg = load_config(f"{BASE}/c/catalog.json", RoutingRule(container="drops"), lister, read)
    assert cfg.queryables == [{"name": "eo:cloud_cover", "definition": {"type": "number"}}]


def test_a_loose_collection_json_gives_the_body_but_not_the_id():
    lister, read = tree({"x/cat/collection.json": {"type": "Collection", "id": "upstream"}})
    cfg = load_config(f"{BASE}/x/cat/catalog.json", RoutingRule(container="drops"), lister, read)
    assert cfg.collection == {"type": "Collection", "id": "upstream"} and cfg.collection_id is None
    assert collection_id_for(RoutingRule(container="drops"), "x/cat/catalog.json", "cat", cfg) == "cat"
