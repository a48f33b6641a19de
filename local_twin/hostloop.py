"""The local host loop: stands in for the Functions host and Event Grid.

It polls the watched containers in Azurite, turns each new or changed blob into the
BlobCreated event storage would publish, applies the subscription filter infra/ deploys,
and delivers what passes to the functions registered in function_app.py: at least once,
with retries and a poison threshold like the blob extension. It also runs the timers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from ingest_core.events import parse_blob_url
from ingest_core.settings import POISON_QUEUE, load_settings
from local_twin.deliveries import DELIVERED, GONE, POISON, DeliveryLog
from local_twin.functions import Registry
from local_twin.invoke import call_blob_trigger, call_event_grid_trigger
from local_twin.subscription import Subscription, event_for_blob
from local_twin.timers import TimerRunner

log = logging.getLogger("local_twin.hostloop")

STATUS_FILE = "hostloop.json"
DELIVERIES_FILE = "deliveries.json"


@dataclass(frozen=True)
class HostOptions:
    """How the loop behaves; defaults follow host.json where the project has one."""

    poll_seconds: float = 0.5
    max_parallel: int = 4  # extensions.blobs.maxDegreeOfParallelism
    poison_threshold: int = 5  # extensions.blobs.poisonBlobThreshold (the extension's default)
    retry_seconds: float = 1.0  # first retry delay; doubles per attempt
    retry_cap_seconds: float = 10.0

    @classmethod
    def from_host_json(cls, path: Path, env: Mapping[str, str]) -> HostOptions:
        """Read extensions.blobs from host.json, then TWIN_* environment overrides."""
        blobs: dict[str, Any] = {}
        if path.exists():
            blobs = json.loads(path.read_text()).get("extensions", {}).get("blobs", {})
        return cls(
            poll_seconds=float(env.get("TWIN_POLL_SECONDS", cls.poll_seconds)),
            max_parallel=int(blobs.get("maxDegreeOfParallelism", cls.max_parallel)),
            poison_threshold=int(env.get("TWIN_POISON_THRESHOLD", blobs.get("poisonBlobThreshold", 5))),
            retry_seconds=float(env.get("TWIN_RETRY_SECONDS", cls.retry_seconds)),
        )


@dataclass(frozen=True)
class Route:
    """A subscription and how to hand an accepted event to its function."""

    subscription: Subscription
    deliver: Callable[[dict[str, Any]], bool]  # False: the blob is gone, nothing was called


def connection_for(name: str, env: Mapping[str, str]) -> str:
    """The connection string behind a binding's `connection` setting (CATALOG_STORAGE_CONNECTION as fallback)."""
    conn = env.get(name) or env.get("CATALOG_STORAGE_CONNECTION")
    if not conn:
        raise ValueError(f"connection setting {name} (or CATALOG_STORAGE_CONNECTION) is not set")
    return conn


def build_routes(registry: Registry, env: Mapping[str, str]) -> tuple[list[Route], dict[str, BlobServiceClient]]:
    """One route per blob trigger, plus Event Grid routes for the routing rules' other containers."""
    settings = load_settings(env)
    # As infra/ deploys them: one subscription per suffix, `.parquet` too when a rule takes stac-geoparquet.
    suffixes = [settings.catalog_suffix] + [".parquet"] * any(r.stac_geoparquet for r in settings.rules_or_default())
    routes: list[Route] = []
    services: dict[str, BlobServiceClient] = {}  # container -> client used to list it
    for target in registry.blobs:
        service = BlobServiceClient.from_connection_string(connection_for(target.connection, env))
        services[target.container] = service
        for suffix in suffixes:
            sub = Subscription(target.container, target.prefix, suffix, target.name)
            routes.append(Route(sub, lambda ev, t=target, s=service: call_blob_trigger(t, s, ev)))
    # Containers that only routing rules name reach the app as Event Grid events (another topic).
    catalog_service = BlobServiceClient.from_connection_string(settings.catalog_connection)
    for container in sorted({r.container for r in settings.rules_or_default()} - set(services)):
        for target in registry.event_grid:
            services[container] = catalog_service
            for suffix in suffixes:
                routes.append(
                    Route(
                        Subscription(container, "", suffix, target.name),
                        lambda ev, t=target: call_event_grid_trigger(t, ev) is None,
                    )
                )
    return routes, services


