"""The clients one process needs, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest_core.completion import CompletionPublisher
from ingest_core.connections import shared_session
from ingest_core.geocatalog import CredentialToken, GeoCatalogClient, StaticToken
from ingest_core.job import Job
from ingest_core.ledger import Ledger
from ingest_core.redaction import install_log_redaction
from ingest_core.reports import ReportWriter
from ingest_core.settings import Settings
from ingest_core.sources import Sources
from ingest_core.storage import CatalogStorage
from ingest_core.table_store import AzureTableStore, TableStore


@dataclass
class Runtime:
    """Settings plus one client per external service, and what this process knows already."""

    settings: Settings
    storage: CatalogStorage
    geocatalog: GeoCatalogClient
    ledger: Ledger
    sources: Sources
    # The app's own storage (REPORT_STORAGE_CONNECTION): the staging container of split jobs lives there.
    staging: CatalogStorage
    # Collections this process created or saw exist: no call for them on later drops.
    known_collections: set[str] = field(default_factory=set)
    completion: CompletionPublisher | None = None  # the completion events (reconcile retries unpublished ones)
    reports: ReportWriter | None = None  # each terminal job's report


def build_runtime(settings: Settings, credential: Any | None = None, store: TableStore | None = None) -> Runtime:
    """Wire the clients; `credential` (azure-identity) is used for storage and GeoCatalog unless local.

    `store` replaces the ledger's Azure table (the in-memory store of the fast unit tier).
    """
    install_log_redaction()
    if settings.geocatalog_static_token:
        token = StaticToken(settings.geocatalog_static_token)
    else:
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        token = CredentialToken(credential, settings.geocatalog_scope)
    storage = CatalogStorage(settings.catalog_connection, credential=credential)
    geocatalog = GeoCatalogClient(
        settings.geocatalog_endpoint,
        token,
        api_version=settings.geocatalog_api_version,
        max_retries=settings.http_max_retries,
        backoff_cap=settings.http_backoff_cap_seconds,
        session=shared_session("geocatalog"),
    )
    completion = CompletionPublisher(settings, credential)
    reports = ReportWriter(settings.report_connection, settings.report_container, credential=credential)

    def finished(job: Job) -> None:  # the report first: the event names it
        reports(job)
        completion.notify(ledger, job)

    ledger = Ledger(
        store or AzureTableStore(settings.ledger_connection, settings.ledger_table, credential=credential),
        on_terminal=finished,
        outbox=completion.enabled,
    )
    staging = CatalogStorage(settings.report_connection, credential=credential)
    sources = Sources(settings, geocatalog, storage, ledger, staging=staging)
    return Runtime(settings, storage, geocatalog, ledger, sources, staging, completion=completion, reports=reports)
