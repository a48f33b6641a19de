"""`up` and `down`: the whole twin (Azurite, GeoCatalog emulator, host loop) as background processes."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import certifi
from azure.storage.blob import BlobServiceClient

from local_twin import processes
from local_twin.azurite import Azurite, free_port, start_azurite
from local_twin.hostloop import DELIVERIES_FILE, STATUS_FILE
from local_twin.stackenv import FILE_NAME, PID_KEYS, read_stack_env, update_stack_env, write_stack_env
from local_twin.topic import KEY_ENV
from local_twin.topic import LISTENING as TOPIC_LISTENING

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = ROOT / ".local"
LISTENING = re.compile(r"geocatalog emulator listening on (http://\S+)")
# Which program each PID must still be before `down` signals it (PIDs get recycled).
T = TypeVar("T")
MARKERS = {"HOSTLOOP_PID": "local_twin", "EMULATOR_PID": "geocatalog_emulator", "AZURITE_PID": "azurite",
           "TOPIC_PID": "local_twin.topic"}  # fmt: skip
EVENTS_FILE = "events.jsonl"  # the completion topic stand-in's log (EVENTS_LOG)
TOPIC_KEY = "local-topic-key"


class StackError(RuntimeError):
    """The stack could not be started or found."""


@dataclass
class StackOptions:
    """What `up` starts and with which app settings; the schedules are shortened for local use."""

    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"
    azurite_ports: tuple[int, int, int] | None = None
    emulator_port: int | None = None
    container: str = "catalogs"
    reconcile_schedule: str = "*/2 * * * * *"
    sweep_schedule: str = "0 * * * * *"
    claim_lease_seconds: float = 10.0
    # The settle window, shortened: `drop` uploads a tree's files back to back (gaps of milliseconds), so a few
    # seconds still see a tree of hundreds of files as one, and `make demo` stays quick.
    settle_seconds: float = 3.0
    token: str = "local-dev-token"
    settings: dict[str, str] = field(default_factory=dict)  # any other app setting (ROUTING_RULES, ...)
    emulator_args: list[str] = field(default_factory=list)  # extra `python -m geocatalog_emulator` flags
    timeout: float = 60.0


def stack_env_path(state_dir: Path) -> Path:
    """Where `up` writes the stack's settings and PIDs."""
    return state_dir / FILE_NAME


def running_pids(state_dir: Path) -> dict[str, int]:
    """The stack's PIDs from stack.env that are still alive ({} when there is no stack)."""
    path = stack_env_path(state_dir)
    if not path.exists():
        return {}
    env = read_stack_env(path)
    pids = {k: int(env[k]) for k in PID_KEYS if env.get(k, "").isdigit()}
    return {k: pid for k, pid in pids.items() if processes.alive(pid)}


def ca_bundle(az: Azurite) -> Path:
    """The public CAs plus Azurite's self-signed cert, so a shell that sources stack.env still reaches PyPI."""
    bundle = az.cert_path.with_name("ca-bundle.pem")
    bundle.write_text(Path(certifi.where()).read_text() + "\n" + az.cert_path.read_text())
    return bundle


def _app_settings(opts: StackOptions, az: Azurite) -> dict[str, str]:
    conn = az.connection_string
    return {
        "CATALOG_STORAGE_CONNECTION": conn,
        "LEDGER_STORAGE_CONNECTION": conn,
        "REPORT_STORAGE_CONNECTION": conn,
        # The names the Functions host itself reads for the trigger's connection and its own state.
        "CatalogStorage": conn,
        "AzureWebJobsStorage": conn,
        "CATALOG_CONTAINER": opts.container,
        "GEOCATALOG_STATIC_TOKEN": opts.token,
        "RECONCILE_SCHEDULE": opts.reconcile_schedule,
        "SWEEP_SCHEDULE": opts.sweep_schedule,
        "CLAIM_LEASE_SECONDS": str(opts.claim_lease_seconds),
        "SETTLE_SECONDS": str(opts.settle_seconds),
        # Every https client (requests, azure-core) in every process trusts Azurite's self-signed cert.
        "REQUESTS_CA_BUNDLE": str(ca_bundle(az)),
        **opts.settings,
    }


