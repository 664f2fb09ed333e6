"""The live latent pad (A5) and the share link (A12) in real headless Chromium against the real
Streamlit server: the pad appears, a drag redraws the image on every move, the browser's decoder
agrees with torch to 1e-4 per pixel (MLP and conv decoders, and the shipped MNIST model when it
is there), releasing hands z to Python, and a link restores the model and z.

The app is tests/apps/pad_app.py (the app's own sidebar picker, sliders, the pad); the real
app's Explore page is exercised in test_real_app_* below.
"""

from __future__ import annotations

import shutil
import time
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest
import torch

from explorer import checkpoints
from explorer.checkpoints import EncodedTestSet
from explorer.config import ModelConfig
from explorer.data import DatasetInfo
from explorer.models import VAE
from explorer.ui.pad import packed_decoder
from tests.browser.conftest import StreamlitServer, wait_idle
from tests.conftest import REPO

pytestmark = pytest.mark.browser

PAD = '[data-testid="latent-pad"]'
IMAGE = '[data-testid="latent-pad-image"]'
REAL_MNIST = REPO / "checkpoints" / "mnist-mlp-z2.pt"
TOLERANCE = 1e-4


def _untrained(path, config: ModelConfig) -> None:
    """A randomly initialised model saved as a checkpoint: the decoder's arithmetic is what counts."""
    torch.manual_seed(0)
    model = VAE(config).eval()
    d, n = config.latent_dim, 200
    encoded = EncodedTestSet(mu=torch.randn(n, d), logvar=torch.zeros(n, d), labels=torch.arange(n) % 3)
    info = DatasetInfo("synthetic", config.image_shape, ("a", "b", "c"))
    checkpoints.save(path, checkpoints.to_dict(model, train_config=None, dataset=info, encoded=encoded))


@pytest.fixture(scope="module")
def models_dir(tiny_models_dir, tmp_path_factory):
    """The tiny digits models, the shipped MNIST MLP when this checkout has it, and two untrained
    conv decoders: MNIST-sized (the shipped conv recipe) and an RGB one with odd sides, whose
    transposed convs need output_padding."""
    folder = tmp_path_factory.mktemp("pad-models")
    for path in tiny_models_dir.glob("*.pt"):
        shutil.copy(path, folder / path.name)
    if REAL_MNIST.is_file():
        shutil.copy(REAL_MNIST, folder / REAL_MNIST.name)
    _untrained(folder / "mnist-conv-untrained.pt", ModelConfig(arch="conv", hidden=(32, 64), latent_dim=2))
    _untrained(folder / "rgb-conv-odd.pt", ModelConfig(image_shape=(3, 7, 9), arch="conv", hidden=(4, 8), latent_dim=3))
    return folder


@pytest.fixture(scope="module")
def pad_server(models_dir):
    server = StreamlitServer("tests/apps/pad_app.py", env={"EXPLORER_SHIPPED_DIR": str(models_dir)})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def torch_models(models_dir):
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = checkpoints.load(models_dir / f"{name}.pt").model
        return cache[name]

    return get


def open_pad(page, server, **params) -> dict:
    """Open the app with query parameters and wait until the pad has drawn its first frame."""
    page.goto(f"{server.url}/?{urlencode(params)}")
    wait_idle(page)
    page.wait_for_selector(PAD, state="visible", timeout=30_000)
    page.wait_for_function(
        "() => { const p = window.__latentPad && window.__latentPad.get(); return p && p.ready && p.frames > 0; }",
        timeout=30_000,
    )
    return snapshot(page)


def snapshot(page) -> dict:
    return page.evaluate("() => window.__latentPad.get().snapshot()")


def next_frames(page) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def canvas_rgb(page) -> np.ndarray:
    """The image canvas as drawn: (H, W, 3), 0..255."""
    data = page.evaluate(
        f"""() => {{
            const c = document.querySelector('{IMAGE}');
            return {{w: c.width, h: c.height, px: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)}};
        }}"""
    )
    return np.array(data["px"], dtype=np.int64).reshape(data["h"], data["w"], 4)[..., :3]


