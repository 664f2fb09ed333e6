"""Small Streamlit pieces the Explore and Generate pages share: crisp image display, cached
derived arrays keyed by the model's version, the "data set not on disk" note, figure config.

Cached functions take the model or checkpoint as a `_`-prefixed argument (not hashed) next to
`version`, which names the file and its modification time, so a rewritten checkpoint is never
served stale results.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer import latent
from explorer.checkpoints import Checkpoint
from explorer.models import VAE
from explorer.plots import png_data_uri
from explorer.ui.common import Loaded, test_images

# Plotly's own toolbar, with its PNG download on (A11), at twice the screen resolution.
PLOT_CONFIG = {
    "displaylogo": False,
    "displayModeBar": True,
    "modeBarButtonsToRemove": ["autoScale2d", "toggleSpikelines"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def model_version(loaded: Loaded) -> str:
    """The cache key of a model: its key plus the file's modification time and size."""
    try:
        stat = loaded.entry.path.stat()
    except OSError:
        return loaded.key
    return f"{loaded.key}@{stat.st_mtime_ns}:{stat.st_size}"


def z_label(i: int) -> str:
    """The name of coordinate i (0-based) as the lecture writes it: z₁, z₂, ... z₂₀."""
    return "z" + str(i + 1).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


# ---------------------------------------------------------------- images


def grey(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (C, H, W) -> (N, H, W) or (H, W) greyscale (channel mean; RGB kept as RGB)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        return images.mean(axis=1) if images.shape[1] != 3 else images.transpose(0, 2, 3, 1)
    if images.ndim == 3 and images.shape[0] in (1, 3):
        return images.mean(axis=0) if images.shape[0] != 3 else images.transpose(1, 2, 0)
    return images


def image_html(
    image: np.ndarray, *, width: int, caption: str | None = None, testid: str | None = None, data_z: str | None = None
) -> str:
    """One image as an inline PNG scaled up with crisp pixels (no second request, no blur).
    data_z: the code it decodes, as a data-z attribute."""
    attrs = f' data-testid="{html.escape(testid)}"' if testid else ""
    if data_z is not None:
        attrs += f' data-z="{html.escape(data_z)}"'
    img = (
        f'<img src="{png_data_uri(grey(image))}"{attrs} alt="decoded image" style="width: {width}px; '
        f"height: {width}px; max-width: none; object-fit: fill; image-rendering: pixelated; "
        'border: 1px solid #ddd; border-radius: 4px; display: block;">'
    )
    if caption:
        img += (
            f'<div style="font-size: 0.7rem; line-height: 1.2; color: #555; text-align: center; width: {width}px; '
            f'overflow: hidden; white-space: nowrap;">{html.escape(caption)}</div>'
        )
    return f'<div style="flex: none;">{img}</div>'


def show_image(image: np.ndarray, *, width: int, caption: str | None = None, testid: str | None = None) -> None:
    st.markdown(image_html(image, width=width, caption=caption, testid=testid), unsafe_allow_html=True)


def show_images(
    images: np.ndarray, captions: Sequence[str] | None = None, *, width: int = 56, testid: str | None = None
) -> None:
    """A wrapping row of images (N, C, H, W) with an optional caption under each."""
    st.markdown(images_html(images, captions, width=width, testid=testid), unsafe_allow_html=True)


def images_html(
    images: np.ndarray, captions: Sequence[str] | None = None, *, width: int = 56, testid: str | None = None
) -> str:
    """A wrapping row of images (N, C, H, W), each with an optional caption under it, as HTML."""
    images = grey(images)
    captions = list(captions) if captions is not None else [None] * len(images)
    body = "".join(image_html(img, width=width, caption=cap) for img, cap in zip(images, captions))
    attrs = f' data-testid="{html.escape(testid)}"' if testid else ""
    return f'<div{attrs} style="display: flex; flex-wrap: wrap; gap: 6px;">{body}</div>'


def data_note(reason: str) -> None:
    """Say why originals are missing and where the files go (the data module's message)."""
    st.info(f"Originals are not shown: {reason}", icon=":material/folder_off:")


# ---------------------------------------------------------------- cached arrays


@dataclass(frozen=True)
class Encoded:
    """The checkpoint's encoded test set as numpy arrays."""

    mu: np.ndarray  # (N, D) float32
    logvar: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]

    def names(self, indices: Sequence[int] | np.ndarray) -> list[str]:
        return [self.class_names[int(self.labels[i])] for i in indices]


