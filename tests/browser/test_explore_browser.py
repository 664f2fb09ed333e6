"""The Explore and Generate pages in the real server, in headless Chromium, on the tiny digits
models: every view appears, a slider step redraws the decoded image and moves the crosses on the
pad, the manifold and the scatter in the browser without those views being sent again (on a 20-D
model a step off the plane redraws the manifold), a box selection shows originals next to reconstructions and
moves z there, the CSV export downloads, and a link straight to a page works on a fresh server.
Screenshots go to $TMPDIR/explorer-screens/ (default /tmp)."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest

from explorer.ui.common import format_z
from explorer.ui.explore_view import SLOTS, z_token
from tests.browser.conftest import StreamlitServer, wait_idle

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("TMPDIR", "/tmp")) / "explorer-screens"
IMAGE = '[data-testid="current-z-image"]'
MANIFOLD_MARK = '[data-testid="manifold-current-z"]'
STEP = 0.05  # explore_view.SLIDER_STEP


@pytest.fixture(scope="module")
def server(tiny_models_dir):
    server = StreamlitServer(env={"EXPLORER_SHIPPED_DIR": str(tiny_models_dir)})
    yield server
    server.stop()


def open_explore(page, server, model: str = "shipped:digits-mlp-z2") -> None:
    page.goto(f"{server.url}/?model={model}")
    page.wait_for_selector(IMAGE, timeout=90_000)
    page.wait_for_selector(".js-plotly-plot canvas", timeout=90_000)  # the WebGL scatter
    wait_idle(page)


def image_src(page) -> str:
    return page.locator(IMAGE).get_attribute("src")


def mark_left(page) -> float:
    return float(re.search(r"left:\s*([\d.]+)%", page.locator(MANIFOLD_MARK).get_attribute("style")).group(1))


SCATTER = """[...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && g.layout.meta)"""
CROSS = '[data-testid="scatter-current-z"]'


def scatter_cross(page) -> tuple[float, float]:
    """Where the cross laid over the scatter says z is."""
    page.wait_for_selector(CROSS, state="attached", timeout=30_000)
    x, y = page.locator(CROSS).get_attribute("data-z").split(",")
    return float(x), float(y)


def cross_on_screen(page) -> tuple[float, float]:
    """Where the cross is drawn, read back through the chart's own axes (data coordinates)."""
    return tuple(
        page.evaluate(
            f"""() => {{ const gd = {SCATTER}; const fl = gd._fullLayout;
                 const r = document.querySelector('{CROSS}').getBoundingClientRect();
                 const g = gd.querySelector('.nsewdrag').getBoundingClientRect();
                 return [fl.xaxis.p2l(r.left + r.width / 2 - g.left), fl.yaxis.p2l(r.top + r.height / 2 - g.top)]; }}"""
        )
    )


MARK_VIEWS = f"""() => {{ const gd = {SCATTER}; window.__plots = 0;
    if (!gd.__counted) {{ gd.__counted = true; gd.on('plotly_afterplot', () => window.__plots++); }}
    document.querySelector('[data-testid="manifold"] img').__old = true;
    return window.__latentPad.get().snapshot().updates; }}"""


def test_every_view_is_on_the_page(page, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_explore(page, server)
    assert page.locator('[data-testid="latent-pad"]').count() == 1
    assert page.locator('[data-testid="manifold"] img').count() == 1
    assert page.locator(MANIFOLD_MARK).count() == 1
    assert page.locator('[data-testid="nearest-images"] img').count() == 8
    assert page.locator('[data-testid="stSlider"]').filter(has_text="z₁").count() == 1
    assert scatter_cross(page) == (0.0, 0.0)
    assert cross_on_screen(page) == pytest.approx((0.0, 0.0), abs=0.05)
    assert page.locator(".js-plotly-plot .modebar-btn[data-title*='png' i]").count() >= 1  # PNG export
    page.set_viewport_size({"width": 1400, "height": 1900})
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "explore.png"))


