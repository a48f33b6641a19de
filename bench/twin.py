"""The bench's twin: Azurite and the GeoCatalog emulator as processes of their own, and the app settings the
local twin gives the function app (so the bench process's CPU time is the app's and the bench's only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from azure.storage.blob import BlobServiceClient

from local_twin.azurite import Azurite, free_port, start_azurite
from local_twin.stack import StackOptions, _app_settings  # the twin's own settings, not a copy of them

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"geocatalog emulator listening on (http://\S+)")
# Runs stay Pending this long: nothing ingests while submission is timed.
HOLD_RUNS_MS = 3_600_000
# Clock ticks per second for /proc/<pid>/stat CPU times.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Twin:
    """Azurite, the emulator, and the app settings (already in os.environ) that point the app at them."""

    azurite: Azurite
    emulator_url: str
    emulator_pid: int
    settings: dict[str, str]
    blob: BlobServiceClient

    @property
    def token(self) -> str:
        """The bearer token the emulator accepts (the twin's static token)."""
        return self.settings["GEOCATALOG_STATIC_TOKEN"]

    @property
    def ports(self) -> dict[int, str]:
        """Port -> service, for the HTTP counter."""
        port = int(self.emulator_url.rsplit(":", 1)[1].split("/", 1)[0])
        return {self.azurite.blob_port: "blob", self.azurite.table_port: "table", port: "geocatalog"}

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the emulator's admin API (/_emulator/...)."""
        resp = requests.request(method, f"{self.emulator_url}/_emulator/{path}", json=body, timeout=30)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def fresh_geocatalog(self, latency_ms: int) -> None:
        """Forget every GeoCatalog resource and count, then add `latency_ms` to every service call."""
        self.admin("POST", "reset")
        self.set_latency(latency_ms)

    def set_latency(self, latency_ms: int) -> None:
        """Replace the latency fault: `latency_ms` added to every GeoCatalog call (0: none)."""
        self.admin("DELETE", "faults")
        if latency_ms:
            self.admin("POST", "faults", {"route": "*", "latencyMs": latency_ms})

    def geocatalog_counts(self) -> dict[str, int]:
        """Requests the emulator served since the last reset, by "METHOD /route/template"."""
        return dict(self.admin("GET", "requests")["counts"])

    def cancel_all_runs(self) -> None:
        """Cancel every pending operation (the held runs), as `cancel_all_operations` does."""
        resp = requests.delete(
            f"{self.emulator_url}/inma/operations",
            params={"api-version": self.settings.get("GEOCATALOG_API_VERSION", "2026-04-15")},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        resp.raise_for_status()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) so far of the two service processes."""
        return {"azurite": process_cpu(self.azurite.pid), "emulator": process_cpu(self.emulator_pid)}


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _start_emulator(state_dir: Path, az: Azurite, token: str, stack: ExitStack) -> tuple[str, int]:
    log = state_dir / "emulator.log"
    cmd = [
        sys.executable, "-m", "geocatalog_emulator", "--host", "127.0.0.1", "--port", str(free_port()),
        "--ca-bundle", str(az.cert_path), "--require-token", token,
        "--run-start-delay-ms", str(HOLD_RUNS_MS), "--log-level", "WARNING",
    ]  # fmt: skip
    # The account key goes through the environment, not argv (as the twin does).
    env = {**os.environ, "GEOCATALOG_EMULATOR_ASSET_CONNECTION_STRING": az.connection_string, "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    stack.callback(stop)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            return found.group(1), proc.pid
        if proc.poll() is not None:
            raise RuntimeError(f"the GeoCatalog emulator exited ({proc.returncode}): {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"the GeoCatalog emulator did not start within 60 s (see {log})")


@contextmanager
def started_twin(containers: list[str], max_concurrent_runs: int) -> Iterator[Twin]:
    """Start both services, create the containers, put the twin's app settings (every container watched by a
    routing rule) in os.environ; stop both and restore the environment after."""
    saved = dict(os.environ)
    with ExitStack() as stack:
        state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        az = start_azurite(state_dir, log_path=state_dir / "azurite.log")
        stack.callback(az.stop)
        rules = json.dumps([{"container": name} for name in containers])
        # No settle window: the bench times submission, and its catalogs are complete before the first delivery
        # (the manual procedure has no such wait either); production keeps SETTLE_SECONDS or a ready marker.
        opts = StackOptions(state_dir=state_dir, container=containers[0], settle_seconds=0,
                            settings={"ROUTING_RULES": rules, "MAX_CONCURRENT_RUNS": str(max_concurrent_runs)})  # fmt: skip
        settings = _app_settings(opts, az)
        os.environ.update(settings)  # REQUESTS_CA_BUNDLE among them: every https client trusts Azurite
        stack.callback(lambda: (os.environ.clear(), os.environ.update(saved)))
        url, pid = _start_emulator(state_dir, az, settings["GEOCATALOG_STATIC_TOKEN"], stack)
        settings["GEOCATALOG_ENDPOINT"] = url
        os.environ["GEOCATALOG_ENDPOINT"] = url
        blob = BlobServiceClient.from_connection_string(az.connection_string)
        for name in containers:
            blob.create_container(name)
        yield Twin(az, url, pid, settings, blob)
