"""The emulator's own blob container: where ingested assets are copied, like the managed storage."""

from __future__ import annotations

import mimetypes
import posixpath
import threading
from urllib.parse import quote, unquote, urlsplit

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

# Azurite 3.35+ and Azure both accept this version; the SDK default is newer than Azurite knows.
BLOB_API_VERSION = "2025-11-05"


def parse_connection_string(text: str) -> dict[str, str]:
    """`Key=Value;...` into a dict (values may contain `=`)."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


def blob_endpoint(conn: dict[str, str]) -> str:
    """The blob service URL of a parsed connection string, without a trailing slash."""
    if conn.get("BlobEndpoint"):
        return conn["BlobEndpoint"].rstrip("/")
    protocol = conn.get("DefaultEndpointsProtocol", "https")
    suffix = conn.get("EndpointSuffix", "core.windows.net")
    return f"{protocol}://{conn['AccountName']}.blob.{suffix}"


class AssetStore:
    """Uploads asset bytes into `container` and returns their new hrefs."""

    def __init__(self, connection_string: str, container: str, ca_bundle: str | None = None) -> None:
        self.conn = parse_connection_string(connection_string)
        self.container = container
        self.endpoint = blob_endpoint(self.conn)
        kwargs = {"connection_verify": ca_bundle} if ca_bundle else {}
        self._service = BlobServiceClient.from_connection_string(
            connection_string, api_version=BLOB_API_VERSION, **kwargs
        )
        self._ready = False
        self._lock = threading.Lock()

    @property
    def account_name(self) -> str:
        """The storage account name."""
        return self.conn.get("AccountName", "")

    @property
    def account_key(self) -> str:
        """The account key (used only to act as the catalog's managed identity on this account)."""
        return self.conn.get("AccountKey", "")

    def container_url(self) -> str:
        """The URL of the asset container."""
        return f"{self.endpoint}/{self.container}"

    def _ensure_container(self) -> None:
        with self._lock:
            if self._ready:
                return
            try:
                self._service.create_container(self.container)
            except ResourceExistsError:
                pass
            self._ready = True

    def upload(self, blob_path: str, data: bytes, content_type: str | None) -> str:
        """Store the bytes at `blob_path`; return the blob's URL."""
        self._ensure_container()
        guessed = content_type or mimetypes.guess_type(blob_path)[0] or "application/octet-stream"
        client = self._service.get_blob_client(self.container, blob_path)
        client.upload_blob(data, overwrite=True, content_settings=ContentSettings(content_type=guessed))
        return f"{self.container_url()}/{quote(blob_path)}"


def asset_blob_path(collection_id: str, item_id: str, asset_key: str, source_url: str) -> str:
    """`{collection}/{item}/{asset key}/{file name}`: unique per asset, readable in a listing."""
    name = posixpath.basename(unquote(urlsplit(source_url).path)) or asset_key
    return f"{collection_id}/{item_id}/{asset_key}/{name}"
