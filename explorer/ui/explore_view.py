"""The Explore page: the encoded test set (A2), the manifold (A3), one slider per latent
coordinate (A4), the live pad (A5, drawn by explorer.ui.pad), the current z with its nearest
test images (A6), and the exports (A11).

Speed: the page answers a slider step (and a release on the pad) itself first: its script decodes
the new z with the pad's decoder, already in the browser, and moves the crosses (explorer.ui.marks,
local_answer). On the server, a slider step, a release on the pad or a button reruns one small
fragment, the z panel: the server's decoded image, its nearest test images, the sliders, and that
small element, which moves the crosses to the server's z.
The views themselves (a 10,000-point figure, the manifold's picture, the pad's scene) are sent
again only when their pictures change: for a latent of more than two coordinates, when a
coordinate off the plane moves (explorer.ui.widgets.follow starts them after the image). Derived
arrays and the figures' static parts are cached by model version, so a step costs a decode, a
nearest-neighbour search and a few small messages. While the server works, the z panel and the
views do not fade as Streamlit's rerunning elements do: they already show the new z.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import math
import re
from dataclasses import dataclass

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer import latent, plots
from explorer.checkpoints import Checkpoint
from explorer.ui.atlas import Atlas, nearest_atlas
from explorer.ui.common import Loaded, format_z, get_z, set_z, slider_shows, sync_link
from explorer.ui.marks import atlas_carrier, z_marks
from explorer.ui.pad import latent_pad, pad_sync
from explorer.ui.widgets import (
    PLOT_CONFIG,
    Encoded,
    data_note,
    encoded_arrays,
    follow,
    image_html,
    images_html,
    manifold_tiles,
    model_version,
    originals,
    reconstructions,
    show_images,
    z_label,
)

PLANE_MODES = {"axes": "the plane", "pca": "PCA", "tsne": "t-SNE"}
SPACINGS = {"linear": "linear", "gaussian": "Gaussian"}
SLIDER_LIMIT = 5.0  # sliders span ±5: nearly all of N(0, 1) and of the encoded test sets
SLIDER_STEP = 0.05
GRID_BOUNDS = (3, 30)  # manifold side; 30 x 30 = 900 decodes is a fraction of a second here
GRID_DEFAULT = 15
LIMIT_BOUNDS = (0.5, 10.0)  # 10: common.Z_LIMIT, beyond which z is clamped anyway
LIMIT_DEFAULT = 3.0
TSNE_BOUNDS = (100, latent.MAX_TSNE_POINTS)
TSNE_DEFAULT = 1000
NEAREST_K = 8
SHOW_SELECTED = 24  # at most this many selected test images are drawn
IMAGE_PX = 150  # the server's decode of the current z, in CSS pixels
MANIFOLD_PX = 400  # the manifold's largest width, in CSS pixels
PAD_PX = 340  # the pad's plane; its own decoded image sits beside it

# The containers the fragments draw into. Streamlit fades a fragment's elements to grey while it
# reruns (after half a second). The page has answered a step in these already, so the fade would
# grey out what is current, and under a class's load, when the server takes that long, each
# browser would draw a frame per tick of it. NO_FADE_STYLE leaves them as they are.
SLOT_PAD, SLOT_MANIFOLD, SLOT_Z, SLOT_SCATTER = "explore-pad", "explore-manifold", "explore-z-panel", "explore-scatter"
SLOTS = (SLOT_PAD, SLOT_MANIFOLD, SLOT_Z, SLOT_SCATTER)
NO_FADE_STYLE = (
    "<style>"
    + ", ".join(f'.st-key-{slot} [data-stale="true"]' for slot in SLOTS)
    + " { opacity: 1 !important; transition: none !important; }</style>"
)
FRAG_Z = "explore-z"  # the decoded image, its nearest test images, the sliders, the crosses' moves
FRAG_VIEWS = "explore-views"  # the pad, the manifold and the scatter
FRAG_SELECTION = "explore-selection"  # the selected test images


# ---------------------------------------------------------------- plain helpers (tested directly)


@dataclass(frozen=True)
class PlaneSettings:
    mode: str  # "axes", "pca" or "tsne"
    dims: tuple[int, int]  # the two coordinates of the axes plane (and of the manifold)
    tsne_points: int = TSNE_DEFAULT


@dataclass(frozen=True)
class ManifoldSettings:
    n: int = GRID_DEFAULT
    limit: float = LIMIT_DEFAULT
    spacing: str = "linear"
    behind: bool = False  # draw the manifold as a map behind the scatter


def clamp(value: float, low: float, high: float) -> float:
    """Bound a number typed or linked by a user; NaN becomes the low end."""
    value = float(value)
    return low if value != value else min(max(value, low), high)


@dataclass(frozen=True)
class Projection:
    """The encoded test set on a plane, and how to put a new z on that plane."""

    mode: str
    dims: tuple[int, int]
    coords: np.ndarray  # (M, 2) plane coordinates
    index: np.ndarray  # (M,) test-set indices of the rows
    titles: tuple[str, str]
    mean: np.ndarray | None = None  # PCA: the mean of mu
    axes: np.ndarray | None = None  # PCA: the two principal axes (2, D)
    source: np.ndarray | None = None  # t-SNE: the mu rows that were embedded (M, D)

    def place(self, z: np.ndarray) -> np.ndarray:
        """z on this plane. t-SNE has no map for new points: the nearest embedded point stands in."""
        z = np.asarray(z, dtype=np.float64)
        if self.mode == "axes":
            return z[list(self.dims)]
        if self.mode == "pca":
            return (z - self.mean) @ self.axes.T
        return self.coords[latent.nearest(self.source, z, k=1)[0]]


def make_projection(mu: np.ndarray, mode: str, dims: tuple[int, int], tsne_points: int) -> Projection:
    if mode == "axes":
        return Projection("axes", dims, mu[:, list(dims)], np.arange(len(mu)), (z_label(dims[0]), z_label(dims[1])))
    if mode == "pca":
        coords, mean, axes = latent.pca_2d(mu)
        return Projection("pca", dims, coords, np.arange(len(mu)), ("PC 1", "PC 2"), mean=mean, axes=axes)
    if mode == "tsne":
        n = int(clamp(tsne_points, 2, min(len(mu), latent.MAX_TSNE_POINTS)))
        index = np.sort(np.random.default_rng(0).choice(len(mu), size=n, replace=False))
        coords = latent.tsne_2d(mu[index], seed=0)
        return Projection("tsne", dims, coords, index, ("t-SNE 1", "t-SNE 2"), source=mu[index])
    raise ValueError(f"unknown plane mode {mode!r}")


def selection_indices(points: object) -> list[int]:
    """Test-set indices of selected scatter points (their customdata), in order, without repeats.

    Points of other traces (the current-z cross, a path) carry no index and are skipped, and so
    is anything malformed (a selection arrives from the browser: trust nothing in it).
    """
    if not isinstance(points, (list, tuple)):
        return []
    seen: dict[int, None] = {}
    for point in points:
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and not isinstance(data, bool) and math.isfinite(data):
            if data >= 0 and data == int(data):
                seen.setdefault(int(data), None)
    return list(seen)


def latents_csv(encoded: Encoded) -> str:
    """The encoded test set as CSV: index, label, class_name, mu_1..mu_D, logvar_1..logvar_D (A11)."""
    d = encoded.mu.shape[1]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = range(1, d + 1)  # z₁..z_D, as the sliders name them
    writer.writerow(["index", "label", "class_name", *(f"mu_{i}" for i in names), *(f"logvar_{i}" for i in names)])
    mu = np.char.mod("%.6g", encoded.mu)
    logvar = np.char.mod("%.6g", encoded.logvar)
    for i, label in enumerate(encoded.labels):
        writer.writerow([i, int(label), encoded.class_names[int(label)], *mu[i], *logvar[i]])
    return out.getvalue()


def default_range(mu: np.ndarray) -> float:
    """The plane's starting half-width: 99% of the codes inside, in steps of 0.5, at least 1.

    3 for the shipped VAEs (as in Kingma & Welling's figures); wider for an autoencoder, whose
    codes are not pulled towards N(0, I).
    """
    if len(mu) == 0:
        return LIMIT_DEFAULT
    q = float(np.quantile(np.abs(np.asarray(mu, dtype=np.float64)), 0.99))
    return float(np.clip(np.ceil(q * 2) / 2, 1.0, LIMIT_BOUNDS[1])) if np.isfinite(q) else LIMIT_DEFAULT


def describe_z(z: np.ndarray) -> str:
    if len(z) <= 4:
        return "z = (" + ", ".join(f"{v:+.2f}" for v in z) + ")"
    return f"‖z‖ = {np.linalg.norm(z):.2f} over {len(z)} coordinates"


# ---------------------------------------------------------------- cached


@st.cache_data(max_entries=16, show_spinner="Projecting the test set…")
def projection(_ckpt: Checkpoint, version: str, mode: str, dims: tuple[int, int], tsne_points: int) -> Projection:
    del version
    return make_projection(_ckpt.encoded.mu.numpy(), mode, dims, tsne_points)


def _tiles(loaded: Loaded, ms: ManifoldSettings, dims: tuple[int, int], z: np.ndarray, *, exact_edges: bool = False):
    """The manifold over `dims` with the other coordinates from z (cached).

    exact_edges: a linear grid whose outer tile edges (not centres) sit at ±limit, for a map
    that must line up with a plane drawn over exactly [-limit, limit].
    """
    limit, spacing = ms.limit, ms.spacing
    if exact_edges:
        limit, spacing = ms.limit * (ms.n - 1) / ms.n, "linear"
    return manifold_tiles(
        loaded.ckpt.model, model_version(loaded), ms.n, round(limit, 6), spacing, dims, _other_coordinates(z, dims)
    )


def _other_coordinates(z: np.ndarray, dims: tuple[int, int]) -> tuple[float, ...]:
    """z with the plane's two coordinates zeroed: they do not change a plane's picture, so the cache is shared."""
    base = np.asarray(z, dtype=np.float64).copy()
    base[list(dims)] = 0.0
    return tuple(round(float(v), 4) for v in base)


@st.cache_data(max_entries=64, show_spinner=False)
def _manifold_image(
    _loaded: Loaded, version: str, ms: ManifoldSettings, dims: tuple[int, int], others: tuple[float, ...]
) -> tuple[str, bytes, np.ndarray, np.ndarray]:
    """The tiled manifold as a PNG (data URI and bytes) and its grid coordinates."""
    tiles, xs, ys = manifold_tiles(_loaded.ckpt.model, version, ms.n, round(ms.limit, 6), ms.spacing, dims, others)
    grid = plots.tile_grid(tiles)
    png = plots.png_bytes(grid, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii"), png, xs, ys


@st.cache_data(max_entries=32, show_spinner=False)
def _scatter_base(
    _loaded: Loaded, version: str, plane: PlaneSettings, ms: ManifoldSettings, others: tuple[float, ...]
) -> dict:
    """The scatter figure without the current-z cross, as validated JSON. `others`: the other
    coordinates of the map drawn behind the points, () without a map."""
    proj = projection(_loaded.ckpt, version, plane.mode, plane.dims, plane.tsne_points)
    enc = encoded_arrays(_loaded.ckpt, version)
    background = None
    if ms.behind and plane.mode == "axes":
        background = manifold_tiles(
            _loaded.ckpt.model, version, ms.n, round(ms.limit, 6), ms.spacing, plane.dims, others
        )
    title = {
        "axes": None,
        "pca": "PCA of μ (the current z projected)",
        "tsne": f"t-SNE of {len(proj.index)} test codes (× marks the code nearest to z)",
    }[plane.mode]
    fig = plots.latent_scatter(
        proj.coords,
        enc.labels[proj.index],
        enc.class_names,
        indices=proj.index,
        axis_titles=proj.titles,
        title=title,
        background=background,
        height=520,
    )
    return fig.to_plotly_json()


# ---------------------------------------------------------------- changing z


def _move_z(loaded: Loaded, z: np.ndarray) -> None:
    set_z(loaded, z)


def _move_z_from_selection(loaded: Loaded, z: np.ndarray) -> None:
    set_z(loaded, z)
    _rerun_z()  # the button sits in the selection fragment; the z panel moves the crosses


def _on_slider(loaded: Loaded, i: int) -> None:
    key = slider_key(loaded, i)
    value = float(st.session_state[key])
    z = get_z(loaded)
    if is_stale_report(value, shown=st.session_state.get(_shown_key(key)), current=float(z[i])):
        st.session_state[key] = float(np.clip(z[i], -SLIDER_LIMIT, SLIDER_LIMIT))  # keep what z says
        return
    z[i] = value
    set_z(loaded, z, link=False)  # the crosses' script puts z into the link (_marks)


def is_stale_report(value: float, *, shown: float | None, current: float) -> bool:
    """A slider 'change' that is only the browser repeating what it last showed.

    z can change while a slider's fragment is not redrawn (a release on the pad, a button in
    another fragment); until it is, any request from the browser carries the old slider value,
    which Streamlit reports as a change. A real move gives a value other than the one shown.
    """
    if shown is None:
        return False
    clipped = float(np.clip(current, -SLIDER_LIMIT, SLIDER_LIMIT))
    return abs(value - shown) <= 1e-6 and abs(clipped - value) > 1e-6


def _shown_key(key: str) -> str:
    return f"_shown::{key}"


def _sample_prior(loaded: Loaded) -> None:
    set_z(loaded, np.random.default_rng().standard_normal(loaded.latent_dim).astype(np.float32))


def slider_key(loaded: Loaded, i: int) -> str:
    return f"zslider::{loaded.key}::{i}"  # the key set_z keeps in step


def slider_class(loaded: Loaded, i: int) -> str:
    """The CSS class Streamlit gives the slider's element container (its key, other characters as '-')."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", slider_key(loaded, i).strip())


