"""Every term of the ELBO for one image, with explicit seeds (the ELBO lab, A9 / J3).

For one test image x and the encoder's q(z|x) = N(mu, diag sigma^2):

    ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z))            <= log p(x)
    log p(x) - ELBO = KL(q(z|x) || p(z|x))                  (the gap)

`analyse_image` draws L reparameterized samples z_l = mu + sigma * eps_l with eps from
torch.Generator().manual_seed(seed), estimates the reconstruction term and the KL by Monte Carlo,
computes the KL in closed form and log p(x) by importance sampling with k samples (generator seed + 1,
as `metrics.evaluate` does). For a 2-D latent, `exact_posterior` computes log p(x), the exact ELBO
and the true posterior p(z|x) by quadrature on a grid. The app's page and
`python -m explorer evaluate --index I` both call these, so their numbers agree for the same seed.

`aggregate_posterior` is the mixture of all test-set posteriors, (1/N) sum_n q(z|x_n), on a grid:
where the prior p(z) has mass but the mixture has little ("holes"), decodes are poor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from explorer import metrics
from explorer.checkpoints import MAX_ENCODED_ROWS
from explorer.losses import (
    LOG_2PI,
    kl_standard_normal,
    log_likelihood,
    log_normal_diag,
    log_standard_normal,
)
from explorer.metrics import encode_all, evaluation_targets, iw_log_likelihood, log_joint_grid, posterior_grid
from explorer.models import VAE

MAX_SAMPLES = 5000  # L, reparameterized samples for the Monte Carlo estimates
MAX_IW_SAMPLES = 5000  # k, importance samples for log p(x) on the page (the CLI allows up to metrics.MAX_IW_SAMPLES)
MAX_DECODES = 32  # decodes of the samples kept for display
QUAD_N = 151  # grid side of the quadrature window (151 x 151 decodes; 101 already agrees to 1e-3 nats)
COARSE_N = 101  # grid side for finding where the posterior lives
COARSE_LIMIT = 6.0  # the coarse grid covers [-6, 6]^2 (and more if mu lies further out)
MASS_1SD = 1 - math.exp(-0.5)  # mass inside the 1-sigma ellipse of a 2-D Gaussian, 39.3 %
MASS_2SD = 1 - math.exp(-2.0)  # inside 2 sigma, 86.5 %


def image_targets(images: np.ndarray | Tensor, binarize: str) -> Tensor:
    """The test images as the model is scored on them (the encoded set's rows, in its order).

    For a model trained with dynamic binarization this is the one fixed binarization that
    `metrics.evaluate` and the checkpoint's encoded set use, so row i here is row i there.
    """
    x = torch.as_tensor(images, dtype=torch.float32)[:MAX_ENCODED_ROWS]
    return evaluation_targets(x, binarize)


def image_target(images: np.ndarray | Tensor, index: int, binarize: str) -> Tensor:
    """Row `index` of `image_targets`, (C, H, W); only a binarized set needs the whole array."""
    if binarize == "none":
        return torch.as_tensor(images[index], dtype=torch.float32)
    return image_targets(images, binarize)[index]


def encoded_arrays(encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A checkpoint's encoded test set as numpy: mu (N, D), logvar (N, D), labels (N,)."""
    return (
        encoded.mu.float().cpu().numpy(),
        encoded.logvar.float().cpu().numpy(),
        encoded.labels.cpu().numpy(),
    )


def default_dims(mu: np.ndarray) -> tuple[int, int]:
    """The two latent coordinates whose posterior means vary most over the test set."""
    if mu.shape[1] < 2:
        return (0, 0)
    order = np.argsort(-mu.var(axis=0), kind="stable")
    return tuple(sorted(int(d) for d in order[:2]))


def _device(model: VAE) -> torch.device:
    return next(model.parameters()).device


def _stderr(values: np.ndarray) -> float | None:
    """Standard error of a Monte Carlo mean; None with a single sample."""
    if len(values) < 2:
        return None
    return float(values.std(ddof=1) / math.sqrt(len(values)))


@dataclass(frozen=True)
class KLParts:
    """The closed form 1/2 (tr(S1^-1 S0) + (m1-m0)^T S1^-1 (m1-m0) - k + log det S1/det S0)
    with S0 = diag sigma^2, m0 = mu, S1 = I, m1 = 0, term by term."""

    trace: float  # sum_i sigma_i^2
    mahalanobis: float  # sum_i mu_i^2
    k: int  # latent size
    log_det_ratio: float  # log det I - log det diag sigma^2 = -sum_i log sigma_i^2

    @property
    def total(self) -> float:
        return 0.5 * (self.trace + self.mahalanobis - self.k + self.log_det_ratio)


@dataclass(frozen=True)
class ImageELBO:
    """The terms of one image's bound. x-dependent fields are None when only q(z|x) is known
    (the data set is not on disk, so mu and logvar come from the checkpoint's encoded set)."""

    index: int
    seed: int
    samples: int  # L
    iw_samples: int  # k (0: not computed)
    likelihood: str
    gaussian_sigma: float
    mu: np.ndarray  # (D,)
    logvar: np.ndarray  # (D,)
    eps: np.ndarray  # (L, D) standard normal draws
    z: np.ndarray  # (L, D) = mu + sigma * eps
    log_q: np.ndarray  # (L,) log q(z_l|x)
    log_prior: np.ndarray  # (L,) log p(z_l)
    kl_per_dim: np.ndarray  # (D,) closed-form KL of each coordinate
    kl_parts: KLParts
    decoded: np.ndarray  # (min(L, MAX_DECODES), C, H, W) pixel means at the first samples
    x: np.ndarray | None = None  # (C, H, W) the target the model is scored on
    recon_at_mu: np.ndarray | None = None  # (C, H, W) decode(mu)
    log_px_z: np.ndarray | None = None  # (L,) log p(x|z_l)
    squared_error: np.ndarray | None = None  # (L,) |x - mean(z_l)|^2 (the Gaussian likelihood's part)
    log_px_iw: float | None = None  # importance-weighted estimate of log p(x)

    @property
    def sigma(self) -> np.ndarray:
        return np.exp(0.5 * self.logvar)

    @property
    def has_image(self) -> bool:
        return self.log_px_z is not None

    @property
    def kl(self) -> float:
        """KL(q(z|x) || p(z)) in closed form."""
        return float(self.kl_per_dim.sum())

    @property
    def kl_mc(self) -> float:
        """Monte Carlo KL: mean over samples of log q(z|x) - log p(z)."""
        return float((self.log_q - self.log_prior).mean())

    @property
    def kl_mc_stderr(self) -> float | None:
        return _stderr(self.log_q - self.log_prior)

    @property
    def recon(self) -> float | None:
        """-E_q[log p(x|z)] estimated with the L samples (nats, positive)."""
        return None if self.log_px_z is None else float(-self.log_px_z.mean())

    @property
    def recon_stderr(self) -> float | None:
        return None if self.log_px_z is None else _stderr(self.log_px_z)

    @property
    def neg_elbo(self) -> float | None:
        """-ELBO = recon (MC, L samples) + KL (closed form), as the trainer and `evaluate` compute it."""
        return None if self.recon is None else self.recon + self.kl

    @property
    def elbo(self) -> float | None:
        return None if self.neg_elbo is None else -self.neg_elbo

    @property
    def gap_iw(self) -> float | None:
        """log p(x) (IW estimate) - ELBO: an estimate of KL(q(z|x) || p(z|x))."""
        if self.log_px_iw is None or self.elbo is None:
            return None
        return self.log_px_iw - self.elbo

    @property
    def gaussian_constant(self) -> float:
        """n/2 log(2 pi sigma^2): the part of -log p(x|z) a Gaussian decoder adds whatever z is."""
        n_pixels = int(np.prod(self.decoded.shape[1:]))
        return 0.5 * n_pixels * (LOG_2PI + 2 * math.log(self.gaussian_sigma))

    @property
    def bernoulli_floor(self) -> float | None:
        """The smallest cross-entropy any decoder could reach on x: sum_i H(x_i) (0 for binary x)."""
        if self.x is None:
            return None
        p = np.clip(self.x.astype(np.float64), 1e-12, 1 - 1e-12)
        return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)).sum())

    def to_dict(self) -> dict:
        """The numbers (no arrays but mu and sigma), for JSON and for the page."""
        return {
            "index": self.index,
            "seed": self.seed,
            "samples": self.samples,
            "iw_samples": self.iw_samples,
            "likelihood": self.likelihood,
            "mu": [float(v) for v in self.mu],
            "sigma": [float(v) for v in self.sigma],
            "kl": self.kl,
            "kl_mc": self.kl_mc,
            "kl_mc_stderr": self.kl_mc_stderr,
            "recon": self.recon,
            "recon_stderr": self.recon_stderr,
            "neg_elbo": self.neg_elbo,
            "elbo": self.elbo,
            "log_px_iw": self.log_px_iw,
            "gap_iw": self.gap_iw,
        }


