"""Contract-suite fixtures: the official SDK against the session emulator, and the sample catalog in Azurite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from geocatalog_emulator.testing import SAMPLE_CATALOG, container_sas, sdk_client, upload_directory


@pytest.fixture
def client(emulator: Any) -> Iterator[Any]:
    """PlanetaryComputerProClient on the emulator (static bearer policy, polling_interval=0)."""
    with sdk_client(emulator.url) as sdk:
        yield sdk


@pytest.fixture
def unique() -> str:
    """A short unique suffix for container and collection names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def sample_container(azurite: Any, unique: str) -> dict[str, str]:
    """The demo catalog uploaded to a fresh container, with a read+list SAS for it."""
    name = f"contract-{unique}"
    url = upload_directory(azurite.connection_string, name, SAMPLE_CATALOG)
    return {"name": name, "url": url, "sas": container_sas(azurite.connection_string, name)}


def collection_body(collection_id: str) -> dict:
    """The sample collection.json under another id."""
    body = json.loads((SAMPLE_CATALOG / "collection.json").read_text())
    return {**body, "id": collection_id}


@pytest.fixture
def collection_id(client: Any, unique: str) -> str:
    """A fresh collection created through the LRO."""
    cid = f"contract-{unique}"
    poller = client.stac.begin_create_collection(collection_body(cid))
    assert poller.result() is None and poller.status() == "Succeeded"
    return cid
