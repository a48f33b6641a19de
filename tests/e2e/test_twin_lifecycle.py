"""`make up` / `make down` / `make demo` as commands: ports, stack.env, PIDs, and nothing left running."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from local_twin.azurite import free_port
from local_twin.processes import alive
from local_twin.stackenv import PID_KEYS, read_stack_env
from tests.e2e.twin import ROOT, SAMPLE, item_ids, local_twin

pytestmark = pytest.mark.e2e


def test_up_on_configured_ports_then_down_leaves_nothing_running(tmp_path: Path) -> None:
    blob, queue, table, emulator = (free_port() for _ in range(4))
    out = local_twin(tmp_path, "up", "--azurite-ports", f"{blob},{queue},{table}", "--emulator-port", str(emulator))
    assert "make drop" in out.stdout  # it tells the user how to drop a catalog
    env = read_stack_env(tmp_path / "stack.env")
    pids = {key: int(env[key]) for key in PID_KEYS}
    try:
        assert all(alive(pid) for pid in pids.values())
        assert env["GEOCATALOG_ENDPOINT"] == f"http://127.0.0.1:{emulator}"
        assert f"BlobEndpoint=https://127.0.0.1:{blob}/devstoreaccount1" in env["CATALOG_STORAGE_CONNECTION"]
        assert env["TWIN_WATCHED_CONTAINERS"] == env["CATALOG_CONTAINER"] == "catalogs"
        for port in (blob, queue, table):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert requests.get(env["GEOCATALOG_ENDPOINT"] + "/_emulator/config", timeout=5).ok
        status = json.loads((tmp_path / "hostloop.json").read_text())
        assert status["pid"] == pids["HOSTLOOP_PID"]
        assert {s["function"] for s in status["subscriptions"]} == {"on_catalog_blob"}
        assert set(status["timers"]) == {"reconcile", "sweep"}
        again = subprocess.run([sys.executable, "-m", "local_twin", "--state-dir", str(tmp_path), "up"],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        local_twin(tmp_path, "down")
    assert not [key for key, pid in pids.items() if alive(pid)]
    assert not (tmp_path / "stack.env").exists()
    assert "nothing to stop" in local_twin(tmp_path, "down").stdout


def test_demo_finds_every_sample_item_and_tears_down(tmp_path: Path) -> None:
    out = local_twin(tmp_path, "demo", "--down", "--reconcile-schedule", "* * * * * *", timeout=240).stdout
    n = len(item_ids(SAMPLE))
    assert "SUCCEEDED" in out
    assert f"{n} of {n} sample items found through STAC search" in out
    pids = {int(pid) for pid in re.findall(r"\(PID (\d+)\)", out)}
    assert len(pids) == len(PID_KEYS) and not [pid for pid in pids if alive(pid)]
    assert not (tmp_path / "stack.env").exists()