@st.cache_data(max_entries=16, show_spinner=False)
def encoded_arrays(_ckpt: Checkpoint, version: str) -> Encoded:
    del version  # the cache key
    enc = _ckpt.encoded
    return Encoded(enc.mu.numpy(), enc.logvar.numpy(), enc.labels.numpy(), tuple(_ckpt.dataset.class_names))


@st.cache_data(max_entries=64, show_spinner=False)
def manifold_tiles(
    _model: VAE, version: str, n: int, limit: float, spacing: str, dims: tuple[int, int], base: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """latent.manifold, cached. `base` holds the other coordinates (callers zero the plane's two)."""
    del version
    return latent.manifold(_model, n=n, limit=limit, spacing=spacing, dims=dims, base_z=np.asarray(base))


@st.cache_data(max_entries=32, show_spinner=False)
def decoded_rows(_model: VAE, version: str, z: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Decodes of a few latent codes (e.g. the reconstructions decode(mu) of chosen test images)."""
    del version
    return latent.decode(_model, np.asarray(z, dtype=np.float32))


def reconstructions(loaded: Loaded, encoded: Encoded, indices: Sequence[int]) -> np.ndarray:
    """decode(mu(x)) for test images by index, from the stored mu: no data set needed."""
    rows = tuple(tuple(float(v) for v in encoded.mu[int(i)]) for i in indices)
    return decoded_rows(loaded.ckpt.model, model_version(loaded), rows)


def originals(loaded: Loaded, indices: Sequence[int]) -> tuple[np.ndarray | None, str | None]:
    """The test images by index, or None and the reason (the data set is not on disk)."""
    images, reason = test_images(loaded.ckpt)
    if images is None:
        return None, reason
    return images[np.asarray(indices, dtype=np.int64)], None


# ---------------------------------------------------------------- follow: one fragment after another

_FOLLOW_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data || !data.active) return;
  const seen = (window.__explorerFollow = window.__explorerFollow || {});
  if (seen[data.key] === data.token) return; // the same request drawn again
  seen[data.key] = data.token;
  setTriggerValue("go", data.token);
}
"""
_follow_component = st.components.v2.component(
    "explorer_follow",
    html='<span class="explorer-follow"></span>',
    css='div[data-testid="stElementContainer"]:has(.explorer-follow) {\n  display: none;\n}\n',  # multi-line: inline CSS
    js=_FOLLOW_JS,
    isolate_styles=False,
)


_FOLLOW_COUNT = "_follow_requests"  # session state: the follow requests made so far


def follow(key: str, token: str, *, active: bool, then) -> None:
    """Run `then` (a callback, e.g. a keyed st.rerun of another fragment) right after this run
    reaches the browser, when `active` (once: the browser fires each request once).

    Streamlit reruns the fragment that holds the widget a user moved; a keyed rerun of several
    fragments from the widget's callback would first abort that run, which costs a round of
    messages before anything is drawn. This lets a fragment draw first (the decoded image),
    then asks the browser to start the fragments that follow it.
    """
    if active:  # each request its own token: one lost on the way (a run replaced by another) is asked again
        count = st.session_state.get(_FOLLOW_COUNT, 0) + 1
        st.session_state[_FOLLOW_COUNT] = count
        token = f"{token}#{count}"
    _follow_component(key=key, data={"key": key, "token": token, "active": bool(active)}, on_go_change=then)
