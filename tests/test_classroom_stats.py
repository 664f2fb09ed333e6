"""The classroom benchmark's statistics (benchmarks/classroom_load.py): the interval it reports
around the Explore / two-slider ratio, and the per-round medians beside it."""

from __future__ import annotations

import random
import statistics

from benchmarks.classroom_load import median_ratio_ci, round_medians


def test_the_interval_holds_the_ratio_of_medians_and_narrows_with_more_changes():
    rng = random.Random(1)
    fast = [rng.lognormvariate(4.0, 0.5) for _ in range(400)]  # median e^4 ≈ 55 ms
    slow = [2.0 * rng.lognormvariate(4.0, 0.5) for _ in range(400)]  # twice as slow
    low, high = median_ratio_ci(slow, fast)
    point = statistics.median(slow) / statistics.median(fast)
    assert low <= point <= high
    assert low < 2.0 < high  # the true ratio
    assert 1.0 < low  # twice as slow is told apart from as fast
    small_low, small_high = median_ratio_ci(slow[:40], fast[:40])
    assert small_high - small_low > high - low


def test_the_same_samples_give_an_interval_around_one_and_the_same_interval_each_time():
    rng = random.Random(2)
    sample = [rng.uniform(20, 200) for _ in range(100)]
    low, high = median_ratio_ci(sample, list(sample))
    assert low < 1.0 < high
    assert median_ratio_ci(sample, list(sample)) == (low, high)  # seeded


def test_no_interval_without_changes():
    assert median_ratio_ci([], [1.0, 2.0]) is None
    assert median_ratio_ci([1.0], []) is None


def test_round_medians_take_each_rounds_answered_changes():
    records = [
        {"round": 1, "ms": 10.0},
        {"round": 1, "ms": 30.0},
        {"round": 1, "ms": None},  # not shown: left out
        {"round": 2, "ms": 100.0},
    ]
    assert round_medians(records) == {1: 20.0, 2: 100.0}
