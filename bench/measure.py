"""One timed stretch of work and everything it cost: wall time, CPU here and in the services, calls, latencies."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.counting import HttpCounter
from bench.twin import Twin


@dataclass
class Window:
    """What one timed stretch of deliveries cost: wall time, CPU, latencies and every call counted."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    other_cpu_seconds: dict[str, float] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    geocatalog: dict[str, int] = field(default_factory=dict)
    http: dict[str, int] = field(default_factory=dict)
    deliveries: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: Window) -> None:
        """Fold another window into this one (the waves of one phase)."""
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds
        for name, value in other.other_cpu_seconds.items():
            self.other_cpu_seconds[name] = self.other_cpu_seconds.get(name, 0.0) + value
        self.latencies_ms += other.latencies_ms
        for mine, theirs in ((self.geocatalog, other.geocatalog), (self.http, other.http)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.deliveries += other.deliveries
        self.errors += other.errors


def measured(twin: Twin, counter: HttpCounter, work: Callable[[], list[float]]) -> Window:
    """Run `work` (it returns latencies in ms) with every counter zeroed first; what it cost."""
    twin.admin("DELETE", "requests")
    counter.reset()
    cpu, other = time.process_time(), twin.cpu_seconds()
    start = time.perf_counter()
    latencies = work()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    other = {name: round(value - other[name], 3) for name, value in twin.cpu_seconds().items()}
    return Window(seconds, cpu, other, latencies, twin.geocatalog_counts(), counter.snapshot())