def test_a_slider_step_redraws_the_image_and_moves_every_cross_in_place(page, server):
    open_explore(page, server)
    before_src, before_left = image_src(page), mark_left(page)
    assert scatter_cross(page) == pytest.approx((0.0, 0.0))
    pad_updates = page.evaluate(MARK_VIEWS)
    history = page.evaluate("() => history.length")
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input")
    thumb.focus()
    for _ in range(4):  # four steps of 0.05
        page.keyboard.press("ArrowRight")
        wait_idle(page)
    page.wait_for_function(f"src => document.querySelector('{IMAGE}').getAttribute('src') !== src", arg=before_src)
    assert (
        "z = (+0.20, +0.00)" in page.locator('[data-testid="stMarkdown"]').filter(has=page.locator(IMAGE)).inner_text()
    )
    # the crosses on the manifold, the scatter and the pad, and the link, follow
    page.wait_for_function(
        f"""l => {{ const m = document.querySelector('{MANIFOLD_MARK}');
                   return m && parseFloat(m.style.left) > l; }}""",
        arg=before_left,
        timeout=30_000,
    )
    page.wait_for_function("() => new URLSearchParams(location.search).get('z') === '0.200,0.000'", timeout=30_000)
    assert page.evaluate("() => history.length") == history  # the link changed in place: Back leaves the page
    assert scatter_cross(page) == pytest.approx((0.2, 0.0), abs=1e-6)
    assert cross_on_screen(page) == pytest.approx((0.2, 0.0), abs=0.02)  # drawn there, not only stored
    pad = page.evaluate("() => window.__latentPad.get().snapshot()")
    assert pad["lastZ"] == pytest.approx([0.2, 0.0], abs=1e-6)  # the pad decoded the new z
    # ... in place: no view was sent again (same manifold <img>, no scatter re-plot, no pad update)
    assert page.evaluate("""() => document.querySelector('[data-testid="manifold"] img').__old === true""")
    assert page.evaluate("() => window.__plots") == 0
    assert pad["updates"] == pad_updates and pad["follows"] >= 1
    # a re-plot of the figure Streamlit holds (a resize), and a zoom, keep the cross on the new z
    page.set_viewport_size({"width": 1100, "height": 900})
    page.wait_for_function("() => window.__plots > 0", timeout=30_000)
    wait_idle(page)
    assert scatter_cross(page) == pytest.approx((0.2, 0.0), abs=1e-6)
    assert cross_on_screen(page) == pytest.approx((0.2, 0.0), abs=0.02)
    page.evaluate(f"() => Plotly.relayout({SCATTER}, {{'xaxis.range': [-0.3, 0.7], 'yaxis.range': [-0.5, 0.5]}})")
    wait_idle(page)
    assert cross_on_screen(page) == pytest.approx((0.2, 0.0), abs=0.005)  # ten times the scale
    page.evaluate(f"() => Plotly.relayout({SCATTER}, {{'xaxis.range': [1, 2], 'yaxis.range': [1, 2]}})")
    assert page.locator(CROSS).get_attribute("data-outside") == "1"  # z is off this view:
    assert cross_on_screen(page) == pytest.approx((1.0, 1.0), abs=0.01)  # pinned to the nearest corner, faded
    # the link in the address bar, written by the page, is a working share link
    page.reload()
    page.wait_for_selector(IMAGE, timeout=90_000)
    assert page.locator(IMAGE).get_attribute("data-z") == "0.2000,0.0000"


def test_a_box_selection_shows_originals_and_reconstructions_and_moves_z(page, server):
    open_explore(page, server)
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    drag.scroll_into_view_if_needed()
    box = drag.bounding_box()
    page.mouse.move(box["x"] + 0.35 * box["width"], box["y"] + 0.35 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.65 * box["width"], box["y"] + 0.65 * box["height"], steps=8)
    page.mouse.up()
    page.wait_for_selector('[data-testid="selected-originals"] img', timeout=30_000)
    wait_idle(page)
    shown = page.locator('[data-testid="selected-originals"] img').count()
    assert shown >= 1
    assert page.locator('[data-testid="selected-reconstructions"] img').count() == shown
    before = image_src(page)
    page.get_by_role("button", name=re.compile(r"Move z to")).click()
    page.wait_for_function(f"src => document.querySelector('{IMAGE}').getAttribute('src') !== src", arg=before)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "explore-selection.png"), full_page=True)


