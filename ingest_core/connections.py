"""Azure SDK service clients from a setting that is either a connection string or an identity-based URL,
and the HTTP sessions every client of one process shares."""

from __future__ import annotations

import os
import threading
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

T = TypeVar("T")
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_sessions: dict[str, requests.Session] = {}
_lock = threading.Lock()


def is_connection_string(connection: str) -> bool:
    """Connection strings (`Key=Value;...`, `UseDevelopmentStorage=true`) vs service URLs (identity-based)."""
    return "=" in connection and not connection.lower().startswith(("https://", "http://"))


def ca_bundle() -> str | bool:
    """What TLS verification uses: the CA bundle the environment names (the local twin's), else the system's."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def shared_session(name: str) -> requests.Session:
    """One pooled session per external service and process.

    requests reads proxies and ~/.netrc from the environment on every call when `trust_env` is on, which costs
    more CPU than the rest of a blob read; with no proxy configured the environment is read once, here.
    """
    with _lock:
        session = _sessions.get(name)
        if session is None:
            session = requests.Session()
            session.trust_env = any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS)
            session.verify = ca_bundle()
            adapter = HTTPAdapter(pool_connections=16, pool_maxsize=32)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _sessions[name] = session
        return session


def service_client(client_cls: type[T], connection: str, credential: Any | None = None, **kwargs: Any) -> T:
    """`client_cls` (BlobServiceClient, TableServiceClient) for a connection string, or for a URL with a credential.

    Every client of a process sends through the shared storage session (one pool, environment read once).
    """
    from azure.core.pipeline.transport import RequestsTransport

    kwargs.setdefault("connection_verify", ca_bundle())
    kwargs.setdefault(
        "transport",
        RequestsTransport(
            session=shared_session("storage"), session_owner=False, connection_verify=kwargs["connection_verify"]
        ),
    )
    if is_connection_string(connection):
        return client_cls.from_connection_string(connection, **kwargs)  # type: ignore[attr-defined]
    if credential is None:
        from azure.identity import DefaultAzureCredential  # the managed identity in Azure (AZURE_CLIENT_ID)

        credential = DefaultAzureCredential()
    return client_cls(connection, credential=credential, **kwargs)  # type: ignore[call-arg]
