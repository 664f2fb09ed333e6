"""The ELBO lab in real Chromium: clicking a test point picks that image, clicking the aggregate
posterior decodes the clicked z (on the small digits checkpoints, so it runs without MNIST)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import StreamlitServer

pytestmark = pytest.mark.browser

# Page coordinates of data point (x, y) on the n-th plotly chart.
TO_PIXELS = """([n, x, y]) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[n];
  gd.scrollIntoView({block: "center"});
  const L = gd._fullLayout, r = gd.getBoundingClientRect();
  return [r.left + L._size.l + L.xaxis.l2p(x), r.top + L._size.t + L.yaxis.l2p(y)];
}"""


@pytest.fixture(scope="module")
def lab_server(tiny_models_dir, tmp_path_factory):
    server = StreamlitServer(
        env={
            "EXPLORER_SHIPPED_DIR": str(tiny_models_dir),
            "EXPLORER_MODELS_DIR": str(tmp_path_factory.mktemp("user_models")),
        }
    )
    yield server
    server.stop()


def settle(page, timeout: float = 90.0) -> None:
    """Wait until no script run is in progress and nothing on the page is stale."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        busy = (
            page.locator('[data-testid="stStatusWidget"]').count()
            + page.locator('[data-stale="true"]').count()
            + page.locator('[data-testid="stSpinner"]').count()
        )
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
        time.sleep(0.1)
    raise TimeoutError("the app kept running")


def open_lab(page, server, model_name: str = "digits-mlp-z2") -> None:
    page.goto(f"{server.url}/?model=shipped:{model_name}")
    page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stSelectbox"]', timeout=90_000)
    page.get_by_role("link", name="ELBO lab", exact=True).click()
    page.wait_for_selector("text=The aggregate posterior against the prior", timeout=90_000)
    settle(page)


def test_click_on_scatter_picks_the_image_and_click_on_map_decodes(page, lab_server):
    open_lab(page, lab_server)
    index_box = page.locator('[data-testid="stNumberInput"] input').first
    assert index_box.input_value() == "0"

    # a test image of class 3 (the picker has one WebGL trace per class, customdata = test index)
    x, y, index = page.evaluate(
        "() => { const t = document.querySelectorAll('.js-plotly-plot')[0]._fullData[3];"
        " return [t.x[0], t.y[0], t.customdata[0]]; }"
    )
    page.mouse.click(*page.evaluate(TO_PIXELS, [0, x, y]))
    expect(index_box).to_have_value(str(index), timeout=60_000)
    expect(page.locator('[data-testid="stCode"]')).to_contain_text(f"--index {index} ", timeout=60_000)
    settle(page)

    # the aggregate map is the last chart; click a grid point and its decode appears beside it
    last = page.evaluate("document.querySelectorAll('.js-plotly-plot').length") - 1
    page.mouse.click(*page.evaluate(TO_PIXELS, [last, 0.0, 3.6]))
    expect(page.get_by_text("decode(z) at (0.00, 3.60)")).to_have_count(1, timeout=60_000)
    expect(page.get_by_text("q(z)/p(z) here")).to_have_count(1)


def test_resample_changes_the_seed_and_the_numbers(page, lab_server):
    open_lab(page, lab_server)
    kl_mc = page.locator('[data-testid="stMetric"]').nth(1)
    before = kl_mc.inner_text()
    page.get_by_role("button", name="Resample ε").click()
    expect(page.get_by_text("seed = 1")).to_have_count(1, timeout=60_000)
    expect(page.locator('[data-testid="stCode"]')).to_contain_text("--seed 1 ", timeout=60_000)
    settle(page)
    assert kl_mc.inner_text() != before
