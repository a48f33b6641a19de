"""Shared fixtures: real servers on loopback, started by the tests themselves."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geocatalog_emulator import EmulatorServer  # noqa: E402
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


@pytest.fixture(scope="session")
def emulator(azurite: Azurite) -> Iterator[EmulatorServer]:
    """One GeoCatalog emulator (in process, port 0) copying assets into Azurite, for the whole session.

    Any non-empty bearer token is accepted. Tests that need other settings start their own
    EmulatorServer; tests that change `emulator.settings` must restore them.
    """
    server = EmulatorServer(asset_connection_string=azurite.connection_string, ca_bundle=str(azurite.cert_path)).start()
    try:
        yield server
    finally:
        server.stop()
