"""The host loop against a real Azurite: scan, filter, deliver at least once, retry, poison, timers.

The functions here are a small FunctionApp with the same trigger shapes as function_app.py,
recording what they receive; the real app's end-to-end path is covered in tests/e2e.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.storage.blob import BlobServiceClient

from local_twin.azurite import Azurite
from local_twin.deliveries import DELIVERED, POISON
from local_twin.functions import registry
from local_twin.hostloop import HostLoop, HostOptions

FAST = HostOptions(poll_seconds=0.1, max_parallel=2, poison_threshold=3, retry_seconds=0.05)


class Recorder:
    """A FunctionApp shaped like function_app.py whose functions record their inputs."""

    def __init__(self) -> None:
        self.blobs: list[func.InputStream] = []
        self.bodies: list[bytes] = []
        self.events: list[func.EventGridEvent] = []
        self.ticks: list[bool] = []
        self.poisoned: list[dict] = []
        self.fail_blob = 0  # how many blob deliveries to fail before succeeding
        self.hook: Callable[[], None] | None = None  # runs first in the blob function
        self.app = func.FunctionApp()

        @self.app.function_name(name="on_catalog_blob")
        @self.app.blob_trigger(arg_name="blob", path="%CATALOG_CONTAINER%/{name}", connection="CatalogStorage",
                               source=func.BlobSource.EVENT_GRID)  # fmt: skip
        def on_blob(blob: func.InputStream) -> None:
            if self.hook:
                self.hook()
            if self.fail_blob > 0:
                self.fail_blob -= 1
                raise RuntimeError("transient")
            self.bodies.append(blob.read())
            self.blobs.append(blob)

        @self.app.function_name(name="on_blob_event")
        @self.app.event_grid_trigger(arg_name="event")
        def on_event(event: func.EventGridEvent) -> None:
            self.events.append(event)

        @self.app.function_name(name="on_poison_blob")
        @self.app.queue_trigger(arg_name="msg", queue_name="webjobs-blobtrigger-poison", connection="CatalogStorage")
        def on_poison(msg: func.QueueMessage) -> None:
            self.poisoned.append(json.loads(msg.get_body()))

        @self.app.function_name(name="reconcile")
        @self.app.timer_trigger(arg_name="timer", schedule="%RECONCILE_SCHEDULE%", run_on_startup=False)
        def tick(timer: func.TimerRequest) -> None:
            self.ticks.append(timer.past_due)


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def setup(azurite: Azurite, tmp_path: Path) -> Iterator[tuple[Recorder, dict[str, str], BlobServiceClient]]:
    container = f"c{uuid.uuid4().hex[:12]}"
    other = f"o{uuid.uuid4().hex[:12]}"
    env = {
        "GEOCATALOG_ENDPOINT": "http://127.0.0.1:9",
        "CatalogStorage": azurite.connection_string,
        "CATALOG_STORAGE_CONNECTION": azurite.connection_string,
        "LEDGER_STORAGE_CONNECTION": azurite.connection_string,
        "CATALOG_CONTAINER": container,
        "RECONCILE_SCHEDULE": "* * * * * *",
        # A second container that only a routing rule names: it arrives through the Event Grid trigger.
        "ROUTING_RULES": f'[{{"container": "{container}"}}, {{"container": "{other}"}}]',
    }
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container)
    service.create_container(other)
    yield Recorder(), env, service


@contextmanager
def run_loop(rec: Recorder, env: dict[str, str], state: Path, options: HostOptions = FAST) -> Iterator[HostLoop]:
    loop = HostLoop(registry(rec.app, env), env, state, options)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.shutdown()
        thread.join(10)


def test_delivers_catalogs_once_and_again_when_they_change(setup: tuple, tmp_path: Path) -> None:
    rec, env, service = setup
    cc = service.get_container_client(env["CATALOG_CONTAINER"])
    cc.upload_blob("t/items/a.json", b"{}")
    cc.upload_blob("t/catalog.json", b'{"v": 1}')
    with run_loop(rec, env, tmp_path) as loop:
        wait_for(lambda: rec.blobs)
        blob = rec.blobs[0]
        props = cc.get_blob_client("t/catalog.json").get_blob_properties()
        assert blob.name == f"{env['CATALOG_CONTAINER']}/t/catalog.json"
        assert blob.uri == cc.get_blob_client("t/catalog.json").url
        assert blob.length == 8 and rec.bodies == [b'{"v": 1}']
        assert blob.blob_properties["ETag"] == props.etag
        time.sleep(0.5)  # several more scans: the same version is not delivered again, the item never
        assert len(rec.blobs) == 1
        cc.upload_blob("t/catalog.json", b'{"v": 2}', overwrite=True)
        wait_for(lambda: len(rec.blobs) == 2)
        assert rec.bodies[1] == b'{"v": 2}'
        assert loop.status()["deliveries"][DELIVERED] == 1  # one blob, its latest version delivered


def test_failures_are_retried_then_poisoned(setup: tuple, tmp_path: Path) -> None:
    rec, env, service = setup
    cc = service.get_container_client(env["CATALOG_CONTAINER"])
    rec.fail_blob = 2
    cc.upload_blob("ok/catalog.json", b"{}")
    with run_loop(rec, env, tmp_path) as loop:
        wait_for(lambda: rec.blobs)  # third attempt succeeds, within the threshold of 3
        rec.fail_blob = 10
        cc.upload_blob("bad/catalog.json", b"{}")
        wait_for(lambda: loop.status()["deliveries"][POISON] == 1)
        assert rec.fail_blob == 7  # exactly three attempts, then no more
        etag = cc.get_blob_client("bad/catalog.json").get_blob_properties().etag
        # As the blob extension does: the message on its poison queue reaches the queue trigger.
        assert rec.poisoned == [{"Type": "BlobTrigger", "FunctionId": "Host.Functions.on_catalog_blob",
                                 "BlobType": "BlockBlob", "ContainerName": env["CATALOG_CONTAINER"],
                                 "BlobName": "bad/catalog.json", "ETag": etag}]  # fmt: skip
        time.sleep(0.3)
        assert rec.fail_blob == 7


def test_a_restart_redelivers_what_was_in_flight(setup: tuple, tmp_path: Path) -> None:
    rec, env, service = setup
    cc = service.get_container_client(env["CATALOG_CONTAINER"])
    cc.upload_blob("a/catalog.json", b"{}")
    gate = threading.Event()

    def stuck() -> None:
        gate.wait(5)
        raise RuntimeError("the host died mid-function")

    rec.hook = stuck
    loop = HostLoop(registry(rec.app, env), env, tmp_path, FAST)
    loop.scan_once()  # dispatched, never finished: the process "dies" here
    loop.stop.set()
    gate.set()
    loop.pool.shutdown(wait=True)
    assert loop.status()["deliveries"]["pending"] == 1
    rec.hook = None
    with run_loop(rec, env, tmp_path):
        wait_for(lambda: rec.blobs)
        assert rec.blobs[0].name.endswith("a/catalog.json")


def test_routing_rule_containers_reach_the_event_grid_trigger(setup: tuple, tmp_path: Path) -> None:
    rec, env, service = setup
    other = env["ROUTING_RULES"].split('"')[-2]
    service.get_container_client(other).upload_blob("x/catalog.json", b"{}")
    with run_loop(rec, env, tmp_path):
        event = wait_for(lambda: rec.events and rec.events[0])
        assert event.event_type == "Microsoft.Storage.BlobCreated"
        assert event.subject == f"/blobServices/default/containers/{other}/blobs/x/catalog.json"
        assert event.get_json()["api"] == "PutBlob"
        assert not rec.blobs


def test_timers_fire_on_schedule(setup: tuple, tmp_path: Path) -> None:
    rec, env, _ = setup
    with run_loop(rec, env, tmp_path) as loop:
        wait_for(lambda: len(rec.ticks) >= 2, timeout=5)
        assert loop.status()["timers"]["reconcile"]["schedule"] == "* * * * * *"


def test_names_that_need_encoding_arrive_as_the_same_blob(setup: tuple, tmp_path: Path) -> None:
    rec, env, service = setup
    cc = service.get_container_client(env["CATALOG_CONTAINER"])
    cc.upload_blob("my drop/ä#1/catalog.json", b"{}")
    with run_loop(rec, env, tmp_path):
        blob = wait_for(lambda: rec.blobs and rec.blobs[0])
        assert blob.name == f"{env['CATALOG_CONTAINER']}/my drop/ä#1/catalog.json"
        assert blob.uri == cc.get_blob_client("my drop/ä#1/catalog.json").url
        assert "%20" in blob.uri and rec.bodies == [b"{}"]
