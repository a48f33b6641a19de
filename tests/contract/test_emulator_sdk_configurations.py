"""Contract: collection configuration (render options, mosaics, tile settings, queryables, thumbnail) via the SDK."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.planetarycomputer import models as m

RENDER = {
    "id": "natural-color",
    "name": "Natural color",
    "description": "RGB",
    "type": "raster-tile",
    "options": "assets=image&asset_bidx=image|1,2,3",
    "minZoom": 8,
}
MOSAIC = {
    "id": "recent",
    "name": "Most recent",
    "cql": [{"op": ">=", "args": [{"property": "datetime"}, "2020-01-01"]}],
}
TILES = {"minZoom": 9, "maxItemsPerTile": 20, "defaultLocation": {"zoom": 11, "coordinates": [47.6, -122.3]}}
QUERYABLE = {"name": "platform", "definition": {"type": "string", "title": "Platform"}, "create_index": True,
             "data_type": "string"}  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_render_options_create_list_get_replace_delete(client, collection_id):
    created = client.stac.create_render_option(collection_id, RENDER)
    assert isinstance(created, m.RenderOption) and dict(created) == RENDER
    assert [dict(r) for r in client.stac.get_render_options(collection_id)] == [RENDER]
    changed = {**RENDER, "options": "assets=image&asset_bidx=image|3,2,1"}
    assert dict(client.stac.replace_render_option(collection_id, RENDER["id"], changed)) == changed
    assert dict(client.stac.get_render_option(collection_id, RENDER["id"])) == changed
    with pytest.raises(ResourceExistsError):
        client.stac.create_render_option(collection_id, RENDER)
    client.stac.delete_render_option(collection_id, RENDER["id"])
    with pytest.raises(ResourceNotFoundError):
        client.stac.get_render_option(collection_id, RENDER["id"])
    assert client.stac.get_render_options(collection_id) == []


def test_replace_creates_a_missing_render_option_and_rejects_a_mismatched_id(client, collection_id):
    assert client.stac.replace_render_option(collection_id, "other", {**RENDER, "id": "other"}).id == "other"
    with pytest.raises(HttpResponseError) as err:
        client.stac.replace_render_option(collection_id, "third", RENDER)
    assert err.value.status_code == 400 and "differs" in err.value.message


def test_bad_render_option_is_a_400_naming_the_field(client, collection_id):
    with pytest.raises(HttpResponseError) as err:
        client.stac.create_render_option(collection_id, {**RENDER, "type": "heatmap"})
    assert err.value.status_code == 400 and "'type'" in err.value.message
    assert client.stac.get_render_options(collection_id) == []


def test_mosaics_create_get_replace_delete(client, collection_id):
    assert dict(client.stac.add_mosaic(collection_id, MOSAIC)) == MOSAIC
    assert [dict(x) for x in client.stac.get_mosaics(collection_id)] == [MOSAIC]
    renamed = {**MOSAIC, "name": "Latest"}
    assert client.stac.replace_mosaic(collection_id, MOSAIC["id"], renamed).name == "Latest"
    assert dict(client.stac.get_mosaic(collection_id, MOSAIC["id"])) == renamed
    client.stac.delete_mosaic(collection_id, MOSAIC["id"])
    with pytest.raises(ResourceNotFoundError):
        client.stac.get_mosaic(collection_id, MOSAIC["id"])


def test_tile_settings_default_then_replaced(client, collection_id):
    default = client.stac.get_tile_settings(collection_id)
    assert isinstance(default, m.TileSettings) and default.min_zoom >= 0
    assert dict(client.stac.replace_tile_settings(collection_id, TILES)) == TILES
    read = client.stac.get_tile_settings(collection_id)
    assert read.min_zoom == 9 and read.max_items_per_tile == 20 and read.default_location.zoom == 11


def test_queryables_create_replace_delete_and_schema(client, collection_id):
    created = client.stac.create_queryables(collection_id, [QUERYABLE])
    assert [dict(q) for q in created] == [QUERYABLE]
    with pytest.raises(ResourceExistsError):
        client.stac.create_queryables(collection_id, [QUERYABLE])
    schema = client.stac.get_collection_queryables(collection_id)
    assert schema["properties"]["platform"] == QUERYABLE["definition"]
    wider = {**QUERYABLE, "definition": {"type": "string", "enum": ["a", "b"]}}
    assert client.stac.replace_queryable(collection_id, "platform", wider).definition["enum"] == ["a", "b"]
    assert client.stac.get_collection_queryables(collection_id)["properties"]["platform"]["enum"] == ["a", "b"]
    client.stac.delete_queryable(collection_id, "platform")
    assert "platform" not in client.stac.get_collection_queryables(collection_id)["properties"]


def test_configuration_summary_holds_everything(client, collection_id):
    client.stac.create_render_option(collection_id, RENDER)
    client.stac.add_mosaic(collection_id, MOSAIC)
    client.stac.replace_tile_settings(collection_id, TILES)
    config = client.stac.get_collection_configuration(collection_id)
    assert isinstance(config, m.UserCollectionSettings)
    assert config.tile_settings.max_items_per_tile == 20
    assert [r.id for r in config.mosaic_configuration.render_options] == [RENDER["id"]]
    assert [x.id for x in config.mosaic_configuration.mosaics] == [MOSAIC["id"]]


def test_thumbnail_as_a_collection_asset(client, collection_id):
    data = m.AssetMetadata(key="thumbnail", type="image/png", roles=["thumbnail"], title="Thumbnail")
    collection = client.stac.create_collection_asset(
        collection_id, m.StacAssetData(data=data, file=("thumbnail.png", PNG, "image/png"))
    )
    assert collection.assets["thumbnail"].roles == ["thumbnail"]
    assert b"".join(client.stac.get_collection_thumbnail(collection_id)) == PNG
    assert client.stac.get_collection(collection_id).assets["thumbnail"].type == "image/png"


def test_configuration_of_a_missing_collection_is_a_404(client, unique):
    with pytest.raises(ResourceNotFoundError):
        client.stac.get_render_options(f"missing-{unique}")
    with pytest.raises(ResourceNotFoundError):
        client.stac.replace_tile_settings(f"missing-{unique}", TILES)
