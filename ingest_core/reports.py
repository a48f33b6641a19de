"""A JSON report per finished job, in the app's own storage: what happened, what was wrong and where, what to do."""

from __future__ import annotations

import json
import logging
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings

from ingest_core.connections import service_client
from ingest_core.events import parse_blob_url
from ingest_core.job import Job
from ingest_core.redaction import scrub
from ingest_core.states import JobState

log = logging.getLogger(__name__)

ADVICE = {
    JobState.SUCCEEDED: "Nothing to do: every item is in the collection.",
    JobState.PARTIAL: "Some items failed. Check the items named in the warnings and the GeoCatalog's ingestion "
    "logs (Diagnostic settings), fix them and upload the catalog again: existing items are skipped.",
    JobState.FAILED: "The GeoCatalog refused or failed the ingestion: see error. Fix the cause (permissions, "
    "SAS, service limits), then replay with `python -m ingest_core ingest --force <catalog url>` "
    "or upload the catalog again.",
    JobState.INVALID: "The catalog was not ingested. Fix what the error describes at the place it names, "
    "then upload the catalog again.",
    JobState.IGNORED: "Nothing to do: this catalog is ingested through its root catalog.",
    JobState.SUPERSEDED: "Nothing to do: a newer upload of the same catalog is being ingested.",
}


def report_name(job: Job) -> str:
    """`<container>/<catalog path>/<job id>.json`: reports sit under the catalog's own path."""
    _, container, path = parse_blob_url(job.blob_url)
    return f"{container}/{path}/{job.job_id}.json"


def build_report(job: Job) -> dict[str, Any]:
    """The report document for a job."""
    return scrub(
        {
            "job": job.public(),
            "outcome": job.state.value,
            "error": job.last_error or None,
            "where": job.error_where or None,
            "warnings": list(job.warnings),
            "what_to_do": ADVICE.get(job.state, ""),
        }
    )


class ReportWriter:
    """Writes reports to one container of the app's storage account."""

    def __init__(self, connection: str, container: str, credential: Any | None = None) -> None:
        service = service_client(BlobServiceClient, connection, credential)
        self._container: ContainerClient = service.get_container_client(container)
        self._ready = False

    def __call__(self, job: Job) -> None:
        """Write the job's report; a failure is logged, never raised (the job row holds the same facts)."""
        try:
            if not self._ready:
                try:
                    self._container.create_container()
                except ResourceExistsError:
                    pass
                self._ready = True
            self._container.upload_blob(
                report_name(job),
                json.dumps(build_report(job), indent=2),
                overwrite=True,
                content_settings=ContentSettings(content_type="application/json"),
            )
        except AzureError as exc:
            log.warning("report for job %s not written: %s", job.job_id, type(exc).__name__)

    def read(self, job: Job) -> dict[str, Any]:
        """Read a job's report back (status tooling and tests)."""
        return json.loads(self._container.download_blob(report_name(job)).readall())
