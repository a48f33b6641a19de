"""The benchmark's twin: Azurite and the in-process GeoCatalog emulator, plus per-call HTTP counting."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.storage.blob import ContainerClient

from geocatalog_emulator import EmulatorServer
from ingest_core.events import drop_from_blob_trigger
from ingest_core.ledger import Job
from ingest_core.runtime import Runtime
from local_twin.azurite import Azurite, start_azurite
from tests.integration.twin_helpers import admin, new_container, runtime_for

# The emulator's runs stay Pending this long, so no ingestion work competes with the drop being timed.
HOLD_RUNS_SECONDS = 3600.0
# Items per catalog in the per-drop cases: small, so the fixed costs show.
CASE_ITEMS = 5


@dataclass
class Recording:
    """HTTP requests one thread sent: counts by "service METHOD", and ms spent in send() by service."""

    counts: Counter[str] = field(default_factory=Counter)
    ms: dict[str, float] = field(default_factory=dict)


class HttpTally:
    """Counts and times the HTTP requests the recording thread sends, while installed."""

    def __init__(self, services: dict[int, str]) -> None:
        self._services = services  # port -> name
        self._thread: int | None = None
        self._rec = Recording()
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        """Wrap requests.Session.send (azure-core and the GeoCatalog client both end there)."""
        original = self._original = requests.Session.send
        tally = self

        def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            if threading.get_ident() != tally._thread:
                return original(session, request, **kwargs)
            service = tally._services.get(urlsplit(request.url or "").port or 0, "other")
            start = time.perf_counter()
            try:
                return original(session, request, **kwargs)
            finally:
                rec = tally._rec
                rec.counts[f"{service} {request.method}"] += 1
                rec.ms[service] = rec.ms.get(service, 0.0) + (time.perf_counter() - start) * 1000

        requests.Session.send = send  # type: ignore[method-assign]

    def uninstall(self) -> None:
        """Put requests.Session.send back."""
        if self._original is not None:
            requests.Session.send = self._original  # type: ignore[method-assign]
            self._original = None

    @contextmanager
    def recording(self) -> Iterator[Recording]:
        """Record this thread's requests inside the block."""
        self._rec = Recording()
        self._thread = threading.get_ident()
        try:
            yield self._rec
        finally:
            self._thread = None


@dataclass
class Sample:
    """One timed call: wall time, end state, GeoCatalog calls by route and HTTP calls by service."""

    ms: float
    state: str
    geocatalog: dict[str, int] = field(default_factory=dict)
    http: dict[str, int] = field(default_factory=dict)
    http_ms: dict[str, float] = field(default_factory=dict)
    job: Job | None = field(default=None, repr=False)

    @property
    def geocatalog_calls(self) -> int:
        """Every GeoCatalog request the emulator served during the call."""
        return sum(self.geocatalog.values())

    def storage(self, prefix: str) -> int:
        """HTTP calls to one storage service ("blob", "blob GET", "table")."""
        return sum(n for key, n in self.http.items() if key == prefix or key.startswith(prefix + " "))


@dataclass
class Twin:
    """Azurite, the emulator and the HTTP tally, started together."""

    azurite: Azurite
    emulator: EmulatorServer
    tally: HttpTally
    pool: list[ContainerClient] = field(default_factory=list)

    def runtime(self, n_containers: int, **overrides: Any) -> Runtime:
        """One warm runtime (like one Functions worker) whose routing rules watch n fresh containers."""
        self.pool = [new_container(self.azurite) for _ in range(n_containers)]
        rules = [{"container": box.container_name} for box in self.pool]
        return runtime_for(self.azurite, self.emulator, self.pool[0], routing_rules=rules, **overrides)

    def container(self) -> ContainerClient:
        """A watched container that no drop has used yet."""
        return self.pool.pop()

    def admin(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call the emulator's admin API."""
        return admin(self.emulator, path, method, body)

    def reset(self, latency_ms: int = 0) -> None:
        """Forget every GeoCatalog resource; with latency_ms, delay every service call by that much."""
        self.admin("reset", "POST")
        if latency_ms:
            self.admin("faults", "POST", {"route": "*", "latencyMs": latency_ms})

    def measure(self, call: Callable[..., Job | None], *args: Any) -> Sample:
        """Time call(*args) and count the GeoCatalog and storage requests it made."""
        self.admin("requests", "DELETE")
        with self.tally.recording() as rec:
            start = time.perf_counter()
            job = call(*args)
            ms = (time.perf_counter() - start) * 1000
        counts = self.admin("requests")["counts"]
        return Sample(ms, job.state.value if job else "not ours", dict(counts), dict(rec.counts), rec.ms, job)

    def cancel_runs(self, rt: Runtime) -> None:
        """Cancel the held runs so their waiting threads end (not counted: counters reset per sample)."""
        rt.geocatalog.request("DELETE", "/inma/operations", expected=(204,))


def set_emulator_nodelay(server: EmulatorServer, on: bool) -> None:
    """TCP_NODELAY on the emulator's sockets from the next connection on (on by default since the fix).

    The emulator writes a response's headers and body in two send() calls; without it, on a kept-alive
    connection each call waits for the client's delayed ACK (about 40 ms on Linux).
    """
    server._httpd.RequestHandlerClass.disable_nagle_algorithm = on  # the stdlib StreamRequestHandler switch


@contextmanager
def started_twin(nodelay: bool = True) -> Iterator[Twin]:
    """Start Azurite (https, in memory) and the emulator the way the integration tests do; stop both after."""
    with ExitStack() as stack:
        state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        azurite = start_azurite(state_dir)
        stack.callback(azurite.stop)
        # Every https client in this process (requests, azure-core) trusts Azurite's self-signed cert.
        os.environ["REQUESTS_CA_BUNDLE"] = str(azurite.cert_path)
        emulator = EmulatorServer(
            asset_connection_string=azurite.connection_string,
            ca_bundle=str(azurite.cert_path),
            run_start_delay=HOLD_RUNS_SECONDS,
        ).start()
        stack.callback(emulator.stop)
        set_emulator_nodelay(emulator, nodelay)
        services = {azurite.blob_port: "blob", azurite.table_port: "table", emulator.port: "geocatalog"}
        tally = HttpTally(services)
        tally.install()
        stack.callback(tally.uninstall)
        yield Twin(azurite, emulator, tally)


def drop_for(rt: Runtime, url: str) -> Any:
    """The Drop the blob trigger would hand over for this blob now (its current ETag)."""
    return drop_from_blob_trigger(url, rt.storage.blob_etag(url))