def selection_key(loaded: Loaded) -> str:
    return f"explore_selection::{loaded.key}"


def _on_select(model_key: str, chart_key: str) -> None:
    try:
        points = st.session_state[chart_key]["selection"]["points"]
    except (KeyError, TypeError):
        points = []
    st.session_state[f"explore_selection::{model_key}"] = selection_indices(points)
    st.rerun([FRAG_SELECTION])  # only the panel of selected images changes


def _rerun_views() -> None:
    st.rerun([FRAG_VIEWS])


def _rerun_z() -> None:
    st.rerun([FRAG_Z])


def z_token(z: np.ndarray) -> str:
    """z as the z panel draws it (its image's data-z): whether it has drawn the current z."""
    return ",".join(f"{v:.4f}" for v in np.asarray(z, dtype=np.float64))


def views_token(z: np.ndarray, dims: tuple[int, int]) -> str:
    """What of z the views' pictures depend on: the coordinates off the plane (the manifold, and a
    map behind the pad and the scatter, are drawn at those). Their crosses move in the browser."""
    return z_token(np.asarray(_other_coordinates(z, dims)))


def plane_token(loaded: Loaded, plane: PlaneSettings) -> str:
    """Names the scatter's plane in its layout.meta, so the crosses' script moves the right chart."""
    return f"{loaded.key}|{plane.mode}|{plane.dims[0]},{plane.dims[1]}|{plane.tsne_points}"