def canvas_pixels(page) -> np.ndarray:
    """The image canvas as drawn: (H, W) red channel, 0..255."""
    data = page.evaluate(
        f"""() => {{
            const c = document.querySelector('{IMAGE}');
            return {{w: c.width, h: c.height, px: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)}};
        }}"""
    )
    return np.array(data["px"], dtype=np.int64).reshape(data["h"], data["w"], 4)[..., 0]


def torch_decode(model, z) -> np.ndarray:
    with torch.no_grad():
        return model.decode(torch.tensor(np.asarray(z, dtype=np.float32))[None])[0].double().numpy()


def plane_point(page, z_x: float, z_y: float, limit: float) -> tuple[float, float]:
    """Viewport pixels of the plane point (z_x, z_y)."""
    box = page.locator(PAD).bounding_box()
    return (
        box["x"] + (z_x + limit) / (2 * limit) * box["width"],
        box["y"] + (limit - z_y) / (2 * limit) * box["height"],
    )


def page_z(page, label: str) -> np.ndarray:
    text = page.get_by_text(label).first.inner_text(timeout=15_000)
    return np.array([float(v) for v in text.split(":", 1)[1].strip().strip("`").split(",")])


def chosen_model(page) -> str:
    """The label the sidebar's model picker shows."""
    return page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] input').first.input_value()


def wait_for_text(page, text: str, timeout: float = 20.0) -> None:
    page.get_by_text(text).first.wait_for(timeout=timeout * 1000)


