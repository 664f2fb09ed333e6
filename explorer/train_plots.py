"""Figures of the Train page: loss curves per epoch and the latent time-lapse.

numpy arrays and plain dicts in, `go.Figure` out; no Streamlit and no torch, so they are tested
without either. History rows are `EpochStats.to_dict()`; a time-lapse frame is an (N, 2) array
of codes after epoch 0 (untrained), 1, 2, ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

CLASS_COLORS = qualitative.D3 + qualitative.Alphabet  # the palette of the app's other scatters
TRAIN_COLOR = "#1f77b4"
TEST_COLOR = "#ff7f0e"
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"}
CURVES = (
    ("neg_elbo", "−ELBO"),
    ("recon", "reconstruction"),
    ("kl", "KL"),
)
PRIOR_RADIUS = 2.0  # the circle drawn on 2-D latents: |z| = 2 holds 86% of N(0, I)
FRAME_MS = 350  # time per epoch when the time-lapse plays


def curves_figure(history: Sequence[dict], *, height: int = 300) -> go.Figure:
    """−ELBO, reconstruction and KL per epoch, train (solid) and test (dashed), in nats per image."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in CURVES], horizontal_spacing=0.07)
    epochs = [row["epoch"] for row in history]
    for col, (key, _) in enumerate(CURVES, start=1):
        for split, color, dash in (("train", TRAIN_COLOR, "solid"), ("test", TEST_COLOR, "dash")):
            values = [row[f"{split}_{key}"] for row in history]
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=values,
                    mode="lines+markers",
                    name=split,
                    legendgroup=split,
                    showlegend=col == 1,
                    line={"color": color, "dash": dash, "width": 2},
                    marker={"size": 5},
                    hovertemplate=f"epoch %{{x}}<br>{split} %{{y:.2f}} nats<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", row=1, col=col, rangemode="tozero" if not epochs else None)
    fig.update_yaxes(title_text="nats per image", row=1, col=1)
    fig.update_layout(
        height=height,
        margin={"l": 55, "r": 10, "t": 30, "b": 40},
        font=FONT,
        legend={"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.22},
        hovermode="x unified",
    )
    fig.update_annotations(font_size=13)
    return fig


def frame_range(
    frames: Sequence[np.ndarray], *, margin: float = 0.08, min_half: float = 1.0
) -> tuple[list[float], list[float]]:
    """x and y axis ranges that hold (almost) every point of every frame: the union over frames of
    each frame's 0.5th to 99.5th percentile (a far outlier does not squash the rest), widened by
    `margin`, never narrower than ±min_half around the middle."""
    lows, highs = [], []
    for frame in frames:
        points = np.asarray(frame, dtype=np.float64).reshape(-1, 2)
        points = points[np.isfinite(points).all(axis=1)]
        if len(points):
            low, high = np.percentile(points, [0.5, 99.5], axis=0)
            lows.append(low)
            highs.append(high)
    if not lows:
        return [-3.0, 3.0], [-3.0, 3.0]
    ranges = []
    for lo, hi in zip(np.min(lows, axis=0), np.max(highs, axis=0)):
        mid, half = (lo + hi) / 2, max((hi - lo) / 2 * (1 + margin), min_half)
        ranges.append([float(mid - half), float(mid + half)])
    return ranges[0], ranges[1]


def _frame_traces(frame: np.ndarray | None, labels: np.ndarray, class_names: Sequence[str]) -> list[go.Scatter]:
    """One trace per class (so the legend names the classes); an empty trace where there is no frame."""
    traces = []
    for c, name in enumerate(class_names):
        if frame is None:
            xs, ys = [], []
        else:
            mask = labels == c
            xs, ys = frame[mask, 0], frame[mask, 1]
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=str(name),
                legendgroup=str(name),
                marker={"color": CLASS_COLORS[c % len(CLASS_COLORS)], "size": 5, "opacity": 0.75},
                hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
            )
        )
    return traces


