"""Latent helpers: grids, interpolation, neighbours, projections."""

from statistics import NormalDist

import numpy as np
import pytest

from explorer import checkpoints, latent


def test_grid_spacings():
    lin = latent.grid_coordinates(5, limit=2.0)
    assert np.allclose(lin, [-2, -1, 0, 1, 2])
    gauss = latent.grid_coordinates(7, limit=2.0, spacing="gaussian")
    assert gauss[0] == pytest.approx(-2.0) and gauss[-1] == pytest.approx(2.0)
    probs = [NormalDist().cdf(v) for v in gauss]
    assert np.allclose(np.diff(probs), np.diff(probs)[0])  # equal prior mass per step
    with pytest.raises(ValueError):
        latent.grid_coordinates(1000)


def test_manifold_orientation(tiny_checkpoint):
    model = checkpoints.load(tiny_checkpoint).model
    tiles, xs, ys = latent.manifold(model, n=4, limit=2.0)
    assert tiles.shape == (4, 4, 1, 8, 8)
    top_left = latent.decode(model, np.array([[xs[0], ys[-1]]]))[0]
    bottom_right = latent.decode(model, np.array([[xs[-1], ys[0]]]))[0]
    assert np.allclose(tiles[0, 0], top_left, atol=1e-6)
    assert np.allclose(tiles[-1, -1], bottom_right, atol=1e-6)
    assert latent.tile(tiles).shape == (32, 32)


def test_manifold_other_coordinates_come_from_base():
    z = latent.grid_latents(np.array([0.0, 1.0]), np.array([5.0, 6.0]), base_z=np.array([9.0, 9.0, 7.0]), dims=(0, 2))
    assert z.shape == (4, 3)
    assert np.all(z[:, 1] == 9.0)
    assert z[0].tolist() == [0.0, 9.0, 6.0]


def test_interpolation_end_points_and_slerp_norm():
    z0, z1 = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    lin = latent.interpolate(z0, z1, 5)
    sph = latent.interpolate(z0, z1, 5, method="spherical")
    for path in (lin, sph):
        assert np.allclose(path[0], z0) and np.allclose(path[-1], z1)
    assert np.allclose(np.linalg.norm(sph, axis=1), 3.0)
    assert np.linalg.norm(lin[2]) < 3.0


def test_nearest_and_pca():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [0.2, 0.1]])
    assert latent.nearest(points, np.array([0.0, 0.0]), k=2).tolist() == [0, 3]
    coords, mean, axes = latent.pca_2d(np.random.default_rng(0).normal(size=(50, 5)) * [5, 1, 1, 1, 1])
    assert coords.shape == (50, 2) and abs(axes[0][0]) > 0.9


def test_embed_uses_the_mean(tiny_checkpoint, digits):
    model = checkpoints.load(tiny_checkpoint).model
    a = latent.embed(model, digits.test_x[:5])
    b = latent.embed(model, digits.test_x[:5])
    assert np.array_equal(a, b)
    ckpt = checkpoints.load(tiny_checkpoint)
    assert np.allclose(a, ckpt.encoded.mu[:5].numpy(), atol=1e-6)