def link_z(page) -> list[float]:
    return [float(v) for v in page.evaluate("() => new URLSearchParams(location.search).get('z')").split(",")]


def slider_values(page) -> list[float]:
    return [
        float(v)
        for v in page.locator('[data-testid="stSlider"]')
        .filter(has_text=re.compile("^z"))
        .locator("input")
        .evaluate_all("els => els.map(e => e.value)")
    ]


PAGE_STATE = """() => ({
  link: new URLSearchParams(location.search).get('z'),
  image: document.querySelector('img[data-testid="current-z-image"]')?.getAttribute('data-z'),
  marks: window.__zMarks ? {server: window.__zMarks.last?.z, local: window.__zMarks.local && Array.from(window.__zMarks.local.z),
                            applied: window.__zMarks.applied, localApplied: window.__zMarks.localApplied} : null,
  focus: document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName,
})"""


def page_state(page) -> str:
    """What the page holds now (for a failing test's message): the link, the drawn z, the crosses' script."""
    return f"{page.evaluate(PAGE_STATE)}; sliders {slider_values(page)}"


def settled_z(page) -> list[float]:
    """z once the page has stopped changing (no slider reporting an old value pulls it back)."""
    wait_idle(page)
    first = link_z(page)
    page.wait_for_timeout(1500)
    wait_idle(page)
    assert link_z(page) == first
    return first


def test_a_prior_sample_and_a_pad_release_move_every_slider_and_stay(page, server):
    open_explore(page, server)
    before = image_src(page)
    page.get_by_role("button", name="Prior sample").click()
    page.wait_for_function(f"src => document.querySelector('{IMAGE}').getAttribute('src') !== src", arg=before)
    z = settled_z(page)
    assert z != [0.0, 0.0]
    assert slider_values(page) == pytest.approx([max(-5, min(5, v)) for v in z], abs=STEP / 2 + 1e-3)

    pad = page.locator('[data-testid="latent-pad"]')
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    before = image_src(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.3 * box["height"], steps=6)
    page.mouse.up()
    page.wait_for_function(f"src => document.querySelector('{IMAGE}').getAttribute('src') !== src", arg=before)
    z = settled_z(page)
    assert z[0] > 0.5 and z[1] > 0.2  # right of and above the middle
    assert slider_values(page) == pytest.approx(z, abs=STEP / 2 + 1e-3)  # shown on the slider's grid
    assert scatter_cross(page) == pytest.approx(z, abs=1e-3)

    # and a slider step after the release moves on from there (the release is not replayed)
    shown = slider_values(page)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input")
    thumb.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("x => new URLSearchParams(location.search).get('z').split(',')[0] !== x", arg=f"{z[0]:.3f}")
    after = settled_z(page)
    assert after[0] == pytest.approx(shown[0] + STEP, abs=1e-3) and after[1] == pytest.approx(z[1], abs=1e-3)


# Notes the first change of the current image's picture, and what the page showed at that moment.
# The nearest images as shown: each one's src and caption.
NEAREST_JS = """() => Array.from(document.querySelectorAll('[data-testid="nearest-images"] > *')).map(
  (item) => [item.querySelector('img').getAttribute('src'), item.querySelector('img + div').textContent])"""

WATCH_IMAGE = (
    """() => {
  const NEAREST = """
    + NEAREST_JS
    + """;
  const image = () => document.querySelector('img[data-testid="current-z-image"]');
  const seen = (window.__firstChange = { src: image().getAttribute('src'), first: null });
  const observer = new MutationObserver(() => {
    const img = image();
    if (!img || img.getAttribute('src') === seen.src) return;
    seen.first = {
      src: img.getAttribute('src'),
      dataZ: img.getAttribute('data-z'),
      caption: img.nextElementSibling.textContent,
      faded: document.querySelector('[data-testid="nearest-images"]').style.opacity,
      nearest: NEAREST(),
      link: new URLSearchParams(location.search).get('z'),
    };
    observer.disconnect();
  });
  observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
}"""
)

