"""The bundled demo catalog: generated reproducibly, valid STAC, real (tiny) GeoTIFF and PNG assets."""

from __future__ import annotations

import importlib.util
import json
import struct
import zlib
from pathlib import Path

import pystac

from geocatalog_emulator.testing import SAMPLE_CATALOG

ROOT = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("make_sample_assets", ROOT / "scripts" / "make_sample_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_committed_files(tmp_path):
    load_generator().main(tmp_path)
    generated = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(SAMPLE_CATALOG): p.read_bytes() for p in SAMPLE_CATALOG.rglob("*") if p.is_file()}
    assert generated == committed
    assert sum(len(data) for data in committed.values()) < 200_000


def test_catalog_is_nested_stac_with_six_items_and_relative_hrefs():
    catalog = pystac.Catalog.from_file(str(SAMPLE_CATALOG / "catalog.json"))
    assert catalog.id == "demo-landcover" and len(list(catalog.get_children())) == 2
    items = list(catalog.get_items(recursive=True))
    assert len(items) == 6
    for item in items:
        assert item.geometry and item.bbox and item.datetime
        raw = json.loads(Path(item.get_self_href()).read_text())
        assert raw["stac_version"] == "1.0.0" and raw["collection"] == "demo-landcover"
        assert {link.rel for link in item.links} >= {"root", "parent", "collection"}
        for asset in item.assets.values():
            assert Path(asset.get_absolute_href()).is_file()
    collection = pystac.Collection.from_file(str(SAMPLE_CATALOG / "collection.json"))
    assert collection.id == "demo-landcover" and collection.license == "CC-BY-4.0"
    assert collection.extent.spatial.bboxes[0] == [10.0, 50.0, 11.3, 51.1]


def tiff_tags(data: bytes) -> dict[int, tuple[int, int, bytes]]:
    """tag -> (type, count, 4-byte value field) from a little-endian TIFF's first IFD."""
    assert data[:4] == b"II*\x00"
    (offset,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, offset)
    tags = {}
    for n in range(count):
        tag, kind, number = struct.unpack_from("<HHI", data, offset + 2 + 12 * n)
        tags[tag] = (kind, number, data[offset + 2 + 12 * n + 8 : offset + 2 + 12 * n + 12])
    return tags


def test_assets_are_real_geotiffs_and_pngs():
    tiffs = sorted(SAMPLE_CATALOG.rglob("*.tif"))
    assert len(tiffs) == 6
    for path in tiffs:
        data = path.read_bytes()
        tags = tiff_tags(data)
        assert {256, 257, 258, 273, 279, 33550, 33922, 34735} <= set(tags)
        width, height = (struct.unpack("<H", tags[t][2][:2])[0] for t in (256, 257))
        strip, size = (struct.unpack("<I", tags[t][2])[0] for t in (273, 279))
        assert (width, height) == (16, 16) and size == 256 and strip + size == len(data)
        keys_at = struct.unpack("<I", tags[34735][2])[0]
        assert struct.unpack_from("<16H", data, keys_at)[-1] == 4326  # EPSG:4326
        (west, north) = struct.unpack_from("<6d", data, struct.unpack("<I", tags[33922][2])[0])[3:5]
        item = pystac.Item.from_file(str(path.with_suffix(".json")))
        assert (west, north) == (item.bbox[0], item.bbox[3])
    for path in sorted(SAMPLE_CATALOG.rglob("*.png")):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        length, kind = struct.unpack_from(">I4s", data, 8)
        chunk = data[12 : 16 + length]
        assert kind == b"IHDR" and struct.unpack(">II", chunk[4:12]) == (16, 16)
        assert struct.unpack_from(">I", data, 16 + length)[0] == zlib.crc32(chunk)
