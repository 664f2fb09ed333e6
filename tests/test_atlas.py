"""The atlas: the test set packed for the Explore page's own nearest images (explorer.ui.atlas)."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from explorer import latent
from explorer.ui.atlas import pack_atlas, sprite, unpack_atlas


def images_and_codes(n: int = 23, h: int = 5, w: int = 4, d: int = 3):
    rng = np.random.default_rng(0)
    return (
        rng.random((n, h, w)).astype(np.float32),
        rng.standard_normal((n, d)).astype(np.float32),
        rng.integers(0, 10, n),
    )


def test_the_sprite_holds_image_i_at_row_i_div_cols_column_i_mod_cols():
    images = (np.arange(7 * 3 * 2) % 251).astype(np.uint8).reshape(7, 3, 2)
    picture, cols = sprite(images)
    assert cols == 3 and picture.shape == (3 * 3, 3 * 2)  # 7 tiles: 3 rows of 3, two left blank
    for i in range(7):
        row, col = divmod(i, cols)
        np.testing.assert_array_equal(picture[row * 3 : row * 3 + 3, col * 2 : col * 2 + 2], images[i])
    assert not picture[6:, 2:].any()


@pytest.mark.parametrize("n", [1, 2, 23])  # the labels' padding: n odd and even
def test_pack_and_unpack_round_trip(n):
    images, mu, labels = images_and_codes(n=n)
    data = pack_atlas(images, mu, labels, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], key="abc")
    atlas = unpack_atlas(data)
    assert atlas.header == {
        "id": "abc",
        "n": n,
        "d": 3,
        "h": 5,
        "w": 4,
        "cols": atlas.header["cols"],
        "names": list("abcdefghij"),
    }
    assert np.array_equal(atlas.mu, mu) and atlas.mu.dtype == np.float32
    assert np.array_equal(atlas.labels, labels)
    (size,) = struct.unpack_from("<I", data)
    assert size % 4 == 0 and json.loads(data[4 : 4 + size])["n"] == n  # μ starts 4-aligned
    picture = np.asarray(Image.open(io.BytesIO(atlas.sprite)))
    expected, _ = sprite((images * 255 + 0.5).astype(np.uint8))
    np.testing.assert_array_equal(picture, expected)  # lossless: the page's tiles are the server's pixels


def test_the_nearest_rows_of_the_unpacked_mu_are_the_servers():
    images, mu, labels = images_and_codes(n=200, d=4)
    atlas = unpack_atlas(pack_atlas(images, mu, labels, list("abcdefghij"), key="k"))
    z = np.array([0.3, -0.2, 0.1, 0.0], dtype=np.float32)
    dist = ((atlas.mu - z) ** 2).sum(axis=1)
    assert list(np.argsort(dist, kind="stable")[:8]) == list(latent.nearest(mu, z, k=8))


def test_mismatched_codes_are_refused():
    images, mu, labels = images_and_codes(n=5)
    with pytest.raises(ValueError, match="5 images need"):
        pack_atlas(images, mu[:4], labels, ["x"], key="k")
