"""The live pad's redraw per pointer move, next to the server path's slider round trip.

In headless Chromium against the real Streamlit server (tests/apps/pad_app.py: the app's sidebar
picker and sliders, a server-decoded image, the pad), for each model:

- pad, drag: the pointer is pressed on the plane and moved along a curve, one move per
  animation frame, each at a random phase of the frame (a 60 Hz mouse). The pad times every
  frame that followed a move with performance.now(): "decode + draw" is the frame's own work;
  "move handled -> drawn" runs from the pointer handler to the image drawn in the next
  animation frame; "event -> drawn" from the event's timeStamp, so it also holds the browser's
  wait for the next frame (Chromium aligns input with frames): up to one frame by design.
  Target: decode + draw (and handled -> drawn) within one 16.7 ms frame on >= 95% of moves.
- pad, compute only: the same frame function called back to back on random z (no input path).
- server path: the sidebar's z0 slider moved one step with the keyboard; from the keydown to the
  server-decoded <img> showing its new picture (Streamlit's slider debounce, a rerun, a decode on
  the server and the image fetch), measured the same way in the same run.

    python benchmarks/pad_latency.py [--moves 300] [--presses 20] [--models mnist-mlp-z2,mnist-conv-z2]
                                     [--shipped-dir DIR] [--json FILE]

Models come from checkpoints/ (or --shipped-dir). One that is missing is replaced by an untrained
stand-in with the same architecture as its recipe in checkpoints/train_all.sh (decode cost does
not depend on training, except that the conv decoder skips zero activations); the table says so.
Starts and stops its own server and browser. Timings on a busy machine are noisy: rerun on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FRAME_MS = 1000 / 60
# Architectures of the shipped recipes (checkpoints/train_all.sh), for stand-ins.
RECIPES = {
    "mnist-mlp-z2": {"arch": "mlp", "hidden": (512, 256), "latent_dim": 2},
    "mnist-conv-z2": {"arch": "conv", "hidden": (32, 64), "latent_dim": 2},
    "mnist-mlp-z20": {"arch": "mlp", "hidden": (512, 256), "latent_dim": 20},
}

NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => r()))"
PAD_READY = "() => { const p = window.__latentPad && window.__latentPad.get(); return p && p.ready && p.frames > 0; }"

# Compute only: the pad's own frame() on random z, back to back.
COMPUTE_JS = """
(n) => {
  const pad = window.__latentPad.get();
  const [i, j] = pad.scene.dims;
  const out = [];
  for (let k = 0; k < n; k++) {
    pad.z[i] = 3 * Math.sin(0.37 * k);
    if (j >= 0) pad.z[j] = 3 * Math.cos(0.23 * k);
    const start = performance.now();
    pad.frame();
    out.push(performance.now() - start);
  }
  return out;
}
"""

# The server path: time from the next real keydown to the server image's new src, decoded.
ARM_SERVER_JS = """
(selector) => {
  const before = document.querySelector(selector)?.getAttribute("src");
  window.__roundTrip = new Promise((resolve) => {
    const onKey = () => {
      window.removeEventListener("keydown", onKey, true);
      const start = performance.now();
      const poll = async () => {
        const img = document.querySelector(selector);
        if (img && img.getAttribute("src") !== before) {
          try { await img.decode(); } catch (e) {}
          resolve(performance.now() - start);
        } else {
          requestAnimationFrame(poll);
        }
      };
      requestAnimationFrame(poll);
    };
    window.addEventListener("keydown", onKey, true);
  });
}
"""
SERVER_IMAGE = '[data-testid="stMain"] [data-testid="stImage"] img'


def _stand_in(name: str, folder: Path) -> Path:
    """An untrained model with the recipe's architecture, saved as a checkpoint."""
    import torch

    from explorer import checkpoints
    from explorer.checkpoints import EncodedTestSet
    from explorer.config import ModelConfig
    from explorer.data import DatasetInfo
    from explorer.models import VAE

    torch.manual_seed(0)
    model = VAE(ModelConfig(image_shape=(1, 28, 28), **RECIPES[name])).eval()
    d = model.config.latent_dim
    encoded = EncodedTestSet(mu=torch.randn(3000, d), logvar=torch.zeros(3000, d), labels=torch.arange(3000) % 10)
    info = DatasetInfo("mnist", (1, 28, 28), tuple(str(i) for i in range(10)))
    payload = checkpoints.to_dict(model, train_config=None, dataset=info, encoded=encoded, meta={"stand_in": True})
    return checkpoints.save(folder / f"{name}.pt", payload)


