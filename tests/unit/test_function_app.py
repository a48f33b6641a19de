"""function_app: indexes, every blob trigger uses the Event Grid source, bindings come from settings."""

import json

import pytest

import function_app
from ingest_core.settings import BLOB_TRIGGER_CONNECTION, ENV_NAMES, TRIGGER_SETTING_NAMES


@pytest.fixture(scope="module")
def functions():
    function_app.app.functions_bindings = None  # get_functions() may only run once per app otherwise
    return {f.get_function_name(): json.loads(f.get_function_json()) for f in function_app.app.get_functions()}


def _binding(functions, name):
    (b,) = functions[name]["bindings"]
    return b


def test_the_five_functions_are_indexed(functions):
    assert set(functions) == {"on_catalog_blob", "on_blob_event", "on_poison_blob", "reconcile", "sweep"}


def test_the_poison_queue_trigger_reads_the_blob_extensions_queue_on_the_trigger_connection(functions):
    queue = _binding(functions, "on_poison_blob")
    assert queue["type"] == "queueTrigger" and queue["queueName"] == "webjobs-blobtrigger-poison"
    assert queue["connection"] == BLOB_TRIGGER_CONNECTION  # its queueServiceUri is the app's own storage


def test_every_blob_trigger_uses_the_event_grid_source(functions):
    blob_triggers = [b for f in functions.values() for b in f["bindings"] if b["type"] == "blobTrigger"]
    assert blob_triggers and all(b.get("source") == "EventGrid" for b in blob_triggers)


def test_paths_connections_and_schedules_come_from_settings(functions):
    blob = _binding(functions, "on_catalog_blob")
    assert blob["path"] == "%CATALOG_CONTAINER%/{name}"
    assert blob["connection"] == BLOB_TRIGGER_CONNECTION
    assert _binding(functions, "reconcile")["schedule"] == "%RECONCILE_SCHEDULE%"
    assert _binding(functions, "sweep")["schedule"] == "%SWEEP_SCHEDULE%"
    assert _binding(functions, "on_blob_event")["type"] == "eventGridTrigger"
    for name in TRIGGER_SETTING_NAMES:
        assert name in ENV_NAMES.values()


def test_core_never_imports_azure_functions():
    import pathlib
    import re

    core = pathlib.Path(function_app.__file__).parent / "ingest_core"
    pattern = re.compile(r"^\s*(from|import)\s+(azure\.functions|geocatalog_emulator)\b", re.M)
    offenders = [p.name for p in core.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_event_grid_trigger_hands_topic_and_subject_to_the_trust_check(monkeypatch):
    from datetime import UTC, datetime

    import azure.functions as func

    from ingest_core import entry

    seen = []
    monkeypatch.setattr(entry, "on_event", seen.append)  # records the payload; the core is tested elsewhere
    function_app.app.functions_bindings = None
    fn = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}["on_blob_event"]
    event = func.EventGridEvent(id="1", data={"url": "u"}, topic="/t/storageAccounts/a", subject="/s",
                                event_type="Microsoft.Storage.BlobCreated", event_time=datetime.now(UTC),
                                data_version="")  # fmt: skip
    fn(event)
    assert seen == [{"eventType": "Microsoft.Storage.BlobCreated", "subject": "/s", "topic": "/t/storageAccounts/a",
                     "id": "1", "data": {"url": "u"}}]  # fmt: skip
