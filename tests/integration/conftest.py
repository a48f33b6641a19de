"""Fixtures of the integration tier: a clean emulator and a fresh container per test."""

from __future__ import annotations

import pytest

from tests.integration.twin_helpers import fresh_emulator, new_container, runtime_for


@pytest.fixture
def twin(azurite, emulator):
    """(container, runtime): a new container and a runtime with its own ledger, against a clean emulator."""
    fresh_emulator(emulator)
    container = new_container(azurite)
    return container, runtime_for(azurite, emulator, container)
