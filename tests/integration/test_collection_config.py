"""Collection configuration from the drop, end to end through Azurite and the emulator; read back with the SDK."""

from __future__ import annotations

import json

import pytest

from geocatalog_emulator.testing import SAMPLE_CATALOG, sdk_client
from ingest_core.errors import TransientError
from ingest_core.states import JobState
from tests.integration.twin_helpers import COLL_POST, ING_POST, admin, calls, drop, runtime_for, upload_catalog

RENDER_PUT = "PUT /stac/collections/{collectionId}/configurations/render-options/{renderOptionId}"
MOSAIC_PUT = "PUT /stac/collections/{collectionId}/configurations/mosaics/{mosaicId}"
TILES_PUT = "PUT /stac/collections/{collectionId}/configurations/tile-settings"
QUERYABLE_PUT = "PUT /stac/collections/{collectionId}/queryables/{queryableName}"
CONFIG_WRITES = (RENDER_PUT, MOSAIC_PUT, TILES_PUT, QUERYABLE_PUT)

RENDERS = [
    {"id": "natural", "name": "Natural colour", "type": "raster-tile", "options": "assets=image&asset_bidx=image|1,2,3",
     "minZoom": 8},
    {"id": "classes", "name": "Classes", "type": "raster-tile", "options": "assets=data&colormap_name=tab10"},
]  # fmt: skip
MOSAICS = [{"id": "recent", "name": "Recent", "cql": [{"op": ">=", "args": [{"property": "datetime"}, "2020-01-01"]}]}]
TILES = {"minZoom": 7, "maxItemsPerTile": 25, "defaultLocation": {"zoom": 9, "coordinates": [47.6, -122.3]}}
QUERYABLES = [{"name": "landcover:class", "definition": {"type": "string", "title": "Class"}, "data_type": "string"}]


def upload_config(container, folder: str = "drops/config", renders=RENDERS) -> None:
    collection = {**json.loads((SAMPLE_CATALOG / "collection.json").read_text()), "id": "shared-landcover"}
    files = {
        "collection.json": collection,
        "render_config.json": renders,
        "mosaic_config.json": MOSAICS,
        "tile_settings_config.json": TILES,
        "queryables.json": QUERYABLES,
    }
    for name, body in files.items():
        container.upload_blob(f"{folder}/{name}", json.dumps(body), overwrite=True)


def config_writes(emulator) -> list[int]:
    return [calls(emulator, route) for route in CONFIG_WRITES]


def test_shared_config_lands_both_catalogs_in_one_collection_read_back_by_the_sdk(twin, emulator):
    container, rt = twin
    upload_config(container)
    job_a = drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    job_b = drop(rt, upload_catalog(container, "drops/cat-b", catalog_id="cat-b"))
    assert job_a.state == job_b.state == JobState.RUNNING, (job_a.last_error, job_b.last_error)
    assert job_a.collection_id == job_b.collection_id == "shared-landcover"
    assert calls(emulator, COLL_POST) == 1
    # The first drop wrote everything once; the second found it all in place.
    assert config_writes(emulator) == [2, 1, 1, 1]
    first, second = json.loads(job_a.config_applied), json.loads(job_b.config_applied)
    assert sorted(first["written"]["render-options"]) == ["classes", "natural"]
    assert second["written"] == {} and second["unchanged"]["render-options"] == 2
    with sdk_client(emulator.url) as sdk:
        assert [dict(r) for r in sdk.stac.get_render_options("shared-landcover")] == RENDERS
        assert [dict(m) for m in sdk.stac.get_mosaics("shared-landcover")] == MOSAICS
        assert dict(sdk.stac.get_tile_settings("shared-landcover")) == TILES
        queryables = sdk.stac.get_collection_queryables("shared-landcover")
        assert queryables["properties"] == {q["name"]: q["definition"] for q in QUERYABLES}
    report = rt.ledger.get(job_a.job_id).public()
    assert json.loads(report["config_applied"])["files"]["render_options"][0].endswith(
        "drops/config/render_config.json"
    )


def test_redrop_writes_no_configuration_and_a_changed_render_option_is_replaced(twin, emulator):
    container, rt = twin
    upload_config(container)
    url = upload_catalog(container, "drops/cat-a", catalog_id="cat-a")
    drop(rt, url)
    before = config_writes(emulator)
    replayed = drop(rt, url, replay="again")  # a replay skips the unchanged-content shortcut: compare must hold
    assert replayed.state == JobState.RUNNING and config_writes(emulator) == before
    changed = [{**RENDERS[0], "options": "assets=image&asset_bidx=image|3,2,1"}, RENDERS[1]]
    upload_config(container, renders=changed)
    url = upload_catalog(container, "drops/cat-a", catalog_id="cat-a")  # same bytes, new upload (new ETag)
    job = drop(rt, url)  # the digest covers the config files: not "unchanged"
    assert job.state == JobState.RUNNING, job.last_error
    assert config_writes(emulator) == [before[0] + 1, *before[1:]]
    assert json.loads(job.config_applied)["written"] == {"render-options": ["natural"]}
    with sdk_client(emulator.url) as sdk:
        assert sdk.stac.get_render_option("shared-landcover", "natural").options.endswith("3,2,1")


