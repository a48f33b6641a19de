"""Generate samples/demo-catalog: a nested static STAC catalog with tiny real GeoTIFF and PNG assets.

Stdlib only (struct + zlib), deterministic output: re-running rewrites identical files.
Usage: python scripts/make_sample_assets.py [output-dir]
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = 16  # pixels per side
CELL = 0.1  # degrees per item footprint side
COLLECTION_ID = "demo-landcover"
# Land-cover classes and the thumbnail colour of each.
PALETTE = {1: (34, 139, 34), 2: (65, 105, 225), 3: (210, 180, 140), 4: (128, 128, 128), 5: (255, 215, 0)}
REGIONS = {
    "region-a": {"title": "Region A", "origin": (10.0, 50.0), "date": "2023-06-0{n}T10:00:00Z"},
    "region-b": {"title": "Region B", "origin": (11.0, 51.0), "date": "2024-06-0{n}T10:00:00Z"},
}
ITEMS_PER_REGION = 3


def classes(seed: int) -> bytes:
    """A 16x16 class raster: diagonal bands that differ per item."""
    return bytes(1 + (x + y + seed) // 4 % len(PALETTE) for y in range(SIZE) for x in range(SIZE))


def geotiff(pixels: bytes, west: float, north: float) -> bytes:
    """A minimal little-endian GeoTIFF: one uncompressed uint8 strip, EPSG:4326, pixel-is-area."""
    scale = struct.pack("<3d", CELL / SIZE, CELL / SIZE, 0.0)
    tiepoint = struct.pack("<6d", 0.0, 0.0, 0.0, west, north, 0.0)
    # GeoKeyDirectory: version 1.1.0, 3 keys: model=geographic, raster=pixel-is-area, GCS=WGS 84.
    geokeys = struct.pack("<16H", 1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326)
    entries = 14
    data_start = 8 + 2 + entries * 12 + 4
    scale_at, tie_at = data_start, data_start + len(scale)
    keys_at = tie_at + len(tiepoint)
    pixels_at = keys_at + len(geokeys)
    short, long_, double = 3, 4, 12
    tags = [  # (tag, type, count, value or offset); must be sorted by tag
        (256, short, 1, SIZE),
        (257, short, 1, SIZE),
        (258, short, 1, 8),
        (259, short, 1, 1),
        (262, short, 1, 1),
        (273, long_, 1, pixels_at),
        (277, short, 1, 1),
        (278, short, 1, SIZE),
        (279, long_, 1, len(pixels)),
        (284, short, 1, 1),
        (339, short, 1, 1),
        (33550, double, 3, scale_at),
        (33922, double, 6, tie_at),
        (34735, short, 16, keys_at),
    ]
    assert len(tags) == entries
    ifd = struct.pack("<H", entries)
    for tag, kind, count, value in tags:
        inline = struct.pack("<HH", value, 0) if kind == short and count == 1 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + inline
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + scale + tiepoint + geokeys + pixels


def png(pixels: bytes) -> bytes:
    """An RGB PNG thumbnail of the class raster."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes(PALETTE[v]) for v in pixels[y * SIZE : (y + 1) * SIZE]) for y in range(SIZE)
    )
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def write_json(path: Path, body: dict) -> None:
    """Pretty JSON with a trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")


def item(item_id: str, west: float, south: float, when: str, title: str) -> dict:
    """A STAC 1.0.0 item whose assets sit beside it (relative hrefs)."""
    east, north = round(west + CELL, 6), round(south + CELL, 6)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": COLLECTION_ID,
        "bbox": [west, south, east, north],
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
        "properties": {"datetime": when, "title": title},
        "links": [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            {"rel": "collection", "href": "../../collection.json", "type": "application/json"},
        ],
        "assets": {
            "data": {
                "href": f"./{item_id}.tif",
                "type": "image/tiff; application=geotiff",
                "title": "Land-cover classes (uint8)",
                "roles": ["data"],
            },
            "thumbnail": {
                "href": f"./{item_id}.png",
                "type": "image/png",
                "title": "Thumbnail",
                "roles": ["thumbnail"],
            },
        },
    }


def main(out: Path) -> None:
    """Write the whole catalog under `out`."""
    root_links = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
    bounds = []
    for region, spec in REGIONS.items():
        region_links = [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
        ]
        for n in range(1, ITEMS_PER_REGION + 1):
            item_id = f"landcover-{region[-1]}-{n}"
            west, south = round(spec["origin"][0] + (n - 1) * CELL, 6), spec["origin"][1]
            pixels = classes(n + ord(region[-1]))
            folder = out / region / item_id
            write_json(folder / f"{item_id}.json", item(item_id, west, south, spec["date"].format(n=n), item_id))
            (folder / f"{item_id}.tif").write_bytes(geotiff(pixels, west, round(south + CELL, 6)))
            (folder / f"{item_id}.png").write_bytes(png(pixels))
            region_links.append({"rel": "item", "href": f"./{item_id}/{item_id}.json", "type": "application/json"})
            bounds.append((west, south, round(west + CELL, 6), round(south + CELL, 6)))
        write_json(
            out / region / "catalog.json",
            {
                "type": "Catalog",
                "stac_version": "1.0.0",
                "id": f"{COLLECTION_ID}-{region}",
                "title": spec["title"],
                "description": f"Land-cover tiles of {spec['title']}",
                "links": region_links,
            },
        )
        root_links.append({"rel": "child", "href": f"./{region}/catalog.json", "type": "application/json"})
    write_json(
        out / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": COLLECTION_ID,
            "title": "Demo land cover",
            "description": "A tiny nested demo catalog: two regions, three land-cover tiles each.",
            "links": root_links,
        },
    )
    write_json(
        out / "collection.json",
        {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": COLLECTION_ID,
            "title": "Demo land cover",
            "description": "Synthetic 16x16 land-cover tiles (uint8 classes 1-5) over two small regions.",
            "license": "CC-BY-4.0",
            "keywords": ["land cover", "demo"],
            "extent": {
                "spatial": {
                    "bbox": [
                        [
                            min(b[0] for b in bounds),
                            min(b[1] for b in bounds),
                            max(b[2] for b in bounds),
                            max(b[3] for b in bounds),
                        ]
                    ]
                },
                "temporal": {"interval": [["2023-06-01T00:00:00Z", "2024-06-30T23:59:59Z"]]},
            },
            "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}],
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "samples" / "demo-catalog")
