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


def test_the_four_functions_are_indexed(functions):
    assert set(functions) == {"on_catalog_blob", "on_blob_event", "reconcile", "sweep"}


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
