"""storage against Azurite itself (https, --oauth basic): user-delegation SAS is the production path."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from ingest_core.errors import InvalidDrop
from ingest_core.storage import BlobNotFound, CatalogStorage
from tests.fakes import FakeEntraCredential


@pytest.fixture
def container(azurite):
    name = f"c{uuid.uuid4().hex[:12]}"
    svc = BlobServiceClient.from_connection_string(azurite.connection_string)
    cc = svc.create_container(name)
    cc.upload_blob("t/catalog.json", b'{"id": "x"}')
    return f"{azurite.blob_url}/{name}"


def _assert_read_list_only(container_url: str, token: str) -> None:
    assert requests.get(f"{container_url}/t/catalog.json?{token}", timeout=10).status_code == 200
    listing = requests.get(f"{container_url}?restype=container&comp=list&{token}", timeout=10)
    assert listing.status_code == 200 and "t/catalog.json" in listing.text
    write = requests.put(
        f"{container_url}/evil.json?{token}", data=b"{}", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10
    )
    assert write.status_code == 403
    delete = requests.delete(f"{container_url}/t/catalog.json?{token}", timeout=10)
    assert delete.status_code == 403


def test_user_delegation_sas_reads_and_lists_and_is_refused_a_write(azurite, container):
    cred = FakeEntraCredential()
    storage = CatalogStorage(azurite.blob_url, credential=cred)
    assert not storage.uses_account_key
    sas = storage.mint_container_sas(container, timedelta(hours=2))
    assert "skoid=" in sas.token and "sp=rl" in sas.token and "sr=c" in sas.token and "st=" in sas.token
    _assert_read_list_only(container, sas.token)
    assert "<redacted>" in repr(sas) and sas.token not in repr(sas)


def test_delegation_key_is_cached_between_sas_mints(azurite, container):
    cred = FakeEntraCredential()
    storage = CatalogStorage(azurite.blob_url, credential=cred)
    storage.mint_container_sas(container, timedelta(hours=1))
    key = storage._udk
    storage.mint_container_sas(container, timedelta(hours=1))
    assert storage._udk is key  # no second key request while the cached one outlives the SAS


def test_account_key_sas_is_the_local_fallback(azurite, container):
    storage = CatalogStorage(azurite.connection_string)
    assert storage.uses_account_key
    sas = storage.mint_container_sas(container, timedelta(hours=1))
    assert "skoid=" not in sas.token
    _assert_read_list_only(container, sas.token)


def test_read_is_size_capped_and_reports_missing_blobs(azurite, container):
    storage = CatalogStorage(azurite.blob_url, credential=FakeEntraCredential())
    data, etag = storage.read_blob(f"{container}/t/catalog.json", max_bytes=1024)
    assert data == b'{"id": "x"}' and etag and not etag.startswith('"')
    with pytest.raises(InvalidDrop, match="over the 4-byte cap"):
        storage.read_blob(f"{container}/t/catalog.json", max_bytes=4)
    with pytest.raises(BlobNotFound):
        storage.read_blob(f"{container}/nope.json", max_bytes=1024)
    BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
        container.rsplit("/", 1)[1], "t/empty.json"
    ).upload_blob(b"")
    assert storage.read_blob(f"{container}/t/empty.json", max_bytes=1024)[0] == b""
