"""A small class on the real server: five browser sessions at once move the Explore page's
sliders and drag its latent pad; every change is shown by the page first and answered by the server, nothing errors, the server stays
under 2 GB, and once the class has left the server holds none of its sessions or objects. The CI-sized run of benchmarks/classroom_load.py (which runs a dozen sessions and
compares with a minimal two-slider app); it starts its own server on the shipped checkpoints and
its own headless Chromium."""

from __future__ import annotations

import asyncio
import threading

import pytest

from benchmarks.classroom_load import RSS_LIMIT_MB, run_load
from tests.browser.conftest import IN_CI, _browser_missing_reason

pytestmark = pytest.mark.browser

SESSIONS = 5
CHANGES = 4  # per session: slider, slider, pad drag, slider


@pytest.fixture(scope="module")
def load():
    reason = _browser_missing_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    out: dict = {}

    def run() -> None:  # its own thread: a fresh event loop, apart from any sync Playwright in this process
        try:
            out["results"] = asyncio.run(
                run_load(apps=("explore",), sessions=SESSIONS, changes=CHANGES, rounds=1, timeout_s=30.0, log=print)
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["results"]["apps"]["explore"]


def test_every_change_of_every_session_is_answered(load):
    assert load["sessions_not_opened"] == []
    assert load["errors_in_driver"] == []
    assert load["changes"] == SESSIONS * CHANGES
    assert load["unanswered"] == 0, load["rounds"]
    assert load["slider"]["n"] > 0 and load["pad"]["n"] == SESSIONS  # both kinds of change were made
    assert load["server_all"]["n"] == SESSIONS * CHANGES  # the server's answer reached every page


def test_each_step_is_shown_by_the_page_before_the_server_answers(load):
    """The new z's image comes from the page's own decoder first, for sliders and pad releases."""
    assert load["all"]["n"] == SESSIONS * CHANGES
    assert load["shown_first_by_page"] == {"slider": load["slider"]["n"], "pad": load["pad"]["n"]}


def test_nothing_errors(load):
    assert load["exceptions_on_pages"] == 0
    assert load["page_errors"] == []
    assert load["server_tracebacks"] == 0


def test_the_server_stays_under_2_gb(load):
    assert 0 < load["rss_peak_mb"] < RSS_LIMIT_MB
    assert load["rss_idle_mb"] > 0


def test_a_class_that_leaves_leaves_nothing_behind_in_the_server(load):
    """Read inside the server (benchmarks/server_stats): its sessions and its live Python objects."""
    idle, present, after = load["held_idle"], load["held_with_sessions"][-1], load["held_after_leave"][-1]
    assert present["sessions"] >= SESSIONS  # the class was there, and the reading sees it
    assert present["python_objects"] > idle["python_objects"]
    assert after["sessions"] <= 1  # at most the probe that came and went last, within its reconnect time
    assert after["python_objects"] <= idle["python_objects"] * 1.01, (idle, after)
