"""Run the timer functions on their NCRONTAB schedules (UTC, like the host's default), one thread each."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from local_twin.functions import TimerTarget
from local_twin.invoke import call_timer

log = logging.getLogger("local_twin.timers")
# Seconds of schedule to look back over after a long pause (a run that overran, a suspended laptop).
MAX_BACKLOG = 3600


class TimerRunner(threading.Thread):
    """Fires one timer function at each occurrence of its schedule; never overlaps itself.

    Occurrences missed while a run was still going collapse into one late run with
    past_due=True, as the host does for a timer with use_monitor.
    """

    def __init__(self, target: TimerTarget, stop: threading.Event, tick: float = 0.2,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        super().__init__(name=f"timer-{target.name}", daemon=True)
        self.target, self.stop, self.tick, self.clock = target, stop, tick, clock
        self.runs = 0
        self.failures = 0
        self.last_run: str | None = None

    def due(self, after: int, until: int) -> int | None:
        """The last occurrence in the seconds (after, until], or None."""
        start = max(after + 1, until - MAX_BACKLOG)
        for second in range(until, start - 1, -1):
            if self.target.schedule.matches(datetime.fromtimestamp(second, UTC)):
                return second
        return None

    def fire(self, past_due: bool) -> None:
        """Run the function once; an exception is logged, as the host logs a failed invocation."""
        self.last_run = datetime.now(UTC).isoformat()
        self.runs += 1
        try:
            call_timer(self.target, past_due)
        except Exception:
            self.failures += 1
            log.exception("timer %s failed", self.target.name)

    def run(self) -> None:
        if self.target.run_on_startup:
            self.fire(past_due=False)
        checked = int(self.clock())
        while not self.stop.wait(self.tick):
            now = int(self.clock())
            if now <= checked:
                continue
            second = self.due(checked, now)
            checked = now
            if second is not None:
                self.fire(past_due=now - second > 1)
                # Occurrences that passed during the run are picked up by the next check.
