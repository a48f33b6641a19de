"""HTTP calls counted in the bench process, by service (blob, table, geocatalog) and by who made them.

Every client in this process (azure-core's RequestsTransport, the app's GeoCatalog client, the manual script's
`requests.post`) ends in `requests.Session.send`, so one wrapper there sees each HTTP request once, retries included,
whatever pools or threads the app uses. Nothing here knows ingest_core.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests

# Requests to the emulator's own control surface: the bench's, never the app's.
ADMIN_PREFIX = "/_emulator"
# The party a thread works for when it did not say: the app (its own pools and threads included).
DEFAULT_PARTY = "app"


def classify(url: str, services: dict[int, str]) -> str:
    """The service a request URL goes to, by port; "admin" for the emulator's control routes, else "other"."""
    parts = urlsplit(url)
    service = services.get(parts.port or 0, "other")
    if service == "geocatalog" and (parts.path == ADMIN_PREFIX or parts.path.startswith(ADMIN_PREFIX + "/")):
        return "admin"
    return service


class HttpCounter:
    """Counts every HTTP request sent while installed, keyed "party service" (e.g. "app table", "host blob")."""

    def __init__(self, services: dict[int, str]) -> None:
        self._services = services  # port -> service name
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._local = threading.local()
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        """Wrap requests.Session.send."""
        if self._original is not None:
            return
        original = self._original = requests.Session.send
        counter = self

        def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            counter.record(
                getattr(counter._local, "party", DEFAULT_PARTY), classify(request.url or "", counter._services)
            )
            return original(session, request, **kwargs)

        requests.Session.send = send  # type: ignore[method-assign]

    def uninstall(self) -> None:
        """Put requests.Session.send back."""
        if self._original is not None:
            requests.Session.send = self._original  # type: ignore[method-assign]
            self._original = None

    def record(self, party: str, service: str) -> None:
        """Count one request."""
        with self._lock:
            self._counts[f"{party} {service}"] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Zero every count."""
        with self._lock:
            self._counts.clear()

    @contextmanager
    def party(self, name: str) -> Iterator[None]:
        """Attribute this thread's requests inside the block to `name` (e.g. "host" for the trigger's own read)."""
        previous = getattr(self._local, "party", DEFAULT_PARTY)
        self._local.party = name
        try:
            yield
        finally:
            self._local.party = previous


def per_unit(counts: dict[str, int], party: str, service: str, units: int) -> float | None:
    """Requests of one party to one service, divided by `units` (drops or catalogs); None for no units."""
    return round(counts.get(f"{party} {service}", 0) / units, 2) if units else None