def _kl_parts(mu: Tensor, logvar: Tensor) -> KLParts:
    return KLParts(
        trace=float(logvar.exp().sum()),
        mahalanobis=float(mu.pow(2).sum()),
        k=int(mu.numel()),
        log_det_ratio=float(-logvar.sum()),
    )


@torch.inference_mode()
def _posterior_samples(model: VAE, mu: Tensor, logvar: Tensor, *, seed: int, samples: int) -> dict:
    """eps, z = mu + sigma * eps and the densities at z, from q alone (no image needed)."""
    if not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"the number of samples L must be 1..{MAX_SAMPLES}, got {samples}")
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    eps = torch.randn((samples, mu.shape[-1]), generator=generator, device=mu.device)  # (L, D)
    z = mu + torch.exp(0.5 * logvar) * eps  # the reparameterization, as VAE.reparameterize
    return {
        "eps": eps,
        "z": z,
        "log_q": log_normal_diag(z, mu, logvar),
        "log_prior": log_standard_normal(z),
        "kl_per_dim": kl_standard_normal(mu, logvar),
        "decoded": model.decode(z[:MAX_DECODES]).float(),
    }


def _np(t: Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


@torch.inference_mode()
def analyse_code(
    model: VAE,
    mu: np.ndarray | Tensor,
    logvar: np.ndarray | Tensor,
    *,
    index: int = -1,
    seed: int = 0,
    samples: int = 10,
) -> ImageELBO:
    """What can be computed from q(z|x) alone: the samples, their decodes and both KLs."""
    device = _device(model)
    mu = torch.as_tensor(mu, dtype=torch.float32, device=device).reshape(-1)
    logvar = torch.as_tensor(logvar, dtype=torch.float32, device=device).reshape(-1)
    s = _posterior_samples(model, mu, logvar, seed=seed, samples=samples)
    cfg = model.config
    return ImageELBO(
        index=index,
        seed=seed,
        samples=samples,
        iw_samples=0,
        likelihood=cfg.likelihood,
        gaussian_sigma=cfg.gaussian_sigma,
        mu=_np(mu),
        logvar=_np(logvar),
        eps=_np(s["eps"]),
        z=_np(s["z"]),
        log_q=_np(s["log_q"]),
        log_prior=_np(s["log_prior"]),
        kl_per_dim=_np(s["kl_per_dim"]),
        kl_parts=_kl_parts(mu, logvar),
        decoded=_np(s["decoded"]),
    )


@torch.inference_mode()
def analyse_image(
    model: VAE, x: np.ndarray | Tensor, *, index: int = -1, seed: int = 0, samples: int = 10, iw_samples: int = 1000
) -> ImageELBO:
    """Every term of the ELBO of one image x (C, H, W), as the model is scored on it.

    Sample l uses eps_l from torch.Generator().manual_seed(seed); the first sample is the one
    `metrics.elbo_terms` draws for this image alone with that seed. The IW estimate uses
    seed + 1, as `metrics.evaluate` does. iw_samples = 0 skips it.
    """
    if not 0 <= iw_samples <= metrics.MAX_IW_SAMPLES:
        raise ValueError(f"the number of importance samples k must be 0..{metrics.MAX_IW_SAMPLES}, got {iw_samples}")
    device = _device(model)
    cfg = model.config
    x = torch.as_tensor(x, dtype=torch.float32).to(device)
    if tuple(x.shape) != tuple(cfg.image_shape):
        raise ValueError(f"the image must have shape {tuple(cfg.image_shape)}, got {tuple(x.shape)}")
    mu, logvar = encode_all(model, x[None])
    mu, logvar = mu[0], logvar[0]
    s = _posterior_samples(model, mu, logvar, seed=seed, samples=samples)
    z = s["z"]
    logits = torch.cat([model.decode_logits(z[i : i + 4096]).float() for i in range(0, len(z), 4096)])
    targets = x.unsqueeze(0).expand(len(z), *x.shape)
    log_px_z = log_likelihood(logits, targets, likelihood=cfg.likelihood, gaussian_sigma=cfg.gaussian_sigma)
    squared_error = (targets - torch.sigmoid(logits)).pow(2).sum(dim=(1, 2, 3))
    log_px_iw = None
    if iw_samples > 0:
        generator = torch.Generator(device=device).manual_seed(seed + 1)
        log_px_iw = float(iw_log_likelihood(model, x[None], k=iw_samples, generator=generator)[0])
    return ImageELBO(
        index=index,
        seed=seed,
        samples=samples,
        iw_samples=iw_samples,
        likelihood=cfg.likelihood,
        gaussian_sigma=cfg.gaussian_sigma,
        mu=_np(mu),
        logvar=_np(logvar),
        eps=_np(s["eps"]),
        z=_np(z),
        log_q=_np(s["log_q"]),
        log_prior=_np(s["log_prior"]),
        kl_per_dim=_np(s["kl_per_dim"]),
        kl_parts=_kl_parts(mu, logvar),
        decoded=_np(s["decoded"]),
        x=_np(x),
        recon_at_mu=_np(model.decode(mu[None])[0]),
        log_px_z=_np(log_px_z),
        squared_error=_np(squared_error),
        log_px_iw=log_px_iw,
    )


# ---------------------------------------------------------------- the exact posterior (2-D)


@dataclass(frozen=True)
class ExactPosterior:
    """p(z|x) of a 2-D model on a grid window that holds q(z|x) and the posterior's mass."""

    xs: np.ndarray  # (G,) z_1 coordinates of the window
    ys: np.ndarray  # (G,) z_2 coordinates
    log_posterior: np.ndarray  # (G, G) log p(z|x), [i, j] at z = (xs[j], ys[i])
    levels: tuple[float, float]  # log p(z|x) on the boundary of the 39.3 % and 86.5 % regions
    log_px: float  # log p(x) by quadrature
    elbo: float  # E_q[log p(x, z) - log q(z|x)] by quadrature: the ELBO without sampling noise
    coarse_log_px: float  # log p(x) on the coarse [-6, 6]^2 grid, a check on the window

    @property
    def kl_to_posterior(self) -> float:
        """log p(x) - ELBO = KL(q(z|x) || p(z|x)) >= 0."""
        return self.log_px - self.elbo

    def to_dict(self) -> dict:
        return {"log_px_quad": self.log_px, "elbo_quad": self.elbo, "kl_posterior_quad": self.kl_to_posterior}


def _mass_levels(log_density: np.ndarray, masses: tuple[float, ...]) -> tuple[float, ...]:
    """Density thresholds whose super-level sets hold the given fractions of the mass."""
    flat = np.sort(log_density.ravel())[::-1]
    weights = np.exp(flat - flat[0])
    cumulative = np.cumsum(weights) / weights.sum()
    return tuple(float(flat[min(np.searchsorted(cumulative, m), len(flat) - 1)]) for m in masses)


@torch.inference_mode()
def exact_posterior(model: VAE, x: np.ndarray | Tensor, *, n: int = QUAD_N) -> ExactPosterior:
    """log p(x), the ELBO and p(z|x) of a 2-D model by quadrature.

    A coarse grid over [-6, 6]^2 (wider if mu lies further out) finds where p(x, z) lives; an
    n x n window around that region and q's 6-sigma box then resolves even a sharp posterior.
    """
    if model.config.latent_dim != 2:
        raise ValueError("the exact posterior is computed by quadrature only for a 2-D latent")
    device = _device(model)
    x = torch.as_tensor(x, dtype=torch.float32).to(device)
    mu, logvar = encode_all(model, x[None])
    mu, logvar = mu[0], logvar[0]
    sigma = torch.exp(0.5 * logvar)
    limit = max(COARSE_LIMIT, float((mu.abs() + 6 * sigma).max()))
    coarse = posterior_grid(model, x, limit=limit, n=COARSE_N)
    step = float(coarse.axis[1] - coarse.axis[0])
    rows, cols = torch.nonzero(coarse.log_joint > coarse.log_joint.max() - 25.0, as_tuple=True)
    lo = torch.stack([coarse.axis[cols].min(), coarse.axis[rows].min()]) - step
    hi = torch.stack([coarse.axis[cols].max(), coarse.axis[rows].max()]) + step
    lo = torch.minimum(lo, mu - 6 * sigma)
    hi = torch.maximum(hi, mu + 6 * sigma)
    xs = torch.linspace(float(lo[0]), float(hi[0]), n, device=device)
    ys = torch.linspace(float(lo[1]), float(hi[1]), n, device=device)
    zy, zx = torch.meshgrid(ys, xs, indexing="ij")
    zs = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)
    log_joint = log_joint_grid(model, x, zs).view(n, n).double()
    log_cell = math.log(float(xs[1] - xs[0]) * float(ys[1] - ys[0]))
    log_px = float(torch.logsumexp(log_joint.reshape(-1), 0)) + log_cell
    log_q = log_normal_diag(zs, mu, logvar).view(n, n).double()
    q_mass = torch.softmax(log_q.reshape(-1), 0).view(n, n)  # q's mass per cell, normalised on the grid
    elbo = float((q_mass * (log_joint - log_q)).sum())
    log_posterior = (log_joint - log_px).float().cpu().numpy()
    return ExactPosterior(
        xs=xs.cpu().numpy(),
        ys=ys.cpu().numpy(),
        log_posterior=log_posterior,
        levels=_mass_levels(log_posterior, (MASS_1SD, MASS_2SD)),
        log_px=log_px,
        elbo=elbo,
        coarse_log_px=coarse.log_px,
    )


