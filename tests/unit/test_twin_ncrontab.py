"""The host loop's NCRONTAB reader: the six-field schedules the timer triggers use."""

from __future__ import annotations

from datetime import datetime

import pytest

from local_twin.ncrontab import Schedule


def at(second: int, minute: int = 0, hour: int = 0, day: int = 1, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, second)  # 2026-01-01 is a Thursday


def test_every_five_seconds() -> None:
    s = Schedule.parse("*/5 * * * * *")
    assert [sec for sec in range(12) if s.matches(at(sec))] == [0, 5, 10]


def test_the_app_defaults_every_minute_and_every_half_hour() -> None:
    minute, half_hour = Schedule.parse("0 */1 * * * *"), Schedule.parse("0 */30 * * * *")
    assert minute.matches(at(0, 17)) and not minute.matches(at(1, 17))
    assert half_hour.matches(at(0, 30, 4)) and not half_hour.matches(at(0, 15, 4))


def test_lists_ranges_steps_and_names() -> None:
    s = Schedule.parse("0,30 10-20/5 9 * jan-mar mon-fri")
    assert s.fields[1] == frozenset({10, 15, 20})
    assert s.matches(at(30, 15, 9, day=1))  # Thursday
    assert not s.matches(at(30, 15, 9, day=3))  # Saturday
    assert not s.matches(at(30, 15, 9, day=1, month=4))
    assert Schedule.parse("5/20 * * * * *").fields[0] == frozenset({5, 25, 45})
    assert Schedule.parse("0 0 0 * * 7").fields[5] == frozenset({0})  # 7 is Sunday too


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * * *", "6 fields"),
        ("60 * * * * *", "second field"),
        ("* * 24 * * *", "hour field"),
        ("* * * * * x", "day-of-week field"),
        ("*/0 * * * * *", "step"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.parse(expression)
