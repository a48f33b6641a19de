"""Contract: ingestion sources through the official azure-planetarycomputer SDK."""

from __future__ import annotations

import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.planetarycomputer import models as m

from geocatalog_emulator import EmulatorServer
from geocatalog_emulator.testing import sdk_client

EXPIRY = "2099-12-31T23:59:59Z"
TOKEN = f"sv=2025-11-05&st=2024-01-01T00%3A00%3A00Z&se={EXPIRY.replace(':', '%3A')}&sr=c&sp=rl&sig=c2lnbmF0dXJl"


def sas_source(container_url: str, token: str = TOKEN) -> m.SharedAccessSignatureTokenIngestionSource:
    """An SDK model for a SAS-token source."""
    connection = m.SharedAccessSignatureTokenConnection(
        container_uri=container_url, shared_access_signature_token=token
    )
    return m.SharedAccessSignatureTokenIngestionSource(connection_info=connection)


def container(unique: str) -> str:
    return f"https://contractacct.blob.core.windows.net/c{unique}"


def test_create_get_list_replace_delete_source(client, unique):
    created = client.ingestion.create_source(sas_source(container(unique)))
    uuid.UUID(created.id)  # a server-generated GUID
    assert created.kind == "SasToken" and created.created is not None
    assert created.connection_info.container_uri == container(unique)
    assert created.connection_info.expiration.isoformat() == "2099-12-31T23:59:59+00:00"
    assert "sasToken" not in dict(created.connection_info)

    fetched = client.ingestion.get_source(created.id)
    assert isinstance(fetched, m.SharedAccessSignatureTokenIngestionSource)
    assert dict(fetched) == dict(created)
    assert created.id in {summary.id for summary in client.ingestion.list_sources()}

    rotated = TOKEN.replace("2099-12-31", "2098-01-01")
    replaced = client.ingestion.replace_source(created.id, sas_source(container(unique), rotated))
    assert replaced.id == created.id and replaced.connection_info.expiration.year == 2098
    assert client.ingestion.get_source(created.id).connection_info.expiration.year == 2098

    client.ingestion.delete_source(created.id)
    with pytest.raises(ResourceNotFoundError):
        client.ingestion.get_source(created.id)


def test_second_source_for_a_container_is_a_409_of_any_kind(client, unique):
    first = client.ingestion.create_source(sas_source(container(unique)))
    with pytest.raises(ResourceExistsError) as sas_error:
        client.ingestion.create_source(sas_source(container(unique) + "/"))
    assert sas_error.value.status_code == 409 and sas_error.value.error.code == "Conflict"
    expected = f"Container url {container(unique)} already contains a SAS token ingestion source with id {first.id}"
    assert expected in sas_error.value.message
    identity = m.ManagedIdentityIngestionSource(
        connection_info=m.ManagedIdentityConnection(container_uri=container(unique), object_id=str(uuid.uuid4()))
    )
    with pytest.raises(ResourceExistsError):
        client.ingestion.create_source(identity)
    client.ingestion.delete_source(first.id)
    assert client.ingestion.create_source(identity).kind == "BlobManagedIdentity"


def test_managed_identities_are_listed(client):
    (identity,) = list(client.ingestion.list_managed_identities())
    uuid.UUID(identity.object_id)
    assert identity.resource_id.startswith("/subscriptions/")


def test_bad_bodies_are_400(client, unique):
    no_se = "sv=2025-11-05&st=2024-01-01&sr=c&sp=rl&sig=abc"
    with pytest.raises(HttpResponseError) as error:
        client.ingestion.create_source(sas_source(container(unique), no_se))
    assert error.value.status_code == 400 and "se" in error.value.message
    account_root = "https://contractacct.blob.core.windows.net"
    with pytest.raises(HttpResponseError) as error:
        client.ingestion.create_source(sas_source(account_root))
    assert error.value.status_code == 400


def test_missing_resources_map_to_resource_not_found(client):
    with pytest.raises(ResourceNotFoundError) as error:
        client.ingestion.get_source(str(uuid.uuid4()))
    assert error.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.ingestion.delete_source(str(uuid.uuid4()))
    with pytest.raises(ResourceNotFoundError) as error:
        client.stac.get_collection("no-such-collection")
    assert "Collection 'no-such-collection' not found" in error.value.message


def test_list_sources_follows_next_links_and_honours_top_and_skip():
    with EmulatorServer(page_size=2) as server, sdk_client(server.url) as sdk:
        ids = [sdk.ingestion.create_source(sas_source(container(f"page{i}"))).id for i in range(5)]
        assert [s.id for s in sdk.ingestion.list_sources()] == ids  # 3 pages via nextLink
        assert [s.id for s in sdk.ingestion.list_sources(top=3)] == ids[:3]  # 2 pages, $top caps the total
        assert [s.id for s in sdk.ingestion.list_sources(skip=4)] == ids[4:]
        counts = requests.get(f"{server.url}/_emulator/requests", timeout=10).json()
        assert counts["GET /inma/ingestion-sources"] == 3 + 2 + 1
        assert counts["counts"]["POST /inma/ingestion-sources"] == 5
