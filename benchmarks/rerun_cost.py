"""What one slider step costs the machine, in the browser and on the server: the Explore page
against the two-slider floor with 0 to N static elements added below its sliders.

A slider step is a Streamlit script run, and the browser redraws every element on the page for
it (at the run's start, as its messages arrive, at its end), whatever the step changed. So a
step's cost grows with how many elements the page holds, and a page with Explore's features
costs more per step than a two-slider page however little its own code does. This measures that
slope on the floor itself (benchmarks/apps/padded_sliders.py, ?extra=N captions) and where the
Explore page falls on it: how many plain elements its step costs as much as.

One headless Chromium (/usr/bin/chromium), one fresh page per measurement, one user: the z₁ (or
x) slider stepped with the arrow keys, each step awaited until the server's answer is shown
(Explore: the decoded image's data-z attribute; the floor: its text), then left to settle. CPU
seconds of the browser's processes and of the server's process over the steps, less what the
same page uses idle over the same time, per step. Cases alternate within each round; medians
over rounds.

    python benchmarks/rerun_cost.py [--steps 20] [--rounds 3] [--extra 20 40 80]

Uses checkpoints/ (the shipped mnist-mlp-z2); starts and stops its own servers. Writes
benchmarks/results/rerun_cost.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.classroom_load import PAD_READY_JS, browser_pids, cpu_seconds  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, wait_idle  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "rerun_cost.json"
VIEWPORT = {"width": 1280, "height": 900}
ELEMENTS = '[data-testid="stElementContainer"]'
EXPLORE_MODEL = "shipped:mnist-mlp-z2"

READ_JS = """
([selector, attribute]) => {
  const el = document.querySelector(selector);
  return el ? (attribute ? el.getAttribute(attribute) : el.textContent) : null;
}
"""

# Resolves when what the page shows as the answer differs from `before` (a MutationObserver, so
# waiting adds no polling work to the page being measured).
ANSWER_JS = """
([selector, attribute, before, timeoutMs]) => new Promise((resolve) => {
  const read = () => {
    const el = document.querySelector(selector);
    return el ? (attribute ? el.getAttribute(attribute) : el.textContent) : null;
  };
  if (read() !== before) return resolve(true);
  const observer = new MutationObserver(() => {
    if (read() !== before) { observer.disconnect(); resolve(true); }
  });
  observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  setTimeout(() => { observer.disconnect(); resolve(false); }, timeoutMs);
})
"""


@dataclass(frozen=True)
class Case:
    name: str
    server: str  # "floor" or "explore"
    query: str
    slider: str  # the slider's label
    answer: str  # the element whose change is the server's answer
    attribute: str | None  # read this attribute of it (None: its text)


def floor_case(extra: int) -> Case:
    name = "two-slider floor" if extra == 0 else f"floor + {extra} captions"
    return Case(name, "floor", f"/?extra={extra}", "x", '[data-testid="two-sliders-value"]', None)


EXPLORE = Case("Explore", "explore", f"/?model={EXPLORE_MODEL}", "z₁", '[data-testid="current-z-image"]', "data-z")


def _cpu(pids: list[int], server_pid: int) -> tuple[float, float]:
    browser = sum(cpu_seconds(pids).values())
    return browser, sum(cpu_seconds([server_pid]).values())


def measure(browser, case: Case, server: StreamlitServer, steps: int, settle_s: float) -> dict:
    """One fresh page, `steps` slider steps: CPU ms per step (browser, server), idle subtracted."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(server.url + case.query)
        page.wait_for_selector('[data-testid="stSlider"]', timeout=240_000)
        if case.server == "explore":
            page.wait_for_function(PAD_READY_JS, timeout=240_000)
            page.wait_for_selector(".js-plotly-plot canvas", timeout=240_000)
        wait_idle(page, timeout=240)
        time.sleep(1.0)
        elements = page.locator(ELEMENTS).count()
        thumb = page.locator('[data-testid="stSlider"]').filter(has_text=case.slider).first.locator("input")
        thumb.focus()
        pids, server_pid = browser_pids(), server.proc.pid

        b0, s0, t0 = *_cpu(pids, server_pid), time.perf_counter()
        time.sleep(2.0)
        b1, s1, t1 = *_cpu(pids, server_pid), time.perf_counter()
        idle_browser, idle_server = (b1 - b0) / (t1 - t0), (s1 - s0) / (t1 - t0)

        answered = 0
        b0, s0, t0 = *_cpu(pids, server_pid), time.perf_counter()
        for i in range(steps):
            before = page.evaluate(READ_JS, [case.answer, case.attribute])
            page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
            answered += bool(page.evaluate(ANSWER_JS, [case.answer, case.attribute, before, 20_000]))
            time.sleep(settle_s)  # the run's end and any follow-up redraws
        b1, s1, t1 = *_cpu(pids, server_pid), time.perf_counter()
        elapsed = t1 - t0
        browser_ms = 1000 * ((b1 - b0) - idle_browser * elapsed) / steps
        server_ms = 1000 * ((s1 - s0) - idle_server * elapsed) / steps
        return {
            "elements": elements,
            "answered": answered,
            "browser_ms": round(browser_ms, 1),
            "server_ms": round(server_ms, 1),
            "total_ms": round(browser_ms + server_ms, 1),
            "idle_ms_per_s": round(1000 * (idle_browser + idle_server), 1),
        }
    finally:
        context.close()


