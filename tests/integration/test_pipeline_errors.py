"""Bad input, transient faults, deferral and secrets: every drop ends in a recorded, readable outcome."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from azure.storage.blob import BlobServiceClient

from ingest_core.errors import TransientError
from ingest_core.pipeline import handle_drop
from ingest_core.reconcile import reconcile
from ingest_core.reports import report_name
from ingest_core.states import JobState
from local_twin.azurite import ACCOUNT_KEY
from tests.integration.twin_helpers import (
    COLL_POST,
    ING_POST,
    RUN_POST,
    SRC_POST,
    TOKEN,
    admin,
    calls,
    drop_for,
    item_doc,
    runtime_for,
    upload_catalog,
    upload_root_catalog,
)

CREATES = (SRC_POST, COLL_POST, ING_POST, RUN_POST)


def read_report(rt, job):
    container = BlobServiceClient.from_connection_string(rt.settings.report_connection).get_container_client(
        rt.settings.report_container
    )
    return json.loads(container.download_blob(report_name(job)).readall())


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"type": "Catalog", "id": ', "not valid JSON at line 1"),
        (b'{"type": "FeatureCollection", "features": []}', "not a STAC catalog"),
        (
            b'{"type": "Catalog", "id": "x y", "stac_version": "1.0.0", "description": "d", '
            b'"links": [{"rel": "item", "href": "./i.json"}]}',
            "collection id 'x y' is invalid",
        ),
    ],
)
def test_broken_catalog_is_invalid_with_a_reason_and_nothing_is_created(twin, emulator, content, fragment):
    container, rt = twin
    container.upload_blob("bad/i.json", json.dumps(item_doc("i")))  # so only the catalog itself is at fault
    container.upload_blob("bad/catalog.json", content)
    url = f"{container.url}/bad/catalog.json"
    job = handle_drop(rt, drop_for(rt, url))  # returns normally: no retry storm
    assert job.state == JobState.INVALID
    assert fragment in job.last_error and job.error_where == url
    assert [calls(emulator, r) for r in CREATES] == [0, 0, 0, 0]
    report = read_report(rt, job)
    assert report["outcome"] == "INVALID" and fragment in report["error"] and report["where"] == url
    assert "upload the catalog again" in report["what_to_do"]
    again = handle_drop(rt, drop_for(rt, url))  # redelivery: same row, still INVALID, nothing new
    assert again.job_id == job.job_id and again.state == JobState.INVALID
    assert len(rt.ledger.jobs()) == 1


def test_oversized_catalog_is_invalid(twin, azurite, emulator):
    container, _ = twin
    rt = runtime_for(azurite, emulator, container, catalog_max_bytes=1024)
    container.upload_blob("big/catalog.json", b" " * 2048)
    job = handle_drop(rt, drop_for(rt, f"{container.url}/big/catalog.json"))
    assert job.state == JobState.INVALID and "over the 1024-byte cap (CATALOG_MAX_BYTES)" in job.last_error


def test_child_catalog_is_ignored_in_favour_of_the_catalog_above_that_lists_it(twin, emulator):
    container, rt = twin
    # The child claims to be its own root, as published children often do: what counts is the catalog above.
    container.upload_blob("r/sub/catalog.json", b'{"type": "Catalog", "id": "sub", "stac_version": "1.0.0", '
                          b'"description": "d", "links": [{"rel": "root", "href": "./catalog.json"}]}')  # fmt: skip
    container.upload_blob("r/catalog.json", b'{"type": "Catalog", "id": "r", "stac_version": "1.0.0", '
                          b'"description": "d", "links": [{"rel": "child", "href": "./sub/catalog.json"}]}')  # fmt: skip
    job = handle_drop(rt, drop_for(rt, f"{container.url}/r/sub/catalog.json"))
    assert job.state == JobState.IGNORED and f"covered by catalog {container.url}/r/catalog.json" in job.last_error
    assert calls(emulator, CREATES[0]) == 0


def test_blobs_outside_the_rules_are_not_ours(twin, emulator):
    container, rt = twin
    container.upload_blob("x/readme.txt", b"hi")
    assert handle_drop(rt, drop_for(rt, f"{container.url}/x/readme.txt")) is None
    assert rt.ledger.jobs() == []


def test_catalog_before_its_items_is_deferred_then_resumed_by_reconcile(twin, emulator):
    container, rt = twin
    links = [{"rel": "item", "href": "./items/late-item-0.json"}]
    upload_root_catalog(container, "late", links, "late")
    job = handle_drop(rt, drop_for(rt, f"{container.url}/late/catalog.json"))
    assert job.state == JobState.DEFERRED and "late-item-0.json" in job.last_error
    assert calls(emulator, CREATES[0]) == 0
    upload_catalog(container, "late", n_items=1, catalog_id="late", upload_root=False)
    rt.ledger.update(job, lease_until=None, next_attempt_at=None)  # skip the back-off wait
    reconcile(rt)
    assert rt.ledger.get(job.job_id).state == JobState.RUNNING


def test_transient_failure_raises_then_the_retry_resumes_without_duplicates(twin, emulator):
    container, rt = twin
    url = upload_catalog(container, "t", catalog_id="cat-t")
    retries = rt.settings.http_max_retries
    admin(emulator, "faults", "POST", {"route": RUN_POST, "status": 503, "rate": 1.0, "count": retries + 1})
    with pytest.raises(TransientError, match="still failing"):
        handle_drop(rt, drop_for(rt, url))
    (job,) = rt.ledger.jobs()
    # Prepared and its run asked for, the lease handed back for the platform's retry:
    assert job.state == JobState.RECEIVED and job.ingestion_id and job.run_requested_at and not job.lease_until
    resumed = handle_drop(rt, drop_for(rt, url))  # the platform's retry
    assert resumed.job_id == job.job_id and resumed.state == JobState.RUNNING
    assert [calls(emulator, r) for r in CREATES[:3]] == [1, 1, 1]
    assert len(admin(emulator, "state")["runs"]) == 1


def test_reconcile_follows_the_run_to_succeeded_with_counters(twin, emulator):
    container, rt = twin
    job = handle_drop(rt, drop_for(rt, upload_catalog(container, "s", n_items=3, catalog_id="cat-s")))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reconcile(rt)
        job = rt.ledger.get(job.job_id)
        if job.state.terminal:
            break
        time.sleep(0.2)
    assert job.state == JobState.SUCCEEDED, job.last_error
    assert (job.total_items, job.successful_items, job.failed_items, job.pending_items) == (3, 3, 0, 0)
    report = read_report(rt, job)
    assert report["outcome"] == "SUCCEEDED" and report["job"]["successful_items"] == 3 and report["error"] is None


def test_no_secret_reaches_logs_or_the_ledger(twin, emulator, caplog):
    container, rt = twin
    caplog.set_level(logging.DEBUG)  # every logger, every level: urllib3 and azure-core included
    url = upload_catalog(container, "sec", catalog_id="cat-sec")
    job = handle_drop(rt, drop_for(rt, url))
    admin(emulator, "faults", "POST", {"route": "*", "status": 500, "rate": 1.0, "count": 2})
    reconcile(rt)
    sas = rt.storage.mint_container_sas(container.url, __import__("datetime").timedelta(hours=1)).token
    text = caplog.text + "\n".join(str(j.public()) for j in rt.ledger.jobs()) + str(rt.ledger.source_records())
    text += "".join(str(read_report(rt, j)) for j in rt.ledger.jobs() if j.state.terminal)
    assert job.state == JobState.RUNNING
    assert re.search(r"(?i)sig(=|%3D)(?!REDACTED)", text) is None  # every signature that was logged is redacted
    assert ACCOUNT_KEY not in text and ACCOUNT_KEY[:20] not in text
    assert TOKEN not in text
    assert sas.split("sig=")[1][:20] not in text
