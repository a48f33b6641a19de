"""tests/infra: offline checks of infra/ against the code. Makes the shared helper importable."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

# Test modules here import `infra_bicep` as a sibling, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def functions() -> dict[str, dict[str, Any]]:
    """function name -> the function.json the host indexes, straight from function_app.py."""
    import function_app

    # get_functions() caches names in functions_bindings and refuses a second call otherwise.
    function_app.app.functions_bindings = None
    return {fn.get_function_name(): json.loads(fn.get_function_json()) for fn in function_app.app.get_functions()}


def _only_trigger(functions: dict[str, dict[str, Any]], binding_type: str) -> tuple[str, dict[str, Any]]:
    hits = [(name, b) for name, fj in functions.items() for b in fj["bindings"] if b["type"] == binding_type]
    assert len(hits) == 1, f"expected exactly one {binding_type} function, found {[n for n, _ in hits]}"
    return hits[0]


@pytest.fixture(scope="session")
def blob_trigger(functions: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(function name, binding) of the blob trigger."""
    return _only_trigger(functions, "blobTrigger")


@pytest.fixture(scope="session")
def event_grid_trigger(functions: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(function name, binding) of the Event Grid trigger."""
    return _only_trigger(functions, "eventGridTrigger")
