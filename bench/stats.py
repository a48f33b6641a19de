"""Order statistics for benchmark samples: medians and percentiles, nothing that depends on timing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    """The 50th percentile."""
    return percentile(values, 50)


def summary(values: Sequence[float], digits: int = 1) -> dict[str, Any]:
    """n, median, p90, min and max of the samples, rounded."""
    return {
        "n": len(values),
        "median": round(median(values), digits),
        "p90": round(percentile(values, 90), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def count_summary(values: Sequence[int]) -> int | str:
    """A count that should not vary: the value, or "lo-hi" when the runs disagreed."""
    low, high = min(values), max(values)
    return low if low == high else f"{low}-{high}"


def ratio(numerator: float, denominator: float, digits: int = 2) -> float | None:
    """numerator / denominator, rounded; None when the denominator is zero."""
    return round(numerator / denominator, digits) if denominator else None


def value_summary(values: Sequence[str]) -> str:
    """The one value every run agreed on, or the distinct values joined by "/"."""
    distinct = sorted(set(values))
    return distinct[0] if len(distinct) == 1 else "/".join(distinct)
