"""bench.stats: the order statistics behind the benchmark's medians and p90s (pure, no timing)."""

from __future__ import annotations

import statistics

import pytest

from bench.stats import count_summary, median, percentile, ratio, summary, value_summary


def test_median_matches_the_standard_library_for_odd_and_even_counts():
    for values in ([3.0], [5.0, 1.0, 3.0], [4.0, 1.0, 3.0, 2.0], [10.0, 10.0, 30.0, 20.0, 50.0, 40.0]):
        assert median(values) == statistics.median(values)


def test_percentile_interpolates_between_ranks():
    values = [float(v) for v in range(1, 11)]  # 1..10, unordered input is fine too
    assert percentile(list(reversed(values)), 90) == pytest.approx(9.1)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 10.0


def test_percentile_rejects_no_values_and_out_of_range_q():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_rounds_and_counts():
    assert summary([1.04, 2.0, 3.0]) == {"n": 3, "median": 2.0, "p90": 2.8, "min": 1.0, "max": 3.0}


def test_count_and_value_summaries_show_disagreement_and_ratio_guards_zero():
    assert count_summary([8, 8, 8]) == 8
    assert count_summary([8, 9, 8]) == "8-9"
    assert value_summary(["RUNNING", "RUNNING"]) == "RUNNING"
    assert value_summary(["RUNNING", "QUEUED", "RUNNING"]) == "QUEUED/RUNNING"
    assert ratio(3.0, 2.0) == 1.5 and ratio(1.0, 0.0) is None