def _pad_key(loaded: Loaded) -> str:
    return f"pad::{loaded.key}"


def _drawn(loaded: Loaded) -> dict[str, str]:
    """What each fragment last drew ("views": the views' views_token, "z": the z panel's z_token),
    so each can tell whether the other must follow."""
    return st.session_state.setdefault(f"_explore_drawn::{loaded.key}", {})


def _in_fragment_run() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx and ctx.fragment_ids_this_run)


# ---------------------------------------------------------------- the fragments


@dataclass(frozen=True)
class View:
    """The plane and the manifold the page's views are drawn with."""

    plane: PlaneSettings
    manifold: ManifoldSettings


@st.fragment(key=FRAG_Z)
def _z_panel(loaded: Loaded, enc: Encoded, view: View | None) -> None:
    """The decoded image and its nearest test images (one message, sent first), the sliders, then
    the crosses on the views moved to z (and the views themselves redrawn, when their pictures
    depend on a coordinate that moved)."""
    z = get_z(loaded)
    image = latent.decode(loaded.ckpt.model, z)[0]
    nearest = latent.nearest(enc.mu, z, k=NEAREST_K)
    near_images, reason = originals(loaded, nearest)
    what = (
        "Nearest test images (by μ)" if near_images is not None else "Nearest test codes, decoded (no data set on disk)"
    )
    if near_images is None:
        near_images = reconstructions(loaded, enc, nearest)
    captions = [f"{n} · #{i}" for n, i in zip(enc.names(nearest), nearest)]
    z_attr = z_token(z)  # which z the server drew (the browser may draw a newer one first)
    st.markdown(
        '<div style="display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap;">'
        f"<div>{image_html(image, width=IMAGE_PX, caption=describe_z(z), testid='current-z-image', data_z=z_attr)}</div>"
        f'<div style="flex: 1; min-width: 14rem;"><div style="font-size: 0.875rem; color: #555; margin-bottom: 4px;">'
        f"{what}</div>{images_html(near_images, captions, width=52, testid='nearest-images')}</div></div>",
        unsafe_allow_html=True,
    )
    _sliders(loaded, z)
    if view is not None:
        _marks(loaded, enc, view, z)
    if view is None or not _in_fragment_run():
        sync_link(loaded)  # in a step's run the crosses' script writes the link's z (_marks)
    _drawn(loaded)["z"] = z_attr
    if view is not None:
        token = views_token(z, view.plane.dims)
        active = _in_fragment_run() and _drawn(loaded).get("views") != token
        follow(f"explore-follow-z::{loaded.key}", token, active=active, then=_rerun_views)


