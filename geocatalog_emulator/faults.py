"""Request counting and fault injection (429 with Retry-After, 5xx, latency) per route."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from .errors import ApiError
from .models import new_id

F = TypeVar("F")
FAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable"}


@dataclass
class Fault:
    """One injected fault; `count` is how many more times it may fire (None = forever)."""

    id: str
    route: str
    status: int | None
    rate: float
    count: int | None
    retryAfter: int | None  # noqa: N815 - the admin API's JSON field name
    latencyMs: int  # noqa: N815
    fired: int = 0

    def matches(self, route_key: str) -> bool:
        """Exact "METHOD /template", "*" for every route, or "METHOD *"."""
        method = route_key.split(" ", 1)[0]
        return self.route in ("*", f"{method} *", route_key)


def parse_fault(spec: Any) -> Fault:
    """Validate the admin JSON `{"route", "status", "rate", "count", "retryAfter", "latencyMs"}`."""
    if not isinstance(spec, dict) or not isinstance(spec.get("route"), str):
        raise ValueError('a fault needs a \'route\' such as "POST /inma/ingestion-sources" or "*"')
    status = spec.get("status")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise ValueError("'status' must be an HTTP error status (400-599)")
    rate = float(spec.get("rate", 1.0))
    if not 0.0 <= rate <= 1.0:
        raise ValueError("'rate' must be between 0 and 1")
    count = spec.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("'count' must be a positive integer")
    latency = int(spec.get("latencyMs", 0))
    if status is None and latency <= 0:
        raise ValueError("a fault needs a 'status', a 'latencyMs', or both")
    retry_after = spec.get("retryAfter", 1 if status in (429, 503) else None)
    return Fault(new_id(), spec["route"], status, rate, count, retry_after, max(latency, 0))


class FaultRegistry(Generic[F]):
    """The active faults of one kind; thread-safe, seeded random for reproducible rates."""

    def __init__(
        self, parse: Callable[[Any], F], render: Callable[[F], dict[str, Any]], seed: int | None = None
    ) -> None:
        self._parse, self._render = parse, render
        self._lock = threading.Lock()
        self._faults: list[F] = []
        self._random = random.Random(seed)

    def add(self, spec: Any) -> F:
        """Register a fault from its admin JSON; ValueError when invalid."""
        fault = self._parse(spec)
        with self._lock:
            if "seed" in spec:
                self._random.seed(spec["seed"])
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """The active faults as admin JSON."""
        with self._lock:
            return [self._render(fault) for fault in self._faults]


class Faults(FaultRegistry[Fault]):
    """The active HTTP faults (status, latency) by route."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(parse_fault, asdict, seed)

    def draw(self, route_key: str) -> tuple[int, ApiError | None]:
        """Roll every matching fault once: (latency to add in ms, error to answer or None)."""
        latency, error = 0, None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(route_key) or self._random.random() >= fault.rate:
                    continue
                fault.fired += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                latency += fault.latencyMs
                if error is None and fault.status is not None:
                    error = _fault_error(fault)
        return latency, error


def _fault_error(fault: Fault) -> ApiError:
    headers = {"Retry-After": str(fault.retryAfter)} if fault.retryAfter is not None else {}
    code = FAULT_CODES.get(fault.status or 500, "EmulatedFault")
    return ApiError(fault.status or 500, code, f"Injected fault {fault.id} on '{fault.route}'", headers)


class RequestCounts:
    """Requests seen per "METHOD /route/template", and how many of them were faulted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._faulted: Counter[str] = Counter()

    def record(self, route_key: str, faulted: bool = False) -> None:
        """Count one request."""
        with self._lock:
            self._counts[route_key] += 1
            if faulted:
                self._faulted[route_key] += 1

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._counts.clear()
            self._faulted.clear()

    def snapshot(self) -> dict[str, Any]:
        """Admin JSON: every route key at the top level too, plus {"total", "counts", "faulted"}.

        Route keys ("METHOD /path") never collide with the three summary keys, so callers may use
        either `body["POST /inma/ingestion-sources"]` or `body["counts"][...]`.
        """
        with self._lock:
            counts = dict(sorted(self._counts.items()))
            return {
                **counts,
                "total": sum(counts.values()),
                "counts": counts,
                "faulted": dict(sorted(self._faulted.items())),
            }
