"""Plotly figures for the ELBO lab. Numpy in, Figures out; neither streamlit nor torch here.

Conventions: latent points are (N, 2) arrays already reduced to the two coordinates shown;
grids are [row = y, column = x], as `explorer.elbo_lab` returns them.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

CLASS_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
Q_COLOUR = "#e4572e"  # q(z|x): its ellipses, mean and samples
POSTERIOR_COLOUR = "#3a0ca3"  # the true posterior p(z|x)
PRIOR_COLOUR = "rgba(90, 90, 90, 0.75)"
SAMPLE_COLOUR = "#111111"
HOLE_COLOUR = "#ff1744"


def ellipse_xy(
    center: np.ndarray, radii: np.ndarray, *, scale: float = 1.0, n: int = 120
) -> tuple[np.ndarray, np.ndarray]:
    """Points on the axis-aligned ellipse {center + scale * radii * (cos t, sin t)}, closed."""
    t = np.linspace(0.0, 2 * np.pi, n)
    return center[0] + scale * radii[0] * np.cos(t), center[1] + scale * radii[1] * np.sin(t)


def _layout(fig: go.Figure, *, title: str | None, x_title: str, y_title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
        height=height,
        margin=dict(l=50, r=10, t=40 if title else 10, b=45),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, font=dict(size=11)),
        plot_bgcolor="white",
        clickmode="event+select",
        dragmode="pan",
    )
    grid = dict(showgrid=True, gridcolor="rgba(0,0,0,0.07)", zeroline=False, showline=True, linecolor="#999")
    fig.update_xaxes(title=x_title, **grid)
    fig.update_yaxes(title=y_title, scaleanchor="x", scaleratio=1, **grid)
    return fig


def _prior_circles(fig: go.Figure, radii=(1.0, 2.0, 3.0), *, show_legend: bool = True) -> None:
    for i, r in enumerate(radii):
        x, y = ellipse_xy(np.zeros(2), np.ones(2), scale=r)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                line=dict(color=PRIOR_COLOUR, width=1, dash="dot"),
                name="prior N(0, I): 1, 2, 3 σ",
                legendgroup="prior",
                showlegend=show_legend and i == 0,
                hoverinfo="skip",
            )
        )


def _q_traces(
    fig: go.Figure, mu: np.ndarray, sigma: np.ndarray, samples: np.ndarray | None, *, size: int, legend: bool = True
) -> None:
    for scale, dash in ((1.0, "solid"), (2.0, "dash")):
        x, y = ellipse_xy(mu, sigma, scale=scale)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                line=dict(color=Q_COLOUR, width=2.5, dash=dash),
                name=f"q(z|x): {scale:g} σ",
                showlegend=legend,
                hoverinfo="skip",
            )
        )
    if samples is not None and len(samples):
        fig.add_trace(
            go.Scatter(
                x=samples[:, 0],
                y=samples[:, 1],
                mode="markers",
                marker=dict(color=SAMPLE_COLOUR, size=size, opacity=0.8),
                name=f"z = μ + σ ε ({len(samples)})",
                showlegend=legend,
                customdata=np.arange(len(samples)),
                hovertemplate="sample %{customdata}<br>z = (%{x:.3f}, %{y:.3f})<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[mu[0]],
            y=[mu[1]],
            mode="markers",
            marker=dict(color=Q_COLOUR, size=12, symbol="x", line=dict(width=1, color="white")),
            name="μ(x)",
            showlegend=legend,
            hovertemplate="μ = (%{x:.3f}, %{y:.3f})<extra></extra>",
        )
    )


def picker_scatter(
    points: np.ndarray,
    labels: np.ndarray,
    class_names: list[str] | tuple[str, ...],
    *,
    selected: int | None = None,
    sigma: np.ndarray | None = None,
    samples: np.ndarray | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    height: int = 520,
) -> go.Figure:
    """The encoded test set (mu), one WebGL trace per class, each point's customdata its index;
    the selected image's ellipses and samples over the prior's circles."""
    fig = go.Figure()
    index = np.arange(len(points))
    for c, name in enumerate(class_names):
        mask = labels == c
        if not mask.any():
            continue
        fig.add_trace(
            go.Scattergl(
                x=points[mask, 0],
                y=points[mask, 1],
                mode="markers",
                marker=dict(size=4, color=CLASS_COLOURS[c % len(CLASS_COLOURS)], opacity=0.55),
                name=str(name),
                customdata=index[mask],
                hovertemplate=f"{name} · test image %{{customdata}}<extra></extra>",
            )
        )
    _prior_circles(fig)
    if selected is not None:
        mu = points[selected]
        fig.add_trace(
            go.Scatter(
                x=[mu[0]],
                y=[mu[1]],
                mode="markers",
                marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color=Q_COLOUR, width=3)),
                name=f"image {selected}",
                hoverinfo="skip",
            )
        )
        if sigma is not None:
            _q_traces(fig, mu, sigma, samples, size=4, legend=False)
    _layout(fig, title=None, x_title=axis_titles[0], y_title=axis_titles[1], height=height)
    return fig


def posterior_zoom(
    mu: np.ndarray,
    sigma: np.ndarray,
    samples: np.ndarray | None,
    *,
    posterior: tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]] | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    height: int = 460,
) -> go.Figure:
    """q(z|x) up close: its 1 and 2 σ ellipses, mu and the samples; with `posterior`
    (xs, ys, log p(z|x) grid, (level 39 %, level 86 %)) the true posterior is drawn beneath,
    shaded, with the contours that hold the same masses as q's two ellipses."""
    fig = go.Figure()
    if posterior is not None:
        xs, ys, log_post, levels = posterior
        density = np.exp(log_post - log_post.max())
        fig.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=density,
                colorscale=[[0, "rgba(255,255,255,0)"], [1, "rgba(58,12,163,0.45)"]],
                showscale=False,
                hoverinfo="skip",
                name="p(z|x)",
            )
        )
        for level, dash, mass in ((levels[0], "solid", "39 %"), (levels[1], "dash", "86 %")):
            fig.add_trace(
                go.Contour(
                    x=xs,
                    y=ys,
                    z=log_post,
                    contours=dict(start=level, end=level, size=1.0, coloring="none"),
                    line=dict(color=POSTERIOR_COLOUR, width=2, dash=dash),
                    showscale=False,
                    hoverinfo="skip",
                    name=f"true p(z|x): {mass} of mass",
                    showlegend=True,
                )
            )
        x_range = [float(xs[0]), float(xs[-1])]
        y_range = [float(ys[0]), float(ys[-1])]
    else:
        pad = 3.5 * sigma
        x_range = [float(mu[0] - pad[0]), float(mu[0] + pad[0])]
        y_range = [float(mu[1] - pad[1]), float(mu[1] + pad[1])]
    _q_traces(fig, mu, sigma, samples, size=6)
    _layout(fig, title=None, x_title=axis_titles[0], y_title=axis_titles[1], height=height)
    fig.update_xaxes(range=x_range)
    fig.update_yaxes(range=y_range, scaleanchor=None)
    return fig