# The largest difference between two images' pixels, 0..255 (999: not the same size).
PIXEL_GAP = """async ([a, b]) => {
  const load = (src) => new Promise((done) => { const i = new Image(); i.onload = () => done(i); i.src = src; });
  const pixels = (img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    return g.getImageData(0, 0, c.width, c.height).data;
  };
  const [p, q] = (await Promise.all([load(a), load(b)])).map(pixels);
  if (p.length !== q.length) return 999;
  let gap = 0;
  for (let i = 0; i < p.length; i++) gap = Math.max(gap, Math.abs(p[i] - q[i]));
  return gap;
}"""


def first_change(page) -> dict:
    page.wait_for_function("() => window.__firstChange.first !== null", timeout=30_000)
    return page.evaluate("() => window.__firstChange.first")


def test_a_step_is_answered_in_the_browser_first_then_by_the_server(page, server):
    """The slider's and the pad's new z is decoded in the page at once (the pad's decoder), while
    the server's answer is still on its way; the server's picture, when it comes, is the same."""
    open_explore(page, server)
    page.wait_for_function("() => window.__zMarks.atlas?.sprite", timeout=30_000)  # the test set is here
    before = page.evaluate(NEAREST_JS)
    page.evaluate(WATCH_IMAGE)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input")
    thumb.focus()
    for _ in range(10):  # far enough for other nearest images
        page.keyboard.press("ArrowRight")
    first = first_change(page)
    assert first["dataZ"] == "0.0000,0.0000"  # the server had not answered yet ...
    assert first["caption"] == "z = (+0.05, +0.00)"  # ... and the page showed the new z
    assert first["faded"] == ""  # with its nearest test images, found in the page
    page.wait_for_function(f"() => document.querySelector('{IMAGE}').getAttribute('data-z') === '0.5000,0.0000'")
    wait_idle(page)
    assert page.evaluate("() => window.__zMarks.local") is None
    assert page.locator('[data-testid="nearest-images"]').evaluate("e => e.style.opacity") == ""
    assert page.locator(IMAGE).evaluate("e => e.nextElementSibling.textContent") == "z = (+0.50, +0.00)"
    local = page.evaluate(
        """z => { const a = window.__zMarks.atlas; const d = (i) => (a.mu[2 * i] - z[0]) ** 2 + (a.mu[2 * i + 1] - z[1]) ** 2;
        return Array.from(document.querySelectorAll('[data-testid="nearest-images"] > * img + div'), (c) => d(+c.textContent.split('#')[1])); }""",
        [0.5, 0.0],
    )
    assert local == sorted(local)  # nearest first
    # one step: the page's picture, then the server's, the same to rounding; the same nearest images
    page.evaluate(WATCH_IMAGE)
    page.keyboard.press("ArrowRight")
    first = first_change(page)
    assert first["dataZ"] == "0.5000,0.0000" and first["caption"] == "z = (+0.55, +0.00)"
    assert first["link"] == "0.550,0.000"  # the link is the z the page shows
    page.wait_for_function(f"() => document.querySelector('{IMAGE}').getAttribute('data-z') === '0.5500,0.0000'")
    wait_idle(page)
    assert page.evaluate(PIXEL_GAP, [first["src"], image_src(page)]) <= 1
    server_nearest = page.evaluate(NEAREST_JS)
    assert [c for _, c in first["nearest"]] == [c for _, c in server_nearest] != [c for _, c in before]
    for (mine, _), (theirs, _) in zip(first["nearest"], server_nearest):
        assert page.evaluate(PIXEL_GAP, [mine, theirs]) == 0  # the test images themselves

    # a release on the pad: the same, with the z the pad was released at
    pad = page.locator('[data-testid="latent-pad"]')
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.35 * box["height"], steps=4)
    page.evaluate(WATCH_IMAGE)
    page.mouse.up()
    first = first_change(page)
    released = page.evaluate("() => window.__latentPad.get().snapshot().z")
    assert first["dataZ"] == "0.5500,0.0000"
    assert first["caption"] == "z = ({:+.2f}, {:+.2f})".format(*released)
    assert first["link"] == format_z(released)
    assert first["faded"] == ""
    page.wait_for_function(
        f"z => document.querySelector('{IMAGE}').getAttribute('data-z') === z",
        arg=z_token(released),
        timeout=30_000,
    )
    wait_idle(page)
    assert page.evaluate(PIXEL_GAP, [first["src"], image_src(page)]) <= 1
    assert [c for _, c in first["nearest"]] == [c for _, c in page.evaluate(NEAREST_JS)]
    assert scatter_cross(page) == pytest.approx(released, abs=1e-4)


