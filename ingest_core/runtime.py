"""The clients one process needs, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest_core.completion import CompletionPublisher
from ingest_core.geocatalog import CredentialToken, GeoCatalogClient, StaticToken
from ingest_core.ledger import Ledger
from ingest_core.redaction import install_log_redaction
from ingest_core.reports import ReportWriter
from ingest_core.settings import Settings
from ingest_core.sources import SourceInfo
from ingest_core.storage import CatalogStorage


@dataclass
class Runtime:
    """Settings plus one client per external service, and the per-process source cache."""

    settings: Settings
    storage: CatalogStorage
    geocatalog: GeoCatalogClient
    ledger: Ledger
    source_cache: dict[str, SourceInfo] = field(default_factory=dict)
    completion: CompletionPublisher | None = None  # issue 11: reconcile retries unpublished events with it


def build_runtime(settings: Settings, credential: Any | None = None) -> Runtime:
    """Wire the clients; `credential` (azure-identity) is used for storage and GeoCatalog unless local."""
    install_log_redaction()
    if settings.geocatalog_static_token:
        token = StaticToken(settings.geocatalog_static_token)
    else:
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        token = CredentialToken(credential, settings.geocatalog_scope)
    completion = CompletionPublisher(settings, credential)  # issue 11
    reports = ReportWriter(settings.report_connection, settings.report_container, credential=credential)
    ledger = Ledger(
        settings.ledger_connection,
        settings.ledger_table,
        credential=credential,
        on_terminal=lambda job: (reports(job), completion.notify(ledger, job)),  # issue 11: report, then event
    )
    return Runtime(
        settings=settings,
        storage=CatalogStorage(settings.catalog_connection, credential=credential),
        geocatalog=GeoCatalogClient(
            settings.geocatalog_endpoint,
            token,
            api_version=settings.geocatalog_api_version,
            max_retries=settings.http_max_retries,
            backoff_cap=settings.http_backoff_cap_seconds,
        ),
        ledger=ledger,
        completion=completion,
    )
