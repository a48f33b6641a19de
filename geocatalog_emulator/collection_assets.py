"""Collection assets (multipart `data` + `file`) and the collection thumbnail read back from them."""

from __future__ import annotations

import base64
import json
import mimetypes
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from .errors import bad_request, not_found
from .routing import Request, Response, Router
from .stac_api import collection_not_found, render_collection, stac_response

if TYPE_CHECKING:
    from .app import Emulator

MAX_ASSET_BYTES = 10 * 1024 * 1024  # the emulator keeps bytes in its database: enough for thumbnails


def parse_multipart(request: Request) -> dict[str, tuple[bytes, str | None, str | None]]:
    """Form fields of a multipart/form-data body: name -> (bytes, filename, content type)."""
    content_type = request.header("content-type") or ""
    if not content_type.lower().startswith("multipart/form-data"):
        raise bad_request("The body must be multipart/form-data with parts 'data' and 'file'", "InvalidRequestContent")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
    )
    fields: dict[str, tuple[bytes, str | None, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = (payload, part.get_filename(), part.get_content_type())
    return fields


def asset_metadata(raw: bytes) -> dict[str, Any]:
    """The `data` part: {key, type, roles, title, description}."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad_request("The 'data' part must be JSON asset metadata", "InvalidRequestContent") from None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str) or not data["key"]:
        raise bad_request("The 'data' part needs a non-empty 'key'")
    return data


class CollectionAssetsApi:
    """POST/PUT/DELETE collection assets; GET the thumbnail's bytes."""

    def __init__(self, app: Emulator) -> None:
        self.app = app

    def _write(self, request: Request, key_from_path: str | None) -> Response:
        collection_id = request.params["collectionId"]
        if self.app.store.get("collection", collection_id) is None:
            raise collection_not_found(collection_id)
        fields = parse_multipart(request)
        if "data" not in fields or "file" not in fields:
            raise bad_request("The multipart body needs the parts 'data' and 'file'")
        meta = asset_metadata(fields["data"][0])
        key = key_from_path or meta["key"]
        content, filename, part_type = fields["file"]
        if len(content) > MAX_ASSET_BYTES:
            raise bad_request(f"The emulator keeps collection assets up to {MAX_ASSET_BYTES} bytes")
        media = meta.get("type") or part_type or mimetypes.guess_type(filename or "")[0] or "application/octet-stream"
        blob_path = f"{collection_id}/collection-assets/{key}/{filename or key}"
        href = (
            self.app.assets.upload(blob_path, content, media)
            if self.app.assets
            else f"{request.base_url}/stac/collections/{collection_id}/{key}"
        )
        asset = {"href": href, "type": media, **{k: meta[k] for k in ("roles", "title", "description") if k in meta}}
        self.app.store.put(
            "collection-asset", f"{collection_id}/{key}", {"b64": base64.b64encode(content).decode(), "type": media},
            scope=collection_id,
        )  # fmt: skip

        def add(body: dict[str, Any]) -> None:
            body.setdefault("assets", {})[key] = asset

        updated = self.app.store.update("collection", collection_id, add)
        if updated is None:
            raise collection_not_found(collection_id)
        return stac_response(render_collection(request, updated), 201 if key_from_path is None else 200)

    def create(self, request: Request) -> Response:
        """POST /stac/collections/{cid}/assets → 201 with the collection."""
        return self._write(request, None)

    def replace(self, request: Request) -> Response:
        """PUT /stac/collections/{cid}/assets/{assetId} → 200 with the collection."""
        return self._write(request, request.params["assetId"])

    def delete(self, request: Request) -> Response:
        """DELETE /stac/collections/{cid}/assets/{assetId} → 200 with the collection."""
        collection_id, key = request.params["collectionId"], request.params["assetId"]
        if not self.app.store.delete("collection-asset", f"{collection_id}/{key}"):
            raise not_found(f"Asset '{key}' not found in collection '{collection_id}'")
        updated = self.app.store.update("collection", collection_id, lambda b: (b.get("assets") or {}).pop(key, None))
        return stac_response(render_collection(request, updated or {"id": collection_id}))

    def thumbnail(self, request: Request) -> Response:
        """GET /stac/collections/{cid}/thumbnail: the bytes of the `thumbnail` asset."""
        collection_id = request.params["collectionId"]
        if self.app.store.get("collection", collection_id) is None:
            raise collection_not_found(collection_id)
        found = self.app.store.get("collection-asset", f"{collection_id}/thumbnail")
        if found is None:
            raise not_found(f"Collection '{collection_id}' has no thumbnail asset")
        return Response(200, base64.b64decode(found["b64"]), content_type=found["type"])


def register(router: Router, app: Emulator) -> None:
    """Add the collection-asset routes."""
    api = CollectionAssetsApi(app)
    router.add("POST", "/stac/collections/{collectionId}/assets", api.create)
    router.add("PUT", "/stac/collections/{collectionId}/assets/{assetId}", api.replace)
    router.add("DELETE", "/stac/collections/{collectionId}/assets/{assetId}", api.delete)
    router.add("GET", "/stac/collections/{collectionId}/thumbnail", api.thumbnail)
