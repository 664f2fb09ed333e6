"""The Explore page under AppTest on the tiny digits models (2-D MLP, 20-D MLP, 2-D conv) and on an
MNIST-shaped model whose data set is not on disk; and the page's plain helpers."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import checkpoints, latent, plots
from explorer.ui import explore_view
from explorer.ui.atlas import unpack_atlas
from explorer.ui.widgets import Encoded

from .conftest import REPO

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.usefixtures("navigation_as_on_a_server"),
]

Z2 = "shipped:digits-mlp-z2"
Z20 = "shipped:digits-mlp-z20"


def open_explore(model_key: str | None = Z2) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90)
    if model_key:
        at.session_state["model_key"] = model_key
    at.run()
    assert not at.exception, at.exception
    return at


def z_of(at: AppTest, key: str = Z2) -> np.ndarray:
    return np.asarray(at.session_state[f"z::{key}"])


def html_with(at: AppTest, testid: str) -> str:
    found = [m.value for m in at.markdown if f'data-testid="{testid}"' in m.value]
    assert found, f"no element with data-testid={testid}"
    return found[0]


def current_image(at: AppTest) -> str:
    return re.search(r'src="([^"]+)" data-testid="current-z-image"', html_with(at, "current-z-image")).group(1)


def marker_position(at: AppTest) -> tuple[float, float]:
    left, top = re.search(r'manifold-current-z".*?left:([\d.]+)%; top:([\d.]+)%', html_with(at, "manifold")).groups()
    return float(left), float(top)


def scatter_spec(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def scatter_cross(at: AppTest) -> tuple[float, float]:
    """Where the scatter was drawn with z (its layout.meta; the page's script draws the cross there)."""
    x, y = scatter_spec(at)["layout"]["meta"]["current"]
    return x, y


def marks(at: AppTest) -> dict:
    """The data of the element that moves the views' crosses in the browser (explorer.ui.marks)."""
    found = [e for e in at.get("bidi_component") if e.proto.component_name == "explorer_z_marks" and e.proto.json]
    assert len(found) == 1
    return json.loads(found[0].proto.json)


def atlas_bytes(at: AppTest) -> list[bytes]:
    """The data of the elements that carry the test set for the page's own nearest images."""
    return [
        e.proto.bytes
        for e in at.get("bidi_component")
        if e.proto.component_name == "explorer_z_marks" and e.proto.WhichOneof("data") == "bytes"
    ]


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_opens_with_every_view(shipped):
    at = open_explore()
    assert "Latent space of **digits-mlp-z2**" in at.markdown[0].value
    assert [s.label for s in at.slider if s.key and s.key.startswith("zslider")] == ["z₁", "z₂"]
    assert current_image(at).startswith("data:image/png;base64,")
    assert marker_position(at) == pytest.approx((50.0, 50.0))  # z = 0: the middle of the grid
    mu = checkpoints.load(shipped / "digits-mlp-z2.pt").encoded.mu.numpy()
    assert f"15×15 decodes, linear spacing over ±{explore_view.default_range(mu):g}." in captions(at)
    assert "Nearest test images" in html_with(at, "current-z-image")  # digits ship with scikit-learn
    nearest = html_with(at, "nearest-images").split('data-testid="nearest-images"')[1]
    assert nearest.count("<img") == explore_view.NEAREST_K
    spec = scatter_spec(at)
    names = [t["name"] for t in spec["data"]]
    assert names == [str(d) for d in range(10)]
    assert scatter_cross(at) == (0.0, 0.0)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Latents of the 360 test images as CSV" in labels


def test_the_page_gets_the_test_set_once_for_its_own_nearest_images(shipped):
    """The atlas is the model's encoded test set and its images; the crosses' script is told
    which atlas answers this model, and a step's run (a fragment) does not send it again."""
    at = open_explore()
    (data,) = atlas_bytes(at)
    atlas = unpack_atlas(data)
    ckpt = checkpoints.load(shipped / "digits-mlp-z2.pt")
    np.testing.assert_array_equal(atlas.mu, ckpt.encoded.mu.numpy())
    np.testing.assert_array_equal(atlas.labels, ckpt.encoded.labels.numpy())
    assert marks(at)["local"]["atlas"] == atlas.header["id"]
    assert atlas.header["names"] == list(ckpt.dataset.class_names)
    at.slider(key=f"zslider::{Z2}::0").set_value(1.0).run()
    assert not at.exception
    assert marks(at)["local"]["atlas"] == atlas.header["id"]
    assert atlas_bytes(at) == [data]  # still on the page, the same


def test_without_the_data_set_there_is_no_atlas(no_data):
    """MNIST's files are not on disk: the nearest images are decoded codes from the server, and the
    page is told it has no atlas (it fades them until the server answers)."""
    at = open_explore("shipped:mnist-mlp-z2")
    assert atlas_bytes(at) == []
    assert marks(at)["local"]["atlas"] is None
    assert "Nearest test codes, decoded" in html_with(at, "current-z-image")


def test_a_slider_moves_z_and_every_view_follows(shipped):
    at = open_explore()
    before_image, before_marker = current_image(at), marker_position(at)
    at.slider(key=f"zslider::{Z2}::0").set_value(1.5).run()
    assert not at.exception
    np.testing.assert_allclose(z_of(at), [1.5, 0.0])
    assert current_image(at) != before_image
    assert "z = (+1.50, +0.00)" in html_with(at, "current-z-image")
    left, top = marker_position(at)
    assert left > before_marker[0] + 10 and top == pytest.approx(before_marker[1])
    assert scatter_cross(at) == (1.5, 0.0)
    # what the browser moves the crosses with, without the views sent again: the same places
    moved = marks(at)
    assert moved["z"] == [1.5, 0.0] and moved["scatter"]["xy"] == [1.5, 0.0]
    assert moved["link"] == "1.500,0.000"  # for the address bar, written in the browser after a step
    assert (moved["manifold"]["mark"]["left"], moved["manifold"]["mark"]["top"]) == pytest.approx((left, top), abs=1e-3)
    assert moved["pad"] == f"pad::{Z2}" and moved["ack"] == 0
    assert moved["scatter"]["plane"] == scatter_spec(at)["layout"]["meta"]["plane"]
    at.slider(key=f"zslider::{Z2}::0").set_value(5.0).run()  # beyond the grid's ±range
    assert marks(at)["manifold"]["mark"] is None
    assert 'manifold-off-grid" style="display:block;' in html_with(at, "manifold")
    assert at.query_params["z"] in ("5.000,0.000", ["5.000,0.000"])  # the share link follows


def test_the_browser_gets_what_it_needs_to_answer_a_step_itself(shipped):
    """marks.js answers a slider step before the server: it finds the sliders by the class
    Streamlit gives their containers, and maps z onto the manifold's grid and the scatter's plane
    as the server does (checked here in Python; the browser test checks the pixels and crosses)."""
    at = open_explore()
    local = marks(at)["local"]
    assert local["sliders"] == [f"st-key-zslider--{Z2.replace(':', '-')}--{i}" for i in range(2)]
    assert local["dims"] == [0, 1] and local["limit"] == explore_view.SLIDER_LIMIT
    assert local["projection"] == {"mode": "axes"}
    limit = local["grid"]["anchors"][-2]  # the last centre
    grid = latent.grid_coordinates(explore_view.GRID_DEFAULT, limit=limit, spacing="linear")
    for value in np.array([-1.03, -0.97, -0.1, 0.0, 0.57, 1.03]) * limit:  # the script's interpolation
        interpolated = np.interp(value, local["grid"]["anchors"], local["grid"]["steps"])
        assert interpolated == pytest.approx(plots.grid_position(value, grid))

    at = open_explore(Z20)
    at.button_group(key=f"explore_plane::{Z20}").set_value("pca").run()
    local = marks(at)["local"]
    assert len(local["sliders"]) == 20 and local["projection"]["mode"] == "pca"
    mean, axes = np.array(local["projection"]["mean"]), np.array(local["projection"]["axes"])
    z = np.random.default_rng(3).standard_normal(20)
    mu = checkpoints.load(shipped / "digits-mlp-z20.pt").encoded.mu.numpy()
    pca = explore_view.make_projection(mu, "pca", (0, 1), 0)
    np.testing.assert_allclose((z - mean) @ axes.T, pca.place(z), atol=1e-5)  # as the script computes it
    at.button_group(key=f"explore_plane::{Z20}").set_value("tsne").run()
    assert marks(at)["local"]["projection"] == {"mode": "tsne"}  # no map for a new z: the server places it


def test_reset_and_prior_buttons(shipped):
    at = open_explore()
    at.slider(key=f"zslider::{Z2}::1").set_value(-2.0).run()
    at.button(key="explore_reset").click().run()
    np.testing.assert_allclose(z_of(at), [0.0, 0.0])
    at.button(key="explore_prior").click().run()
    z = z_of(at)
    assert not np.allclose(z, 0.0)
    assert at.slider(key=f"zslider::{Z2}::0").value == pytest.approx(float(np.clip(z[0], -5, 5)), abs=1e-6)


def test_selection_shows_originals_and_reconstructions_and_moves_z(shipped):
    at = open_explore()
    assert "Nothing selected yet" in captions(at)
    at.session_state[f"explore_selection::{Z2}"] = [3, 7, 11]
    at.run()
    assert html_with(at, "selected-originals").count("<img") == 3
    assert html_with(at, "selected-reconstructions").count("<img") == 3
    button = at.button(key="explore_take_mu")
    assert button.label == "Move z to the mean μ of these 3"
    button.click().run()
    mu = checkpoints.load(shipped / "digits-mlp-z2.pt").encoded.mu.numpy()
    np.testing.assert_allclose(z_of(at), mu[[3, 7, 11]].mean(axis=0), atol=1e-5)
    at.session_state[f"explore_selection::{Z2}"] = [5]
    at.run()
    at.button(key="explore_take_mu").click().run()
    np.testing.assert_allclose(z_of(at), mu[5], atol=1e-5)


def test_twenty_dimensions_plane_axes_and_projections(shipped):
    at = open_explore(Z20)
    sliders = [s for s in at.slider if s.key and s.key.startswith("zslider")]
    assert [s.label for s in sliders] == [
        f"z{str(i).translate(str.maketrans('0123456789', '₀₁₂₃₄₅₆₇₈₉'))}" for i in range(1, 21)
    ]
    image = html_with(at, "manifold")
    at.slider(key=f"zslider::{Z20}::7").set_value(2.0).run()  # not a plane coordinate: the manifold changes
    assert html_with(at, "manifold") != image
    assert "the other coordinates come from the sliders" in captions(at)

    at.selectbox(key=f"explore_x::{Z20}").set_value(4).run()
    at.selectbox(key=f"explore_y::{Z20}").set_value(4).run()
    assert "x and y must differ: using z₆" in captions(at)
    assert "drag on the z₅–z₆ plane" in "\n".join(m.value for m in at.markdown)
    z = z_of(at, Z20)
    assert scatter_cross(at) == pytest.approx((z[4], z[5]))

    at.button_group(key=f"explore_plane::{Z20}").set_value("pca").run()
    assert not at.exception
    assert scatter_spec(at)["layout"]["title"]["text"].startswith("PCA of μ")

    at.button_group(key=f"explore_plane::{Z20}").set_value("tsne").run()
    at.number_input(key=f"explore_tsne::{Z20}").set_value(explore_view.TSNE_BOUNDS[0]).run()
    assert not at.exception
    spec = scatter_spec(at)
    assert spec["layout"]["title"]["text"].startswith(f"t-SNE of {explore_view.TSNE_BOUNDS[0]} test codes")
    assert sum(len(t.get("customdata", {}).get("bdata", "")) > 0 for t in spec["data"]) >= 9


def test_manifold_settings(shipped):
    at = open_explore()
    at.number_input(key=f"explore_grid::{Z2}").set_value(5).run()
    at.button_group(key=f"explore_spacing::{Z2}").set_value("gaussian").run()
    at.slider(key=f"explore_range::{Z2}").set_value(2.0).run()
    assert not at.exception
    assert "5×5 decodes, Gaussian spacing over ±2" in captions(at)
    html = html_with(at, "manifold")
    assert ">-2.0<" in html and ">2.0<" in html and ">0.0<" in html
    assert scatter_spec(at)["layout"].get("images") is None
    at.toggle(key=f"explore_behind::{Z2}").set_value(True).run()
    assert len(scatter_spec(at)["layout"]["images"]) == 25  # Gaussian spacing: one picture per tile


def test_conv_model_opens(shipped):
    at = open_explore("shipped:digits-conv-z2")
    assert "Latent space of **digits-conv-z2**" in at.markdown[0].value
    at.slider(key="zslider::shipped:digits-conv-z2::1").set_value(-1.0).run()
    assert not at.exception
    assert "z = (+0.00, -1.00)" in html_with(at, "current-z-image")


def test_without_the_data_set_the_page_still_works_and_says_where_files_go(no_data):
    at = open_explore(None)  # the only model, so the picker's default
    assert "Nearest test codes, decoded (no data set on disk)" in html_with(at, "current-z-image")
    assert scatter_spec(at)["data"][0]["name"] == "0"
    at.session_state["explore_selection::shipped:mnist-mlp-z2"] = [0, 1]
    at.run()
    assert not at.exception
    assert html_with(at, "selected-reconstructions").count("<img") == 2
    assert not [m for m in at.markdown if "selected-originals" in m.value]
    note = " ".join(i.value for i in at.info)
    assert "Originals are not shown" in note and "MNIST is not in" in note and "raw" in note


# ---------------------------------------------------------------- plain helpers


def test_selection_indices_reads_customdata_once_each():
    points = [
        {"customdata": 7},
        {"customdata": [3]},
        {"customdata": 7},
        {"x": 0.1},  # the current-z cross carries no index
        {"customdata": -1},
        {"customdata": 2.5},
    ]
    assert explore_view.selection_indices(points) == [7, 3]
    assert explore_view.selection_indices([]) == []
    malformed = [{"customdata": float("inf")}, {"customdata": "abc"}, "x", None, {"customdata": [float("nan")]}]
    assert explore_view.selection_indices(malformed) == []
    assert explore_view.selection_indices(5) == []


def test_latents_csv_has_one_row_per_code():
    enc = Encoded(
        mu=np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32),
        logvar=np.array([[-1.0, -2.0], [0.0, -0.5]], dtype=np.float32),
        labels=np.array([1, 0]),
        class_names=("T-shirt/top", "Trouser, long"),
    )
    rows = list(csv.reader(io.StringIO(explore_view.latents_csv(enc))))
    assert rows[0] == ["index", "label", "class_name", "mu_1", "mu_2", "logvar_1", "logvar_2"]
    assert rows[1] == ["0", "1", "Trouser, long", "0.5", "-1", "-1", "-2"]
    assert rows[2][2] == "T-shirt/top" and len(rows) == 3


