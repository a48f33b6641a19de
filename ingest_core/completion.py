"""One CloudEvent per terminal job, to an Event Grid topic, for downstream automation (schema: docs/after-ingestion.md).

The event id is the job id, so a consumer deduplicates the rare second delivery (a publish that went through
but was not recorded). A failed publish never changes the job: the ledger keeps its outbox row (written in the
same transaction that ends the job) and reconcile retries exactly those (`retry_unpublished`).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError
from azure.core.messaging import CloudEvent
from azure.storage.blob import BlobServiceClient

from ingest_core.connections import service_client
from ingest_core.events import parse_blob_url
from ingest_core.job import Job
from ingest_core.ledger import Ledger
from ingest_core.redaction import scrub
from ingest_core.reports import report_name
from ingest_core.settings import Settings
from ingest_core.states import JobState

log = logging.getLogger(__name__)

# A topic that is down must not hold a job's transition for long: reconcile retries later anyway.
PUBLISH_RETRIES = 1
PUBLISH_TIMEOUT_SECONDS = 5
# Reconcile leaves a job this long to the worker that ended it (its in-line publish takes at most ~11 s), so the
# two do not both publish in the moment between a publish and the removal of its outbox row.
RETRY_GRACE = timedelta(seconds=20)
SEND_OPTIONS = {"retry_total": PUBLISH_RETRIES, "retry_backoff_factor": 0.5,
                "connection_timeout": PUBLISH_TIMEOUT_SECONDS, "read_timeout": PUBLISH_TIMEOUT_SECONDS}  # fmt: skip
logging.getLogger("azure.eventgrid._legacy._generated._serialization").setLevel(logging.ERROR)


def event_type(prefix: str, state: JobState) -> str:
    """`<prefix>.Ingestion.Succeeded` / `.Partial` / `.Failed` / `.Invalid` / `.Ignored` / `.Superseded`."""
    return f"{prefix}.Ingestion.{state.value.title()}"


def event_subject(blob_url: str) -> str:
    """The catalog's blob path, spelled as storage events spell it (so `subjectBeginsWith` filters carry over)."""
    _, container, path = parse_blob_url(blob_url)
    return f"/blobServices/default/containers/{container}/blobs/{path}"


def event_data(job: Job, report_url: str) -> dict[str, Any]:
    """The event's data: what a downstream step needs to act without reading the job table."""
    try:
        configuration = json.loads(job.config_applied) if job.config_applied else None
    except ValueError:
        configuration = None
    return scrub(
        {
            "jobId": job.job_id,
            "state": job.state.value,
            "catalogUrl": job.blob_url,
            "collectionId": job.collection_id or None,
            "ingestionId": job.ingestion_id or None,
            "runIds": [job.run_id] if job.run_id else [],
            "counters": {
                "total": job.total_items,
                "successful": job.successful_items,
                "failed": job.failed_items,
                "pending": job.pending_items,
            },
            "reportUrl": report_url,
            "error": {"message": job.last_error, "where": job.error_where or None} if job.last_error else None,
            "warnings": list(job.warnings),
            "configuration": configuration,
            "createdAt": job.created_at.isoformat(),
            "finishedAt": job.updated_at.isoformat(),
        }
    )  # every text redacted and capped, whatever the job holds in memory


def completion_event(job: Job, source: str, prefix: str, report_url: str) -> CloudEvent:
    """The CloudEvent for a terminal job; its id is the job id."""
    return CloudEvent(
        source=source,
        type=event_type(prefix, job.state),
        subject=event_subject(job.blob_url),
        data=event_data(job, report_url),
        id=job.job_id,
        datacontenttype="application/json",
    )


class CompletionPublisher:
    """Publishes completion events with the official azure-eventgrid client (the app identity in Azure)."""

    def __init__(self, settings: Settings, credential: Any | None = None, client: Any | None = None) -> None:
        self.enabled = bool(settings.completion_topic_endpoint)
        self.retry_grace = RETRY_GRACE
        self._prefix = settings.completion_event_prefix
        self._source = settings.geocatalog_endpoint
        reports = service_client(BlobServiceClient, settings.report_connection, credential)
        self._report_base = f"{reports.url.rstrip('/')}/{settings.report_container}"
        self._client = client
        if self.enabled and client is None:
            from azure.eventgrid import EventGridPublisherClient

            if settings.completion_topic_key:  # the local stand-in only: Azure uses the identity
                topic_credential: Any = AzureKeyCredential(settings.completion_topic_key)
            elif credential is not None:
                topic_credential = credential
            else:
                from azure.identity import DefaultAzureCredential

                topic_credential = DefaultAzureCredential()
            self._client = EventGridPublisherClient(settings.completion_topic_endpoint, topic_credential)

    def report_url(self, job: Job) -> str:
        """Where the job's report is (the report writer's blob)."""
        return f"{self._report_base}/{report_name(job)}"

    def publish_completion(self, job: Job) -> bool:
        """Send the job's event; True when it went out (or events are off), False on any failure (logged)."""
        if not self.enabled:
            return True
        if not job.state.terminal:
            raise ValueError(f"job {job.job_id} is {job.state.value}: only terminal jobs publish an event")
        try:
            event = completion_event(job, self._source, self._prefix, self.report_url(job))
            # Per call: for basic topics the client drops constructor options. The per-call ones reach the
            # pipeline, and also its event serializer, which warns that it ignores them (silenced below).
            self._client.send([event], **SEND_OPTIONS)
        except (AzureError, OSError, ValueError) as exc:
            # The exception text may carry the endpoint, never a key (sent as a header, not in the URL).
            log.warning("completion event for job %s not published (%s); reconcile retries it", job.job_id,
                        type(exc).__name__)  # fmt: skip
            return False
        log.info("completion event %s published for job %s", event.type, job.job_id)
        return True

    def notify(self, ledger: Ledger, job: Job) -> None:
        """Publish and clear the job's outbox row; never raises (the terminal transition already happened)."""
        if self.enabled and self.publish_completion(job):
            ledger.event_sent(job.job_id)


def retry_unpublished(ledger: Ledger, publisher: CompletionPublisher | None) -> int:
    """Publish the events of finished jobs whose publish failed earlier; returns how many went out now.

    It reads only the ledger's outbox (jobs whose event is pending), never the history.
    """
    if publisher is None or not publisher.enabled:
        return 0
    sent = 0
    for job in ledger.unsent_events(older_than=publisher.retry_grace):
        if publisher.publish_completion(job):
            ledger.event_sent(job.job_id)
            sent += 1
    return sent