# Holds the server's messages in the page: __holdMessages(ms, n) lets the next n through (the run's
# start, which marks its elements as rerunning), then holds the rest for ms, as a loaded server would.
HOLD_MESSAGES = """(() => {
  const add = WebSocket.prototype.addEventListener;
  const hold = { until: 0, pass: 0, queue: [], timer: null };
  const flush = () => { hold.until = 0; hold.timer = null; for (const deliver of hold.queue.splice(0)) deliver(); };
  window.__holdMessages = (ms, pass) => { hold.until = performance.now() + ms; hold.pass = pass; };
  WebSocket.prototype.addEventListener = function (type, listener, options) {
    if (type !== 'message') return add.call(this, type, listener, options);
    return add.call(this, type, (event) => {
      if (hold.until && hold.pass > 0) { hold.pass--; return listener.call(this, event); }
      if (!hold.until && !hold.queue.length) return listener.call(this, event);
      hold.queue.push(() => listener.call(this, event));
      if (!hold.timer) hold.timer = setTimeout(flush, Math.max(0, hold.until - performance.now()));
    }, options);
  };
})();"""

RERUNNING = f"""() => Array.from(document.querySelectorAll('[data-stale="true"]'), (e) => [
    !!e.closest('{", ".join(f".st-key-{slot}" for slot in SLOTS)}'), +getComputedStyle(e).opacity])"""


def test_what_the_page_answered_itself_does_not_fade_while_the_server_catches_up(page, server):
    """Streamlit fades a rerunning fragment's elements to grey after half a second. Under a class's
    load the server's answer to a step takes that long, but the page has drawn the new z already:
    the z panel and the views stay as they are (and the browsers are spared the fade's frames)."""
    page.add_init_script(HOLD_MESSAGES)
    open_explore(page, server)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input")
    thumb.focus()
    page.evaluate("window.__holdMessages(2500, 2)")
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(1800)  # Streamlit's fade: over 1 s, after 0.5 s
    rerunning = page.evaluate(RERUNNING)
    assert len(rerunning) >= 4  # the z panel is rerunning: its image, sliders and buttons ...
    assert all(inside for inside, _ in rerunning)  # ... and nothing else
    assert [opacity for _, opacity in rerunning] == [1.0] * len(rerunning)  # none of it faded
    assert page.locator(IMAGE).evaluate("e => e.nextElementSibling.textContent") == "z = (+0.05, +0.00)"
    page.wait_for_function(f"() => document.querySelector('{IMAGE}').getAttribute('data-z') === '0.0500,0.0000'")
    wait_idle(page)
    assert page.evaluate(RERUNNING) == []


def test_without_the_data_set_the_nearest_images_wait_for_the_server(page, tmp_path):
    """No MNIST files on disk: no atlas, so a step shows the page's own image at once and fades
    the nearest images (decoded codes) until the server's answer replaces them."""
    from tests.conftest import mnist_shaped_checkpoint

    (tmp_path / "shipped").mkdir()
    mnist_shaped_checkpoint(tmp_path / "shipped" / "mnist-mlp-z2.pt")
    env = {"EXPLORER_SHIPPED_DIR": str(tmp_path / "shipped"), "EXPLORER_DATA_DIR": str(tmp_path / "no-data")}
    bare = StreamlitServer(env=env)
    try:
        open_explore(page, bare, model="shipped:mnist-mlp-z2")
        assert page.evaluate("() => window.__zMarks.atlas") is None
        page.evaluate(WATCH_IMAGE)
        page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input").focus()
        page.keyboard.press("ArrowRight")
        first = first_change(page)
        assert first["dataZ"] == "0.0000,0.0000" and first["caption"] == "z = (+0.05, +0.00)"
        assert first["faded"] == "0.45"  # not found here: marked as not yet updated
        page.wait_for_function(f"() => document.querySelector('{IMAGE}').getAttribute('data-z') === '0.0500,0.0000'")
        wait_idle(page)
        assert page.locator('[data-testid="nearest-images"]').evaluate("e => e.style.opacity") == ""
    finally:
        bare.stop()


