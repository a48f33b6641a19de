"""Start detached background processes and stop exactly the ones we started, by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn(cmd: Sequence[str], log_path: Path, env: Mapping[str, str], cwd: Path) -> subprocess.Popen:
    """Start `cmd` in its own session (it outlives the caller) with output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )


def _stat_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]  # the field after "(comm)"


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie has exited; only its parent hasn't reaped it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _stat_state(pid) not in (None, "Z")


def cmdline(pid: int) -> str:
    """The process's command line ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _reap(pid: int) -> None:
    try:  # our own child: collect it so it does not linger as a zombie
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the process to exit; True when it did."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_pid(pid: int, marker: str, timeout: float = 10.0) -> str:
    """SIGTERM, then SIGKILL after `timeout`, the process `pid` if its command line contains `marker`.

    The marker check guards against a recycled PID: a PID from an old stack.env may by now belong
    to something else, which must not be touched. Returns what happened, for the caller to print.
    """
    if not alive(pid):
        return "not running"
    if marker not in cmdline(pid):
        return f"left alone: PID {pid} is now another program"
    os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, timeout):
        return "stopped"
    os.kill(pid, signal.SIGKILL)
    return "killed" if wait_gone(pid, 5.0) else "still running after SIGKILL"
