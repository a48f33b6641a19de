"""`.local/stack.env`: the running twin's settings, ports and PIDs as shell-sourceable KEY='VALUE' lines."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

FILE_NAME = "stack.env"
PID_KEYS = ("HOSTLOOP_PID", "TOPIC_PID", "EMULATOR_PID", "AZURITE_PID")  # stop order: consumers first


def write_stack_env(path: Path, values: Mapping[str, str]) -> None:
    """Write (atomically) one KEY='VALUE' line per entry, quoted so `. stack.env` works in sh."""
    lines = ["# The local twin's settings; source it with: set -a; . .local/stack.env; set +a"]
    lines += [f"{key}={shlex.quote(str(value))}" for key, value in values.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read_stack_env(path: Path) -> dict[str, str]:
    """Parse a file written by `write_stack_env` (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        parts = shlex.split(raw)
        values[key.strip()] = parts[0] if parts else ""
    return values


def update_stack_env(path: Path, **changes: str) -> dict[str, str]:
    """Change some keys in place and return the new values."""
    values = read_stack_env(path)
    values.update(changes)
    write_stack_env(path, values)
    return values