def _marks(loaded: Loaded, enc: Encoded, view: View, z: np.ndarray) -> None:
    """Move the crosses on the pad, the manifold and the scatter to z, in the browser."""
    plane, ms = view.plane, view.manifold
    grid = latent.grid_coordinates(ms.n, limit=round(ms.limit, 6), spacing=ms.spacing)  # the manifold's
    proj = projection(loaded.ckpt, model_version(loaded), plane.mode, plane.dims, plane.tsne_points)
    z_marks(
        f"explore-marks::{loaded.key}",
        z=z,
        pad=pad_sync(_pad_key(loaded)),
        manifold=plots.manifold_mark(z[list(plane.dims)], grid, grid),
        scatter=(plane_token(loaded, plane), proj.place(z)),
        local=local_answer(loaded, plane, grid, proj, nearest_atlas(loaded, enc)),
        link=format_z(z),
    )


def local_answer(loaded: Loaded, plane: PlaneSettings, grid: np.ndarray, proj: Projection, atlas: Atlas | None) -> dict:
    """What the crosses' script needs to answer a slider step in the browser, before the server:
    where the sliders are, how z maps onto the manifold and the scatter (t-SNE has no map: its
    cross waits for the server), and which atlas on the page finds the nearest test images (None:
    they wait for the server)."""
    anchors, steps = plots.grid_anchors(grid)
    if proj.mode == "pca":
        projection = {"mode": "pca", "mean": proj.mean.tolist(), "axes": proj.axes.tolist()}
    else:
        projection = {"mode": proj.mode}
    return {
        "sliders": [slider_class(loaded, i) for i in range(loaded.latent_dim)],
        "limit": SLIDER_LIMIT,
        "dims": list(plane.dims),
        "grid": {"anchors": anchors.tolist(), "steps": steps.tolist()},
        "projection": projection,
        "atlas": atlas.id if atlas is not None else None,
    }


