"""What opening the Explore page costs the network: bytes over HTTP and over the websocket.

A class opens the page at once on one Wi-Fi, so the page's weight matters as much as its speed.
Opens the Explore page in a fresh browser context (nothing cached) for each model named, waits
until the page is idle, and counts what arrived: HTTP responses as transferred (the front end's
scripts and fonts; Streamlit serves them uncompressed) and websocket frames (the app's messages:
figures, the pad's decoder and scene, the atlas of test images for the page's own nearest images,
explorer/ui/atlas.py). The reference, measured the same way in the same run: benchmarks/apps/two_sliders.py.

    python benchmarks/page_weight.py [--models shipped:mnist-mlp-z2 shipped:fashion-mnist-mlp-z2]

Needs the data sets (../shared/data or $EXPLORER_DATA_DIR) for the atlas; uses checkpoints/ and
/usr/bin/chromium; starts and stops its own servers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, wait_idle  # noqa: E402

READY = {
    "explore": "document.querySelector('.js-plotly-plot canvas') !== null && window.__zMarks?.atlas?.sprite",
    "two_sliders": "document.querySelector('[data-testid=\"two-sliders-value\"]') !== null",
}


def weigh(browser, url: str, ready: str) -> dict:
    """MB over HTTP and over the websocket for one fresh page load, and the largest responses."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    done: list[tuple[float, str]] = []
    socket = [0]
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: done.append((e["encodedDataLength"], urls.get(e["requestId"], "?"))))
    # binary frames arrive base64-encoded: 3 bytes for every 4 characters
    cdp.on(
        "Network.webSocketFrameReceived",
        lambda e: socket.__setitem__(0, socket[0] + len(e["response"]["payloadData"]) * 3 / 4),
    )
    try:
        page.goto(url)
        page.wait_for_function(ready, timeout=180_000)
        wait_idle(page, 60)
        page.wait_for_timeout(1000)
    finally:
        context.close()
    largest = sorted(done, reverse=True)[:3]
    return {
        "http_mb": round(sum(n for n, _ in done) / 1e6, 2),
        "websocket_mb": round(socket[0] / 1e6, 2),
        "largest": [[round(n / 1e6, 2), u.rsplit("/", 1)[-1]] for n, u in largest],
    }


def run(models: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    results: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        app = StreamlitServer()
        floor = StreamlitServer(REPO / "benchmarks" / "apps" / "two_sliders.py")
        try:
            results["two_sliders"] = weigh(browser, floor.url, READY["two_sliders"])
            for model in models:
                results[model] = weigh(browser, f"{app.url}/?model={model}", READY["explore"])
        finally:
            app.stop()
            floor.stop()
            browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["shipped:mnist-mlp-z2", "shipped:fashion-mnist-mlp-z2"])
    args = parser.parse_args()
    results = run(args.models)
    floor = results["two_sliders"]
    print("| page | HTTP | websocket | total | largest responses |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        total = r["http_mb"] + r["websocket_mb"]
        ratio = total / (floor["http_mb"] + floor["websocket_mb"])
        largest = ", ".join(f"{u} {n} MB" for n, u in r["largest"])
        print(f"| {name} | {r['http_mb']} MB | {r['websocket_mb']} MB | {total:.2f} MB ({ratio:.2f}×) | {largest} |")


if __name__ == "__main__":
    main()