def bounds_line(
    *,
    elbo: float,
    elbo_stderr: float | None,
    log_px_iw: float | None,
    iw_samples: int,
    log_px_quad: float | None = None,
    elbo_quad: float | None = None,
    height: int = 230,
) -> go.Figure:
    """The bounds on one number line (nats): ELBO <= IW estimate <= log p(x), the gap marked."""
    rows: list[tuple[str, float, float | None, str]] = [
        ("ELBO (L samples, ± 2 s.e.)" if elbo_stderr else "ELBO (L samples)", elbo, elbo_stderr, Q_COLOUR),
    ]
    if elbo_quad is not None:
        rows.append(("ELBO (quadrature)", elbo_quad, None, "#f4a261"))
    if log_px_iw is not None:
        rows.append((f"IW log p(x), k = {iw_samples}", log_px_iw, None, "#2a9d8f"))
    if log_px_quad is not None:
        rows.append(("log p(x) (quadrature)", log_px_quad, None, POSTERIOR_COLOUR))
    fig = go.Figure()
    for i, (name, value, err, colour) in enumerate(rows):
        fig.add_trace(
            go.Scatter(
                x=[value],
                y=[i],
                mode="markers+text",
                marker=dict(size=13, color=colour),
                error_x=dict(type="data", array=[2 * err], color=colour) if err else None,
                text=[f"{value:.2f}"],
                textposition="top center",
                name=name,
                hovertemplate=f"{name}: %{{x:.3f}} nats<extra></extra>",
            )
        )
    # the gap: exact when both ends come from quadrature, else the IW estimate minus the ELBO estimate
    if log_px_quad is not None and elbo_quad is not None:
        bottom, top, how = elbo_quad, log_px_quad, "="
    else:
        bottom, top, how = elbo, log_px_iw, "≈"
    if top is not None:
        fig.add_shape(type="line", x0=bottom, x1=top, y0=-0.6, y1=-0.6, line=dict(color="#555", width=2))
        fig.add_annotation(
            x=(bottom + top) / 2,
            y=-0.6,
            text=f"gap = KL(q(z|x) ‖ p(z|x)) {how} {top - bottom:.2f}",
            showarrow=False,
            yshift=-12,
            font=dict(size=12),
        )
    values = [r[1] for r in rows]
    spread = max(values) - min(values)
    pad = max(0.5, 0.25 * spread) + (2 * elbo_stderr if elbo_stderr else 0)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=10, b=40),
        plot_bgcolor="white",
        showlegend=False,
        xaxis=dict(title="nats (higher is a better fit)", range=[min(values) - pad, max(values) + pad], showgrid=True),
        yaxis=dict(
            tickvals=list(range(len(rows))),
            ticktext=[r[0] for r in rows],
            range=[-1.3, len(rows) - 0.3],
            showgrid=False,
        ),
    )
    return fig


