"""Figure builders for the app: numpy arrays in, Plotly figures (or, for the manifold, HTML) out.

No Streamlit and no torch here, so every figure is built and checked in plain tests. Images are
greyscale arrays in [0, 1] (H, W); tiles of a manifold are (rows, cols, H, W) with row 0 at the
largest y, as `explorer.latent.manifold` returns them.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import qualitative

CLASS_COLORS = qualitative.D3 + qualitative.Alphabet  # 10 classic colours first, then 26 more
CURRENT_Z_COLOR = "#111111"
CURRENT_Z_MARK = "#ff2b2b"  # the cross on the manifold, as on the pad
PATH_COLORS = ("#111111", "#e4007c", "#00a0a0")  # apart from the class colours
MAX_TILE_IMAGES = 400  # a non-uniform map is drawn tile by tile; above this, one stretched image
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"}


def class_colors(n: int) -> list[str]:
    """One colour per class, cycling beyond the palette."""
    return [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(n)]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) floats in [0, 1] (or uint8) -> uint8."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(np.nan_to_num(image, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(image: np.ndarray, *, compress_level: int = 1) -> bytes:
    """A greyscale (H, W) or RGB (H, W, 3) image as PNG bytes (level 1: fast, for images made per step)."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def png_data_uri(image: np.ndarray, *, compress_level: int = 1) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, compress_level=compress_level)).decode("ascii")


def cell_edges(centres: np.ndarray) -> np.ndarray:
    """Cell boundaries around increasing grid centres: midpoints inside, mirrored at the ends. (n+1,)"""
    c = np.asarray(centres, dtype=np.float64)
    if len(c) < 2:
        raise ValueError("a grid needs at least two centres")
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def is_uniform(centres: np.ndarray, rtol: float = 1e-6) -> bool:
    steps = np.diff(np.asarray(centres, dtype=np.float64))
    return bool(np.allclose(steps, steps[0], rtol=rtol, atol=1e-12))


def tile_grid(tiles: np.ndarray) -> np.ndarray:
    """(rows, cols, H, W) or (rows, cols, C, H, W) -> one (rows*H, cols*W) image (channel mean)."""
    tiles = np.asarray(tiles, dtype=np.float32)
    if tiles.ndim == 5:
        tiles = tiles.mean(axis=2)
    if tiles.ndim != 4:
        raise ValueError(f"tiles must be (rows, cols, H, W), got shape {tiles.shape}")
    rows, cols, h, w = tiles.shape
    return tiles.transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def _layout(fig: go.Figure, *, height: int, title: str | None, x_title: str, y_title: str) -> None:
    fig.update_layout(
        height=height,
        margin={"l": 50, "r": 10, "t": 40 if title else 10, "b": 45},
        title={"text": title, "x": 0.01, "font": {"size": 15}} if title else None,
        font=FONT,
        plot_bgcolor="white",
        xaxis={"title": {"text": x_title}, "zeroline": False, "showgrid": False},
        yaxis={"title": {"text": y_title}, "zeroline": False, "showgrid": False},
        legend={"itemsizing": "constant", "title": {"text": "class"}, "y": 0.92, "yanchor": "top"},
        uirevision="keep",  # zoom and legend toggles survive reruns
    )


def _map_images(tiles: np.ndarray, xs: np.ndarray, ys: np.ndarray, *, opacity: float) -> list[dict]:
    """layout.images placing a manifold in z coordinates: one image when evenly spaced, else one per tile."""
    x_edges, y_edges = cell_edges(xs), cell_edges(ys)
    common = {"xref": "x", "yref": "y", "sizing": "stretch", "layer": "below", "opacity": opacity}
    rows, cols = tiles.shape[:2]
    if (is_uniform(xs) and is_uniform(ys)) or rows * cols > MAX_TILE_IMAGES:
        return [
            {
                **common,
                "source": png_data_uri(tile_grid(tiles)),
                "x": x_edges[0],
                "y": y_edges[-1],
                "sizex": x_edges[-1] - x_edges[0],
                "sizey": y_edges[-1] - y_edges[0],
            }
        ]
    grey = tiles.mean(axis=2) if tiles.ndim == 5 else tiles
    images = []
    for r in range(rows):  # row 0 is the top, i.e. the largest y
        j = rows - 1 - r
        for c in range(cols):
            images.append(
                {
                    **common,
                    "source": png_data_uri(grey[r, c]),
                    "x": x_edges[c],
                    "y": y_edges[j + 1],
                    "sizex": x_edges[c + 1] - x_edges[c],
                    "sizey": y_edges[j + 1] - y_edges[j],
                }
            )
    return images


