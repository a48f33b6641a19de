"""When the Functions host gives up redelivering an upload (its poison queue), the job says so; reconcile goes on.

Against Azurite and the emulator, through the real on_poison_blob function with the message the blob extension
writes, and through the twin's host loop, which stands in for the extension at its poison threshold.
"""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import function_app
from ingest_core import entry
from ingest_core.errors import TransientError
from ingest_core.reconcile import reconcile
from ingest_core.states import JobState
from tests.integration.test_triggers import env  # noqa: F401  (the fixture: settings in the environment)
from tests.integration.twin_helpers import admin, drop_for, upload_catalog


def poison_message(container: str, path: str, etag: str) -> func.QueueMessage:
    body = {"Type": "BlobTrigger", "FunctionId": "Host.Functions.on_catalog_blob", "BlobType": "BlockBlob",
            "ContainerName": container, "BlobName": path, "ETag": etag}  # fmt: skip
    return func.QueueMessage(body=json.dumps(body).encode())


def test_a_delivery_the_host_gave_up_on_is_recorded_and_the_job_still_ends(env, emulator):  # noqa: F811
    container, _ = env
    url = upload_catalog(container, "p", catalog_id="cat-poison")
    rt = entry.runtime()
    admin(emulator, "faults", "POST", {"route": "*", "status": 503, "rate": 1.0})
    with pytest.raises(TransientError):
        entry.handle_drop(rt, drop_for(rt, url))
    etag = container.get_blob_client("p/catalog.json").get_blob_properties().etag
    function_app.on_poison_blob(poison_message(container.container_name, "p/catalog.json", etag))
    (job,) = rt.ledger.jobs()
    assert job.host_gave_up and job.state == JobState.RECEIVED
    assert "503" in job.last_error and any("gave up redelivering this upload" in w for w in job.warnings)
    admin(emulator, "faults", "DELETE")
    rt.ledger.update(job, next_attempt_at=None)
    reconcile(rt)
    assert rt.ledger.get(job.job_id).state == JobState.RUNNING  # the host gave up; the app did not


def test_a_poison_message_that_is_not_a_blob_trigger_message_is_ignored(env, caplog):  # noqa: F811
    function_app.on_poison_blob(func.QueueMessage(body=b"not json"))
    function_app.on_poison_blob(func.QueueMessage(body=b'{"ContainerName": "x"}'))
    assert entry.runtime().ledger.jobs() == []
    assert "poison-queue message ignored" in caplog.text