def wait_released(page, z, timeout: float = 20.0) -> None:
    """Until the page shows that Python received this z."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.get_by_text("released z:").count():
            try:
                if np.allclose(page_z(page, "released z:"), z, atol=1e-4):
                    return
            except ValueError:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"the page did not show released z = {z}")


# ---------------------------------------------------------------- the pad


def test_pad_appears_with_points_and_an_image(page, pad_server, torch_models):
    snap = open_pad(page, pad_server, model="shipped:digits-mlp-z2")
    # reachable from the page's own DOM (no shadow root), both surfaces visible
    assert page.evaluate(f"() => !!document.querySelector('{PAD}') && !!document.querySelector('{IMAGE}')")
    assert page.locator(IMAGE).is_visible()
    assert snap["imageShape"] == [1, 8, 8]
    assert snap["points"] > 100  # the encoded test set behind the pad
    assert snap["modelId"] == packed_decoder(torch_models("digits-mlp-z2"))[0]
    pixels = canvas_pixels(page)
    expected = np.round(255 * torch_decode(torch_models("digits-mlp-z2"), [0.0, 0.0])[0])
    assert np.abs(pixels - expected).max() <= 1  # the canvas shows decode(z = 0)
    page.screenshot(path="/tmp/pad-appears.png")


def test_pad_colours_classes_like_the_scatter(page, pad_server):
    from explorer.plots import class_colors

    open_pad(page, pad_server, model="shipped:digits-mlp-z2")
    swatches = page.evaluate(
        "() => [...document.querySelectorAll('.lp-swatch')].map(s => getComputedStyle(s).backgroundColor)"
    )
    expected = [
        "rgb({}, {}, {})".format(*(int(c.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))) for c in class_colors(10)
    ]
    assert swatches == expected


@pytest.mark.parametrize("name", ["digits-mlp-z2", "digits-conv-z2"])
def test_drag_redraws_the_image_on_every_move(page, pad_server, torch_models, name):
    snap = open_pad(page, pad_server, model=f"shipped:{name}")
    limit = snap["limit"]
    model = torch_models(name)
    frames_before = snap["frames"]
    path = [(-3.0 + 0.6 * k, 2.5 - 0.5 * k) for k in range(11)]
    page.mouse.move(*plane_point(page, *path[0], limit))
    page.mouse.down()
    next_frames(page)
    previous = canvas_pixels(page)
    changed = 0
    for z_x, z_y in path[1:]:
        page.mouse.move(*plane_point(page, z_x, z_y, limit))
        next_frames(page)
        snap = snapshot(page)
        # the frame drew where the pointer is, and what it drew is torch's decode of that z
        np.testing.assert_allclose(snap["lastZ"], [z_x, z_y], atol=2 * limit / 400)
        reference = torch_decode(model, snap["lastZ"])
        assert np.abs(np.array(snap["lastPixels"]) - reference.ravel()).max() < TOLERANCE
        pixels = canvas_pixels(page)
        assert np.abs(pixels - np.round(255 * reference[0])).max() <= 1
        changed += int(np.any(pixels != previous))
        previous = pixels
    page.mouse.up()
    assert changed == len(path) - 1  # a new image after every single move
    assert snapshot(page)["frames"] >= frames_before + len(path) - 1
    page.screenshot(path=f"/tmp/pad-drag-{name}.png")


def _check_decoder(page, model, latent_dim: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    zs = [np.zeros(latent_dim), np.full(latent_dim, 3.9), np.full(latent_dim, -3.9)]
    zs += list(rng.normal(scale=1.5, size=(7, latent_dim)))
    worst = 0.0
    for z in zs:
        browser = np.array(page.evaluate("(z) => window.__latentPad.decode(z)", [float(v) for v in z]))
        worst = max(worst, float(np.abs(browser - torch_decode(model, z).ravel()).max()))
    return worst


@pytest.mark.parametrize(
    "name", ["digits-mlp-z2", "digits-conv-z2", "digits-mlp-z20", "mnist-conv-untrained", "rgb-conv-odd"]
)
def test_browser_decoder_matches_torch(page, pad_server, torch_models, name):
    snap = open_pad(page, pad_server, model=f"shipped:{name}")
    model = torch_models(name)
    assert _check_decoder(page, model, model.config.latent_dim, seed=len(name)) < TOLERANCE
    assert snap["modelId"] == packed_decoder(model)[0]


def test_colour_images_are_drawn_in_colour(page, pad_server, torch_models):
    snap = open_pad(page, pad_server, model="shipped:rgb-conv-odd", z="0.500,-1.000,2.000")
    assert snap["imageShape"] == [3, 7, 9]
    expected = np.round(255 * torch_decode(torch_models("rgb-conv-odd"), [0.5, -1.0, 2.0])).transpose(1, 2, 0)
    drawn = canvas_rgb(page)
    assert drawn.shape == (7, 9, 3)
    assert np.abs(drawn - expected).max() <= 1


@pytest.mark.skipif(not REAL_MNIST.is_file(), reason="checkpoints/mnist-mlp-z2.pt is not in this checkout")
def test_browser_decoder_matches_torch_on_the_shipped_mnist_model(page, pad_server, torch_models):
    open_pad(page, pad_server, model="shipped:mnist-mlp-z2")
    assert _check_decoder(page, torch_models("mnist-mlp-z2"), 2, seed=0) < TOLERANCE


def test_release_sends_z_to_python(page, pad_server):
    snap = open_pad(page, pad_server, model="shipped:digits-mlp-z2")
    limit = snap["limit"]
    page.mouse.move(*plane_point(page, 0.0, 0.0, limit))
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(*plane_point(page, 0.4 * k, -0.3 * k, limit))
    page.mouse.up()
    wait_for_text(page, "released z:")
    wait_idle(page)
    released = snapshot(page)["z"]
    np.testing.assert_allclose(released, [2.0, -1.5], atol=2 * limit / 400)
    np.testing.assert_allclose(page_z(page, "released z:"), released, atol=1e-4)
    np.testing.assert_allclose(page_z(page, "session z:"), released, atol=1e-4)
    # the sidebar sliders and the address bar follow
    sliders = page.locator('[data-testid="stSidebar"] input[type="range"]')
    values = [float(sliders.nth(i).get_attribute("value")) for i in range(2)]
    np.testing.assert_allclose(values, released, atol=0.006)
    link_z = parse_qs(urlparse(page.url).query)["z"][0]
    np.testing.assert_allclose([float(v) for v in link_z.split(",")], released, atol=6e-4)


def test_a_rerun_during_a_drag_does_not_move_the_point_back(page, pad_server):
    snap = open_pad(page, pad_server, model="shipped:digits-mlp-z2")
    limit = snap["limit"]
    page.mouse.move(*plane_point(page, 0.0, 0.0, limit))
    page.mouse.down()
    page.mouse.move(*plane_point(page, 1.0, 1.0, limit))
    next_frames(page)
    # what a rerun elsewhere on the page would do: hand the pad its (older) z again
    page.evaluate("() => { const p = window.__latentPad.get(); p.update({...p.data, z: [0, 0]}, p.setTriggerValue); }")
    next_frames(page)
    np.testing.assert_allclose(snapshot(page)["lastZ"], [1.0, 1.0], atol=2 * limit / 400)
    page.mouse.move(*plane_point(page, 1.5, 1.0, limit))
    page.mouse.up()
    next_frames(page)
    np.testing.assert_allclose(snapshot(page)["z"], [1.5, 1.0], atol=2 * limit / 400)
    wait_released(page, snapshot(page)["z"])


def test_arrow_keys_move_z_and_release_it(page, pad_server):
    snap = open_pad(page, pad_server, model="shipped:digits-mlp-z2")
    step = snap["limit"] / 50
    page.focus(PAD)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")  # five steps
    wait_released(page, [3 * step, -5 * step])
    np.testing.assert_allclose(snapshot(page)["z"], [3 * step, -5 * step], atol=1e-6)  # float32 on the server


def test_pad_moves_two_coordinates_of_a_larger_z(page, pad_server, torch_models):
    z = np.round(np.random.default_rng(3).normal(size=20), 3)
    snap = open_pad(page, pad_server, model="shipped:digits-mlp-z20", z=",".join(f"{v:.3f}" for v in z))
    np.testing.assert_allclose(snap["z"], z, atol=1e-6)
    assert snap["dims"] == [0, 1]
    limit = snap["limit"]
    page.mouse.move(*plane_point(page, z[0], z[1], limit))
    page.mouse.down()
    page.mouse.move(*plane_point(page, -1.0, 1.5, limit))
    next_frames(page)
    snap = snapshot(page)
    np.testing.assert_allclose(snap["lastZ"][:2], [-1.0, 1.5], atol=2 * limit / 400)
    np.testing.assert_allclose(snap["lastZ"][2:], z[2:], atol=1e-6)  # the others stay as the sliders say
    reference = torch_decode(torch_models("digits-mlp-z20"), snap["lastZ"])
    assert np.abs(np.array(snap["lastPixels"]) - reference.ravel()).max() < TOLERANCE
    page.mouse.up()
    wait_for_text(page, "released z:")
    np.testing.assert_allclose(page_z(page, "released z:"), snap["lastZ"], atol=1e-4)


def test_share_link_restores_model_and_z(page, pad_server):
    snap = open_pad(page, pad_server, model="shipped:digits-conv-z2", z="0.750,-1.500")
    assert snap["imageShape"] == [1, 8, 8]
    np.testing.assert_allclose(snap["z"], [0.75, -1.5], atol=1e-6)
    assert chosen_model(page) == "digits-conv-z2"
    np.testing.assert_allclose(page_z(page, "session z:"), [0.75, -1.5], atol=1e-4)
    # and the link the address bar now holds opens the same state in a fresh session
    page.goto(page.url)
    snap = open_pad(page, pad_server, **{k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()})
    np.testing.assert_allclose(snap["z"], [0.75, -1.5], atol=1e-6)


def test_weights_are_sent_once_not_on_every_rerun(page, pad_server, torch_models):
    packed = packed_decoder(torch_models("digits-conv-z2"))[1]
    blob_marker = packed[-64:]  # the last weights of the decoder, raw float32
    hits: list[float] = []

    def on_socket(ws):
        def on_frame(payload):
            data = payload if isinstance(payload, bytes) else payload.encode()
            if blob_marker in data:
                hits.append(time.monotonic())

        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    snap = open_pad(page, pad_server, model="shipped:digits-conv-z2")
    assert len(hits) == 1
    limit = snap["limit"]
    for target in ((1.0, 1.0), (-1.0, 0.5)):  # two releases, two reruns
        page.mouse.move(*plane_point(page, 0.0, 0.0, limit))
        page.mouse.down()
        page.mouse.move(*plane_point(page, *target, limit), steps=4)
        page.mouse.up()
        wait_released(page, snapshot(page)["z"])
        wait_idle(page)
    assert len(hits) == 1  # the reruns referred to the cached weights instead of resending them


# ---------------------------------------------------------------- the real app


@pytest.fixture(scope="module")
def real_app(models_dir):
    server = StreamlitServer(env={"EXPLORER_SHIPPED_DIR": str(models_dir)})
    yield server
    server.stop()


def test_real_app_link_and_presenter_mode(page, real_app):
    page.goto(f"{real_app.url}/?{urlencode({'model': 'shipped:digits-conv-z2', 'z': '0.500,-1.000', 'present': '1'})}")
    wait_idle(page)
    assert chosen_model(page) == "digits-conv-z2"
    # presenter mode: larger type, the sidebar folded away
    page.wait_for_function("() => getComputedStyle(document.documentElement).fontSize === '22px'", timeout=30_000)
    assert page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true"
    query = parse_qs(urlparse(page.url).query)
    assert query["model"] == ["shipped:digits-conv-z2"]
    assert query["z"] == ["0.500,-1.000"]
    assert query["present"] == ["1"]
    page.screenshot(path="/tmp/pad-real-app-presenter.png")


def test_real_app_link_survives_a_page_change(page, real_app):
    page.goto(f"{real_app.url}/?{urlencode({'model': 'shipped:digits-conv-z2', 'z': '0.250,0.500'})}")
    page.wait_for_function(  # the first run has read the link
        """() => { const i = document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"] input');
                   return i && i.value === 'digits-conv-z2'; }""",
        timeout=90_000,
    )
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Generate").click()
    page.wait_for_url("**/generate**", timeout=60_000)
    # Streamlit drops the query on a page change; the next run puts the link back
    page.wait_for_function("() => new URLSearchParams(location.search).get('z') === '0.250,0.500'", timeout=60_000)
    query = parse_qs(urlparse(page.url).query)
    assert query["model"] == ["shipped:digits-conv-z2"]
    assert chosen_model(page) == "digits-conv-z2"


def test_real_app_explore_page_pad_follows_a_release(page, real_app, torch_models):
    page.goto(f"{real_app.url}/?{urlencode({'model': 'shipped:digits-conv-z2', 'z': '0.250,0.500'})}")
    wait_idle(page)
    page.wait_for_function(
        "() => { const p = window.__latentPad && window.__latentPad.get(); return p && p.ready && p.frames > 0; }",
        timeout=60_000,
    )
    snap = snapshot(page)
    np.testing.assert_allclose(snap["z"], [0.25, 0.5], atol=1e-6)  # the link's z reached the pad
    assert snap["modelId"] == packed_decoder(torch_models("digits-conv-z2"))[0]
    limit, follows = snap["limit"], snap["follows"]
    page.mouse.move(*plane_point(page, 0.25, 0.5, limit))
    page.mouse.down()
    previous = canvas_pixels(page)
    for k in range(1, 6):  # the image follows every move
        page.mouse.move(*plane_point(page, 0.25 - 0.4 * k, 0.5 - 0.3 * k, limit))
        next_frames(page)
        pixels = canvas_pixels(page)
        assert np.any(pixels != previous)
        previous = pixels
    released = snapshot(page)["z"]
    reference = torch_decode(torch_models("digits-conv-z2"), released)
    assert np.abs(np.array(snapshot(page)["lastPixels"]) - reference.ravel()).max() < TOLERANCE
    page.mouse.up()
    # Python got it: the z panel reruns and hands the pad the released z back (with the release's
    # number, so the pad takes it), and the link holds it
    page.wait_for_function(f"() => window.__latentPad.get().snapshot().follows > {follows}", timeout=30_000)
    wait_idle(page)
    np.testing.assert_allclose(snapshot(page)["z"], released, atol=1e-5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "z" not in parse_qs(urlparse(page.url).query):
        time.sleep(0.1)
    link_z = [float(v) for v in parse_qs(urlparse(page.url).query)["z"][0].split(",")]
    np.testing.assert_allclose(link_z, released, atol=6e-4)
    page.screenshot(path="/tmp/pad-real-app-release.png")
