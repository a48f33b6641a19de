"""stack.env: written by `make up`, sourced by the Makefile and users' shells, read back by `down`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from local_twin.stackenv import read_stack_env, update_stack_env, write_stack_env

CONN = (
    "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=abc/+==;BlobEndpoint=https://127.0.0.1:1/x;"
)


def test_round_trip_and_update(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    values = {"CATALOG_STORAGE_CONNECTION": CONN, "RECONCILE_SCHEDULE": "*/2 * * * * *", "ODD": "it's $HOME `x`"}
    write_stack_env(path, values)
    assert read_stack_env(path) == values
    assert update_stack_env(path, HOSTLOOP_PID="42")["HOSTLOOP_PID"] == "42"
    assert read_stack_env(path) == {**values, "HOSTLOOP_PID": "42"}


def test_the_shell_sources_it_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    values = {"CATALOG_STORAGE_CONNECTION": CONN, "SWEEP_SCHEDULE": "0 */30 * * * *", "ODD": "it's $HOME `x`"}
    write_stack_env(path, values)
    script = f'set -a; . "{path}"; set +a; printf "%s\\n" "$CATALOG_STORAGE_CONNECTION" "$SWEEP_SCHEDULE" "$ODD"'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == list(values.values())
