"""The GeoCatalog client's collection-configuration calls (render options, mosaics, tile settings, queryables,
collection assets), kept apart from the ingestion calls in geocatalog.py; one client, two files."""

from __future__ import annotations

import json as json_module
import uuid
from typing import Any
from urllib.parse import quote

from ingest_core.errors import ServiceError


class ConfigurationCalls:
    """Mixed into GeoCatalogClient: needs its `request`."""

    request: Any

    # -- collection configuration (render options, mosaics, tile settings, queryables, assets) ---
    def list_config(self, collection_id: str, kind: str) -> list[dict[str, Any]]:
        """GET .../configurations/{kind} (render-options or mosaics): a plain JSON array."""
        return self.request(
            "GET",
            f"/stac/collections/{collection_id}/configurations/{kind}",
            route=f"GET /stac/collections/{{collectionId}}/configurations/{kind}",
        ).json()

    def put_config(self, collection_id: str, kind: str, entry_id: str, body: dict[str, Any]) -> None:
        """PUT .../configurations/{kind}/{id}: create or replace one render option or mosaic by id."""
        self.request(
            "PUT",
            f"/stac/collections/{collection_id}/configurations/{kind}/{quote(entry_id, safe='')}",
            route=f"PUT /stac/collections/{{collectionId}}/configurations/{kind}/{{id}}",
            expected=(200, 201),
            json=body,
        )

    def delete_config(self, collection_id: str, kind: str, entry_id: str) -> None:
        """DELETE one render option or mosaic (already gone is fine)."""
        self._delete(
            f"/stac/collections/{collection_id}/configurations/{kind}/{quote(entry_id, safe='')}",
            f"DELETE /stac/collections/{{collectionId}}/configurations/{kind}/{{id}}",
        )

    def get_tile_settings(self, collection_id: str) -> dict[str, Any]:
        """GET .../configurations/tile-settings."""
        route = "GET /stac/collections/{collectionId}/configurations/tile-settings"
        return self.request(
            "GET", f"/stac/collections/{collection_id}/configurations/tile-settings", route=route
        ).json()

    def put_tile_settings(self, collection_id: str, body: dict[str, Any]) -> None:
        """PUT .../configurations/tile-settings."""
        self.request(
            "PUT",
            f"/stac/collections/{collection_id}/configurations/tile-settings",
            route="PUT /stac/collections/{collectionId}/configurations/tile-settings",
            json=body,
        )

    def get_queryables(self, collection_id: str) -> dict[str, Any]:
        """The collection's queryable definitions by name (the `properties` of its queryables schema)."""
        body = self.request(
            "GET",
            f"/stac/collections/{collection_id}/queryables",
            route="GET /stac/collections/{collectionId}/queryables",
        ).json()
        return body.get("properties") or {}

    def put_queryable(self, collection_id: str, body: dict[str, Any]) -> None:
        """PUT .../queryables/{name}: create or replace one queryable."""
        self.request(
            "PUT",
            f"/stac/collections/{collection_id}/queryables/{quote(body['name'], safe='')}",
            route="PUT /stac/collections/{collectionId}/queryables/{queryableName}",
            expected=(200, 201),
            json=body,
        )

    def delete_queryable(self, collection_id: str, name: str) -> None:
        """DELETE one queryable (already gone is fine)."""
        self._delete(
            f"/stac/collections/{collection_id}/queryables/{quote(name, safe='')}",
            "DELETE /stac/collections/{collectionId}/queryables/{queryableName}",
        )

    def get_thumbnail(self, collection_id: str) -> bytes | None:
        """The collection thumbnail's bytes, or None when it has none."""
        try:
            return self.request(
                "GET",
                f"/stac/collections/{collection_id}/thumbnail",
                route="GET /stac/collections/{collectionId}/thumbnail",
            ).content
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def put_collection_asset(
        self, collection_id: str, metadata: dict[str, Any], filename: str, content: bytes, replace: bool
    ) -> None:
        """Multipart `data` (asset JSON) + `file`: POST .../assets, or PUT .../assets/{key} to replace."""
        body, content_type = _multipart({"data": (None, json_module.dumps(metadata).encode(), "application/json"),
                                         "file": (filename, content, metadata.get("type", "application/octet-stream"))})  # fmt: skip
        key = quote(metadata["key"], safe="")
        path = f"/stac/collections/{collection_id}/assets" + (f"/{key}" if replace else "")
        route = "/stac/collections/{collectionId}/assets" + ("/{assetId}" if replace else "")
        self.request(
            "PUT" if replace else "POST",
            path,
            route=("PUT " if replace else "POST ") + route,
            expected=(200, 201),
            content=body,
            content_type=content_type,
        )

    def _delete(self, path: str, route: str) -> None:
        try:
            self.request("DELETE", path, route=route, expected=(200, 204))
        except ServiceError as exc:
            if exc.status != 404:
                raise


def _multipart(fields: dict[str, tuple[str | None, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = uuid.uuid4().hex
    out = b""
    for name, (filename, data, media) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {media}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
