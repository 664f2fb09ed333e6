"""Test-set metrics: -ELBO with its parts, the importance-weighted log p(x) estimate
(Burda et al. 2015), active units, KL per dimension and k-NN accuracy on mu.

Every function runs under inference mode in batches, so memory stays bounded whatever k is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from explorer.losses import kl_standard_normal, log_likelihood, log_normal_eps, log_standard_normal
from explorer.models import VAE

EVAL_BINARIZE_SEED = 1234  # the binarized test set is the same for every run
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al.: Var_x(E_q[z_d]) above this counts as active
MAX_IW_SAMPLES = 100_000


def evaluation_targets(x: Tensor, binarize: str) -> Tensor:
    """The test images a model is scored on: grey levels, or one fixed binarization of them."""
    if binarize != "dynamic":
        return x
    generator = torch.Generator(device=x.device).manual_seed(EVAL_BINARIZE_SEED)
    return torch.bernoulli(x, generator=generator)


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@torch.inference_mode()
def encode_all(model: VAE, x: Tensor, *, batch_size: int = 2000) -> tuple[Tensor, Tensor]:
    """mu and logvar of q(z|x) for every image, (N, D) each, on x's device."""
    mus, logvars = [], []
    for part in _batches(len(x), batch_size):
        mu, logvar = model.encode(x[part])
        mus.append(mu.float())
        logvars.append(logvar.float())
    return torch.cat(mus), torch.cat(logvars)


@torch.inference_mode()
def elbo_terms(
    model: VAE, x: Tensor, *, generator: torch.Generator | None = None, batch_size: int = 1000
) -> tuple[Tensor, Tensor]:
    """Per-image recon = -log p(x|z) at one sample z ~ q(z|x), and closed-form KL, (N,) each."""
    cfg = model.config
    recons, kls = [], []
    for part in _batches(len(x), batch_size):
        out = model(x[part], generator=generator)
        ll = log_likelihood(out.logits.float(), x[part], likelihood=cfg.likelihood, gaussian_sigma=cfg.gaussian_sigma)
        recons.append(-ll)
        kls.append(kl_standard_normal(out.mu.float(), out.logvar.float()).sum(-1))
    return torch.cat(recons), torch.cat(kls)