def test_malformed_render_file_is_invalid_naming_file_and_field_before_any_call(twin, emulator):
    container, rt = twin
    upload_config(container, renders=[{**RENDERS[0], "minZoom": "eight"}])
    job = drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    assert job.state == JobState.INVALID
    assert job.error_where.endswith("drops/config/render_config.json")
    assert "[0].minZoom" in job.last_error and "integer" in job.last_error
    assert calls(emulator, COLL_POST) == calls(emulator, ING_POST) == 0 and config_writes(emulator) == [0, 0, 0, 0]
    assert admin(emulator, "state")["collections"] == []


def test_config_in_the_catalog_folder_wins_over_the_shared_one(twin, emulator):
    container, rt = twin
    upload_config(container)
    own = [{"id": "own", "name": "Own", "type": "raster-tile", "options": "assets=data"}]
    container.upload_blob("drops/cat-a/render-options.json", json.dumps(own))
    job = drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    assert job.collection_id == "shared-landcover"  # collection.json still comes from the shared config/
    with sdk_client(emulator.url) as sdk:
        assert [r.id for r in sdk.stac.get_render_options("shared-landcover")] == ["own"]


def test_identical_reupload_is_unchanged_and_writes_nothing(twin, emulator):
    container, rt = twin
    upload_config(container)
    drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    before = config_writes(emulator)
    again = drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    assert again.state == JobState.IGNORED and "unchanged" in again.last_error
    assert config_writes(emulator) == before


def test_thumbnail_beside_the_config_becomes_the_collection_thumbnail_once(twin, emulator):
    container, rt = twin
    upload_config(container)
    png = (SAMPLE_CATALOG / "region-a" / "landcover-a-1" / "landcover-a-1.png").read_bytes()
    container.upload_blob("drops/config/thumbnail.png", png)
    job = drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    assert json.loads(job.config_applied)["written"]["thumbnail"] == ["thumbnail"]
    with sdk_client(emulator.url) as sdk:
        assert b"".join(sdk.stac.get_collection_thumbnail("shared-landcover")) == png
        assert sdk.stac.get_collection("shared-landcover").assets["thumbnail"].roles == ["thumbnail"]
    second = drop(rt, upload_catalog(container, "drops/cat-b", catalog_id="cat-b"))
    assert json.loads(second.config_applied)["unchanged"]["thumbnail"] == 1
    assert calls(emulator, "PUT /stac/collections/{collectionId}/assets/{assetId}") == 0
    assert calls(emulator, "POST /stac/collections/{collectionId}/assets") == 1


def test_others_configuration_survives_unless_the_rule_says_replace(twin, azurite, emulator):
    container, rt = twin
    upload_config(container)
    drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    with sdk_client(emulator.url) as sdk:
        sdk.stac.create_render_option("shared-landcover", {"id": "by-hand", "name": "Made by hand"})
    drop(rt, upload_catalog(container, "drops/cat-b", catalog_id="cat-b"))
    with sdk_client(emulator.url) as sdk:
        assert "by-hand" in {r.id for r in sdk.stac.get_render_options("shared-landcover")}
    rule = {"container": container.container_name, "configMode": "replace"}
    replacing = runtime_for(azurite, emulator, container, routing_rules=[rule])
    job = drop(replacing, upload_catalog(container, "drops/cat-c", catalog_id="cat-c"))
    assert json.loads(job.config_applied)["deleted"] == {"render-options": ["by-hand"]}
    with sdk_client(emulator.url) as sdk:
        assert [r.id for r in sdk.stac.get_render_options("shared-landcover")] == ["natural", "classes"]


def test_a_configuration_the_service_refuses_is_invalid_naming_the_file(twin, emulator):
    container, rt = twin
    upload_config(container)
    admin(emulator, "faults", "POST", {"route": MOSAIC_PUT, "status": 400, "count": 1})
    job = drop(rt, upload_catalog(container, "drops/cat-a", catalog_id="cat-a"))
    assert job.state == JobState.INVALID and "rejected the mosaics" in job.last_error
    assert job.error_where.endswith("drops/config/mosaic_config.json")


def test_a_transient_fault_mid_apply_resumes_without_rewriting_what_was_done(twin, emulator):
    container, rt = twin
    upload_config(container)
    admin(emulator, "faults", "POST", {"route": TILES_PUT, "status": 503, "count": 99})
    url = upload_catalog(container, "drops/cat-a", catalog_id="cat-a")
    with pytest.raises(TransientError):
        drop(rt, url)
    admin(emulator, "faults", "DELETE")
    job = drop(rt, url)  # the platform's retry of the same delivery
    assert job.state == JobState.RUNNING, job.last_error
    assert [calls(emulator, r) for r in (RENDER_PUT, MOSAIC_PUT)] == [2, 1]  # not written twice
    assert json.loads(job.config_applied)["written"] == {
        "tile-settings": ["tile-settings"],
        "queryables": ["landcover:class"],
    }
