"""reports: every report the real ReportWriter writes to Azurite is redacted, whatever the job holds in memory.

The job row is redacted when it is stored, but the report is built from the in-memory job the ledger just
moved, which may still hold a raw service message: the written blob is read back and searched for secrets.
"""

from __future__ import annotations

from dataclasses import fields

from azure.storage.blob import BlobServiceClient

from ingest_core.job import Job
from ingest_core.reports import report_name
from ingest_core.states import JobState
from tests.integration.twin_helpers import drop_for, upload_catalog

SECRETS = ("c2lnbmF0dXJlLXNlY3JldA", "QUNDT1VOVEtFWS1TRUNSRVQ", "eyJiZWFyZXItc2VjcmV0")
LEAKY = (f"GET https://acct.blob.core.windows.net/c/x?sv=1&sig={SECRETS[0]} failed; "
         f"AccountKey={SECRETS[1]}; Authorization: Bearer {SECRETS[2]}")  # fmt: skip


def written(rt, job: Job) -> str:
    """The report blob exactly as stored."""
    service = BlobServiceClient.from_connection_string(rt.settings.report_connection)
    blob = service.get_container_client(rt.settings.report_container).download_blob(report_name(job))
    return blob.readall().decode()


def test_a_job_holding_secrets_in_every_text_gets_a_redacted_report(twin):
    container, rt = twin
    url = upload_catalog(container, "leak", catalog_id="cat-leak")
    job = Job(job_id="f" * 32, blob_url=url, etag="0x1", state=JobState.FAILED)
    for f in fields(Job):  # every text and list the job carries, whatever it is for
        if f.name in ("job_id", "blob_url", "etag", "row_etag"):
            continue
        if f.type in ("str", str):
            setattr(job, f.name, LEAKY)
        elif f.type in ("list[str]", list[str]):
            setattr(job, f.name, [LEAKY, LEAKY])
    rt.reports(job)  # the runtime's real ReportWriter, against Azurite
    text = written(rt, job)
    assert not [s for s in SECRETS if s in text]
    assert "sig=REDACTED" in text and "AccountKey=REDACTED" in text and "Bearer REDACTED" in text
    report = rt.reports.read(job)
    assert report["outcome"] == "FAILED" and report["error"].startswith("GET https://acct")
    assert report["warnings"] == [report["error"]] * 2


def test_a_raw_service_message_in_the_moved_job_never_reaches_its_report(twin):
    container, rt = twin
    url = upload_catalog(container, "raw", catalog_id="cat-raw")
    claim = rt.ledger.claim(drop_for(rt, url), lease_seconds=60)
    # The transition hands the in-memory job (raw text) to the report writer; the row holds the redacted copy.
    rt.ledger.transition(claim.job, JobState.FAILED, last_error=LEAKY, error_where=LEAKY, warnings=[LEAKY])
    text = written(rt, claim.job)
    assert not [s for s in SECRETS if s in text]
    assert rt.reports.read(claim.job)["error"].startswith("GET https://acct")