@torch.inference_mode()
def iw_log_likelihood(
    model: VAE,
    x: Tensor,
    *,
    k: int,
    generator: torch.Generator | None = None,
    rows_per_pass: int = 8192,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """log p(x) ~= log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): a lower bound that
    equals the ELBO's expectation at k = 1 and tightens as k grows. Returns (N,).

    Images go through in blocks of b, samples in chunks of c, so each decoder pass sees
    c * b <= rows_per_pass latent codes and memory does not grow with k.
    """
    if not 1 <= k <= MAX_IW_SAMPLES:
        raise ValueError(f"k must be 1..{MAX_IW_SAMPLES}, got {k}")
    cfg = model.config
    n = len(x)
    block = max(1, min(n, rows_per_pass // min(k, rows_per_pass)))
    chunk = max(1, rows_per_pass // block)
    out = torch.empty(n, device=x.device)
    for part in _batches(n, block):
        xb = x[part]  # (b, C, H, W)
        mu, logvar = model.encode(xb)
        mu, logvar = mu.float(), logvar.float()
        b = len(xb)
        log_w = []
        for start in range(0, k, chunk):
            c = min(chunk, k - start)
            eps = torch.randn((c, b, mu.shape[-1]), generator=generator, device=x.device)
            z = mu + torch.exp(0.5 * logvar) * eps  # (c, b, D)
            logits = model.decode_logits(z.reshape(c * b, -1)).float()
            targets = xb.unsqueeze(0).expand(c, *xb.shape).reshape(c * b, *xb.shape[1:])
            log_px_z = log_likelihood(
                logits, targets, likelihood=cfg.likelihood, gaussian_sigma=cfg.gaussian_sigma
            ).view(c, b)
            log_w.append(log_px_z + log_standard_normal(z) - log_normal_eps(eps, logvar))
        out[part] = torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)
        if progress is not None:
            progress(part.stop, n)
    return out


def active_units(mu: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of latent dimensions whose posterior mean varies across the data: Var(mu_d) > threshold."""
    return int((mu.float().var(dim=0) > threshold).sum())


def kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """Mean KL(q || p) carried by each latent dimension, (D,); sums to the total KL."""
    return kl_standard_normal(mu.float(), logvar.float()).mean(0)


def knn_accuracy(
    train_mu: np.ndarray, train_y: np.ndarray, test_mu: np.ndarray, test_y: np.ndarray, *, k: int = 5
) -> float:
    """Accuracy of a k-nearest-neighbour classifier on the posterior means."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k).fit(train_mu, train_y)
    return float(clf.score(test_mu, test_y))


@dataclass(frozen=True)
class Metrics:
    """Test-set numbers, nats per image."""

    neg_elbo: float
    recon: float
    kl: float
    nll_iw: float | None  # -log p(x) from the IW bound; None when iw_samples = 0
    iw_samples: int
    active_units: int
    kl_per_dim: list[float]
    knn_accuracy: float | None
    n_test: int
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(
    model: VAE,
    train_x: Tensor | None,
    train_y: Tensor | None,
    test_x: Tensor,
    test_y: Tensor,
    *,
    binarize: str = "none",
    iw_samples: int = 0,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Metrics:
    """All metrics on one test set; k-NN is skipped when no training images are given."""
    model.eval()
    device = test_x.device
    targets = evaluation_targets(test_x, binarize)
    generator = torch.Generator(device=device).manual_seed(seed)
    recon, kl = elbo_terms(model, targets, generator=generator)
    mu, logvar = encode_all(model, targets)
    nll_iw = None
    if iw_samples > 0:
        iw_generator = torch.Generator(device=device).manual_seed(seed + 1)
        nll_iw = -float(
            iw_log_likelihood(model, targets, k=iw_samples, generator=iw_generator, progress=progress).mean()
        )
    knn = None
    if train_x is not None and train_y is not None:
        train_mu, _ = encode_all(model, evaluation_targets(train_x, binarize))
        knn = knn_accuracy(train_mu.cpu().numpy(), train_y.cpu().numpy(), mu.cpu().numpy(), test_y.cpu().numpy())
    return Metrics(
        neg_elbo=float((recon + kl).mean()),
        recon=float(recon.mean()),
        kl=float(kl.mean()),
        nll_iw=nll_iw,
        iw_samples=iw_samples,
        active_units=active_units(mu),
        kl_per_dim=[float(v) for v in kl_per_dimension(mu, logvar)],
        knn_accuracy=knn,
        n_test=len(test_x),
        seed=seed,
    )


@torch.inference_mode()
def log_joint_grid(model: VAE, x: Tensor, zs: Tensor, *, batch_size: int = 8192) -> Tensor:
    """log p(x, z) = log p(x|z) + log p(z) for one image x (C, H, W) at each row of zs (G, D), (G,)."""
    cfg = model.config
    out = []
    for part in _batches(len(zs), batch_size):
        z = zs[part]
        logits = model.decode_logits(z).float()
        target = x.unsqueeze(0).expand(len(z), *x.shape)
        ll = log_likelihood(logits, target, likelihood=cfg.likelihood, gaussian_sigma=cfg.gaussian_sigma)
        out.append(ll + log_standard_normal(z))
    return torch.cat(out)


@dataclass(frozen=True)
class PosteriorGrid:
    """The true posterior of a 2-D model on a square grid, by brute force."""

    axis: Tensor  # (G,) grid coordinates, the same for both latent axes
    log_joint: Tensor  # (G, G) log p(x, z) with [i, j] at z = (axis[j], axis[i])
    log_px: float  # log p(x) = log of the integral of p(x, z) over the grid

    @property
    def log_posterior(self) -> Tensor:
        """log p(z|x) on the grid (a density: integrates to 1 with the cell area)."""
        return self.log_joint - self.log_px


def posterior_grid(model: VAE, x: Tensor, *, limit: float = 6.0, n: int = 301) -> PosteriorGrid:
    """For a 2-D latent: log p(x) by quadrature, the number the ELBO and IW bounds estimate."""
    if model.config.latent_dim != 2:
        raise ValueError("quadrature over z is only done for a 2-D latent")
    device = next(model.parameters()).device
    axis = torch.linspace(-limit, limit, n, device=device)
    zy, zx = torch.meshgrid(axis, axis, indexing="ij")
    zs = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)
    log_joint = log_joint_grid(model, x.to(device), zs).view(n, n)
    cell = float(axis[1] - axis[0]) ** 2
    log_px = float(torch.logsumexp(log_joint.reshape(-1), 0)) + math.log(cell)
    return PosteriorGrid(axis=axis, log_joint=log_joint, log_px=log_px)
