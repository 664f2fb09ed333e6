"""The ELBO and its parts, in nats per image with every constant included.

    log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z)) = ELBO

The loss we minimise is recon + beta * KL, where recon = -E_q[log p(x|z)] is estimated with
one reparameterized sample (L = 1) and KL is in closed form (Kingma & Welling 2013, appendix B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class LossTerms:
    """Batch means, each in nats per image."""

    total: Tensor  # recon + beta * kl: what the optimiser minimises
    recon: Tensor  # -E_q[log p(x|z)], one-sample estimate
    kl: Tensor  # KL(q(z|x) || N(0, I)), closed form

    @property
    def neg_elbo(self) -> Tensor:
        """-ELBO = recon + KL (beta plays no part in the bound)."""
        return self.recon + self.kl


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) per dimension, (B, D).

    The general Gaussian KL with S1 = I, m1 = 0, one dimension at a time:
    1/2 (sigma^2 + mu^2 - 1 - log sigma^2).
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)


def kl_gaussians(m0: Tensor, s0: Tensor, m1: Tensor, s1: Tensor) -> Tensor:
    """KL(N(m0, S0) || N(m1, S1)) for full covariances (..., k, k); the lecture's formula

    1/2 (tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - k + log det S1 / det S0).
    """
    k = m0.shape[-1]
    s1_inv = torch.linalg.inv(s1)
    diff = (m1 - m0).unsqueeze(-1)
    trace = torch.diagonal(s1_inv @ s0, dim1=-2, dim2=-1).sum(-1)
    mahalanobis = (diff.transpose(-2, -1) @ s1_inv @ diff).squeeze(-1).squeeze(-1)
    log_det = torch.logdet(s1) - torch.logdet(s0)
    return 0.5 * (trace + mahalanobis - k + log_det)


def log_likelihood(logits: Tensor, x: Tensor, *, likelihood: str, gaussian_sigma: float = 0.1) -> Tensor:
    """log p(x|z) summed over pixels, (B,).

    bernoulli: sum_i x_i log p_i + (1 - x_i) log(1 - p_i) with p = sigmoid(logits), i.e. minus
    the binary cross-entropy; x may be binary or a grey level in [0, 1].
    gaussian: log N(x; sigmoid(logits), sigma^2 I) = -|x - mean|^2 / (2 sigma^2) - n/2 log(2 pi sigma^2).
    """
    dims = tuple(range(1, x.dim()))
    if likelihood == "bernoulli":
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dims)
    mean = torch.sigmoid(logits)
    n_pixels = x[0].numel()
    squared_error = (x - mean).pow(2).sum(dims)
    return -0.5 * squared_error / gaussian_sigma**2 - 0.5 * n_pixels * (LOG_2PI + 2 * math.log(gaussian_sigma))


def log_normal_diag(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag e^logvar) summed over the last dimension. Standardises by e^(-logvar/2)
    instead of dividing by e^logvar, which underflows to 0 (and gives 0/0) for the log σ² of -100
    and below that an autoencoder-like encoder (β = 0) reaches."""
    return log_normal_eps((z - mu) * torch.exp(-0.5 * logvar), logvar)


def log_normal_eps(eps: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag e^logvar) for z = mu + e^(logvar/2) * eps, from eps itself: exact for a
    reparameterised sample however small sigma is. Summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + eps.pow(2)).sum(-1)


def log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def vae_loss(
    logits: Tensor,
    x: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    likelihood: str,
    gaussian_sigma: float = 0.1,
    beta: float = 1.0,
) -> LossTerms:
    """Batch-mean recon, KL and the beta-weighted objective, in nats per image."""
    recon = -log_likelihood(logits, x, likelihood=likelihood, gaussian_sigma=gaussian_sigma).mean()
    kl = kl_standard_normal(mu, logvar).sum(-1).mean()
    return LossTerms(total=recon + beta * kl, recon=recon, kl=kl)