def latent_scatter(
    points: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    indices: np.ndarray | None = None,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    title: str | None = None,
    current: np.ndarray | None = None,
    paths: dict[str, np.ndarray] | None = None,
    background: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    background_opacity: float = 0.6,
    marker_size: float | None = None,
    height: int = 520,
) -> go.Figure:
    """The encoded test set on a plane, one WebGL trace per class so the legend names the classes.

    points (N, 2) plane coordinates; labels (N,) class indices; indices (N,) the test-set index of
    each row (default 0..N-1), carried as customdata so a selection maps back to test images.
    current: the current z on this plane (2,), drawn as a cross. paths: name -> (K, 2), each drawn
    as a line with its ends marked (an interpolation). background: (tiles, xs, ys) of a manifold drawn behind the points.
    """
    points = np.asarray(points, dtype=np.float32)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (N, 2), got {points.shape}")
    if len(labels) != len(points):
        raise ValueError("points and labels must have the same length")
    indices = np.arange(len(points)) if indices is None else np.asarray(indices)
    size = marker_size or (3 if len(points) > 3000 else 5 if len(points) > 500 else 7)
    fig = go.Figure()
    for k, (name, colour) in enumerate(zip(class_names, class_colors(len(class_names)), strict=True)):
        rows = np.flatnonzero(labels == k)
        if len(rows) == 0:
            continue
        fig.add_trace(
            go.Scattergl(
                x=points[rows, 0],
                y=points[rows, 1],
                mode="markers",
                name=str(name),
                legendgroup=str(name),
                marker={"size": size, "color": colour, "opacity": 0.75},
                customdata=indices[rows],
                hovertemplate=f"class {_escape(name)}<br>test image #%{{customdata}}<extra></extra>",
            )
        )
    for (name, path), colour in zip((paths or {}).items(), PATH_COLORS):
        path = np.asarray(path, dtype=np.float32)
        ends = [12] + [6] * (len(path) - 2) + [12] if len(path) > 1 else [12]
        fig.add_trace(
            go.Scattergl(
                x=path[:, 0],
                y=path[:, 1],
                mode="lines+markers",
                name=str(name),
                line={"color": colour, "width": 3},
                marker={"size": ends, "color": colour, "line": {"width": 1, "color": "white"}},
                hovertemplate=f"{_escape(name)} step %{{pointNumber}}<extra></extra>",
            )
        )
    if current is not None:
        fig.add_trace(current_marker(np.asarray(current, dtype=np.float32), gl=True))
    _layout(fig, height=height, title=title, x_title=axis_titles[0], y_title=axis_titles[1])
    if background is not None:
        tiles, xs, ys = background
        fig.update_layout(
            images=_map_images(np.asarray(tiles), np.asarray(xs), np.asarray(ys), opacity=background_opacity)
        )
        x_edges, y_edges = cell_edges(xs), cell_edges(ys)
        fig.update_xaxes(range=[x_edges[0], x_edges[-1]])
        fig.update_yaxes(range=[y_edges[0], y_edges[-1]])
    fig.update_layout(dragmode="select")
    return fig


def current_marker(z2: np.ndarray, *, gl: bool = False) -> go.Scatter | go.Scattergl:
    """The current z as a cross (WebGL over a WebGL scatter, which would otherwise hide an SVG trace)."""
    trace = go.Scattergl if gl else go.Scatter
    return trace(
        x=[float(z2[0])],
        y=[float(z2[1])],
        mode="markers",
        name="current z",
        marker={"symbol": "x", "size": 17, "color": CURRENT_Z_COLOR, "line": {"width": 1.5, "color": "white"}},
        hovertemplate="current z (%{x:.2f}, %{y:.2f})<extra></extra>",
    )


def _escape(text: str) -> str:
    return str(text).replace("%", "%%").replace("<", "&lt;").replace(">", "&gt;")


def tick_positions(values: np.ndarray, max_ticks: int = 7) -> tuple[list[float], list[str]]:
    """Grid indices to label and their z values, at most about max_ticks, both ends included."""
    n = len(values)
    step = max(1, int(np.ceil(n / max_ticks)))
    positions = list(range(0, n, step))
    if positions[-1] != n - 1 and n - 1 - positions[-1] >= step / 2:
        positions.append(n - 1)
    return [float(p) for p in positions], [f"{values[p]:.1f}" for p in positions]


def grid_position(value: float, centres: np.ndarray) -> float | None:
    """Where a z value falls on a grid drawn with one cell per centre (cell i spans i-0.5..i+0.5).

    Piecewise linear between centres, linear beyond the ends to the cell edges; None outside.
    """
    anchors, steps = grid_anchors(centres)
    if not anchors[0] <= value <= anchors[-1]:
        return None
    return float(np.interp(value, anchors, steps))