def kl_per_dimension(kl: np.ndarray, *, dims: tuple[int, int] | None = None, height: int = 220) -> go.Figure:
    """This image's closed-form KL, coordinate by coordinate (the two shown on the plane highlighted)."""
    colours = ["#9aa5b1"] * len(kl)
    for d in dims or ():
        if 0 <= d < len(kl):
            colours[d] = Q_COLOUR
    fig = go.Figure(
        go.Bar(
            x=[f"z{i + 1}" for i in range(len(kl))],
            y=kl,
            marker_color=colours,
            hovertemplate="%{x}: %{y:.3f} nats<extra></extra>",
        )
    )
    fig.update_layout(
        height=height,
        margin=dict(l=45, r=10, t=10, b=30),
        plot_bgcolor="white",
        yaxis=dict(title="KL (nats)", gridcolor="rgba(0,0,0,0.07)"),
    )
    return fig


def aggregate_map(
    axis: np.ndarray,
    density: np.ndarray,
    prior: np.ndarray,
    *,
    show: str = "density",
    holes: np.ndarray | None = None,
    clicked: np.ndarray | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    click_grid: int = 41,
    height: int = 520,
) -> go.Figure:
    """The aggregate posterior (1/N) sum_n q(z|x_n) against the prior N(0, I).

    show="density": log10 of the mixture's density, with the prior's 1, 2, 3 σ circles;
    show="ratio": log10 q_agg(z) / p(z), blue where the codes crowd, red where the prior has
    mass that no image uses (the holes). A transparent grid of points makes any place clickable
    (customdata = z); the suggested holes are marked.
    """
    if show not in ("density", "ratio"):
        raise ValueError(f"show must be 'density' or 'ratio', got {show!r}")
    fig = go.Figure()
    floor = 1e-6
    if show == "density":
        z = np.log10(np.maximum(density, floor))
        fig.add_trace(
            go.Heatmap(
                x=axis,
                y=axis,
                z=z,
                colorscale="Viridis",
                zmin=-4,
                zmax=float(z.max()),
                colorbar=dict(title=dict(text="log₁₀ q(z)", side="right"), thickness=12),
                hoverinfo="skip",  # the click grid above carries the hover text: a heatmap cannot be selected
            )
        )
    else:
        ratio = np.log10(np.maximum(density, floor)) - np.log10(prior)
        fig.add_trace(
            go.Heatmap(
                x=axis,
                y=axis,
                z=np.clip(ratio, -3, 3),
                colorscale="RdBu",
                zmid=0,
                zmin=-3,
                zmax=3,
                colorbar=dict(title=dict(text="log₁₀ q/p", side="right"), thickness=12),
                hoverinfo="skip",
            )
        )
    for i, r in enumerate((1.0, 2.0, 3.0)):
        x, y = ellipse_xy(np.zeros(2), np.ones(2), scale=r)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                line=dict(color="white", width=1.5, dash="dot"),
                name="prior N(0, I): 1, 2, 3 σ",
                legendgroup="prior",
                showlegend=i == 0,
                hoverinfo="skip",
            )
        )
    grid = np.linspace(axis[0], axis[-1], click_grid)
    gx, gy = np.meshgrid(grid, grid)
    cols = np.abs(axis[None, :] - grid[:, None]).argmin(axis=1)  # nearest heatmap cell of each grid point
    log_q = np.log10(np.maximum(density, floor))[np.ix_(cols, cols)]
    log_ratio = log_q - np.log10(prior)[np.ix_(cols, cols)]
    fig.add_trace(
        go.Scatter(
            x=gx.ravel(),
            y=gy.ravel(),
            mode="markers",
            marker=dict(size=10, color="rgba(255,255,255,0.01)"),
            customdata=np.stack([gx.ravel(), gy.ravel(), log_q.ravel(), log_ratio.ravel()], axis=1),
            name="click to decode",
            showlegend=False,
            hovertemplate="decode z = (%{x:.2f}, %{y:.2f})<br>log₁₀ q_agg = %{customdata[2]:.2f}"
            "<br>log₁₀ q_agg / p = %{customdata[3]:.2f}<extra></extra>",
            selected=dict(marker=dict(color="rgba(255,255,255,0.01)")),
            unselected=dict(marker=dict(opacity=1)),
        )
    )
    if holes is not None and len(holes):
        fig.add_trace(
            go.Scatter(
                x=holes[:, 0],
                y=holes[:, 1],
                mode="markers",
                marker=dict(size=13, symbol="circle-open", color=HOLE_COLOUR, line=dict(width=3)),
                customdata=holes,
                name="holes: q_agg ≪ p",
                hovertemplate="hole at (%{x:.2f}, %{y:.2f}): click to decode<extra></extra>",
                selected=dict(marker=dict(opacity=1)),
                unselected=dict(marker=dict(opacity=1)),
            )
        )
    if clicked is not None:
        fig.add_trace(
            go.Scatter(
                x=[clicked[0]],
                y=[clicked[1]],
                mode="markers",
                marker=dict(size=16, symbol="cross-thin", color="white", line=dict(width=3, color="white")),
                name="decoded",
                showlegend=False,
                hoverinfo="skip",
            )
        )
    _layout(fig, title=None, x_title=axis_titles[0], y_title=axis_titles[1], height=height)
    fig.update_xaxes(range=[float(axis[0]), float(axis[-1])], showgrid=False)
    fig.update_yaxes(range=[float(axis[0]), float(axis[-1])], showgrid=False)
    return fig


def display_image(image: np.ndarray, *, size: int = 140) -> np.ndarray:
    """A (C, H, W) or (H, W) image in [0, 1] as uint8, enlarged by whole pixels (no blur) to about `size`."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image.mean(axis=0) if image.shape[0] != 3 else np.moveaxis(image, 0, -1)
    factor = max(1, size // image.shape[0])
    image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def image_grid(images: np.ndarray, *, columns: int = 8, size: int = 70, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) images as one uint8 picture, `columns` to a row, white between them."""
    tiles = [display_image(im, size=size) for im in images]
    if not tiles:
        return np.full((size, size), 255, dtype=np.uint8)
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    cols = min(columns, len(tiles))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *tiles[0].shape[2:]), 255, dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = t
    return out