def timelapse_figure(
    panels: Sequence[Sequence[np.ndarray]],
    labels: Sequence[np.ndarray],
    class_names: Sequence[str],
    *,
    titles: Sequence[str] | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    epochs: Sequence[int] | None = None,
    height: int = 430,
) -> go.Figure:
    """The latent time-lapse: one panel per job, each a list of frames (epoch 0, 1, ...), with a
    slider to scrub through epochs and a play button. Panels side by side share the slider (AE vs
    VAE); a panel with fewer frames holds its last one. `epochs` names the frames (default 0, 1, ...).
    The figure opens on the latest epoch."""
    n_panels = len(panels)
    if n_panels == 0 or len(labels) != n_panels:
        raise ValueError("give one list of frames and one label array per panel")
    n_steps = max(len(frames) for frames in panels)
    names = [str(e) for e in (epochs if epochs is not None else range(n_steps))]
    if len(names) != n_steps:
        raise ValueError(f"{len(names)} epoch names for {n_steps} frames")
    fig = make_subplots(
        rows=1,
        cols=n_panels,
        subplot_titles=list(titles) if titles else None,
        horizontal_spacing=0.08,
    )

    def traces_at(step: int) -> list[go.Scatter]:
        out = []
        for frames, lab in zip(panels, labels):
            frame = frames[min(step, len(frames) - 1)] if frames else None
            out.extend(_frame_traces(frame, np.asarray(lab), class_names))
        return out

    last = max(n_steps - 1, 0)
    for i, trace in enumerate(traces_at(last)):
        panel = i // len(class_names)
        trace.showlegend = panel == 0
        fig.add_trace(trace, row=1, col=panel + 1)

    draw_prior = tuple(axis_titles) == ("z₁", "z₂")
    min_half = PRIOR_RADIUS * 1.15 if draw_prior else 1.0  # the prior's circle always in view
    for p, frames in enumerate(panels, start=1):
        x_range, y_range = frame_range(frames, min_half=min_half) if frames else ([-3.0, 3.0], [-3.0, 3.0])
        suffix = "" if p == 1 else str(p)
        fig.update_xaxes(range=x_range, title_text=axis_titles[0], zeroline=False, row=1, col=p)
        fig.update_yaxes(
            range=y_range,
            title_text=axis_titles[1] if p == 1 else None,
            zeroline=False,
            scaleanchor=f"x{suffix}",
            scaleratio=1,
            row=1,
            col=p,
        )
        if draw_prior:
            fig.add_shape(
                type="circle",
                xref=f"x{suffix}",
                yref=f"y{suffix}",
                x0=-PRIOR_RADIUS,
                y0=-PRIOR_RADIUS,
                x1=PRIOR_RADIUS,
                y1=PRIOR_RADIUS,
                line={"color": "rgba(0,0,0,0.35)", "dash": "dot", "width": 1},
            )

    if n_steps > 1:
        fig.frames = [go.Frame(data=traces_at(k), name=names[k]) for k in range(n_steps)]
        fig.update_layout(
            sliders=[
                {
                    "active": last,
                    "currentvalue": {"prefix": "epoch ", "font": {"size": 13}, "xanchor": "right"},
                    "x": 0.2,
                    "len": 0.8,
                    "y": 0,
                    "yanchor": "top",
                    "pad": {"t": 50, "b": 0},
                    "steps": [
                        {
                            "label": name,
                            "method": "animate",
                            "args": [[name], {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}],
                        }
                        for name in names
                    ],
                }
            ],
            updatemenus=[
                {
                    "type": "buttons",
                    "direction": "left",
                    "x": 0,
                    "y": 0,
                    "xanchor": "left",
                    "yanchor": "top",
                    "pad": {"t": 62},
                    "showactive": False,
                    "buttons": [
                        {
                            "label": "▶ play",
                            "method": "animate",
                            "args": [
                                None,
                                {
                                    "frame": {"duration": FRAME_MS, "redraw": False},
                                    "transition": {"duration": FRAME_MS // 2},
                                    "fromcurrent": False,
                                    "mode": "immediate",
                                },
                            ],
                        },
                        {
                            "label": "❚❚",
                            "method": "animate",
                            "args": [[None], {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}],
                        },
                    ],
                }
            ],
        )
    fig.update_layout(
        height=height + (90 if n_steps > 1 else 0),
        margin={"l": 55, "r": 10, "t": 40, "b": 115 if n_steps > 1 else 40},
        font=FONT,
        legend={"itemsizing": "constant", "title": {"text": "class"}},
        plot_bgcolor="white",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    fig.update_annotations(font_size=14)
    return fig
