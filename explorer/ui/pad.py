"""The live latent pad (A5): drag over the latent plane and the decoded image follows every move.

The decoder runs in the browser (explorer/ui/pad_assets/pad.js) from the model's own weights,
exported by explorer/pad_export.py, so nothing goes to the server while the pointer moves; the
chosen z comes back on release. A Streamlit custom component (components v2, inline JS/CSS).

Three elements per pad: one carries the decoder's weights, one the scene (points, manifold
image, axes); both are identical on every rerun until the model or the view changes, so
Streamlit's message cache sends only a reference after the first time. The third carries the
current z and is small.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from torch import nn

from explorer.pad_export import PadExportError, export_decoder, pack_decoder, unpack_decoder
from explorer.plots import class_colors
from explorer.ui.common import Loaded, clamp_z, set_z

_ASSETS = Path(__file__).with_name("pad_assets")
MAX_POINTS = 3000  # the scatter behind the pad: a deterministic sample of the test set
MAX_BACKGROUND_SIDE = 720  # manifold images larger than this are downscaled before sending

_component = st.components.v2.component(
    "explorer_latent_pad",
    css=(_ASSETS / "pad.css").read_text(encoding="utf-8"),
    js=(_ASSETS / "pad.js").read_text(encoding="utf-8"),
    isolate_styles=False,  # keep data-testid="latent-pad" reachable with document.querySelector
)

# ---------------------------------------------------------------- payloads (cached per model)

_lock = threading.Lock()
_packed: weakref.WeakKeyDictionary[nn.Module, tuple[str, bytes]] = weakref.WeakKeyDictionary()
_backgrounds: OrderedDict[str, str] = OrderedDict()


def packed_decoder(model: nn.Module) -> tuple[str, bytes]:
    """(id, message): the decoder as the browser reads it, made once per (never mutated) model."""
    with _lock:
        packed = _packed.get(model)
    if packed is None:
        data = pack_decoder(export_decoder(model))
        packed = (unpack_decoder(data)[0]["id"], data)
        with _lock:
            _packed[model] = packed
    return packed


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def plane_points(
    points: np.ndarray, labels: np.ndarray, *, dims: tuple[int, int], latent_dim: int, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The points to draw, (n, 2) float32 in the plane's (x, y), and their labels, n <= max_points.

    `points` are either full codes (N, latent_dim), of which the `dims` columns are taken, or
    already the plane's (N, 2). A larger set is sampled deterministically.
    """
    points = np.asarray(points, dtype=np.float32)
    labels = np.asarray(labels).astype(np.int64).ravel()
    if points.ndim != 2 or len(points) != len(labels):
        raise ValueError(f"points must be (N, D) with one label each, got {points.shape} and {labels.shape}")
    if points.shape[1] == latent_dim:
        x = points[:, dims[0]]
        y = points[:, dims[1]] if dims[1] != dims[0] else np.zeros_like(x)
        xy = np.stack([x, y], axis=1)
    elif points.shape[1] == 2:
        xy = points
    else:
        raise ValueError(f"points must have {latent_dim} or 2 columns, got {points.shape[1]}")
    keep = np.isfinite(xy).all(axis=1)
    xy, labels = xy[keep], labels[keep]
    if len(xy) > max_points:
        index = np.sort(np.random.default_rng(0).choice(len(xy), max_points, replace=False))
        xy, labels = xy[index], labels[index]
    return np.ascontiguousarray(xy, dtype="<f4"), labels


def background_png(image: np.ndarray) -> str:
    """An image (H, W) or (H, W, 3) in [0, 1] (or uint8) as a PNG data URL, cached by content."""
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)  # (C, H, W) -> (H, W, C)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"the background must be an image (H, W) or (H, W, 3), got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.round(255 * np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)).astype(np.uint8)
    digest = hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()
    with _lock:
        if digest in _backgrounds:
            _backgrounds.move_to_end(digest)
            return _backgrounds[digest]
    picture = Image.fromarray(array)
    side = max(picture.size)
    if side > MAX_BACKGROUND_SIDE:
        scale = MAX_BACKGROUND_SIDE / side
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    with _lock:
        _backgrounds[digest] = url
        while len(_backgrounds) > 16:
            _backgrounds.popitem(last=False)
    return url