@st.fragment(key=FRAG_VIEWS)
def _views(loaded: Loaded, plane: PlaneSettings, ms: ManifoldSettings, enc: Encoded, slots: Slots) -> None:
    """The pad, the manifold and the scatter, each marking the current z, drawn into their slots."""
    z = get_z(loaded)
    with slots.pad:
        _pad(loaded, plane, ms, enc, z)
    with slots.manifold:
        _manifold(loaded, plane, ms, z)
    with slots.scatter:
        _scatter(loaded, plane, ms, z)
    _drawn(loaded)["views"] = views_token(z, plane.dims)
    # Streamlit may run this fragment (a follow of the z panel's) in place of a z panel rerun a
    # slider step asked for at the same moment: the step's z is then drawn here but not in the
    # z panel (its image, the link, the crosses' script). Follow with the z panel when so.
    token = z_token(z)
    active = _in_fragment_run() and _drawn(loaded).get("z") != token
    follow(f"explore-follow-views::{loaded.key}", token, active=active, then=_rerun_z)


@dataclass(frozen=True)
class Slots:
    """Where the views fragment draws: containers laid out by the page's full run."""

    pad: DeltaGenerator
    manifold: DeltaGenerator
    scatter: DeltaGenerator


def _pad(loaded: Loaded, plane: PlaneSettings, ms: ManifoldSettings, enc: Encoded, z: np.ndarray) -> None:
    background = None
    if ms.behind:
        tiles, _, _ = _tiles(loaded, ms, plane.dims, z, exact_edges=True)
        background = plots.tile_grid(tiles)
    released = latent_pad(
        loaded,
        z=z,
        dims=plane.dims,
        points=enc.mu,
        labels=enc.labels,
        limit=ms.limit,
        background=background,
        key=_pad_key(loaded),
        axis_labels=(z_label(plane.dims[0]), z_label(plane.dims[1])),
        size=PAD_PX,
        on_release=_rerun_z,  # the z panel shows the released z and moves the other crosses
    )
    # The pad stores a released z itself before this run (its on-release callback); should it
    # not have, take it now and draw again.
    if released is not None and not np.allclose(released, get_z(loaded), atol=1e-6):
        set_z(loaded, np.asarray(released, dtype=np.float32))
        st.rerun(scope="fragment") if _in_fragment_run() else st.rerun()


