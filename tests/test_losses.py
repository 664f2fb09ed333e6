"""The bound's parts against closed forms and Monte Carlo."""

import math

import pytest
import torch

from explorer.losses import (
    kl_gaussians,
    kl_standard_normal,
    log_likelihood,
    log_normal_diag,
    log_normal_eps,
    log_standard_normal,
    vae_loss,
)


def test_kl_closed_form_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    logvar = torch.tensor([[-1.0, 0.3, -2.0]])
    n = 400_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn((n, 3), generator=g)
    samples = log_normal_diag(z, mu, logvar) - log_standard_normal(z)
    mc, stderr = samples.mean(), samples.std() / math.sqrt(n)
    closed = kl_standard_normal(mu, logvar).sum()
    assert abs(float(mc - closed)) < 4 * float(stderr)
    assert float(closed) == pytest.approx(
        0.5 * sum(math.exp(lv) + m * m - 1 - lv for m, lv in zip(mu[0].tolist(), logvar[0].tolist())), rel=1e-6
    )


def test_kl_is_zero_only_at_the_prior():
    assert float(kl_standard_normal(torch.zeros(1, 4), torch.zeros(1, 4)).sum()) == 0.0
    assert float(kl_standard_normal(torch.full((1, 4), 0.1), torch.zeros(1, 4)).sum()) > 0


def test_full_covariance_kl_agrees_with_diagonal_case():
    mu = torch.tensor([0.3, -0.7])
    var = torch.tensor([0.5, 2.0])
    full = kl_gaussians(mu, torch.diag(var), torch.zeros(2), torch.eye(2))
    diag = kl_standard_normal(mu[None], var.log()[None]).sum()
    assert float(full) == pytest.approx(float(diag), rel=1e-5)


def test_full_covariance_kl_against_monte_carlo():
    g = torch.Generator().manual_seed(1)
    m0, m1 = torch.tensor([0.0, 1.0], dtype=torch.float64), torch.tensor([0.5, -0.5], dtype=torch.float64)
    s0 = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64)
    s1 = torch.tensor([[2.0, -0.3], [-0.3, 1.0]], dtype=torch.float64)
    p0 = torch.distributions.MultivariateNormal(m0, s0)
    p1 = torch.distributions.MultivariateNormal(m1, s1)
    torch.manual_seed(0)
    z = p0.sample((200_000,))
    mc = (p0.log_prob(z) - p1.log_prob(z)).mean()
    assert float(kl_gaussians(m0, s0, m1, s1)) == pytest.approx(float(mc), abs=0.02)
    assert float(kl_gaussians(m0, s0, m1, s1)) == pytest.approx(
        float(torch.distributions.kl_divergence(p0, p1)), rel=1e-9
    )
    del g


def test_bernoulli_log_likelihood_is_minus_cross_entropy():
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]]])
    x = torch.tensor([[[[1.0, 0.0], [0.5, 1.0]]]])
    p = torch.sigmoid(logits)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum()
    assert float(log_likelihood(logits, x, likelihood="bernoulli")) == pytest.approx(float(expected), rel=1e-6)


def test_gaussian_log_likelihood_includes_constants():
    logits = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    sigma = 0.2
    expected = torch.distributions.Normal(torch.sigmoid(logits), sigma).log_prob(x).sum((1, 2, 3))
    got = log_likelihood(logits, x, likelihood="gaussian", gaussian_sigma=sigma)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)


def test_neg_elbo_is_recon_plus_kl_and_beta_weights_only_the_objective():
    g = torch.Generator().manual_seed(4)
    logits, x = torch.randn(5, 1, 8, 8, generator=g), torch.rand(5, 1, 8, 8, generator=g)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    terms = vae_loss(logits, x, mu, logvar, likelihood="bernoulli", beta=0.25)
    assert float(terms.neg_elbo) == pytest.approx(float(terms.recon + terms.kl))
    assert float(terms.total) == pytest.approx(float(terms.recon + 0.25 * terms.kl))
    assert float(terms.recon) == pytest.approx(-float(log_likelihood(logits, x, likelihood="bernoulli").mean()))
    assert float(terms.kl) == pytest.approx(float(kl_standard_normal(mu, logvar).sum(-1).mean()))
    ae = vae_loss(logits, x, mu, logvar, likelihood="bernoulli", beta=0.0)
    assert float(ae.total) == pytest.approx(float(ae.recon))


def test_gaussian_log_density_against_torch_and_for_a_vanishing_sigma():
    mu, logvar = torch.tensor([[0.3, -1.0]]), torch.tensor([[-0.5, 0.8]])
    z = torch.tensor([[0.1, 0.4]])
    expected = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(log_normal_diag(z, mu, logvar), expected)
    eps = (z - mu) * torch.exp(-0.5 * logvar)
    torch.testing.assert_close(log_normal_eps(eps, logvar), expected)
    # An autoencoder-like encoder (beta = 0) reaches log sigma^2 of -140: e^logvar underflows to 0
    # in float32, yet the density at z = mu is finite: -(log 2 pi + logvar) / 2 per dimension.
    tiny = torch.full((1, 2), -140.0)
    at_mu = log_normal_diag(mu, mu, tiny)
    assert torch.isfinite(at_mu).all()
    assert float(at_mu) == pytest.approx(-(math.log(2 * math.pi) - 140.0), rel=1e-6)
    assert float(log_normal_eps(torch.zeros(1, 2), tiny)) == pytest.approx(float(at_mu), rel=1e-6)
