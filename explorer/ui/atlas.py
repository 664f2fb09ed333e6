"""The test set in the browser, so the Explore page can show a step's nearest test images itself.

A slider step or a release on the pad is answered in the page first (explorer.ui.marks): the
pad's decoder draws the new z at once. The nearest test images used to wait for the server's
answer. With the atlas the page finds them too: it holds μ of every encoded test image and the
images themselves as one picture (a sprite, tiles in reading order), and searches μ as
explorer.latent.nearest does.

One atlas per model, built once and shared by every session (st.cache_resource), sent once per
page as an element that does not change until the model does. Its size is about that of the
images' PNG: 1.8 MB for MNIST's 10,000 test images, 4.2 MB for Fashion-MNIST's; for comparison the
page's Plotly script alone is 4.7 MB. Without the data set on disk there is no atlas, and the
nearest images wait for the server as before.

Layout (little-endian): uint32 header length, the header as UTF-8 JSON padded with spaces to a
multiple of 4 bytes, μ as float32 (n × d, row by row), the labels as int16 (n, padded to a
multiple of 4 bytes with zeros), then the sprite as a greyscale PNG to the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer.plots import png_bytes, to_uint8
from explorer.ui.common import Loaded, test_images
from explorer.ui.widgets import Encoded, grey, model_version

MAX_PIXELS = 16_000_000  # the sprite's size at most (MNIST's is 7.8 million); larger sets are not sent


@dataclass(frozen=True)
class Atlas:
    id: str
    data: bytes


@dataclass(frozen=True)
class Unpacked:
    header: dict
    mu: np.ndarray  # (n, d) float32
    labels: np.ndarray  # (n,) int16
    sprite: bytes  # PNG


def sprite(images: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, H, W) uint8 images as one (rows·H, cols·W) picture, tile i at row i // cols, column
    i % cols; cols = ceil(sqrt(N)). Returns the picture and cols."""
    n, h, w = images.shape
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = np.zeros((rows * cols, h, w), dtype=np.uint8)
    grid[:n] = images
    return grid.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w), cols


def pack_atlas(images: np.ndarray, mu: np.ndarray, labels: np.ndarray, class_names: list[str], *, key: str) -> bytes:
    """The atlas bytes (see the module's docstring) for greyscale images (N, H, W) in [0, 1] or uint8."""
    images = to_uint8(np.asarray(images))
    mu = np.ascontiguousarray(mu, dtype="<f4")
    labels = np.asarray(labels)
    n, h, w = images.shape
    if mu.ndim != 2 or len(mu) != n or labels.shape != (n,):
        raise ValueError(f"{n} images need μ of shape ({n}, d) and {n} labels; got {mu.shape} and {labels.shape}")
    picture, cols = sprite(images)
    header = {"id": key, "n": n, "d": int(mu.shape[1]), "h": h, "w": w, "cols": cols, "names": list(class_names)}
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 4)
    label_bytes = labels.astype("<i2").tobytes()
    label_bytes += b"\0" * (-len(label_bytes) % 4)
    return struct.pack("<I", len(text)) + text + mu.tobytes() + label_bytes + png_bytes(picture, compress_level=6)


def unpack_atlas(data: bytes) -> Unpacked:
    """The inverse of pack_atlas, as marks.js reads it."""
    (size,) = struct.unpack_from("<I", data, 0)
    header = json.loads(data[4 : 4 + size].decode("utf-8"))
    n, d = header["n"], header["d"]
    start = 4 + size
    mu = np.frombuffer(data, dtype="<f4", count=n * d, offset=start).reshape(n, d)
    start += 4 * n * d
    labels = np.frombuffer(data, dtype="<i2", count=n, offset=start)
    start += 2 * n + (-2 * n % 4)
    return Unpacked(header, mu, labels, data[start:])


def _atlas_images(loaded: Loaded) -> np.ndarray | None:
    """The test images as (N, H, W), or None: no data set on disk, colour images, or too many pixels."""
    images, _ = test_images(loaded.ckpt)
    if images is None or images.ndim != 4 or images.shape[1] != 1:
        return None
    if images.shape[0] * images.shape[2] * images.shape[3] > MAX_PIXELS:
        return None
    return grey(images)


@st.cache_resource(max_entries=8, show_spinner=False)
def _atlas(_loaded: Loaded, version: str, _enc: Encoded) -> Atlas | None:
    images = _atlas_images(_loaded)
    if images is None:
        return None
    key = hashlib.sha1(version.encode()).hexdigest()[:16]
    return Atlas(key, pack_atlas(images, _enc.mu, _enc.labels, list(_enc.class_names), key=key))


def nearest_atlas(loaded: Loaded, enc: Encoded) -> Atlas | None:
    """The model's atlas (built once per model version for the whole server), or None.
    enc: the model's encoded test set (explorer.ui.widgets.encoded_arrays), which the page holds."""
    return _atlas(loaded, model_version(loaded), enc)