def summarise(cases: list[Case], runs: dict[str, list[dict]]) -> dict:
    """Medians per case, each case's total against the floor's, and the per-element slope fitted
    on the floor's cases (Explore placed on it: the element count its step costs as much as)."""
    rows = {}
    for case in cases:
        got = runs[case.name]
        rows[case.name] = {
            "elements": int(statistics.median(r["elements"] for r in got)),
            "browser_ms": round(statistics.median(r["browser_ms"] for r in got), 1),
            "server_ms": round(statistics.median(r["server_ms"] for r in got), 1),
            "total_ms": round(statistics.median(r["total_ms"] for r in got), 1),
            "answered": sum(r["answered"] for r in got),
            "runs": got,
        }
    floor = rows[floor_case(0).name]["total_ms"]
    for row in rows.values():
        row["x_floor"] = round(row["total_ms"] / floor, 2) if floor > 0 else None
    fitted = [rows[c.name] for c in cases if c.server == "floor"]
    out: dict = {"cases": rows}
    if len(fitted) >= 2:
        slope, intercept = np.polyfit([r["elements"] for r in fitted], [r["total_ms"] for r in fitted], 1)
        out["ms_per_element"] = round(float(slope), 2)
        out["intercept_ms"] = round(float(intercept), 1)
        if EXPLORE.name in rows and slope > 0:
            out["explore_equivalent_elements"] = round(float((rows[EXPLORE.name]["total_ms"] - intercept) / slope))
    return out


def table(result: dict) -> str:
    lines = [
        "| page | elements | browser ms / step | server ms / step | total | × floor |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["cases"].items():
        lines.append(
            f"| {name} | {row['elements']} | {row['browser_ms']} | {row['server_ms']} | {row['total_ms']} | "
            f"{row['x_floor']}× |"
        )
    if "ms_per_element" in result:
        lines.append("")
        lines.append(
            f"Each element on the page adds {result['ms_per_element']} ms of CPU to a step "
            f"(fitted on the floor's pages, {result['intercept_ms']} ms at none)."
        )
    if "explore_equivalent_elements" in result:
        lines.append(
            f"Explore's step costs as much as the floor with {result['explore_equivalent_elements']} elements; "
            f"it has {result['cases'][EXPLORE.name]['elements']}."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="slider steps per measurement (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per case, alternating (default 3)")
    parser.add_argument(
        "--extra",
        type=int,
        nargs="*",
        default=[20, 40, 80],
        help="static elements added to the floor (default 20 40 80)",
    )
    parser.add_argument("--settle", type=float, default=0.6, help="seconds after each answer (default 0.6)")
    parser.add_argument("--json-out", default=str(RESULTS))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cases = [floor_case(0), *(floor_case(n) for n in args.extra if n > 0), EXPLORE]
    env = {"EXPLORER_SHIPPED_DIR": str(REPO / "checkpoints")}
    servers: dict[str, StreamlitServer] = {}
    runs: dict[str, list[dict]] = {c.name: [] for c in cases}
    started = time.perf_counter()
    try:
        servers["floor"] = StreamlitServer(REPO / "benchmarks" / "apps" / "padded_sliders.py", env=env)
        servers["explore"] = StreamlitServer(REPO / "streamlit_app.py", env=env)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for case in (floor_case(0), EXPLORE):  # warm both servers: imports, the model, caches
                measure(browser, case, servers[case.server], 2, args.settle)
            for round_no in range(args.rounds):
                order = cases[round_no % len(cases) :] + cases[: round_no % len(cases)]
                for case in order:
                    got = measure(browser, case, servers[case.server], args.steps, args.settle)
                    runs[case.name].append(got)
                    print(f"round {round_no + 1} {case.name}: {got}", flush=True)
            browser.close()
    finally:
        for server in servers.values():
            server.stop()
    result = summarise(cases, runs)
    result["settings"] = {"steps": args.steps, "rounds": args.rounds, "settle_s": args.settle, "model": EXPLORE_MODEL}
    result["machine"] = {"cpus": os.cpu_count()}
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print()
    print(table(result))
    print(f"{result['seconds']:.0f} s; JSON in {out}")


if __name__ == "__main__":
    main()
