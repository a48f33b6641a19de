"""The real trigger functions and the CLI, called as the host (or an operator) would, against the twin."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.functions.blob import InputStream
from azure.functions.timer import TimerRequest

import function_app
from ingest_core import entry
from ingest_core.events import blob_created_event, drop_from_blob_trigger
from ingest_core.states import JobState
from tests.integration.twin_helpers import TOKEN, admin, new_container, upload_catalog

ROOT = __import__("pathlib").Path(function_app.__file__).parent


@pytest.fixture
def env(azurite, emulator, monkeypatch):
    admin(emulator, "reset", "POST")
    container = new_container(azurite)
    values = {
        "GEOCATALOG_ENDPOINT": emulator.url,
        "GEOCATALOG_STATIC_TOKEN": TOKEN,
        "CATALOG_STORAGE_CONNECTION": azurite.connection_string,
        "LEDGER_STORAGE_CONNECTION": azurite.connection_string,
        "LEDGER_TABLE": "trig" + container.container_name[3:],
        "CATALOG_CONTAINER": container.container_name,
        "REQUESTS_CA_BUNDLE": str(azurite.cert_path),
        "SETTLE_SECONDS": "0",  # these tests are about the triggers, not the settle window
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    entry.reset_runtime()
    yield container, values
    entry.reset_runtime()


def user_functions():
    function_app.app.functions_bindings = None
    return {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}


def test_blob_trigger_function_starts_the_ingestion(env):
    container, _ = env
    url = upload_catalog(container, "bt", catalog_id="cat-bt")
    props = container.get_blob_client("bt/catalog.json").get_blob_properties()
    data = container.download_blob("bt/catalog.json").readall()
    blob = InputStream(data=data, name=f"{container.container_name}/bt/catalog.json", length=len(data), uri=url,
                       blob_properties={"ETag": props.etag}, metadata={})  # fmt: skip
    user_functions()["on_catalog_blob"](blob)
    (job,) = entry.runtime().ledger.jobs()
    assert job.state == JobState.RUNNING and job.blob_url == url and job.etag == props.etag.strip('"')


def test_event_grid_trigger_ignores_other_event_types_and_handles_blob_created(env):
    container, _ = env
    url = upload_catalog(container, "eg", catalog_id="cat-eg")
    etag = container.get_blob_client("eg/catalog.json").get_blob_properties().etag
    body = blob_created_event(drop_from_blob_trigger(url, etag))
    fns = user_functions()

    def event(event_type):
        return func.EventGridEvent(id="1", data=body["data"], topic=body["topic"], subject=body["subject"],
                                   event_type=event_type, event_time=datetime.now(UTC), data_version="")  # fmt: skip

    fns["on_blob_event"](event("Microsoft.Storage.BlobDeleted"))
    assert entry.runtime().ledger.jobs() == []
    fns["on_blob_event"](event("Microsoft.Storage.BlobCreated"))
    (job,) = entry.runtime().ledger.jobs()
    assert job.state == JobState.RUNNING
    fns["reconcile"](TimerRequest(past_due=False))  # the timers call the real core too
    assert fns["sweep"](TimerRequest(past_due=False)) is None


def run_cli(values, *args):
    import os

    return subprocess.run([sys.executable, "-m", "ingest_core", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **values}, timeout=120)  # fmt: skip


def test_cli_ingest_prints_the_job_and_status_lists_it(env):
    container, values = env
    url = upload_catalog(container, "cli", catalog_id="cat-cli")
    out = run_cli(values, "ingest", url)
    assert out.returncode == 0, out.stderr
    job_id, state = out.stdout.split()[:2]
    assert state == "RUNNING" and len(job_id) == 32
    again = run_cli(values, "ingest", url)  # a replay of the same upload does nothing new
    assert again.stdout.split()[:2] == [job_id, "RUNNING"]
    listing = json.loads(run_cli(values, "status", "--json").stdout)
    assert [(j["job_id"], j["state"], j["collection_id"]) for j in listing] == [(job_id, "RUNNING", "cat-cli")]
    lines = run_cli(values, "status").stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("RUNNING") and url in lines[0] and "0/2 ok" in lines[0]


def test_cli_status_filters_one_job_in_full_sweep_dry_run_and_replay(env):
    container, values = env
    good = upload_catalog(container, "ok", catalog_id="cat-ok")
    job_id = run_cli(values, "ingest", good).stdout.split()[0]
    container.upload_blob("bad/catalog.json", b"{not json")
    bad_id = run_cli(values, "ingest", f"{container.url}/bad/catalog.json").stdout.split()[0]
    invalid = json.loads(run_cli(values, "status", "--json", "--state", "INVALID").stdout)
    assert [j["job_id"] for j in invalid] == [bad_id]
    assert json.loads(run_cli(values, "status", "--json", "--collection", "cat-ok").stdout)[0]["job_id"] == job_id
    assert json.loads(run_cli(values, "status", "--json", "--since", "2999-01-01T00:00:00Z").stdout) == []
    one = json.loads(run_cli(values, "status", bad_id).stdout)
    assert (
        one["state"] == "INVALID" and "not valid JSON" in one["last_error"] and one["report"].endswith(f"{bad_id}.json")
    )
    dry = run_cli(values, "sweep", "--dry-run").stdout.splitlines()
    assert len(dry) == 1 and dry[0].startswith("keep") and container.url in dry[0] and f"job {job_id}" in dry[0]
    planned = run_cli(values, "replay", "--state", "INVALID", "--dry-run").stdout
    assert f"would replay {container.url}/bad/catalog.json" in planned and "would replay 1 catalog(s)" in planned
    assert len(json.loads(run_cli(values, "status", "--json").stdout)) == 2  # a dry run starts nothing
    done = run_cli(values, "replay", "--state", "INVALID").stdout
    assert "replayed 1 catalog(s)" in done
    after = json.loads(run_cli(values, "status", "--json", "--state", "INVALID").stdout)
    assert len(after) == 2 and {j["job_id"] for j in after} > {bad_id}  # a new job, invalid again, said why


def test_cli_reports_bad_configuration_by_name(env):
    _, values = env
    out = run_cli({**values, "MAX_CONCURRENT_RUNS": "zero"}, "status")
    assert out.returncode == 2 and "MAX_CONCURRENT_RUNS" in out.stderr and "Traceback" not in out.stderr


SEQ_OLD = "0000000000000000000000000000111100000000000000a1"
SEQ_NEW = "0000000000000000000000000000111100000000000000b2"


def grid_event(url: str, etag: str, sequencer: str) -> func.EventGridEvent:
    """The BlobCreated event Event Grid delivers for one write of the blob, its sequencer included."""
    body = blob_created_event(drop_from_blob_trigger(url, etag).model_copy(update={"sequencer": sequencer}))
    return func.EventGridEvent(id=body["id"], data=body["data"], topic=body["topic"], subject=body["subject"],
                               event_type=body["eventType"], event_time=datetime.now(UTC), data_version="")  # fmt: skip


@pytest.mark.parametrize("order", ["older first", "newer first"])
def test_the_event_grid_trigger_lets_the_newer_sequencer_win_in_either_arrival_order(env, monkeypatch, order):
    container, _ = env
    monkeypatch.setenv("MAX_CONCURRENT_RUNS", "1")  # one busy run keeps both uploads QUEUED, so neither starts
    entry.reset_runtime()
    on_blob_event = user_functions()["on_blob_event"]

    def etag_of(prefix: str) -> str:
        return container.get_blob_client(f"{prefix}/catalog.json").get_blob_properties().etag

    busy = upload_catalog(container, "busy", catalog_id="cat-busy")
    on_blob_event(grid_event(busy, etag_of("busy"), ""))
    url = upload_catalog(container, "seq", catalog_id="cat-seq")
    old_etag = etag_of("seq")
    if order == "older first":
        on_blob_event(grid_event(url, old_etag, SEQ_OLD))
        upload_catalog(container, "seq", n_items=3, catalog_id="cat-seq")  # the second write of the blob
        on_blob_event(grid_event(url, etag_of("seq"), SEQ_NEW))
    else:  # Event Grid delivered the later write first; the earlier one's event arrives late
        upload_catalog(container, "seq", n_items=3, catalog_id="cat-seq")
        on_blob_event(grid_event(url, etag_of("seq"), SEQ_NEW))
        on_blob_event(grid_event(url, old_etag, SEQ_OLD))
    jobs = {j.sequencer: j for j in entry.runtime().ledger.jobs(blob_url=url)}
    assert set(jobs) == {SEQ_OLD, SEQ_NEW}  # the trigger carried each event's sequencer into its job
    assert jobs[SEQ_OLD].etag == old_etag.strip('"')
    assert jobs[SEQ_NEW].state == JobState.QUEUED  # the newer upload is the one that goes ahead
    assert jobs[SEQ_OLD].state == JobState.SUPERSEDED