def _manifold(loaded: Loaded, plane: PlaneSettings, ms: ManifoldSettings, z: np.ndarray) -> None:
    others = _other_coordinates(z, plane.dims)
    uri, _, xs, ys = _manifold_image(loaded, model_version(loaded), ms, plane.dims, others)
    current = z[list(plane.dims)]
    titles = (z_label(plane.dims[0]), z_label(plane.dims[1]))
    crisp = ms.n * loaded.ckpt.model_config.image_shape[-1] < MANIFOLD_PX
    st.markdown(
        plots.manifold_html(uri, xs, ys, axis_titles=titles, current=current, max_width=MANIFOLD_PX, crisp=crisp),
        unsafe_allow_html=True,
    )
    others_note = "" if loaded.latent_dim <= 2 else "; the other coordinates come from the sliders"
    st.caption(f"{ms.n}×{ms.n} decodes, {SPACINGS[ms.spacing]} spacing over ±{ms.limit:g}{others_note}.")


def _sliders(loaded: Loaded, z: np.ndarray) -> None:
    """One slider per latent coordinate (A4), with reset and prior-sample buttons beside them."""
    d = len(z)
    # One flex row, a single block: a step redraws every block of the page (not its elements) three
    # times in the browser (the run's start, its elements, its end), and each of st.columns'
    # columns is a block. The sliders wrap onto more rows for a larger latent.
    width = "stretch" if d <= 2 else 170 if d <= 10 else 130
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    for i in range(d):
        key = slider_key(loaded, i)
        value = float(np.clip(z[i], -SLIDER_LIMIT, SLIDER_LIMIT))
        if not slider_shows(st.session_state.get(key), value):
            st.session_state[key] = value
        st.session_state[_shown_key(key)] = value  # what the browser will show
        row.slider(
            z_label(i),
            min_value=-SLIDER_LIMIT,
            max_value=SLIDER_LIMIT,
            step=SLIDER_STEP,
            format="%.2f",
            key=key,
            on_change=_on_slider,
            args=(loaded, i),
            width=width,
        )
    row.button(
        "Reset to 0",
        key="explore_reset",
        icon=":material/restart_alt:",
        on_click=_move_z,
        args=(loaded, np.zeros(d, dtype=np.float32)),
        help="z = 0, the prior's mean",
    )
    row.button(
        "Prior sample",
        key="explore_prior",
        icon=":material/casino:",
        on_click=_sample_prior,
        args=(loaded,),
        help="Draw z ~ N(0, I)",
    )
    beyond = [i for i in range(d) if abs(z[i]) > SLIDER_LIMIT]
    if beyond:
        shown = ", ".join(f"{z_label(i)} = {z[i]:+.2f}" for i in beyond)
        st.caption(f"Beyond the sliders' ±{SLIDER_LIMIT:g}: {shown} (kept as is until a slider moves).")


def _scatter(loaded: Loaded, plane: PlaneSettings, ms: ManifoldSettings, z: np.ndarray) -> None:
    version = model_version(loaded)
    others = _other_coordinates(z, plane.dims) if ms.behind else ()  # only a map behind depends on z
    base = _scatter_base(loaded, version, plane, ms, others)
    proj = projection(loaded.ckpt, version, plane.mode, plane.dims, plane.tsne_points)
    # The cross for z is drawn over the chart by explorer.ui.marks, which moves it on every step
    # without the figure being sent or drawn again; meta tells it the plane and where z was.
    current = [float(v) for v in proj.place(z)]
    fig = plots.with_traces(base, meta={"plane": plane_token(loaded, plane), "current": current})
    chart_key = f"explore_scatter::{loaded.key}::{plane.mode}"
    st.plotly_chart(
        fig,
        key=chart_key,
        on_select=functools.partial(_on_select, loaded.key, chart_key),
        selection_mode=("points", "box", "lasso"),
        config=PLOT_CONFIG,
    )
    st.caption(
        "✕ marks the current z. Hover for class and index; click a point or drag a box / lasso to see those test images."
    )


