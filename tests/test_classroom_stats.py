"""The classroom benchmark's statistics (benchmarks/classroom_load.py): the interval it reports
around the Explore / two-slider ratio, the per-round medians beside it, and the verdict's two
comparisons (against a two-slider class, and against a two-slider session beside the Explore class)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from benchmarks import classroom_load
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


def _app(shown: list[float], alongside: list[float] | None = None) -> dict:
    stats = classroom_load._stats(shown)
    app = {
        "all": stats,
        "slider": stats,
        "server_all": stats,
        "socket_all": stats,
        "shown_ms": shown,
        "median_ms_per_round": {1: stats["median_ms"]},
        "unanswered": 0,
        "sessions_not_opened": [],
        "exceptions_on_pages": 0,
        "page_errors": [],
        "server_tracebacks": 0,
        "rss_peak_mb": 900.0,
        "rss_after_leave_mb": [900.0, 910.0],
        "floor_alongside": classroom_load._stats(alongside or []),
    }
    if alongside is not None:
        app["floor_alongside_ms"] = alongside
    return app


def test_the_verdict_compares_explore_with_both_floors_and_gives_each_ratio_an_interval():
    rng = random.Random(3)
    explore = [rng.lognormvariate(math.log(120), 0.3) for _ in range(240)]
    minimal = [rng.lognormvariate(math.log(60), 0.3) for _ in range(240)]  # a class of its own: half as long
    alongside = [rng.lognormvariate(math.log(120), 0.3) for _ in range(40)]  # beside the Explore class: as long
    v = classroom_load.verdict({"apps": {"minimal": _app(minimal), "explore": _app(explore, alongside)}})
    assert v["ratio_median_all"] == pytest.approx(2.0, rel=0.1)
    low, high = v["ratio_median_all_ci95"]
    assert 1.5 < low < v["ratio_median_all"] < high
    assert v["latency_within_target"] is False
    assert v["ratio_median_all_vs_floor_alongside"] == pytest.approx(1.0, rel=0.15)
    low, high = v["ratio_median_all_vs_floor_alongside_ci95"]
    assert low < 1.0 < high < classroom_load.RATIO_TARGET
    assert v["explore_rss_flat_after_leaving"] and v["explore_peak_under_2gb"]


def test_the_verdict_gives_the_padded_pages_class_its_ratio_to_the_two_slider_class():
    rng = random.Random(4)
    minimal = [rng.lognormvariate(math.log(40), 0.3) for _ in range(240)]
    padded = [rng.lognormvariate(math.log(100), 0.3) for _ in range(240)]  # 2.5 times as long
    v = classroom_load.verdict({"apps": {"minimal": _app(minimal), "padded": _app(padded)}})
    assert v["ratio_median_padded_vs_floor"] == pytest.approx(2.5, rel=0.1)
    low, high = v["ratio_median_padded_vs_floor_ci95"]
    assert low < v["ratio_median_padded_vs_floor"] < high
    assert "ratio_median_all" not in v  # no Explore class in this run
    assert v["padded_all_answered"] and v["padded_no_errors"]