def grid_anchors(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """grid_position's piecewise-linear map as (z values, cell positions): the outer edges and the
    centres. The page's script (explorer/ui/marks_assets/marks.js) interpolates the same points."""
    centres = np.asarray(centres, dtype=np.float64)
    edges = cell_edges(centres)
    anchors = np.concatenate([[edges[0]], centres, [edges[-1]]])
    steps = np.concatenate([[-0.5], np.arange(len(centres), dtype=np.float64), [len(centres) - 0.5]])
    return anchors, steps


def manifold_mark(current: Sequence[float], xs: np.ndarray, ys: np.ndarray) -> dict | None:
    """Where the manifold's cross for z (2,) sits: left / top in percent of the picture, and its
    title; None when z is off the grid. Used for the HTML and by the page's JS to move the cross."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    x, y = float(current[0]), float(current[1])
    px, py = grid_position(x, xs), grid_position(y, ys)
    if px is None or py is None:
        return None
    return {
        "left": round((px + 0.5) / len(xs) * 100, 3),
        "top": round((1 - (py + 0.5) / len(ys)) * 100, 3),
        "title": f"current z ({x:.2f}, {y:.2f})",
    }


def manifold_html(
    image_uri: str,
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    axis_titles: tuple[str, str] = ("z₁", "z₂"),
    current: np.ndarray | None = None,
    max_width: int = 420,
    crisp: bool = False,
) -> str:
    """The N x N manifold as HTML: the tiled decodes (a PNG data URI, row 0 at the largest y), each
    tile the same size as in Kingma & Welling's figure 4, with axes labelled in z at the tile
    centres, so Gaussian spacing reads right, and the current z (2,) marked with a cross.

    HTML rather than Plotly: it is on screen before Plotly's 4.7 MB script has loaded, and a
    slider step redraws it without a chart re-render. crisp: nearest-neighbour upscaling.
    """
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    cols, rows = len(xs), len(ys)
    x_ticks = "".join(
        f'<span style="position:absolute; left:{(p + 0.5) / cols * 100:.3f}%; top:2px; transform:translateX(-50%);">'
        f"{text}</span>"
        for p, text in zip(*tick_positions(xs))
    )
    y_ticks = "".join(
        f'<span style="position:absolute; right:4px; top:{(1 - (p + 0.5) / rows) * 100:.3f}%; '
        f'transform:translateY(-50%);">{text}</span>'
        for p, text in zip(*tick_positions(ys))
    )
    mark = manifold_mark(current, xs, ys) if current is not None else None
    place = f"left:{mark['left']:.3f}%; top:{mark['top']:.3f}%;" if mark else "left:50%; top:50%; display:none;"
    marker = (
        f'<div data-testid="manifold-current-z" title="{mark["title"] if mark else ""}" style="position:absolute; {place} '
        'transform:translate(-50%,-50%); width:22px; height:22px; pointer-events:auto;">'
        '<svg viewBox="0 0 22 22" width="22" height="22"><path d="M4 4L18 18M18 4L4 18" '
        'stroke="white" stroke-width="6" stroke-linecap="round"/><path d="M4 4L18 18M18 4L4 18" '
        f'stroke="{CURRENT_Z_MARK}" stroke-width="3" stroke-linecap="round"/></svg></div>'
    )
    off_grid = "block" if current is not None and mark is None else "none"
    rendering = "pixelated" if crisp else "auto"
    font = "font-size:0.75rem; color:#555; font-variant-numeric:tabular-nums;"
    return (
        f'<div data-testid="manifold" style="display:grid; grid-template-columns:3.2em 1fr; max-width:{max_width}px; {font}">'
        f'<div style="position:relative;">{y_ticks}'
        f'<span style="position:absolute; left:0; top:50%; transform:translate(-10%,-50%) rotate(-90deg);">{html.escape(axis_titles[1])}</span></div>'
        '<div style="position:relative; aspect-ratio:1; border:1px solid #ddd;">'
        f'<img src="{image_uri}" alt="manifold" style="position:absolute; inset:0; width:100%; height:100%; '
        f'max-width:none; object-fit:fill; image-rendering:{rendering};">'
        f"{marker}</div>"
        f'<div></div><div style="position:relative; height:2.6em;">{x_ticks}'
        f'<span style="position:absolute; left:50%; bottom:0; transform:translateX(-50%);">{html.escape(axis_titles[0])}</span></div>'
        f'<div></div><div data-testid="manifold-off-grid" style="display:{off_grid};">The current z is off the grid.</div>'
        "</div>"
    )


def with_traces(
    base: dict,
    traces: Sequence[go.Scatter | go.Scattergl | dict] = (),
    *,
    meta: dict | None = None,
) -> go.Figure:
    """A figure rebuilt from `fig.to_plotly_json()` of an already validated figure, plus a few
    traces, without validating the rest again: a 10,000-point scatter takes ~4 ms this way instead
    of ~80 ms. meta: layout.meta, which the page's scripts can read (explorer/ui/marks.py)."""
    extra = [t if isinstance(t, dict) else t.to_plotly_json() for t in traces]
    layout = dict(base["layout"])
    if meta is not None:
        layout["meta"] = meta
    return go.Figure(data=[*base["data"], *extra], layout=layout, _validate=False)
