"""Latent-space helpers the pages share: embed, decode, grids, interpolation, neighbours,
2-D projections. Pure and deterministic: they run under inference mode, embed with mu (never a
random sample), take numpy or tensors and return numpy arrays for the plot builders.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor

from explorer.metrics import encode_all
from explorer.models import VAE

MAX_GRID = 40  # manifold side limit: 40 x 40 decodes
MAX_DECODE_BATCH = 4096


def _device(model: VAE) -> torch.device:
    return next(model.parameters()).device


def _as_tensor(z: np.ndarray | Tensor, model: VAE) -> Tensor:
    z = torch.as_tensor(np.asarray(z, dtype=np.float32) if not isinstance(z, Tensor) else z)
    return z.to(_device(model), torch.float32)


@torch.inference_mode()
def decode(model: VAE, z: np.ndarray | Tensor) -> np.ndarray:
    """Pixel means for each row of z: (N, D) -> (N, C, H, W) float32 in [0, 1]."""
    z = _as_tensor(z, model)
    if z.dim() == 1:
        z = z.unsqueeze(0)
    parts = [model.decode(z[i : i + MAX_DECODE_BATCH]) for i in range(0, len(z), MAX_DECODE_BATCH)]
    return torch.cat(parts).float().cpu().numpy()


@torch.inference_mode()
def embed(model: VAE, x: np.ndarray | Tensor) -> np.ndarray:
    """Posterior means mu(x), (N, D)."""
    x = torch.as_tensor(x).to(_device(model), torch.float32)
    mu, _ = encode_all(model, x)
    return mu.cpu().numpy()


@torch.inference_mode()
def reconstruct(model: VAE, x: np.ndarray | Tensor) -> np.ndarray:
    """decode(mu(x)): the deterministic reconstruction, same shape as x."""
    return decode(model, embed(model, x))


def grid_coordinates(n: int, *, limit: float = 3.0, spacing: str = "linear") -> np.ndarray:
    """n values along one latent axis, increasing.

    linear: evenly from -limit to +limit. gaussian: the inverse CDF of N(0, 1) at evenly spaced
    probabilities (Kingma & Welling's figure 4), so each cell holds equal prior mass; the ends
    sit at +-limit.
    """
    if not 2 <= n <= MAX_GRID:
        raise ValueError(f"grid size must be 2..{MAX_GRID}, got {n}")
    if spacing == "linear":
        return np.linspace(-limit, limit, n, dtype=np.float64)
    if spacing == "gaussian":
        p_end = NormalDist().cdf(limit)
        probs = np.linspace(1 - p_end, p_end, n)
        return np.array([NormalDist().inv_cdf(float(p)) for p in probs])
    raise ValueError(f"spacing must be 'linear' or 'gaussian', got {spacing!r}")


def grid_latents(xs: np.ndarray, ys: np.ndarray, *, base_z: np.ndarray, dims: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Latent codes for a grid: rows top to bottom with y decreasing, columns with x increasing.

    Coordinates other than `dims` are taken from base_z. Returns (len(ys) * len(xs), D).
    """
    base = np.asarray(base_z, dtype=np.float32)
    z = np.repeat(base[None, :], len(xs) * len(ys), axis=0)
    yy, xx = np.meshgrid(ys[::-1], xs, indexing="ij")
    z[:, dims[0]] = xx.ravel()
    z[:, dims[1]] = yy.ravel()
    return z


def manifold(
    model: VAE,
    *,
    n: int = 15,
    limit: float = 3.0,
    spacing: str = "linear",
    dims: tuple[int, int] = (0, 1),
    base_z: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode an n x n grid over two latent coordinates.

    Returns (tiles, xs, ys): tiles is (n, n, C, H, W) with row 0 at the largest y, so it draws
    the right way up; xs and ys are the grid's coordinates, increasing.
    """
    d = model.config.latent_dim
    base = np.zeros(d, dtype=np.float32) if base_z is None else np.asarray(base_z, dtype=np.float32)
    if d == 1:
        raise ValueError("a manifold needs at least two latent dimensions")
    xs = grid_coordinates(n, limit=limit, spacing=spacing)
    ys = xs.copy()
    images = decode(model, grid_latents(xs, ys, base_z=base, dims=dims))
    return images.reshape(n, n, *images.shape[1:]), xs, ys


def tile(images: np.ndarray, *, pad: int = 0) -> np.ndarray:
    """(rows, cols, C, H, W) or (rows, cols, H, W) -> one (rows*H, cols*W) grey image (channel mean)."""
    if images.ndim == 5:
        images = images.mean(axis=2)
    rows, cols, h, w = images.shape
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[r, c]
    return out


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int, *, method: str = "linear") -> np.ndarray:
    """Points from z0 to z1 inclusive, (steps, D).

    spherical (slerp) keeps the norm profile of Gaussian samples: a straight line between two
    typical codes passes through the low-norm middle, where the prior puts little mass in high D.
    """
    z0, z1 = np.asarray(z0, dtype=np.float64), np.asarray(z1, dtype=np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        return (1 - t) * z0 + t * z1
    if method != "spherical":
        raise ValueError(f"method must be 'linear' or 'spherical', got {method!r}")
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 < 1e-8 or n1 < 1e-8:
        return (1 - t) * z0 + t * z1
    cos = np.clip(np.dot(z0, z1) / (n0 * n1), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * z0 + t * z1
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


def nearest(points: np.ndarray, z: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the k rows of `points` closest to z (Euclidean), nearest first."""
    points = np.asarray(points, dtype=np.float32)
    z = np.asarray(z, dtype=np.float32).reshape(1, -1)
    dist = ((points - z) ** 2).sum(axis=1)
    k = min(k, len(points))
    idx = np.argpartition(dist, k - 1)[:k]
    return idx[np.argsort(dist[idx])]


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project onto the two principal axes: returns (coords (N, 2), mean (D,), axes (2, D))."""
    points = np.asarray(points, dtype=np.float64)
    mean = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:  # one-dimensional latent: pad with a zero axis
        axes = np.vstack([axes, np.zeros_like(axes)])
    return (points - mean) @ axes.T, mean, axes


MAX_TSNE_POINTS = 3000


def tsne_2d(points: np.ndarray, *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """t-SNE of at most MAX_TSNE_POINTS rows (callers pass a subset), (N, 2)."""
    from sklearn.manifold import TSNE

    points = np.asarray(points, dtype=np.float32)
    if len(points) > MAX_TSNE_POINTS:
        raise ValueError(f"t-SNE is limited to {MAX_TSNE_POINTS} points here; pass a subset")
    perplexity = min(perplexity, max(2.0, (len(points) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def prior_samples(model: VAE, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n draws z ~ N(0, I) and their decodes: (z (n, D), images (n, C, H, W))."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn((n, model.config.latent_dim), generator=generator).numpy()
    return z, decode(model, z)
