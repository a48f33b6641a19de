"""reconcile and sweep against Azurite and the emulator: the queue drains, stale owned sources go, others stay."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from ingest_core.geocatalog import GeoCatalogClient, StaticToken
from ingest_core.reconcile import reconcile
from ingest_core.states import JobState
from ingest_core.sweep import sweep
from tests.integration.twin_helpers import (
    TOKEN,
    admin,
    drop,
    fresh_emulator,
    new_container,
    reconcile_until,
    runtime_for,
    upload_catalog,
)


@pytest.fixture(autouse=True)
def _clean(emulator):
    fresh_emulator(emulator)


def test_runs_over_the_cap_queue_and_start_when_a_slot_frees(azurite, emulator):
    container = new_container(azurite)
    rt = runtime_for(azurite, emulator, container, max_concurrent_runs=1)
    first = drop(rt, upload_catalog(container, "q1", catalog_id="cat-q1"))
    second = drop(rt, upload_catalog(container, "q2", catalog_id="cat-q2"))
    assert (first.state, second.state) == (JobState.RUNNING, JobState.QUEUED)
    assert second.ingestion_id and not second.run_id
    reconcile_until(rt, first.job_id, lambda j: j.state.terminal)
    second = reconcile_until(rt, second.job_id, lambda j: j.state == JobState.SUCCEEDED)
    assert second.run_id and len(admin(emulator, "state")["runs"]) == 2


def test_sweep_deletes_only_idle_owned_sources_no_unfinished_job_needs(azurite, emulator):
    owned_container, foreign_container = new_container(azurite), new_container(azurite)
    rt = runtime_for(azurite, emulator, owned_container, stale_source_ttl_hours=0.0001,
                     routing_rules=[{"container": owned_container.container_name},
                                    {"container": foreign_container.container_name}])  # fmt: skip
    # Someone else registered the foreign container's source: we adopt it but never delete it.
    sas = rt.storage.mint_container_sas(foreign_container.url, timedelta(hours=1))
    foreign = GeoCatalogClient(emulator.url, StaticToken(TOKEN)).create_source(
        {"kind": "SasToken", "connectionInfo": {"containerUrl": foreign_container.url, "sasToken": sas.token}}
    )
    running = drop(rt, upload_catalog(owned_container, "w", catalog_id="cat-w"))
    adopted = drop(rt, upload_catalog(foreign_container, "x", catalog_id="cat-x"))
    assert adopted.source_ids == [foreign["id"]]
    time.sleep(0.5)  # both sources are now idle past the (tiny) TTL
    assert sweep(rt) == []  # both are needed by unfinished jobs
    reconcile_until(rt, running.job_id, lambda j: j.state.terminal)
    reconcile_until(rt, adopted.job_id, lambda j: j.state.terminal)
    deleted = sweep(rt)
    assert deleted == running.source_ids
    assert [s["id"] for s in admin(emulator, "state")["sources"]] == [foreign["id"]]
    assert rt.ledger.get_source_record(owned_container.url) is None
    # The next drop in the swept container simply registers a new source.
    again = drop(rt, upload_catalog(owned_container, "w2", catalog_id="cat-w2"))
    assert again.state == JobState.RUNNING and again.source_ids not in ("", running.source_ids)


def test_progress_keeps_the_preflight_count_while_the_run_is_pending(azurite, emulator):
    container = new_container(azurite)
    rt = runtime_for(azurite, emulator, container)
    admin(emulator, "config", "PATCH", {"runStartDelayMs": 1500})  # hold the run in Pending
    try:
        job = drop(rt, upload_catalog(container, "p", n_items=4, catalog_id="cat-p"))
        reconcile(rt)
        job = rt.ledger.get(job.job_id)
        assert job.state == JobState.RUNNING and job.total_items == 4
    finally:
        admin(emulator, "config", "PATCH", {"runStartDelayMs": 0})
    assert reconcile_until(rt, job.job_id, lambda j: j.state.terminal).successful_items == 4
