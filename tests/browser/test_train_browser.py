"""The Train page (A7, J2) in real headless Chromium against the real app: a short digits run
trains in the background while the page refreshes (and while the user visits another page and
comes back), its loss curves grow epoch by epoch, the time-lapse ends as a Plotly animation, and
the model appears in the sidebar picker and opens in Explore. Screenshots go to
$TRAIN_SCREENSHOTS (default /tmp/train_shots)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.browser.conftest import StreamlitServer, wait_idle

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("TRAIN_SCREENSHOTS", "/tmp/train_shots"))
EPOCHS = 100  # with batches of 32: long enough to leave the page and come back while it trains
PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'

# The loss curves are the chart whose first trace is "train"; count the points of its −ELBO.
CURVE_POINTS = """() => {
  const plots = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')];
  const curves = plots.find(gd => gd._fullData && gd._fullData.length && gd._fullData[0].name === "train");
  return curves ? curves._fullData[0].x.length : 0;
}"""
# The time-lapse is the chart with animation frames.
TIMELAPSE = """() => {
  const plots = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')];
  const gd = plots.find(gd => gd._transitionData && gd._transitionData._frames.length);
  return gd ? {frames: gd._transitionData._frames.length,
               play: gd.querySelector('.updatemenu-button') !== null,
               slider: gd.querySelector('.slider-container') !== null} : null;
}"""


@pytest.fixture(scope="module")
def server(tiny_models_dir, tmp_path_factory):
    srv = StreamlitServer(
        env={
            "EXPLORER_SHIPPED_DIR": str(tiny_models_dir),
            "EXPLORER_MODELS_DIR": str(tmp_path_factory.mktemp("user_models")),
            "EXPLORER_MAX_JOBS": "1",
        }
    )
    yield srv
    srv.stop()


def open_train_page(page, server) -> None:
    page.goto(server.url)
    page.locator(PICKER).wait_for(timeout=90_000)  # the app's own navigation is in place
    page.get_by_role("link", name="Train", exact=True).click()
    page.get_by_text("Train a VAE").wait_for(timeout=60_000)
    wait_idle(page, 60)


def choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option).click()
    wait_idle(page)


def test_a_digits_run_grows_its_curves_and_lands_in_the_picker(page, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_train_page(page, server)
    choose(page, "Data set", "scikit-learn digits (8x8)")
    choose(page, "Batch size", "32")
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "train-form.png"), full_page=True)

    page.get_by_role("button", name="Train", exact=True).click()
    counts, deadline, shot, away = [], time.monotonic() + 180, False, False
    while time.monotonic() < deadline:
        counts.append(page.evaluate(CURVE_POINTS))
        if not away and counts[-1] >= 1:  # leave for another page while it trains, then come back
            page.get_by_role("link", name="Explore", exact=True).click()
            page.get_by_role("link", name="Train", exact=True).wait_for()
            wait_idle(page, 60)
            page.get_by_role("link", name="Train", exact=True).click()
            page.get_by_text("Train a VAE").wait_for(timeout=60_000)
            away = True
            continue
        if not shot and 3 <= counts[-1] < EPOCHS:
            page.screenshot(path=str(SHOTS / "train-during.png"), full_page=True)
            shot = True
            scrubber = page.get_by_role("slider", name="Epoch of the latent scatter")
            if scrubber.count():  # while it trains, the latent scatter follows the newest epoch
                assert int(scrubber.input_value(timeout=2000)) >= 3
        if page.get_by_text("saved as").count():
            break
        time.sleep(0.25)
    else:
        pytest.fail(f"the run did not finish; curve points seen: {counts[-20:]}\n{server.output()}")
    wait_idle(page)
    counts.append(page.evaluate(CURVE_POINTS))
    growing = [c for c in counts if c]
    assert growing == sorted(growing), growing  # never fewer points than before
    assert len(set(growing)) >= 3, growing  # the page redrew while the job trained
    assert growing[-1] == EPOCHS

    page.wait_for_function(TIMELAPSE, timeout=30_000)  # the animation is drawn once the job has ended
    assert page.evaluate(TIMELAPSE) == {"frames": EPOCHS + 1, "play": True, "slider": True}
    page.screenshot(path=str(SHOTS / "train-done.png"), full_page=True)

    page.locator(PICKER).click()
    trained = page.get_by_role("option", name="trained here")
    assert trained.count() == 1
    name = trained.inner_text().split(" · ")[0]
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Open in Explore").click()
    page.wait_for_url(lambda url: "/train" not in url, timeout=60_000)  # Explore is the default page
    wait_idle(page, 60)
    assert name in page.locator(PICKER).get_by_role("combobox").input_value()
    assert f"model=trained%3A{name}" in page.url
    page.screenshot(path=str(SHOTS / "train-opened-in-explore.png"))