def _models(names: list[str], shipped_dir: Path, folder: Path) -> dict[str, str]:
    """Copy (or stand in for) each model into `folder`; returns name -> 'shipped' | 'stand-in'."""
    kinds = {}
    for name in names:
        source = shipped_dir / f"{name}.pt"
        if source.is_file():
            shutil.copy(source, folder / source.name)
            kinds[name] = "shipped"
        elif name in RECIPES:
            _stand_in(name, folder)
            kinds[name] = "stand-in"
        else:
            raise SystemExit(f"{source} does not exist and there is no recipe to stand in for it")
    return kinds


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "max_ms": round(ordered[-1], 2),
        "within_frame": round(sum(v <= FRAME_MS for v in ordered) / len(ordered), 4),
    }


def _drag(page, moves: int) -> dict:
    page.evaluate("() => { window.__latentPad.get().timings = []; }")
    box = page.locator('[data-testid="latent-pad"]').bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 0.42 * box["width"]

    page.mouse.move(cx, cy)
    page.mouse.down()
    page.evaluate(NEXT_FRAME)
    rng = random.Random(0)
    for k in range(moves):  # a Lissajous curve over the plane, one move per frame
        time.sleep(rng.uniform(0, FRAME_MS / 1000))  # at any phase of the frame, like a real mouse
        page.mouse.move(cx + r * math.sin(0.061 * k), cy + r * math.sin(0.083 * k + 0.5))
        page.evaluate(NEXT_FRAME)
    page.evaluate(NEXT_FRAME)
    timings = page.evaluate("() => window.__latentPad.get().timings")
    page.mouse.up()
    return {
        "moves": moves,
        "frames": len(timings),
        "work": _stats([t["work"] for t in timings]),
        "handled": _stats([t["handled"] for t in timings]),
        "latency": _stats([t["latency"] for t in timings]),
    }


def _server_round_trips(page, presses: int) -> dict:
    from tests.browser.conftest import wait_idle

    slider = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"] input[type="range"]').first
    times = []
    for i in range(presses):
        slider.focus()
        page.evaluate(ARM_SERVER_JS, SERVER_IMAGE)
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        times.append(page.evaluate("window.__roundTrip"))
        wait_idle(page, timeout=60)
        time.sleep(0.2)
    return _stats(times)


def run(names: list[str], moves: int, presses: int, shipped_dir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, wait_idle

    results: dict = {"frame_ms": round(FRAME_MS, 2), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        kinds = _models(names, shipped_dir, Path(tmp))
        server = StreamlitServer("tests/apps/pad_app.py", env={"EXPLORER_SHIPPED_DIR": tmp})
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for name in names:
                    page.goto(f"{server.url}/?model=shipped:{name}")
                    page.wait_for_function(PAD_READY, timeout=120_000)
                    wait_idle(page, 60)
                    _drag(page, 30)  # warm up (JIT) before timing
                    wait_idle(page, 60)
                    drag = _drag(page, moves)
                    wait_idle(page, 60)
                    compute = _stats(page.evaluate(COMPUTE_JS, 500))
                    server_path = _server_round_trips(page, presses)
                    ratio = None
                    if server_path.get("median_ms") and drag["latency"].get("median_ms"):
                        ratio = round(server_path["median_ms"] / drag["latency"]["median_ms"], 1)
                    results["models"][name] = {
                        "model": kinds[name],
                        "pad_drag": drag,
                        "pad_compute_only": compute,
                        "server_slider_to_image": server_path,
                        "server_over_pad_median": ratio,
                    }
                browser.close()
        finally:
            server.stop()
    return results


def _print(results: dict) -> None:
    print(f"one frame = {results['frame_ms']} ms; times in ms (median / p95); 'in frame' = share of moves <= one frame")
    for name, r in results["models"].items():
        drag, compute, server = r["pad_drag"], r["pad_compute_only"], r["server_slider_to_image"]
        print(f"\n{name} ({r['model']})")
        print(f"  pad, drag ({drag['moves']} moves, {drag['frames']} frames):")
        for label, key in (
            ("decode + draw", "work"),
            ("move handled -> drawn", "handled"),
            ("event -> drawn", "latency"),
        ):
            t = drag[key]
            print(
                f"    {label:22s} {t['median_ms']:7.2f} / {t['p95_ms']:7.2f}   in frame {100 * t['within_frame']:5.1f}%"
            )
        print(f"  pad, compute only (500 frames): {compute['median_ms']} / {compute['p95_ms']}")
        print(f"  server, slider -> new image ({server['n']} presses): {server['median_ms']} / {server['p95_ms']}")
        print(f"  server median / pad median: {r['server_over_pad_median']}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=300, help="pointer moves per model (default 300)")
    parser.add_argument("--presses", type=int, default=20, help="slider key presses per model (default 20)")
    parser.add_argument("--models", default="mnist-mlp-z2,mnist-conv-z2", help="comma-separated checkpoint names")
    parser.add_argument("--shipped-dir", type=Path, default=REPO / "checkpoints", help="where the checkpoints are")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    results = run([n.strip() for n in args.models.split(",") if n.strip()], args.moves, args.presses, args.shipped_dir)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
