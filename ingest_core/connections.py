"""Azure SDK service clients from a setting that is either a connection string or an identity-based URL."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def is_connection_string(connection: str) -> bool:
    """Connection strings (`Key=Value;...`, `UseDevelopmentStorage=true`) vs service URLs (identity-based)."""
    return "=" in connection and not connection.lower().startswith(("https://", "http://"))


def service_client(client_cls: type[T], connection: str, credential: Any | None = None, **kwargs: Any) -> T:
    """`client_cls` (BlobServiceClient, TableServiceClient) for a connection string, or for a URL with a credential."""
    if is_connection_string(connection):
        return client_cls.from_connection_string(connection, **kwargs)  # type: ignore[attr-defined]
    if credential is None:
        from azure.identity import DefaultAzureCredential  # the managed identity in Azure (AZURE_CLIENT_ID)

        credential = DefaultAzureCredential()
    return client_cls(connection, credential=credential, **kwargs)  # type: ignore[call-arg]