def parse_release(value: Any, latent_dim: int) -> np.ndarray | None:
    """The z the browser sent on release, or None when it is not a usable code for this model."""
    if not isinstance(value, dict):
        return None
    z = value.get("z")
    if not isinstance(z, list) or len(z) != latent_dim:
        return None
    try:
        array = np.array([float(v) for v in z], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if not np.all(np.isfinite(array)):
        return None
    return clamp_z(array)


def _widget_key(key: str) -> str:
    """Streamlit refuses component keys holding '__' (its event delimiter); model names may."""
    return key.replace("__", "_~")


def _ack_key(widget_key: str) -> str:
    return f"_pad_ack::{widget_key}"


def pad_sync(key: str) -> tuple[str, int]:
    """(the pad's widget key, the last release Python has taken) for explorer.ui.marks.z_marks,
    which hands the pad a z from elsewhere on the page."""
    widget_key = _widget_key(key)
    return widget_key, int(st.session_state.get(_ack_key(widget_key), 0))


def _on_release(loaded: Loaded, widget_key: str, apply: bool, then: Callable[[], None] | None) -> None:
    """Runs before the page does, so the sliders and the page's z already show the released z.

    Also notes which release this run answers: the browser keeps its own z while a rerun for an
    older release is still on its way (quick arrow-key presses), instead of jumping back.
    """
    result = st.session_state.get(widget_key)
    value = result.get("release") if isinstance(result, dict) else None
    if isinstance(value, dict) and isinstance(value.get("seq"), int):
        st.session_state[_ack_key(widget_key)] = value["seq"]
    z = parse_release(value, loaded.latent_dim)
    if z is not None and apply:
        # the page's sliders sync from get_z as they are drawn, and the page writes the link
        set_z(loaded, z, sliders=False, link=False)
        if then is not None:
            then()


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _default_axis_labels(dims: tuple[int, int]) -> tuple[str, str]:
    return ("z" + str(dims[0]).translate(_SUBSCRIPTS), "z" + str(dims[1]).translate(_SUBSCRIPTS))  # z₀, z₁


def latent_pad(
    loaded: Loaded,
    *,
    z: np.ndarray,
    dims: tuple[int, int],
    points: np.ndarray,
    labels: np.ndarray,
    limit: float,
    background: np.ndarray | None = None,
    key: str = "pad",
    background_extent: tuple[float, float, float, float] | None = None,
    axis_labels: tuple[str, str] | None = None,
    size: int = 520,
    max_points: int = MAX_POINTS,
    apply: bool = True,
    on_release: Callable[[], None] | None = None,
) -> np.ndarray | None:
    """Draw the pad; return the new full z when the user releases the pointer, else None.

    z: the current full code; the pad moves coordinates `dims` and keeps the others.
    points, labels: the encoded test set, (N, D) or already (N, 2) in the plane, coloured by label.
    limit: the plane spans [-limit, limit] on both axes.
    background: an optional image (e.g. the tiled manifold) drawn over `background_extent`
      (x_min, x_max, y_min, y_max; default the whole plane), row 0 at the top.
    apply: also store the released z with set_z before the page runs, so everything drawn
      above the pad already shows it (callers may still call set_z with the returned z). The
      slider keys are left to the page, which sets them from get_z as it draws the sliders, and
      so is the link in the address bar (the Explore page writes it in the browser).
    on_release: called after a release is applied, before the page runs (e.g. a keyed st.rerun of
      the fragment that shows z, when the pad itself need not be sent again).
    """
    d = loaded.latent_dim
    dims = (int(dims[0]), int(dims[1]))
    if not all(0 <= i < d for i in dims) or (dims[0] == dims[1] and d > 1):
        raise ValueError(f"dims must be two different coordinates in 0..{d - 1}, got {dims}")
    z_full = clamp_z(np.asarray(z, dtype=np.float32).ravel())
    if len(z_full) != d:
        raise ValueError(f"z must have {d} coordinates, got {len(z_full)}")
    limit = float(limit)
    if not 0 < limit <= 100:
        raise ValueError(f"limit must be in (0, 100], got {limit}")

    xy, plane_labels = plane_points(points, labels, dims=dims, latent_dim=d, max_points=max_points)
    if len(plane_labels) and (plane_labels.min() < 0 or plane_labels.max() > 32767):
        raise ValueError("labels must be class indices 0..32767")
    scene = {
        "role": "scene",
        "dims": [dims[0], dims[1] if d > 1 else -1],
        "limit": limit,
        "points": _b64(xy),
        "labels": _b64(plane_labels.astype("<i2")),
        "class_names": list(loaded.ckpt.dataset.class_names),
        "class_colors": class_colors(len(loaded.ckpt.dataset.class_names)),  # as on the Plotly scatter
        "background": background_png(background) if background is not None else None,
        "background_extent": [float(v) for v in (background_extent or (-limit, limit, -limit, limit))],
        "axis_labels": list(axis_labels or _default_axis_labels(dims)),
    }
    scene["id"] = hashlib.sha1(json.dumps(scene, sort_keys=True).encode()).hexdigest()[:20]
    try:
        model_id, model_bytes = packed_decoder(loaded.ckpt.model)
    except PadExportError as exc:
        st.warning(f"The live pad cannot run this decoder in the browser: {exc}")
        return None

    # The two carriers are the same on every rerun until the model or the scene changes, so
    # Streamlit's message cache sends them once; only the small third element changes on release.
    widget_key = _widget_key(key)
    _component(key=f"{widget_key}::model", data=model_bytes)
    _component(key=f"{widget_key}::scene", data=scene)
    result = _component(
        key=widget_key,
        data={
            "role": "pad",
            "key": key,
            "model_id": model_id,
            "scene_id": scene["id"],
            "z": [float(v) for v in z_full],
            "ack": int(st.session_state.get(_ack_key(widget_key), 0)),  # the last release this run saw
            "size": int(size),
        },
        on_release_change=functools.partial(_on_release, loaded, widget_key, apply, on_release),
    )
    return parse_release(result.get("release"), d)
