"""Failed-items-only re-runs through the twin (Azurite + the emulator over HTTP), issue 9's acceptance point.

The emulator's item-failure fault makes chosen items fail once with a code; reconcile follows the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from geocatalog_emulator.testing import container_sas
from ingest_core.geocatalog import GeoCatalogClient, StaticToken
from ingest_core.job import Job
from ingest_core.states import JobState
from tests.integration.twin_helpers import (
    ING_PATCH,
    RUN_POST,
    SRC_PUT,
    TOKEN,
    admin,
    calls,
    drop,
    reconcile_until,
    runtime_for,
    upload_catalog,
)

ITEMS = [f"cat-rr-item-{i}" for i in range(4)]


def item_failure(emulator: Any, code: str, items: list[str]) -> None:
    admin(emulator, "faults", "POST", {"kind": "item-failure", "code": code, "items": items, "times": 1})


def ended(rt: Any, job: Job) -> Job:
    return reconcile_until(rt, job.job_id, lambda j: j.state.terminal)


def searchable(emulator: Any, collection_id: str) -> set[str]:
    resp = requests.post(
        f"{emulator.url}/stac/search",
        params={"api-version": "2026-04-15"},
        json={"collections": [collection_id], "limit": 100},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    resp.raise_for_status()
    return {f["id"] for f in resp.json()["features"]}


def runs_of(emulator: Any, job: Job) -> list[dict[str, Any]]:
    runs = [r for r in admin(emulator, "state")["runs"] if r["ingestionId"] == job.ingestion_id]
    return sorted(runs, key=lambda r: r["creationTime"])


def test_a_transient_item_failure_gets_exactly_one_rerun_and_the_job_succeeds(twin, emulator):
    container, rt = twin
    item_failure(emulator, "InternalIntermitentError", ITEMS[1:3])
    job = drop(rt, upload_catalog(container, "rr", n_items=4, catalog_id="cat-rr"))
    done = ended(rt, job)
    assert done.state == JobState.SUCCEEDED, done.last_error
    assert calls(emulator, RUN_POST) == 2 and calls(emulator, ING_PATCH) == 0  # the rule has skipExistingItems on
    first, rerun = runs_of(emulator, done)
    assert first["operation"]["statusHistory"][-1]["errorCode"] == "InternalIntermitentError"
    assert rerun["skipExistingItems"] is True and rerun["skippedItems"] == 2
    assert done.run_ids == [first["id"], rerun["id"]] and done.run_id == rerun["id"] and done.reruns == 1
    assert (done.total_items, done.successful_items, done.failed_items) == (4, 4, 0)
    assert any("InternalIntermitentError" in w and "re-run 1" in w for w in done.warnings)
    assert searchable(emulator, "cat-rr") == set(ITEMS)
    for _ in range(2):  # later passes find nothing to do
        ended(rt, done)
    assert calls(emulator, RUN_POST) == 2


def test_a_non_transient_item_failure_gets_no_rerun_and_the_job_ends_partial(twin, emulator):
    container, rt = twin
    item_failure(emulator, "StacValidationFailed", ITEMS[:1])
    job = drop(rt, upload_catalog(container, "rr", n_items=4, catalog_id="cat-rr"))
    done = ended(rt, job)
    assert done.state == JobState.PARTIAL and calls(emulator, RUN_POST) == 1 and done.reruns == 0
    assert "StacValidationFailed" in done.last_error and "1 of 4 item(s) failed" in done.last_error
    assert (done.successful_items, done.failed_items) == (3, 1)
    assert searchable(emulator, "cat-rr") == set(ITEMS[1:])


def test_a_rule_without_skip_existing_items_gets_it_patched_on_before_the_rerun(twin, azurite, emulator):
    container, _ = twin
    rules = [{"container": container.container_name, "skipExistingItems": False}]
    rt = runtime_for(azurite, emulator, container, routing_rules=rules)
    item_failure(emulator, "IngestionResourceTimeout", ITEMS[:2])
    job = drop(rt, upload_catalog(container, "rr", n_items=4, catalog_id="cat-rr"))
    done = ended(rt, job)
    assert done.state == JobState.SUCCEEDED and calls(emulator, RUN_POST) == 2 and calls(emulator, ING_PATCH) == 1
    first, rerun = runs_of(emulator, done)
    assert first["skipExistingItems"] is False and rerun["skipExistingItems"] is True
    assert '"skipExistingItems": true' in done.ingestion_options and any("turned on" in w for w in done.warnings)
    assert searchable(emulator, "cat-rr") == set(ITEMS)


@pytest.fixture
def slow_start(emulator: Any) -> Iterator[None]:
    """Runs wait 2 s before they start, so a test can change the source under a run that is Pending."""
    emulator.settings.run_start_delay = 2.0
    try:
        yield
    finally:
        emulator.settings.run_start_delay = 0.0  # the emulator is shared by the session


def test_an_authentication_failure_renews_the_sas_before_the_rerun(twin, azurite, emulator, slow_start):
    container, rt = twin
    job = drop(rt, upload_catalog(container, "rr", n_items=2, catalog_id="cat-rr"))
    # The token stops working long before it expires (as after an account-key rotation): its expiry alone
    # would never make the app refresh it.
    good = container_sas(azurite.connection_string, container.container_name, expiry=timedelta(hours=20))
    revoked = good.replace("sig=", "sig=AAAA")
    (source_id,) = job.source_ids
    body = {"kind": "SasToken", "connectionInfo": {"containerUrl": container.url, "sasToken": revoked}}
    GeoCatalogClient(emulator.url, StaticToken(TOKEN)).replace_source(source_id, body)
    emulator.settings.run_start_delay = 0.0
    before = calls(emulator, SRC_PUT)
    done = ended(rt, job)
    first, rerun = runs_of(emulator, done)
    assert first["operation"]["statusHistory"][-1]["errorCode"] == "IngestionAuthenticationFailed"
    assert done.state == JobState.SUCCEEDED, done.last_error  # the re-run read with the renewed SAS
    assert calls(emulator, SRC_PUT) == before + 1 and calls(emulator, RUN_POST) == 2
    assert done.source_ids == [source_id] and searchable(emulator, "cat-rr") == {f"cat-rr-item-{i}" for i in range(2)}
    assert revoked.split("sig=")[1] not in str(done.public())