def _child_env(values: Mapping[str, str]) -> dict[str, str]:
    env = {**os.environ, **values, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def _wait(check: Callable[[], T | None], what: str, timeout: float, proc: subprocess.Popen, log: Path) -> T:
    """Poll `check()` until it returns something truthy; fail early when `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StackError(f"{what} exited with code {proc.returncode}:\n{tail}")
        time.sleep(0.1)
    proc.kill()  # not recorded anywhere yet: nobody else could stop it
    proc.wait()
    raise StackError(f"{what} did not answer within {timeout:.0f}s (see {log})")


def _start_emulator(opts: StackOptions, az: Azurite, env: Mapping[str, str], logs: Path) -> tuple[int, str]:
    port = opts.emulator_port or free_port(opts.host)
    log = logs / "emulator.log"
    offset = log.stat().st_size if log.exists() else 0
    cmd = [
        sys.executable, "-m", "geocatalog_emulator", "--host", opts.host, "--port", str(port),
        "--ca-bundle", str(az.cert_path), "--require-token", opts.token, *opts.emulator_args,
    ]  # fmt: skip
    # Through the environment rather than argv, so the account key does not show in `ps`.
    child_env = {**_child_env(env), "GEOCATALOG_EMULATOR_ASSET_CONNECTION_STRING": az.connection_string}
    proc = processes.spawn(cmd, log, child_env, ROOT)

    def listening() -> str | None:
        text = log.read_text(errors="replace")[offset:] if log.exists() else ""
        m = LISTENING.search(text)
        return m.group(1) if m else None

    url = _wait(listening, "the GeoCatalog emulator", opts.timeout, proc, log)
    hostport = url.split("//", 1)[1].split("/", 1)[0]
    with socket.create_connection((hostport.rsplit(":", 1)[0], int(hostport.rsplit(":", 1)[1])), timeout=5):
        pass
    return proc.pid, url


def _start_topic(opts: StackOptions, env: Mapping[str, str], logs: Path, state_dir: Path) -> tuple[int, str]:
    """The completion topic stand-in (local_twin/topic.py), appending each event to EVENTS_LOG."""
    log = logs / "topic.log"
    offset = log.stat().st_size if log.exists() else 0
    cmd = [sys.executable, "-m", "local_twin.topic", "--host", opts.host, "--log", str(state_dir / EVENTS_FILE)]
    proc = processes.spawn(cmd, log, {**_child_env(env), KEY_ENV: TOPIC_KEY}, ROOT)

    def listening() -> str | None:
        text = log.read_text(errors="replace")[offset:] if log.exists() else ""
        m = re.search(re.escape(TOPIC_LISTENING) + r" (http://\S+)", text)
        return m.group(1) if m else None

    return proc.pid, _wait(listening, "the completion topic stand-in", opts.timeout, proc, log)


def start_hostloop(state_dir: Path, env: Mapping[str, str], timeout: float = 60.0) -> int:
    """Start the host loop for a stack whose settings are in `env`; wait until its first scan."""
    status = state_dir / STATUS_FILE
    status.unlink(missing_ok=True)
    log = state_dir / "logs" / "hostloop.log"
    cmd = [sys.executable, "-m", "local_twin", "--state-dir", str(state_dir), "hostloop"]
    proc = processes.spawn(cmd, log, _child_env(env), ROOT)

    def scanned() -> bool:
        try:
            data = json.loads(status.read_text())
        except (OSError, ValueError):
            return False
        return data.get("pid") == proc.pid and data.get("scans", 0) >= 1

    _wait(scanned, "the host loop", timeout, proc, log)
    return proc.pid


def up(opts: StackOptions) -> dict[str, str]:
    """Start Azurite, the emulator and the host loop; write stack.env; return its values."""
    state_dir = opts.state_dir.resolve()
    if running_pids(state_dir):
        raise StackError(f"a twin is already running from {state_dir} (see {FILE_NAME}); stop it with `make down`")
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Azurite keeps everything in memory: a new stack starts with nothing delivered.
    for name in (DELIVERIES_FILE, STATUS_FILE, EVENTS_FILE):
        (state_dir / name).unlink(missing_ok=True)
    started: list[tuple[str, int]] = []
    try:
        az = start_azurite(state_dir, opts.host, opts.azurite_ports, logs / "azurite.log", detach=True)
        started.append(("AZURITE_PID", az.pid))
        settings = _app_settings(opts, az)
        service = BlobServiceClient.from_connection_string(az.connection_string, connection_verify=str(az.cert_path))
        if not service.get_container_client(opts.container).exists():
            service.create_container(opts.container)
        emulator_pid, emulator_url = _start_emulator(opts, az, settings, logs)
        started.append(("EMULATOR_PID", emulator_pid))
        topic_pid, topic_url = _start_topic(opts, settings, logs, state_dir)
        started.append(("TOPIC_PID", topic_pid))
        settings.update(COMPLETION_TOPIC_ENDPOINT=topic_url, COMPLETION_TOPIC_KEY=TOPIC_KEY)
        values = {
            "GEOCATALOG_ENDPOINT": emulator_url,
            **settings,
            "TWIN_STATE_DIR": str(state_dir),
            "TWIN_HOST": opts.host,
            "AZURITE_BLOB_URL": az.blob_url,
            "AZURITE_BLOB_PORT": str(az.blob_port),
            "AZURITE_QUEUE_PORT": str(az.queue_port),
            "AZURITE_TABLE_PORT": str(az.table_port),
            "EMULATOR_PORT": emulator_url.rsplit(":", 1)[1].rstrip("/"),
            "AZURITE_PID": str(az.pid),
            "EMULATOR_PID": str(emulator_pid),
            "EVENTS_LOG": str(state_dir / EVENTS_FILE),
            "TOPIC_PID": str(topic_pid),
        }
        write_stack_env(stack_env_path(state_dir), values)
        hostloop_pid = start_hostloop(state_dir, values, opts.timeout)
        started.append(("HOSTLOOP_PID", hostloop_pid))
        status = json.loads((state_dir / STATUS_FILE).read_text())
        watched = sorted({s["subject_begins_with"].split("/")[4] for s in status["subscriptions"]})
        return update_stack_env(
            stack_env_path(state_dir), HOSTLOOP_PID=str(hostloop_pid), TWIN_WATCHED_CONTAINERS=",".join(watched)
        )
    except BaseException:
        for key, pid in reversed(started):
            processes.stop_pid(pid, MARKERS[key])
        stack_env_path(state_dir).unlink(missing_ok=True)
        raise


def down(state_dir: Path) -> list[str]:
    """Stop exactly the PIDs in stack.env (host loop, emulator, Azurite) and wait for each to exit."""
    state_dir = state_dir.resolve()
    path = stack_env_path(state_dir)
    if not path.exists():
        return [f"no twin recorded in {path}: nothing to stop"]
    env = read_stack_env(path)
    report = []
    for key in PID_KEYS:
        if env.get(key, "").isdigit():
            report.append(f"{key.removesuffix('_PID').lower()} (PID {env[key]}): "
                          f"{processes.stop_pid(int(env[key]), MARKERS[key])}")  # fmt: skip
    path.unlink()
    return report


def restart_hostloop(state_dir: Path, timeout: float = 60.0) -> int:
    """Stop the host loop (if it still runs) and start a new one for the same stack."""
    state_dir = state_dir.resolve()
    path = stack_env_path(state_dir)
    env = read_stack_env(path)
    if env.get("HOSTLOOP_PID", "").isdigit():
        processes.stop_pid(int(env["HOSTLOOP_PID"]), MARKERS["HOSTLOOP_PID"])
    pid = start_hostloop(state_dir, env, timeout)
    update_stack_env(path, HOSTLOOP_PID=str(pid))
    return pid


def describe(values: Mapping[str, str], extra: Sequence[str] = ()) -> str:
    """The lines `make up` prints: where everything runs and how to drop a catalog."""
    state = values["TWIN_STATE_DIR"]
    return "\n".join(
        [
            f"local twin up (state and logs in {state})",
            f"  Azurite      {values['AZURITE_BLOB_URL']}  (PID {values['AZURITE_PID']})",
            f"  GeoCatalog   {values['GEOCATALOG_ENDPOINT']}  (PID {values['EMULATOR_PID']})",
            f"  events       {values.get('EVENTS_LOG', '-')}  (PID {values.get('TOPIC_PID', '-')})",
            f"  host loop    watching {values['TWIN_WATCHED_CONTAINERS']}  (PID {values['HOSTLOOP_PID']})",
            *extra,
            "Drop a catalog and watch it:",
            "  make drop DIR=samples/demo-catalog",
            "  make status",
            "or, in your shell:",
            f"  set -a; . {state}/{FILE_NAME}; set +a",
            "  .venv/bin/python -m ingest_core drop samples/demo-catalog",
            "  .venv/bin/python -m ingest_core status",
            "Stop it: make down",
        ]
    )