def test_quick_key_presses_all_count_and_the_thumb_stays_where_it_went(page, server):
    """Twelve presses without waiting: runs overlap, and none of their answers may pull the thumb
    back (z is float32: 0.3 came back as 0.30000001, a 'new' value Streamlit sent to the thumb)."""
    open_explore(page, server)
    # every caption the image shows on the way, as it would be painted (after the page's own fixes)
    page.evaluate(
        """() => {
          window.__captions = [];
          new MutationObserver(() => {
            const img = document.querySelector('img[data-testid="current-z-image"]');
            const text = img && img.nextElementSibling.textContent;
            if (text && text !== window.__captions.at(-1)) window.__captions.push(text);
          }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
        }"""
    )
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input")
    thumb.focus()
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('z') === '0.600,0.000'", timeout=30_000)
    assert settled_z(page) == [0.6, 0.0]
    assert slider_values(page) == pytest.approx([0.6, 0.0], abs=1e-6)
    assert page.evaluate("() => window.__latentPad.get().snapshot().lastZ") == pytest.approx([0.6, 0.0], abs=1e-6)
    assert scatter_cross(page) == pytest.approx((0.6, 0.0), abs=1e-6)
    # the image answered in the browser on the way gave way to the server's, of the same z
    assert page.locator(IMAGE).get_attribute("data-z") == "0.6000,0.0000"
    assert page.locator(IMAGE).evaluate("e => e.nextElementSibling.textContent") == "z = (+0.60, +0.00)"
    assert page.evaluate("() => window.__zMarks.local") is None
    # and never went back to an older step on the way, though the server answered each in turn
    shown = [float(re.match(r"z = \(([+-][\d.]+),", c).group(1)) for c in page.evaluate("() => window.__captions")]
    assert shown == sorted(shown) and shown[-1] == 0.6, shown


def test_the_latents_download_as_csv(page, server):
    open_explore(page, server)
    page.get_by_text("Export", exact=True).click()
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("as CSV")).click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0][:5] == ["index", "label", "class_name", "mu_1", "mu_2"]
    assert len(rows) == 1 + 360  # the digits test set