@st.fragment(key=FRAG_SELECTION)
def _selection(loaded: Loaded, enc: Encoded) -> None:
    chosen = [i for i in st.session_state.get(selection_key(loaded), []) if 0 <= i < len(enc.labels)]
    st.markdown("**Selected test images**")
    if not chosen:
        st.caption("Nothing selected yet: click a point on the scatter, or drag a box or lasso around some.")
        return
    shown = chosen[:SHOW_SELECTED]
    captions = [f"{n} · #{i}" for n, i in zip(enc.names(shown), shown)]
    images, reason = originals(loaded, shown)
    if images is not None:
        st.caption("Originals")
        show_images(images, captions, width=48, testid="selected-originals")
    st.caption("Reconstructions, decode(μ(x))")
    show_images(reconstructions(loaded, enc, shown), captions, width=48, testid="selected-reconstructions")
    if reason:
        data_note(reason)
    if len(chosen) > len(shown):
        st.caption(f"Showing {len(shown)} of {len(chosen)} selected.")
    if len(chosen) == 1:
        label, target = f"Move z to μ of #{chosen[0]}", enc.mu[chosen[0]]
    else:
        label, target = f"Move z to the mean μ of these {len(chosen)}", enc.mu[chosen].mean(axis=0)
    st.button(
        label,
        key="explore_take_mu",
        icon=":material/my_location:",
        on_click=_move_z_from_selection,
        args=(loaded, target),
    )


# ---------------------------------------------------------------- page
def default_plane(mu: np.ndarray) -> tuple[int, int]:
    """The two coordinates whose μ varies most over the test set, in index order: the active ones
    (in a 20-D VAE several coordinates collapse to the prior and carry nothing)."""
    top = np.argsort(-np.var(np.asarray(mu, dtype=np.float64), axis=0), kind="stable")[:2]
    return int(min(top)), int(max(top))


def _plane_controls(loaded: Loaded, enc: Encoded) -> PlaneSettings:
    d = loaded.latent_dim
    if d <= 2:
        return PlaneSettings("axes", (0, 1))
    k = loaded.key
    first, second = default_plane(enc.mu)
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")  # one block, as in _sliders
    x = row.selectbox(
        "Plane x",
        range(d),
        index=first,
        format_func=z_label,
        key=f"explore_x::{k}",
        help="The pad and the manifold move these two coordinates; the sliders set the others. "
        "They start as the two whose μ varies most over the test set.",
        width=110,
    )
    y = row.selectbox("Plane y", range(d), index=second, format_func=z_label, key=f"explore_y::{k}", width=110)
    mode = row.segmented_control(
        "Scatter shows",
        list(PLANE_MODES),
        format_func=PLANE_MODES.get,
        default="axes",
        key=f"explore_plane::{k}",
        help="The plane's two coordinates, or a 2-D projection of all of them (PCA; t-SNE of a subset).",
    )
    mode = mode or "axes"
    tsne_points = TSNE_DEFAULT
    if mode == "tsne":
        tsne_points = row.number_input(
            "t-SNE points",
            min_value=TSNE_BOUNDS[0],
            max_value=TSNE_BOUNDS[1],
            value=TSNE_DEFAULT,
            step=100,
            key=f"explore_tsne::{k}",
            help=f"A random subset of the test set ({TSNE_BOUNDS[0]}–{TSNE_BOUNDS[1]} points); larger takes longer.",
            width=150,
        )
        tsne_points = int(clamp(tsne_points, *TSNE_BOUNDS))
    if x == y:
        y = (x + 1) % d
        st.caption(f"Plane x and y must differ: using {z_label(y)} for y.")
    return PlaneSettings(mode, (int(x), int(y)), tsne_points)


