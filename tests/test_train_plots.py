"""Figures of the Train page, built from plain arrays (no Streamlit, no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.train_plots import PRIOR_RADIUS, curves_figure, frame_range, timelapse_figure

CLASSES = [str(d) for d in range(10)]


def history(n: int) -> list[dict]:
    rows = []
    for e in range(1, n + 1):
        row = {"epoch": e, "beta": 1.0, "lr": 1e-3, "seconds": 1.0}
        for split, offset in (("train", 0.0), ("test", 2.0)):
            recon, kl = 100.0 / e + offset, 3.0 + e
            row.update({f"{split}_recon": recon, f"{split}_kl": kl, f"{split}_neg_elbo": recon + kl})
        rows.append(row)
    return rows


def frames(n: int, points: int = 50, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(points, 2)) * (0.1 + k)).astype(np.float32) for k in range(n)]


def test_curves_have_train_and_test_for_each_term_one_point_per_epoch():
    fig = curves_figure(history(4))
    assert len(fig.data) == 6
    assert [t.name for t in fig.data] == ["train", "test"] * 3
    assert all(list(t.x) == [1, 2, 3, 4] for t in fig.data)
    assert list(fig.data[0].y) == [r["train_neg_elbo"] for r in history(4)]
    assert list(fig.data[5].y) == [r["test_kl"] for r in history(4)]
    assert [t.showlegend for t in fig.data] == [True, True, False, False, False, False]
    assert len(curves_figure([]).data) == 6  # no epoch yet: empty axes, no error


def test_timelapse_has_a_frame_per_epoch_a_slider_and_play_and_opens_on_the_last():
    labels = np.arange(50) % 10
    fs = frames(5)
    fig = timelapse_figure([fs], [labels], CLASSES)
    assert [t.name for t in fig.data] == CLASSES
    assert len(fig.frames) == 5 and [f.name for f in fig.frames] == ["0", "1", "2", "3", "4"]
    assert fig.layout.sliders[0].active == 4
    assert [s.label for s in fig.layout.sliders[0].steps] == ["0", "1", "2", "3", "4"]
    assert fig.layout.updatemenus[0].buttons[0].label.endswith("play")
    # the visible data is the last epoch's, split by class
    np.testing.assert_allclose(fig.data[3].x, fs[4][labels == 3, 0])
    np.testing.assert_allclose(fig.frames[1].data[3].y, fs[1][labels == 3, 1])
    # axes fixed over all frames: the widest frame fits
    x_range = fig.layout.xaxis.range
    assert x_range[0] <= np.percentile(fs[4][:, 0], 1) and x_range[1] >= np.percentile(fs[4][:, 0], 99)
    assert fig.layout.shapes[0].x1 == PRIOR_RADIUS  # the prior's circle on a z-plane


def test_one_frame_is_a_plain_scatter_and_epochs_name_the_frames():
    labels = np.arange(50) % 10
    fig = timelapse_figure([frames(1)], [labels], CLASSES)
    assert not fig.frames and not fig.layout.sliders
    fig = timelapse_figure([frames(3)], [labels], CLASSES, epochs=[0, 10, 20])
    assert [f.name for f in fig.frames] == ["0", "10", "20"]
    with pytest.raises(ValueError, match="epoch names"):
        timelapse_figure([frames(3)], [labels], CLASSES, epochs=[0, 1])


def test_side_by_side_panels_share_the_slider_and_hold_their_last_frame():
    labels = np.arange(50) % 10
    ae, vae = frames(4, seed=1), frames(2, seed=2)
    fig = timelapse_figure([ae, vae], [labels, labels], CLASSES, titles=["AE (β = 0)", "VAE (β = 1)"])
    assert len(fig.data) == 20 and len(fig.frames) == 4
    assert [a.text for a in fig.layout.annotations] == ["AE (β = 0)", "VAE (β = 1)"]
    assert all(t.showlegend for t in fig.data[:10]) and not any(t.showlegend for t in fig.data[10:])
    assert fig.data[10].xaxis == "x2"
    np.testing.assert_allclose(fig.frames[3].data[10].x, vae[1][labels == 0, 0])  # VAE still on its epoch 1
    waiting = timelapse_figure([ae, []], [labels, labels], CLASSES)  # the second job has not started
    assert len(waiting.data[10].x) == 0


def test_pca_frames_draw_no_prior_circle_and_ranges_ignore_outliers():
    labels = np.arange(50) % 10
    fig = timelapse_figure([frames(2)], [labels], CLASSES, axis_titles=("PC 1 of μ", "PC 2 of μ"))
    assert not fig.layout.shapes and fig.layout.xaxis.title.text == "PC 1 of μ"
    points = np.zeros((1000, 2), np.float32)
    points[:, 0] = np.linspace(-2, 2, 1000)
    points[0] = [1e6, 1e6]  # one code far away does not squash the rest
    x_range, y_range = frame_range([points])
    assert x_range[1] < 10 and y_range == [-1.0, 1.0]
    assert frame_range([np.full((3, 2), np.nan)]) == ([-3.0, 3.0], [-3.0, 3.0])