def test_twenty_dimensions_in_the_browser(page, server):
    open_explore(page, server, "shipped:digits-mlp-z20")
    assert page.locator('[data-testid="stSlider"]').filter(has_text=re.compile("^z")).count() >= 20
    plane = page.evaluate("() => window.__latentPad.get().snapshot().dims")
    off_plane = next(i for i in range(20) if i not in plane)
    manifold = page.locator('[data-testid="manifold"] img').get_attribute("src")
    before = image_src(page)
    page.evaluate(MARK_VIEWS)
    label = "z" + str(off_plane + 1).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text=re.compile(f"^{label}")).first.locator("input")
    thumb.focus()
    for _ in range(10):  # half a unit along a coordinate off the plane: the manifold's picture changes
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"src => document.querySelector('{IMAGE}').getAttribute('src') !== src", arg=before)
    page.wait_for_function(
        "src => document.querySelector('[data-testid=\"manifold\"] img').getAttribute('src') !== src",
        arg=manifold,
        timeout=30_000,
    )
    wait_idle(page)
    z = settled_z(page)  # every press counted, and the thumb, the pad and the link agree
    assert z[off_plane] == pytest.approx(0.5, abs=1e-3), page_state(page)
    page.wait_for_function(  # and the server has drawn it: no run that the steps asked for was lost
        f"z => document.querySelector('{IMAGE}').getAttribute('data-z') === z",
        arg=z_token(z),
        timeout=30_000,
    )
    assert slider_values(page)[off_plane] == pytest.approx(0.5, abs=1e-6)
    assert page.evaluate("() => window.__latentPad.get().snapshot().z") == pytest.approx(z, abs=1e-3)
    # the views were sent again (the manifold's picture changed): the scatter drawn anew has its cross
    assert scatter_cross(page) == pytest.approx((z[plane[0]], z[plane[1]]), abs=1e-3)
    assert cross_on_screen(page) == pytest.approx((z[plane[0]], z[plane[1]]), abs=0.03)
    page.get_by_role("button", name="Prior sample").click()  # then a jump in every coordinate
    page.wait_for_function(
        f"z => document.querySelector('{CROSS}') && document.querySelector('{CROSS}').dataset.z !== z",
        arg=f"{z[plane[0]]},{z[plane[1]]}",
        timeout=30_000,
    )
    z = settled_z(page)
    wait_idle(page)
    assert scatter_cross(page) == pytest.approx((z[plane[0]], z[plane[1]]), abs=1e-3)
    ranges = page.evaluate(f"() => {{ const f = {SCATTER}._fullLayout; return [f.xaxis.range, f.yaxis.range]; }}")
    inside = all(min(r) <= z[d] <= max(r) for r, d in zip(ranges, plane))
    assert page.locator(CROSS).get_attribute("data-outside") == ("0" if inside else "1")
    pinned = [min(max(z[d], min(r)), max(r)) for r, d in zip(ranges, plane)]  # a draw off this chart: at its edge
    assert cross_on_screen(page) == pytest.approx(pinned, abs=0.03)
    page.screenshot(path=str(SHOTS / "explore-z20.png"), full_page=True)


def test_a_link_straight_to_generate_works_on_a_fresh_server(page, tiny_models_dir):
    fresh = StreamlitServer(env={"EXPLORER_SHIPPED_DIR": str(tiny_models_dir)})
    try:
        page.set_viewport_size({"width": 1400, "height": 1100})
        page.goto(f"{fresh.url}/generate")  # the first request this server sees
        page.wait_for_selector('[data-testid="prior-samples"]', timeout=90_000)
        wait_idle(page)
        assert page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').count() == 1
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Explore" in nav and "streamlit app" not in nav
        for i, name in enumerate(["Prior samples", "Latent sizes", "Interpolation", "Reconstructions"]):
            page.get_by_role("tab", name=re.compile(name)).click()
            wait_idle(page)
            page.screenshot(path=str(SHOTS / f"generate-{i}.png"))
        assert page.locator('[data-testid="recon-originals"] img').count() == 12
    finally:
        fresh.stop()


def test_a_pad_release_right_after_a_slider_step_is_not_taken_back_by_the_sliders(page, server):
    """The server moving the sliders to the pad's z, within a second of a key on a slider, is not
    the user's step: the page ends on the released z and the server's picture of it."""
    open_explore(page, server)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="z₁").first.locator("input")
    thumb.focus()
    page.keyboard.press("ArrowRight")
    pad = page.locator('[data-testid="latent-pad"]')
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.62 * box["width"], box["y"] + 0.41 * box["height"], steps=3)
    page.mouse.up()
    released = page.evaluate("() => window.__latentPad.get().snapshot().z")
    page.wait_for_function(
        f"z => document.querySelector('{IMAGE}').getAttribute('data-z') === z",
        arg=z_token(released),
        timeout=30_000,
    )
    wait_idle(page)
    page.wait_for_timeout(300)  # the sliders' own redraw to the released z has come and gone
    assert page.evaluate("() => window.__zMarks.local") is None  # nothing of the page's own is pending
    assert page.locator(IMAGE).evaluate("e => e.nextElementSibling.textContent") == "z = ({:+.2f}, {:+.2f})".format(
        *released
    )
    assert page.locator('[data-testid="nearest-images"]').evaluate("e => e.style.opacity") == ""
