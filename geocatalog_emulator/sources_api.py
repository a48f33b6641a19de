"""Ingestion sources (/inma/ingestion-sources): one per container URL, SAS never echoed."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .errors import bad_request, conflict, not_found
from .models import new_id, now_iso, render_source, render_source_summary
from .paging import page
from .routing import Request, Response, Router
from .sas import validate_token

if TYPE_CHECKING:
    from .app import Emulator

KINDS = {"sastoken": "SasToken", "blobmanagedidentity": "BlobManagedIdentity"}
KIND_WORDS = {"SasToken": "SAS token", "BlobManagedIdentity": "managed identity"}


def _member(body: dict[str, Any], name: str) -> Any:
    """A JSON member looked up case-insensitively (the docs post "Kind")."""
    for key, value in body.items():
        if key.lower() == name.lower():
            return value
    return None


def _path_style(host: str) -> bool:
    """Azurite and other emulators put the account in the path: https://127.0.0.1:10000/account/container."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def normalize_container_url(raw: Any) -> str:
    """A container URL without a trailing slash; 400 for an account root, a blob path or a query."""
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request("connectionInfo.containerUrl is required")
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("connectionInfo.containerUrl must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise bad_request("connectionInfo.containerUrl must not carry a query string; send the SAS as sasToken")
    segments = [segment for segment in parts.path.split("/") if segment]
    expected = 2 if _path_style(parts.hostname) else 1
    if len(segments) != expected:
        raise bad_request("connectionInfo.containerUrl must point at a blob container, not an account or a blob")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), "/" + "/".join(segments), "", ""))


class SourcesApi:
    """Handlers for ingestion sources and managed identities."""

    def __init__(self, app: Emulator) -> None:
        self.app = app

    def _parse(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = KINDS.get(str(_member(body, "kind") or "").lower())
        if kind is None:
            raise bad_request("'kind' must be 'SasToken' or 'BlobManagedIdentity'")
        info = _member(body, "connectionInfo")
        if not isinstance(info, dict):
            raise bad_request("'connectionInfo' is required")
        record: dict[str, Any] = {"kind": kind, "containerUrl": normalize_container_url(_member(info, "containerUrl"))}
        if kind == "SasToken":
            token = _member(info, "sasToken")
            record["expiration"] = validate_token(token, self.app.settings.require_sas_start)
            record["sasToken"] = token.strip().lstrip("?")
        else:
            object_id = _member(info, "objectId")
            if not isinstance(object_id, str) or not object_id.strip():
                raise bad_request("connectionInfo.objectId is required for a BlobManagedIdentity ingestion source")
            record["objectId"] = object_id.strip()
        return record

    def _check_unique(self, container_url: str, own_id: str | None) -> None:
        for other in self.app.store.list("source"):
            if other["containerUrl"] == container_url and other["id"] != own_id:
                raise conflict(
                    f"Container url {container_url} already contains a {KIND_WORDS[other['kind']]} "
                    f"ingestion source with id {other['id']}"
                )

    def _existing(self, source_id: str) -> dict[str, Any]:
        found = self.app.store.get("source", source_id)
        if found is None:
            raise not_found(f"Ingestion source '{source_id}' not found")
        return found

    def create(self, request: Request) -> Response:
        """POST → 201 + Location; the server generates the id."""
        record = self._parse(request.json_object())
        with self.app.store.lock:
            self._check_unique(record["containerUrl"], None)
            record.update(id=new_id(), created=now_iso())
            self.app.store.put("source", record["id"], record)
        location = request.url_for(f"/inma/ingestion-sources/{record['id']}")
        return Response(201, render_source(record), {"Location": location})

    def replace(self, request: Request) -> Response:
        """PUT → 200 (e.g. to rotate the SAS); the recorded response omits `created`."""
        source_id = request.params["id"]
        record = self._parse(request.json_object())
        with self.app.store.lock:
            existing = self._existing(source_id)
            self._check_unique(record["containerUrl"], source_id)
            record.update(id=source_id, created=existing["created"])
            self.app.store.put("source", source_id, record)
        return Response(200, render_source(record, include_created=False))

    def get(self, request: Request) -> Response:
        """GET one source (polymorphic on kind)."""
        return Response(200, render_source(self._existing(request.params["id"])))

    def delete(self, request: Request) -> Response:
        """DELETE → 204."""
        source_id = request.params["id"]
        if not self.app.store.delete("source", source_id):
            raise not_found(f"Ingestion source '{source_id}' not found")
        return Response(204)

    def list(self, request: Request) -> Response:
        """GET the summaries, paged with $top/$skip."""
        rows = [render_source_summary(record) for record in self.app.store.list("source")]
        return Response(200, page(request, rows, self.app.settings.page_size))

    def identities(self, request: Request) -> Response:
        """GET the managed identities assigned to the catalog."""
        return Response(200, page(request, list(self.app.settings.managed_identities), self.app.settings.page_size))


def register(router: Router, app: Emulator) -> None:
    """Add the ingestion-source routes (the literal managed-identities path before `{id}`)."""
    api = SourcesApi(app)
    router.add("GET", "/inma/ingestion-sources/managed-identities", api.identities)
    router.add("POST", "/inma/ingestion-sources", api.create)
    router.add("GET", "/inma/ingestion-sources", api.list)
    router.add("GET", "/inma/ingestion-sources/{id}", api.get)
    router.add("PUT", "/inma/ingestion-sources/{id}", api.replace)
    router.add("DELETE", "/inma/ingestion-sources/{id}", api.delete)
