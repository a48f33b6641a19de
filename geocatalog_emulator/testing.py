"""Helpers for tests and demos that drive the emulator; the emulator itself never imports this."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from .assets import BLOB_API_VERSION, blob_endpoint, parse_connection_string
from .config import DEFAULT_API_VERSION

SAMPLE_CATALOG = Path(__file__).resolve().parent.parent / "samples" / "demo-catalog"
T = TypeVar("T")


def upload_directory(connection_string: str, container: str, directory: Path, prefix: str = "") -> str:
    """Upload every file under `directory` (keeping relative paths) and return the container URL."""
    service = BlobServiceClient.from_connection_string(connection_string, api_version=BLOB_API_VERSION)
    client = service.get_container_client(container)
    try:
        client.create_container()
    except ResourceExistsError:
        pass
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = "/".join(filter(None, [prefix.strip("/"), path.relative_to(directory).as_posix()]))
        client.upload_blob(name, path.read_bytes(), overwrite=True)
    return f"{blob_endpoint(parse_connection_string(connection_string))}/{container}"


def container_sas(
    connection_string: str,
    container: str,
    permission: str = "rl",
    start: timedelta = timedelta(minutes=-5),
    expiry: timedelta = timedelta(hours=1),
) -> str:
    """A container SAS signed with the account key, times relative to now (negative expiry = expired)."""
    conn = parse_connection_string(connection_string)
    now = datetime.now(UTC).replace(microsecond=0)
    return generate_container_sas(
        conn["AccountName"],
        container,
        account_key=conn["AccountKey"],
        permission=ContainerSasPermissions.from_string(permission),
        start=now + start,
        expiry=now + expiry,
    )


def sdk_client(url: str, token: str = "test-token", **kwargs: Any) -> Any:
    """The official SDK client against http://…: a static bearer policy (contract §4.1), no LRO sleeps."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy
    from azure.planetarycomputer import PlanetaryComputerProClient

    class StaticBearer(SansIOHTTPPolicy):
        def on_request(self, request: Any) -> None:
            request.http_request.headers["Authorization"] = f"Bearer {token}"

    return PlanetaryComputerProClient(
        url, credential=object(), authentication_policy=StaticBearer(), polling_interval=0, **kwargs
    )


def auth_headers(token: str = "test-token") -> dict[str, str]:
    """Headers for raw HTTP calls to the emulator."""
    return {"Authorization": f"Bearer {token}"}


def api_params(**extra: Any) -> dict[str, Any]:
    """Query parameters carrying the default api-version."""
    return {"api-version": DEFAULT_API_VERSION, **extra}


def wait_for(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.02, what: str = "") -> T:
    """Poll `probe` until it returns something truthy; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or probe}")
        time.sleep(interval)