def _manifold_controls(loaded: Loaded, enc: Encoded, dims: tuple[int, int]) -> ManifoldSettings:
    k = loaded.key
    top = st.container(horizontal=True, vertical_alignment="bottom")  # one block, as in _sliders
    n = top.number_input(
        "Grid N × N",
        min_value=GRID_BOUNDS[0],
        max_value=GRID_BOUNDS[1],
        value=GRID_DEFAULT,
        key=f"explore_grid::{k}",
        help=f"Decode an N × N grid ({GRID_BOUNDS[0]}–{GRID_BOUNDS[1]}).",
        width=90,
    )
    limit = top.slider(
        "Range ±",
        min_value=LIMIT_BOUNDS[0],
        max_value=LIMIT_BOUNDS[1],
        value=default_range(enc.mu[:, list(dims)]),
        step=0.5,
        key=f"explore_range::{k}",
        help="The grid (and the pad) span [−range, +range] on both axes, in z units.",
        width=120,
    )
    spacing = top.segmented_control(
        "Spacing",
        list(SPACINGS),
        format_func=SPACINGS.get,
        default="linear",
        key=f"explore_spacing::{k}",
        help="Gaussian: the N(0, 1) inverse CDF at evenly spaced probabilities (Kingma & Welling, figure 4), "
        "so each tile holds the same prior mass.",
    )
    behind = top.toggle(
        "As map",
        key=f"explore_behind::{k}",
        help="Draw the manifold as a map under the pad's and the scatter's points, in z units.",
    )
    return ManifoldSettings(
        n=int(clamp(n, *GRID_BOUNDS)),
        limit=clamp(limit, *LIMIT_BOUNDS),
        spacing=spacing or "linear",
        behind=bool(behind),
    )


def _export(loaded: Loaded, enc: Encoded) -> None:
    with st.expander("Export", icon=":material/download:"):
        st.download_button(
            f"Latents of the {len(enc.labels):,} test images as CSV",
            data=lambda: latents_csv(enc),
            file_name=f"{loaded.entry.name}-latents.csv",
            mime="text/csv",
            on_click="ignore",
            icon=":material/table:",
            help="index, label, class_name, mu_1..mu_D, logvar_1..logvar_D",
        )
        st.caption(
            "Figures: the camera button in a chart's toolbar saves a PNG; the manifold and the decoded images "
            "are plain images (right-click, Save image). The checkpoint file: the download button in the sidebar."
        )


def render(loaded: Loaded) -> None:
    """The whole Explore page for one model: the layout and its controls; the fragments fill it."""
    enc = encoded_arrays(loaded.ckpt, model_version(loaded))
    d = loaded.latent_dim
    st.markdown(
        f"#### Latent space of **{loaded.entry.name}** "
        f"<span style='color:#666; font-weight:normal'>· {loaded.ckpt.dataset.title} · {d}-D latent · "
        f"{len(enc.labels):,} encoded test images</span>",
        unsafe_allow_html=True,
    )
    if d < 2:
        st.warning("This model has a 1-D latent: there is no plane to draw. The slider below still decodes.")
        _z_panel(loaded, enc, None)
        return

    st.html(NO_FADE_STYLE)
    plane = _plane_controls(loaded, enc)
    pad_col, manifold_col = st.columns([7, 4], gap="medium")
    with pad_col:
        a, b = z_label(plane.dims[0]), z_label(plane.dims[1])
        st.markdown(f"**Latent pad** · drag on the {a}–{b} plane; the digit is decoded in your browser")
        pad_slot = st.container(key=SLOT_PAD)
        ms = _manifold_controls(loaded, enc, plane.dims)  # the range and the map are the pad's too
    with manifold_col:
        st.markdown("**Manifold** · decodes on a grid over the plane")
        manifold_slot = st.container(key=SLOT_MANIFOLD)
    st.markdown("**Current z** · one slider per coordinate; decoded in your browser at once, then on the server")
    z_slot = st.container(key=SLOT_Z)
    scatter_col, side_col = st.columns([7, 5], gap="medium")
    with scatter_col:
        heading = {"axes": f"{a}–{b} plane", "pca": "PCA of μ", "tsne": "t-SNE of μ"}[plane.mode]
        st.markdown(f"**Encoded test set** · μ of q(z|x), coloured by class · {heading}")
        scatter_slot = st.container(key=SLOT_SCATTER)
    with side_col:
        _selection(loaded, enc)
    _export(loaded, enc)
    _views(loaded, plane, ms, enc, Slots(pad_slot, manifold_slot, scatter_slot))
    with z_slot:  # last: the first time, its nearest images wait for the test set to load from disk
        _z_panel(loaded, enc, View(plane, ms))
    atlas = nearest_atlas(loaded, enc)
    if atlas is not None:  # the test set for the page's own nearest images, sent once per page
        atlas_carrier(f"explore-atlas::{loaded.key}", atlas.data)
