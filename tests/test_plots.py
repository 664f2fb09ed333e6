"""The figure builders, without Streamlit or torch: numpy in, Plotly figures and HTML out."""

from __future__ import annotations

import io
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from explorer import plots

CLASSES = ("zero", "one", "two")


def _points(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)).astype(np.float32), np.arange(n) % 3


def test_png_round_trip_keeps_pixels():
    image = np.linspace(0, 1, 6 * 4, dtype=np.float32).reshape(6, 4)
    decoded = np.asarray(Image.open(io.BytesIO(plots.png_bytes(image))))
    assert decoded.shape == (6, 4)
    np.testing.assert_array_equal(decoded, plots.to_uint8(image))
    assert plots.png_data_uri(image).startswith("data:image/png;base64,")


def test_to_uint8_clips_and_replaces_nan():
    out = plots.to_uint8(np.array([[-1.0, 0.5, 2.0, np.nan]]))
    np.testing.assert_array_equal(out, [[0, 128, 255, 0]])


def test_class_colors_cycle_beyond_the_palette():
    colours = plots.class_colors(len(plots.CLASS_COLORS) + 2)
    assert colours[: len(plots.CLASS_COLORS)] == list(plots.CLASS_COLORS)
    assert colours[-2:] == list(plots.CLASS_COLORS[:2])
    assert len(set(plots.class_colors(10))) == 10


def test_tile_grid_places_row_zero_at_the_top():
    tiles = np.zeros((2, 3, 1, 4, 5), dtype=np.float32)
    tiles[0, 2] = 1.0  # top row, right column
    grid = plots.tile_grid(tiles)
    assert grid.shape == (8, 15)
    assert grid[:4, 10:].min() == 1.0
    assert grid.sum() == 20
    with pytest.raises(ValueError):
        plots.tile_grid(np.zeros((3, 4)))


def test_cell_edges_are_midpoints_mirrored_at_the_ends():
    np.testing.assert_allclose(plots.cell_edges(np.array([-1.0, 0.0, 1.0])), [-1.5, -0.5, 0.5, 1.5])
    uneven = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    edges = plots.cell_edges(uneven)
    assert len(edges) == 6 and np.all(np.diff(edges) > 0)
    assert plots.is_uniform(np.linspace(-3, 3, 7)) and not plots.is_uniform(uneven)
    with pytest.raises(ValueError):
        plots.cell_edges(np.array([1.0]))


def test_grid_position_maps_centres_to_indices():
    xs = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])  # uneven, like Gaussian spacing
    for i, x in enumerate(xs):
        assert plots.grid_position(x, xs) == pytest.approx(i)
    assert plots.grid_position(0.25, xs) == pytest.approx(2.5)
    assert plots.grid_position(-2.75, xs) == pytest.approx(-0.5)  # the outer edge
    assert plots.grid_position(3.0, xs) is None


def test_tick_positions_label_both_ends_in_z():
    positions, labels = plots.tick_positions(np.linspace(-3, 3, 15))
    assert positions[0] == 0 and positions[-1] == 14
    assert labels[0] == "-3.0" and labels[-1] == "3.0"
    assert len(positions) <= 9


def test_scatter_has_one_webgl_trace_per_class_with_indices():
    points, labels = _points()
    indices = np.arange(100, 130)
    fig = plots.latent_scatter(points, labels, CLASSES, indices=indices, axis_titles=("a", "b"))
    classes = [t for t in fig.data if t.name in CLASSES]
    assert [t.name for t in classes] == list(CLASSES)
    assert all(t.type == "scattergl" for t in classes)
    for k, trace in enumerate(classes):
        np.testing.assert_array_equal(trace.customdata, indices[labels == k])
        np.testing.assert_allclose(trace.x, points[labels == k, 0])
        assert CLASSES[k] in trace.hovertemplate and "%{customdata}" in trace.hovertemplate
    assert fig.layout.xaxis.title.text == "a" and fig.layout.dragmode == "select"


def test_scatter_skips_empty_classes_and_marks_z_and_paths():
    points, _ = _points(10)
    labels = np.zeros(10, dtype=int)
    path = np.stack([np.linspace(0, 1, 5), np.linspace(0, 2, 5)], axis=1)
    fig = plots.latent_scatter(points, labels, CLASSES, current=np.array([0.5, -0.5]), paths={"linear": path})
    names = [t.name for t in fig.data]
    assert names == ["zero", "linear", "current z"]
    assert list(fig.data[-1].x) == [0.5] and list(fig.data[-1].y) == [-0.5]
    np.testing.assert_allclose(fig.data[1].y, path[:, 1])