class HostLoop:
    """Scan, filter, deliver with retries; keep the timers running."""

    def __init__(self, registry: Registry, env: Mapping[str, str], state_dir: Path, options: HostOptions) -> None:
        self.options = options
        self.state_dir = state_dir
        self.registry = registry
        self.routes, self.services = build_routes(registry, env)
        self.deliveries = DeliveryLog(state_dir / DELIVERIES_FILE)
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(options.max_parallel, thread_name_prefix="deliver")
        self.timers = [TimerRunner(t, self.stop) for t in registry.timers]
        self._in_flight: set[tuple[str, str]] = set()
        self._settled: set[tuple[str, str]] = set()  # versions filtered out or done: skipped cheaply
        self._lock = threading.Lock()
        self.started_at = datetime.now(UTC).isoformat()
        self.scans = 0

    def scan_once(self) -> int:
        """List every watched container once and dispatch the versions not delivered yet."""
        dispatched = 0
        for container, service in self.services.items():
            client = service.get_container_client(container)
            try:
                blobs = list(client.list_blobs(include=["copy"]))
            except ResourceNotFoundError:
                continue  # not created yet: nothing can have been uploaded to it
            for blob in blobs:
                url = client.get_blob_client(blob.name).url  # percent-encoded, as in a real event's data.url
                key = (url, blob.etag)
                with self._lock:
                    if key in self._settled or key in self._in_flight:
                        continue
                event = event_for_blob(url, blob.etag, blob.size, blob.content_settings.content_type,
                                       blob.copy.id if blob.copy else None, sequencer="")  # fmt: skip
                routes = [
                    r for r in self.routes if r.subscription.container == container and r.subscription.accepts(event)
                ]
                rec = self.deliveries.observe(url, blob.etag) if routes else None
                if rec is None:  # filtered out, or settled before a restart
                    with self._lock:
                        self._settled.add(key)
                    continue
                event["data"]["sequencer"] = rec.sequencer
                with self._lock:
                    self._in_flight.add(key)
                self.pool.submit(self._deliver, key, event, routes, rec.attempts)
                dispatched += 1
        self.scans += 1
        return dispatched

    def _deliver(self, key: tuple[str, str], event: dict[str, Any], routes: list[Route], attempts: int) -> None:
        """Deliver to every matching route; retry with backoff up to the poison threshold."""
        url, etag = key
        pending = list(routes)
        outcome = DELIVERED
        try:
            while pending and not self.stop.is_set():
                attempts += 1
                failed: list[Route] = []
                for route in pending:
                    try:
                        if not route.deliver(event):
                            outcome = GONE
                            log.info("%s: blob gone before delivery to %s", url, route.subscription.function)
                    except Exception:
                        log.exception("delivery %d of %s (%s) to %s failed", attempts, url, etag,
                                      route.subscription.function)  # fmt: skip
                        failed.append(route)
                pending = failed
                if pending and attempts >= self.options.poison_threshold:
                    outcome = POISON
                    log.error("poison: %s (%s) failed %d deliveries; not retried until the blob changes",
                              url, etag, attempts)  # fmt: skip
                    self._to_poison_queue(url, etag, attempts)
                    break
                if pending:
                    delay = min(self.options.retry_cap_seconds, self.options.retry_seconds * 2 ** (attempts - 1))
                    self.stop.wait(delay)
            if self.stop.is_set() and pending:
                return  # interrupted: left pending, so the next loop delivers it again
            self.deliveries.finish(url, etag, outcome, attempts)
            if outcome == DELIVERED:
                log.info("delivered %s (%s) after %d attempt(s)", url, etag, attempts)
            with self._lock:
                self._settled.add(key)
        finally:
            with self._lock:
                self._in_flight.discard(key)

    def _to_poison_queue(self, url: str, etag: str, attempts: int) -> None:  # noqa: ARG002 (the host logs it)
        """What the blob extension does at its poison threshold: a message on the poison queue, whose trigger runs."""
        _, container, path = parse_blob_url(url)
        body = json.dumps({"Type": "BlobTrigger", "FunctionId": "Host.Functions.on_catalog_blob", "BlobType": "BlockBlob",
                           "ContainerName": container, "BlobName": path, "ETag": f'"{etag}"'})  # fmt: skip
        for target in self.registry.queues:
            if target.queue == POISON_QUEUE:
                try:
                    target.call(func.QueueMessage(body=body.encode()))
                except Exception:
                    log.exception("poison-queue function %s failed for %s", target.name, url)

    def status(self) -> dict[str, Any]:
        """What the loop is doing, for `hostloop.json` (make up waits for it; tests read it)."""
        with self._lock:
            in_flight = len(self._in_flight)
        return {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": datetime.now(UTC).isoformat(),
            "scans": self.scans,
            "in_flight": in_flight,
            "deliveries": self.deliveries.counts(),
            "subscriptions": [
                {
                    "function": r.subscription.function,
                    "subject_begins_with": r.subscription.subject_begins_with,
                    "subject_ends_with": r.subscription.subject_ends_with,
                }
                for r in self.routes
            ],  # fmt: skip
            "timers": {
                t.target.name: {
                    "schedule": t.target.schedule.expression,
                    "runs": t.runs,
                    "failures": t.failures,
                    "last_run": t.last_run,
                }
                for t in self.timers
            },  # fmt: skip
        }

    def _write_status(self) -> None:
        path = self.state_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(), indent=1))
        os.replace(tmp, path)

    def run(self) -> None:
        """Until stopped: scan every poll interval and keep the timers running."""
        for timer in self.timers:
            timer.start()
        log.info("host loop up: %s", ", ".join(f"{r.subscription.subject_begins_with}*"
                                              f"{r.subscription.subject_ends_with} -> {r.subscription.function}"
                                              for r in self.routes))  # fmt: skip
        while not self.stop.is_set():
            try:
                self.scan_once()
            except Exception:  # Azurite restarting, a network blip: keep going like the host would
                log.exception("scan failed")
            self._write_status()
            self.stop.wait(self.options.poll_seconds)

    def shutdown(self, grace: float = 5.0) -> None:
        """Stop scanning and timers; give in-flight deliveries `grace` seconds to finish."""
        self.stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                if not self._in_flight:
                    break
            time.sleep(0.05)
        self._write_status()
