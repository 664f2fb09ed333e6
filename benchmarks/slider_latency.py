"""Slider change to new decoded image, in a real browser against the real server.

Drives the Explore page's z₁ slider with the keyboard (one step per press, alternating right and
left) in headless Chromium, and times each press from the key event to the moment the current
image (data-testid="current-z-image") shows a new picture, which the page decodes itself first,
and to the moment it shows the server's answer (its data-z attribute changes). The reference,
measured the same way in the same run, press for press alternating with the app (so both see the
same load on a busy machine): a bare one-slider Streamlit app whose text shows the slider's value,
a server round trip. Also reports how long the Explore page takes from navigation to
the pad (the encoded test set) and the manifold on screen, and to the Plotly scatter drawn (a
fresh browser context each time: no cached scripts).

    python benchmarks/slider_latency.py [--presses 30] [--shipped-dir DIR] [--json]

Uses checkpoints/ (or --shipped-dir) and /usr/bin/chromium; starts and stops its own servers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, wait_idle  # noqa: E402

BARE_APP = """
import streamlit as st

value = st.slider("x", min_value=-5.0, max_value=5.0, value=0.0, step=0.05)
st.markdown(f"value **{value:.2f}**")
"""

# Records the time of the next real keydown (capture phase), then waits for each of `selector`'s
# `attributes` (null: its text) to change and for an <img> to finish decoding; resolves with the
# ms for each.
ARM_JS = """
([selector, attributes]) => {
  const read = (attribute) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    return attribute ? el.getAttribute(attribute) : el.textContent;
  };
  const before = attributes.map(read);
  window.__latency = new Promise((resolve) => {
    const onKey = () => {
      window.removeEventListener("keydown", onKey, true);
      const t0 = performance.now();
      const times = attributes.map(() => null);
      const poll = async () => {
        for (let k = 0; k < attributes.length; k++) {
          const now = read(attributes[k]);
          if (times[k] !== null || now === null || now === before[k]) continue;
          const el = document.querySelector(selector);
          if (el && el.tagName === "IMG" && el.decode) { try { await el.decode(); } catch (e) {} }
          times[k] = performance.now() - t0;
        }
        if (times.every((t) => t !== null)) resolve(times);
        else requestAnimationFrame(poll);
      };
      requestAnimationFrame(poll);
    };
    window.addEventListener("keydown", onKey, true);
  });
}
"""


def _press(page, thumb, selector: str, attributes: list[str | None], key: str) -> list[float]:
    thumb.focus()
    page.evaluate(ARM_JS, [selector, attributes])
    page.keyboard.press(key)
    elapsed = page.evaluate("window.__latency")
    wait_idle(page, timeout=30)  # let every fragment finish before the next press
    return elapsed


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "min_ms": round(ordered[0], 1),
        "n": len(ordered),
    }


def run(presses: int, shipped_dir: str | None) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    results: dict = {}
    env = {"EXPLORER_SHIPPED_DIR": shipped_dir} if shipped_dir else {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        bare_script = Path(tmp) / "bare_slider.py"
        bare_script.write_text(BARE_APP)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        app = StreamlitServer(env=env)
        bare = StreamlitServer(bare_script)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # Warm the server (imports, model load, caches), then time a fresh page load.
            page.goto(app.url)
            page.wait_for_selector('[data-testid="current-z-image"]', timeout=120_000)
            wait_idle(page, 60)
            page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            page.goto(app.url)
            # J1: the scatter (on the pad) and the manifold, then the Plotly scatter (its 4.7 MB script).
            page.wait_for_function(
                "document.querySelector('[data-testid=\"latent-pad\"]') !== null"
                " && document.querySelector('[data-testid=\"manifold\"] img')?.complete === true",
                timeout=60_000,
            )
            results["explore_pad_and_manifold_s"] = round(time.perf_counter() - start, 2)
            try:
                page.wait_for_function("document.querySelector('.js-plotly-plot canvas') !== null", timeout=60_000)
                results["explore_plotly_scatter_s"] = round(time.perf_counter() - start, 2)
            except PlaywrightTimeout:
                results["explore_plotly_scatter_s"] = None
            wait_idle(page, 60)
            results["explore_idle_s"] = round(time.perf_counter() - start, 2)

            # The same fresh-page load for the bare app (its server warmed first): the floor that
            # Streamlit's own front end sets on this machine.
            warm = browser.new_page()
            warm.goto(bare.url)
            warm.wait_for_selector('[data-testid="stMarkdown"]', timeout=60_000)
            warm.close()
            bare_page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            bare_page.goto(bare.url)
            bare_page.wait_for_selector('[data-testid="stMarkdown"]', timeout=60_000)
            results["bare_first_text_s"] = round(time.perf_counter() - start, 2)
            wait_idle(bare_page, 60)

            # Alternate the two apps press by press, so both see the same machine load.
            app_thumb = page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input")
            bare_thumb = bare_page.locator('[data-testid="stSlider"]').first.locator("input")
            app_times, server_times, bare_times = [], [], []
            for i in range(presses):
                key = "ArrowRight" if i % 2 == 0 else "ArrowLeft"
                shown, served = _press(page, app_thumb, '[data-testid="current-z-image"]', ["src", "data-z"], key)
                app_times.append(shown)
                server_times.append(served)
                bare_times.extend(_press(bare_page, bare_thumb, '[data-testid="stMarkdown"]', [None], key))
                time.sleep(0.2)
        finally:
            app.stop()
            bare.stop()
            browser.close()
    results["explore_slider_to_image"] = _summary(app_times)
    results["explore_slider_to_server_image"] = _summary(server_times)
    results["bare_slider_round_trip"] = _summary(bare_times)
    bare_median = results["bare_slider_round_trip"]["median_ms"]
    results["ratio_of_medians"] = round(results["explore_slider_to_image"]["median_ms"] / bare_median, 2)
    results["ratio_of_medians_server"] = round(results["explore_slider_to_server_image"]["median_ms"] / bare_median, 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=30, help="key presses per app (default 30)")
    parser.add_argument("--shipped-dir", help="folder of checkpoints to use instead of checkpoints/")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = run(args.presses, args.shipped_dir)
    if args.json:
        print(json.dumps(results))
        return
    a, s, b = (
        results["explore_slider_to_image"],
        results["explore_slider_to_server_image"],
        results["bare_slider_round_trip"],
    )
    print(
        f"Explore page after navigation: pad (scatter) and manifold {results['explore_pad_and_manifold_s']} s, "
        f"Plotly scatter {results['explore_plotly_scatter_s']} s, idle {results['explore_idle_s']} s; "
        f"bare one-slider app's first text {results['bare_first_text_s']} s (same browser, fresh page)"
    )
    print(f"slider -> new decoded image (the page's): median {a['median_ms']} ms, p90 {a['p90_ms']} ms (n={a['n']})")
    print(f"slider -> the server's decoded image: median {s['median_ms']} ms, p90 {s['p90_ms']} ms (n={s['n']})")
    print(f"bare one-slider app round trip: median {b['median_ms']} ms, p90 {b['p90_ms']} ms (n={b['n']})")
    print(
        f"ratio of medians: {results['ratio_of_medians']} for the image shown, "
        f"{results['ratio_of_medians_server']} for the server's (target <= 1.5)"
    )


if __name__ == "__main__":
    main()
