"""The product under load: blob events delivered by worker threads into function_app.py's registered functions,
the way the local twin's host loop calls them (local_twin/invoke.py), with nothing of ingest_core in between."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.counting import HttpCounter
from bench.measure import Window, measured
from bench.twin import Twin
from local_twin.functions import BlobTarget, TimerTarget, load_app, registry
from local_twin.invoke import call_blob_trigger, call_timer

BLOB_FUNCTION = "on_catalog_blob"
RECONCILE_FUNCTION = "reconcile"
# The party the bench counts the trigger's own blob read under: the Functions host's, not the app's.
HOST = "host"


class Product:
    """The function app as the Functions host sees it: its registered blob trigger and reconcile timer."""

    def __init__(self, twin: Twin, counter: HttpCounter) -> None:
        self.twin = twin
        self.counter = counter
        found = registry(load_app(), os.environ)
        self.blob_target = _named(found.blobs, BLOB_FUNCTION)
        self.reconcile_target: TimerTarget = _named(found.timers, RECONCILE_FUNCTION)

    def deliver(self, url: str, latencies: list[float]) -> None:
        """One BlobCreated delivery: the host reads the blob (counted as "host"), then calls the function."""

        def timed_call(stream: Any) -> Any:
            with self.counter.party("app"):
                start = time.perf_counter()
                try:
                    return self.blob_target.call(stream)
                finally:
                    latencies.append((time.perf_counter() - start) * 1000)

        target: BlobTarget = dataclasses.replace(self.blob_target, call=timed_call)
        with self.counter.party(HOST):
            if not call_blob_trigger(target, self.twin.blob, {"data": {"url": url}}):
                raise RuntimeError(f"{url} is gone: the bench uploads every catalog before delivering it")

    def run(self, urls: Sequence[str], workers: int) -> Window:
        """Deliver every URL from `workers` threads (the platform's parallel invocations); time the whole."""
        errors: list[str] = []

        def work() -> list[float]:
            latencies: list[float] = []

            def one(url: str) -> None:
                try:
                    self.deliver(url, latencies)
                except Exception as exc:  # the platform would retry; the bench reports it
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])

            with ThreadPoolExecutor(workers, thread_name_prefix="deliver") as pool:
                list(pool.map(one, urls))
            return latencies

        window = measured(self.twin, self.counter, work)
        window.deliveries, window.errors = len(urls), errors
        return window

    def reconcile(self) -> Window:
        """One call of the registered reconcile timer, measured."""

        def work() -> list[float]:
            start = time.perf_counter()
            call_timer(self.reconcile_target, past_due=False)
            return [(time.perf_counter() - start) * 1000]

        return measured(self.twin, self.counter, work)

    def drain(self, latency_ms: int) -> None:
        """Untimed, between waves: cancel the held runs and let reconcile end their jobs, so the app's run cap
        (MAX_CONCURRENT_RUNS, at most 100) never holds back the next wave."""
        self.twin.set_latency(0)
        try:
            self.twin.cancel_all_runs()
            call_timer(self.reconcile_target, past_due=False)
        finally:
            self.twin.set_latency(latency_ms)


def _named(targets: Sequence[Any], name: str) -> Any:
    for target in targets:
        if target.name == name:
            return target
    raise LookupError(f"function_app.py registers no function {name!r} (found {[t.name for t in targets]})")