def image_report(terms: ImageELBO, exact: ExactPosterior | None = None) -> dict:
    """One image's numbers as `python -m explorer evaluate --index I --json` prints them."""
    report = terms.to_dict()
    if exact is not None:
        report.update(exact.to_dict())
    return report


# ---------------------------------------------------------------- the aggregate posterior


@dataclass(frozen=True)
class AggregatePosterior:
    """(1/N) sum_n q(z|x_n) over two latent coordinates, averaged over each grid cell."""

    axis: np.ndarray  # (G,) the grid's coordinates, the same on both axes
    density: np.ndarray  # (G, G) mixture density, [i, j] at z = (axis[j], axis[i])
    prior: np.ndarray  # (G, G) N(0, I) density on the same cells
    dims: tuple[int, int]

    @property
    def log_ratio(self) -> np.ndarray:
        """log q_agg(z) / p(z): far below 0 inside the prior's bulk marks a hole."""
        return np.log(np.maximum(self.density, 1e-300)) - np.log(self.prior)


def _cell_means(axis: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """Average of N(t; mu_n, sigma_n^2) over each cell [a_g - h/2, a_g + h/2], (N, G).

    Cell averages rather than point values, so a posterior narrower than a cell is not missed.
    """
    h = float(axis[1] - axis[0])
    upper = torch.special.ndtr((axis[None, :] + h / 2 - mu[:, None]) / sigma[:, None])
    lower = torch.special.ndtr((axis[None, :] - h / 2 - mu[:, None]) / sigma[:, None])
    return (upper - lower) / h


def aggregate_posterior(
    mu: np.ndarray | Tensor,
    logvar: np.ndarray | Tensor,
    *,
    dims: tuple[int, int] = (0, 1),
    limit: float = 4.0,
    n: int = 161,
) -> AggregatePosterior:
    """The mixture of all posteriors on an n x n grid over [-limit, limit]^2 in coordinates `dims`.

    q is diagonal, so each component factorises and the whole grid is one matrix product:
    density = (1/N) A_y^T A_x with A[n, g] the cell mean of component n along one axis.
    For more than two latent dimensions this is the exact marginal over the two coordinates.
    """
    mu = torch.as_tensor(mu, dtype=torch.float64)
    sigma = torch.exp(0.5 * torch.as_tensor(logvar, dtype=torch.float64))
    axis = torch.linspace(-limit, limit, n, dtype=torch.float64)
    i, j = dims
    along_x = _cell_means(axis, mu[:, i], sigma[:, i])  # (N, G)
    along_y = _cell_means(axis, mu[:, j], sigma[:, j])
    density = along_y.T @ along_x / len(mu)  # (G, G): rows y, columns x
    prior_1d = _cell_means(axis, torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))[0]
    prior = prior_1d[:, None] * prior_1d[None, :]
    return AggregatePosterior(axis=axis.numpy(), density=density.numpy(), prior=prior.numpy(), dims=dims)


def find_holes(
    agg: AggregatePosterior, *, radius: float = 2.0, count: int = 6, min_separation: float = 0.6, max_ratio: float = 0.2
) -> np.ndarray:
    """Up to `count` points inside the prior's `radius`-sigma disc where q_agg / p is smallest
    (and below max_ratio), at least min_separation apart: the places where decodes are poor. (K, 2)."""
    gx, gy = np.meshgrid(agg.axis, agg.axis)
    inside = gx**2 + gy**2 <= radius**2
    log_ratio = np.where(inside, agg.log_ratio, np.inf)
    order = np.argsort(log_ratio, axis=None)
    chosen: list[tuple[float, float]] = []
    for flat in order:
        if not np.isfinite(log_ratio.flat[flat]) or log_ratio.flat[flat] > math.log(max_ratio):
            break
        point = (float(gx.flat[flat]), float(gy.flat[flat]))
        if all((point[0] - a) ** 2 + (point[1] - b) ** 2 >= min_separation**2 for a, b in chosen):
            chosen.append(point)
            if len(chosen) == count:
                break
    return np.array(chosen, dtype=np.float64).reshape(-1, 2)
