"""The end-to-end fixture: one twin for the package, started exactly as `make up` starts it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_twin.processes import alive
from tests.e2e.twin import TWIN_FLAGS, Twin, local_twin


@pytest.fixture(scope="package")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    """One twin for the e2e package, started with the same command as `make up` and stopped like `make down`."""
    state_dir = tmp_path_factory.mktemp("twin")
    local_twin(state_dir, "up", *TWIN_FLAGS)
    t = Twin(state_dir)
    pids = t.pids()
    try:
        yield t
    finally:
        local_twin(state_dir, "down")
        assert not [k for k, pid in pids.items() if alive(pid)], "make down left a process of the stack running"
