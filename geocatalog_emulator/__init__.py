"""A local Microsoft Planetary Computer Pro GeoCatalog data-plane emulator (development and test tool)."""

from .config import API_VERSIONS, Settings
from .server import EmulatorServer

__all__ = ["API_VERSIONS", "EmulatorServer", "Settings"]