def test_clamp_bounds_typed_numbers():
    assert explore_view.clamp(99, *explore_view.GRID_BOUNDS) == explore_view.GRID_BOUNDS[1]
    assert explore_view.clamp(-5, 0.5, 6.0) == 0.5
    assert explore_view.clamp(float("nan"), 0.5, 6.0) == 0.5


def test_projections_place_z_on_their_plane():
    mu = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    axes = explore_view.make_projection(mu, "axes", (1, 3), 0)
    np.testing.assert_allclose(axes.coords, mu[:, [1, 3]])
    np.testing.assert_allclose(axes.place(mu[10]), mu[10, [1, 3]])
    pca = explore_view.make_projection(mu, "pca", (0, 1), 0)
    np.testing.assert_allclose(pca.place(mu[10]), pca.coords[10], atol=1e-4)
    tsne = explore_view.make_projection(mu, "tsne", (0, 1), 120)
    assert tsne.coords.shape == (120, 2) and len(np.unique(tsne.index)) == 120
    k = 17
    np.testing.assert_allclose(tsne.place(mu[tsne.index[k]]), tsne.coords[k])
    with pytest.raises(ValueError):
        explore_view.make_projection(mu, "umap", (0, 1), 0)


def test_a_slider_repeating_what_it_showed_is_not_a_move():
    stale = explore_view.is_stale_report
    assert stale(0.0, shown=0.0, current=1.3)  # z moved elsewhere; the browser still shows 0
    assert not stale(0.05, shown=0.0, current=1.3)  # a real move
    assert not stale(1.3, shown=1.3, current=1.3)  # nothing to restore
    assert not stale(0.0, shown=None, current=1.3)  # never drawn yet
    assert not stale(5.0, shown=5.0, current=7.5)  # beyond the slider: it shows its end
    assert stale(0.3, shown=float(np.float32(0.3)), current=1.3)  # shown as float32, repeated as float64


def test_a_slider_already_showing_z_is_not_written_again():
    from explorer.ui.common import slider_shows

    assert slider_shows(0.3, float(np.float32(0.3)))  # else Streamlit sends 0.30000001 and pulls the thumb back
    assert not slider_shows(0.3, 0.35) and not slider_shows(None, 0.0) and not slider_shows("0.3", 0.3)


def test_default_range_covers_the_codes():
    rng = np.random.default_rng(0)
    assert explore_view.default_range(rng.normal(size=(10_000, 2))) == 3.0  # N(0, 1): 99% within ±2.6
    assert explore_view.default_range(0.1 * rng.normal(size=(500, 2))) == 1.0
    assert explore_view.default_range(8 * rng.normal(size=(500, 2))) == explore_view.LIMIT_BOUNDS[1]
    assert explore_view.default_range(np.zeros((0, 2))) == explore_view.LIMIT_DEFAULT


def test_the_default_plane_is_the_two_most_active_coordinates():
    mu = np.random.default_rng(0).normal(size=(500, 6)) * np.array([0.01, 1.0, 0.02, 0.5, 2.0, 0.01])
    assert explore_view.default_plane(mu) == (1, 4)
