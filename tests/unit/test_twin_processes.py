"""Stopping by PID: only the program we started, and a zombie counts as gone."""

from __future__ import annotations

import subprocess
import sys

from local_twin.processes import alive, cmdline, stop_pid, wait_gone


def test_stop_only_when_the_pid_is_still_our_program() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert alive(proc.pid) and "time.sleep" in cmdline(proc.pid)
        assert stop_pid(proc.pid, "geocatalog_emulator").startswith("left alone")
        assert alive(proc.pid)
        assert stop_pid(proc.pid, "time.sleep") == "stopped"
        assert not alive(proc.pid)
        assert stop_pid(proc.pid, "time.sleep") == "not running"
    finally:
        proc.kill()
        proc.wait()


def test_an_exited_child_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert wait_gone(proc.pid, 10)
    assert not alive(proc.pid)
