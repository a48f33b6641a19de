"""Shared fixtures: real servers on loopback, started by the tests themselves."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_twin.azurite import Azurite, start_azurite  # noqa: E402


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite (https, --oauth basic, in memory) for the whole session."""
    az = start_azurite(tmp_path_factory.mktemp("azurite"))
    # Every https client in this process (requests, azure-core) trusts Azurite's self-signed cert.
    os.environ["REQUESTS_CA_BUNDLE"] = str(az.cert_path)
    try:
        yield az
    finally:
        az.stop()