def test_scatter_refuses_bad_shapes():
    with pytest.raises(ValueError):
        plots.latent_scatter(np.zeros((5, 3)), np.zeros(5), CLASSES)
    with pytest.raises(ValueError):
        plots.latent_scatter(np.zeros((5, 2)), np.zeros(4), CLASSES)


@pytest.mark.parametrize(
    ("xs", "expected_images"), [(np.linspace(-2, 2, 4), 1), (np.array([-2.0, -0.4, 0.4, 2.0]), 16)]
)
def test_map_behind_scatter_sits_in_z_units(xs, expected_images):
    points, labels = _points()
    tiles = np.random.default_rng(1).random((4, 4, 1, 3, 3)).astype(np.float32)
    fig = plots.latent_scatter(points, labels, CLASSES, background=(tiles, xs, xs))
    images = fig.layout.images
    assert len(images) == expected_images  # evenly spaced: one picture; uneven: one per tile
    edges = plots.cell_edges(xs)
    assert min(im.x for im in images) == pytest.approx(edges[0])
    assert max(im.y for im in images) == pytest.approx(edges[-1])  # the top edge of the top row
    assert sum(im.sizex for im in images) == pytest.approx((edges[-1] - edges[0]) * (1 if expected_images == 1 else 4))
    assert all(im.layer == "below" and im.source.startswith("data:image/png") for im in images)
    assert tuple(fig.layout.xaxis.range) == pytest.approx((edges[0], edges[-1]))


def test_manifold_html_marks_z_and_labels_axes_in_z():
    xs = np.linspace(-3, 3, 15)
    html = plots.manifold_html("data:image/png;base64,AAAA", xs, xs, axis_titles=("z₁", "z<2>"), current=[0.0, 3.0])
    assert 'src="data:image/png;base64,AAAA"' in html
    assert "z&lt;2&gt;" in html  # titles are escaped
    assert html.count("-3.0<") == 2 and html.count(">3.0<") == 2  # both axes, both ends
    left, top = map(float, re.search(r'manifold-current-z".*?left:([\d.]+)%; top:([\d.]+)%', html).groups())
    assert left == pytest.approx(50.0) and top == pytest.approx(100 / 30, abs=1e-2)  # centre column, top row
    assert re.search(r'manifold-off-grid" style="display:none;', html)
    off = plots.manifold_html("x", xs, xs, current=[9.0, 0.0])  # off the grid: the cross hidden, the note shown
    assert re.search(r'manifold-current-z"[^>]*display:none;', off)
    assert re.search(r'manifold-off-grid" style="display:block;', off)
    assert re.search(r'manifold-current-z"[^>]*display:none;', plots.manifold_html("x", xs, xs))
    assert re.search(r'manifold-off-grid" style="display:none;', plots.manifold_html("x", xs, xs))


def test_manifold_mark_agrees_with_the_html_and_the_grid():
    xs = np.array([-3.0, -1.0, 0.0, 0.5, 3.0])  # uneven, as Gaussian spacing is
    mark = plots.manifold_mark([0.5, -1.0], xs, xs)
    assert mark["left"] == pytest.approx((3 + 0.5) / 5 * 100) and mark["top"] == pytest.approx((1 - 1.5 / 5) * 100)
    assert mark["title"] == "current z (0.50, -1.00)"
    html = plots.manifold_html("x", xs, xs, current=[0.5, -1.0])
    assert f"left:{mark['left']:.3f}%; top:{mark['top']:.3f}%" in html
    edges = plots.cell_edges(xs)
    corner = plots.manifold_mark([edges[-1], edges[0]], xs, xs)  # the outer edges: right, bottom
    assert corner["left"] == pytest.approx(100.0) and corner["top"] == pytest.approx(100.0)
    assert plots.manifold_mark([edges[-1] + 1e-6, 0.0], xs, xs) is None
    assert plots.manifold_mark([0.0, edges[0] - 1e-6], xs, xs) is None


def test_with_traces_rebuilds_without_touching_the_base():
    points, labels = _points()
    base = plots.latent_scatter(points, labels, CLASSES).to_plotly_json()
    n = len(base["data"])
    fig = plots.with_traces(base, [plots.current_marker(np.array([1.0, 2.0]), gl=True)])
    assert isinstance(fig, go.Figure) and len(fig.data) == n + 1
    assert len(base["data"]) == n
    assert fig.data[-1].type == "scattergl" and list(fig.data[-1].x) == [1.0]
    assert fig.to_plotly_json()["data"][:n] == base["data"]  # the same arrays, not re-encoded
    assert fig.layout.dragmode == "select"
    with_meta = plots.with_traces(base, meta={"plane": "p", "current": [1.0, 2.0]})
    assert with_meta.layout.meta == {"plane": "p", "current": [1.0, 2.0]} and "meta" not in base["layout"]
