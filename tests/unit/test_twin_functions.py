"""How the host loop indexes function_app.py: triggers, %NAME% binding expressions, schedules."""

from __future__ import annotations

import pytest

import function_app
from local_twin.functions import registry, resolve, setting_default


def test_resolve_reads_app_settings_then_the_settings_defaults() -> None:
    assert resolve("%CATALOG_CONTAINER%/{name}", {"CATALOG_CONTAINER": "drops"}) == "drops/{name}"
    assert resolve("%CATALOG_CONTAINER%/{name}", {}) == "catalogs/{name}"
    assert setting_default("SWEEP_SCHEDULE") == "0 */30 * * * *"
    with pytest.raises(ValueError, match="NOT_A_SETTING"):
        resolve("%NOT_A_SETTING%", {})


def test_registry_of_the_real_function_app() -> None:
    env = {"CATALOG_CONTAINER": "drops", "RECONCILE_SCHEDULE": "*/2 * * * * *"}
    reg = registry(function_app.app, env)
    (blob,) = reg.blobs
    assert (blob.name, blob.container, blob.prefix, blob.connection) == (
        "on_catalog_blob",
        "drops",
        "",
        "CatalogStorage",
    )
    assert (blob.call.__module__, blob.call.__name__) == ("function_app", "on_catalog_blob")  # the real function
    assert [t.name for t in reg.event_grid] == ["on_blob_event"]
    timers = {t.name: t.schedule.expression for t in reg.timers}
    assert timers == {"reconcile": "*/2 * * * * *", "sweep": "0 */30 * * * *"}
    # Indexing twice must work (the SDK refuses a second get_functions() unless reset).
    assert registry(function_app.app, env).blobs[0].container == "drops"
