"""Six-field NCRONTAB schedules ("sec min hour day month day-of-week"), as the Functions timer trigger reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# (lowest, highest) value of each field, in order.
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = ("second", "minute", "hour", "day", "month", "day-of-week")
_MONTHS = {
    m: i
    for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


def _value(token: str, index: int) -> int:
    aliases = _MONTHS if index == 4 else _DAYS if index == 5 else {}
    low = token.lower()
    if low in aliases:
        return aliases[low]
    if not token.isdigit():
        raise ValueError(f"{_NAMES[index]} field: {token!r} is not a number")
    value = int(token)
    if index == 5 and value == 7:  # cron allows 7 for Sunday too
        value = 0
    lo, hi = _BOUNDS[index]
    if not lo <= value <= hi:
        raise ValueError(f"{_NAMES[index]} field: {value} is outside {lo}-{hi}")
    return value


def _field(text: str, index: int) -> frozenset[int]:
    lo, hi = _BOUNDS[index]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{_NAMES[index]} field: step must be at least 1 in {part!r}")
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _value(first, index), _value(last, index)
        else:
            start = _value(base, index)
            end = hi if step_text else start  # "5/10" means every 10 starting at 5
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; `matches` tells whether a given second is an occurrence."""

    expression: str
    fields: tuple[frozenset[int], ...]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """Parse a six-field NCRONTAB expression; raise ValueError naming the bad field."""
        parts = expression.split()
        if len(parts) != 6:
            raise ValueError(f"NCRONTAB needs 6 fields (sec min hour day month dow), got {len(parts)}: {expression!r}")
        return cls(expression, tuple(_field(p, i) for i, p in enumerate(parts)))

    def matches(self, when: datetime) -> bool:
        """True when the schedule fires at this second."""
        sec, minute, hour, day, month, dow = self.fields
        weekday = (when.weekday() + 1) % 7  # Python: Monday=0; cron: Sunday=0
        return (
            when.second in sec
            and when.minute in minute
            and when.hour in hour
            and when.day in day
            and when.month in month
            and weekday in dow
        )
