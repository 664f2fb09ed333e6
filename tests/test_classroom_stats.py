"""The classroom benchmark's statistics (benchmarks/classroom_load.py): the interval it reports
around the Explore / two-slider ratio, the per-round medians beside it, the verdict's two
comparisons (against a two-slider class, and against a two-slider session beside the Explore class),
its memory checks, and the reading of what a server holds (benchmarks/server_stats)."""

from __future__ import annotations

import math
import os
import random
import statistics
import subprocess
import sys
import time

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
        "rss_idle_mb": 800.0,
        "changes": len(shown),
        "server_cpu_ms_per_change": 10.0,
        "browser_cpu_ms_per_change": 50.0,
        "floor_alongside": classroom_load._stats(alongside or []),
        "floor_alongside_unanswered": 0,
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
    assert v["class_vs_class_within_1_5x"] is False
    assert v["ratio_median_all_vs_floor_alongside"] == pytest.approx(1.0, rel=0.15)
    low, high = v["ratio_median_all_vs_floor_alongside_ci95"]
    assert low < 1.0 < high < classroom_load.RATIO_TARGET
    assert v["latency_within_target"] is True  # the target: the two-slider app under the same load
    assert v["explore_rss_flat_after_leaving"] and v["explore_peak_under_2gb"]


def test_the_target_fails_when_explore_is_slower_than_the_two_slider_app_beside_it():
    rng = random.Random(5)
    explore = [rng.lognormvariate(math.log(200), 0.3) for _ in range(240)]
    minimal = [rng.lognormvariate(math.log(150), 0.3) for _ in range(240)]  # its own class: within 1.5x
    alongside = [rng.lognormvariate(math.log(100), 0.3) for _ in range(40)]  # beside Explore's class: half
    apps = {"minimal": _app(minimal), "explore": _app(explore, alongside)}
    v = classroom_load.verdict({"apps": apps})
    assert v["ratio_median_all_vs_floor_alongside"] == pytest.approx(2.0, rel=0.15)
    assert v["latency_within_target"] is False
    assert v["class_vs_class_within_1_5x"] is True
    assert "target <= 1.5x for the new image: not met" in classroom_load.table({"apps": apps, "verdict": v})


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


def test_resident_memory_may_rise_once_but_not_with_every_class():
    assert classroom_load.rss_levels_off([970.0, 1024.0, 1023.0, 1030.0, 1033.0])  # the first class warms up
    assert not classroom_load.rss_levels_off([970.0, 1024.0, 1060.0])  # a leak: every class adds
    assert classroom_load.rss_levels_off([970.0, 1015.0])  # two classes: within 50 MB of the first
    assert not classroom_load.rss_levels_off([970.0, 1030.0])
    assert classroom_load.rss_levels_off([970.0])


def test_the_verdict_finds_sessions_and_objects_a_class_left_behind():
    def held(sessions: int, objects: int) -> dict:
        return {"sessions": sessions, "python_objects": objects}

    clean, leaky = _app([50.0] * 10), _app([50.0] * 10)
    clean["held_after_leave"] = [held(1, 400_000), held(0, 400_100), held(1, 400_050)]
    leaky["held_after_leave"] = [held(3, 400_000), held(6, 410_000), held(9, 420_000)]
    v = classroom_load.verdict({"apps": {"clean": clean, "leaky": leaky}})
    assert v["clean_sessions_dropped_after_leaving"] and v["clean_objects_flat_after_leaving"]
    assert not v["leaky_sessions_dropped_after_leaving"] and not v["leaky_objects_flat_after_leaving"]
    assert v["leaky_python_objects_after_leaving"] == [400_000, 410_000, 420_000]


def test_a_process_started_with_server_stats_answers_what_it_holds(tmp_path):
    """The real sitecustomize in a Python process (no Streamlit runtime in it: no sessions)."""
    path = tmp_path / "held.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(classroom_load.SERVER_STATS),
        "EXPLORER_SERVER_STATS": str(path),
    }
    keep = "import time; keep = [[] for _ in range(200_000)]; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", keep], env=env)
    try:
        time.sleep(1.0)  # the objects exist before the question
        answer = classroom_load.held(path, timeout_s=20.0)
    finally:
        proc.kill()
        proc.wait()
    assert answer is not None and "error" not in answer, answer
    assert answer["sessions"] is None  # no Streamlit runtime in this process
    assert answer["python_objects"] > 200_000 and answer["allocated_blocks"] > 200_000
    assert not path.with_name(path.name + ".request").exists()  # the question was taken
    assert classroom_load.held(tmp_path / "nobody.json", timeout_s=0.3) is None  # no server: no answer
