"""Timer occurrences: the last one due since the previous check, and past_due when late."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from local_twin.functions import TimerTarget
from local_twin.ncrontab import Schedule
from local_twin.timers import TimerRunner

T0 = int(datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp())


def runner(expression: str, calls: list) -> TimerRunner:
    target = TimerTarget("t", Schedule.parse(expression), False, lambda timer: calls.append(timer.past_due))
    return TimerRunner(target, threading.Event())


def test_due_finds_the_latest_occurrence_in_the_window() -> None:
    r = runner("*/10 * * * * *", [])
    assert r.due(T0, T0 + 9) is None
    assert r.due(T0, T0 + 10) == T0 + 10
    assert r.due(T0 + 1, T0 + 35) == T0 + 30
    assert r.due(T0 - 1, T0) == T0


def test_fire_passes_past_due_and_survives_a_failing_function() -> None:
    calls: list = []
    r = runner("* * * * * *", calls)
    r.fire(past_due=True)
    assert calls == [True] and r.runs == 1

    def boom(timer: object) -> None:
        raise RuntimeError("boom")

    failing = TimerRunner(TimerTarget("f", Schedule.parse("* * * * * *"), False, boom), threading.Event())
    failing.fire(past_due=False)
    assert failing.failures == 1
