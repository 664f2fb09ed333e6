"""ELBO and the importance-weighted bound on a trained model."""

import pytest
import torch

from explorer import checkpoints
from explorer.losses import log_normal_diag
from explorer.metrics import (
    active_units,
    elbo_terms,
    evaluate,
    iw_log_likelihood,
    kl_per_dimension,
    posterior_grid,
)


def _quadrature(model, x):
    """log p(x), the ELBO and KL(q || p(z|x)) for one image, all by quadrature on a 2-D grid."""
    grid = posterior_grid(model, x)
    mu, logvar = model.encode(x[None])
    zy, zx = torch.meshgrid(grid.axis, grid.axis, indexing="ij")
    log_q = log_normal_diag(torch.stack([zx, zy], dim=-1), mu[0].detach(), logvar[0].detach())
    q_cell = log_q.exp() * float(grid.axis[1] - grid.axis[0]) ** 2  # q's mass in each cell
    elbo = float((q_cell * (grid.log_joint - log_q)).sum())
    kl_to_posterior = float((q_cell * (log_q - grid.log_posterior)).sum())
    return grid.log_px, elbo, kl_to_posterior


def test_bounds_against_log_px_by_quadrature(tiny_checkpoint, digits):
    """With a 2-D latent, log p(x) = log of the integral of p(x|z) p(z) dz can be computed on a grid.
    Then ELBO <= log p(x), log p(x) - ELBO = KL(q(z|x) || p(z|x)) >= 0, the library's ELBO estimate
    agrees with the grid's, and the IW bound reaches log p(x) as k grows."""
    model = checkpoints.load(tiny_checkpoint).model
    x = digits.test_x[:8]
    exact = [_quadrature(model, xi) for xi in x]
    log_px = torch.tensor([e[0] for e in exact])
    elbo_quad = torch.tensor([e[1] for e in exact])
    for lp, elbo, kl_post in exact:
        assert elbo < lp and kl_post > 0
        assert lp - elbo == pytest.approx(kl_post, abs=1e-3)

    g = torch.Generator().manual_seed(0)
    draws = -torch.stack([r + k for r, k in (elbo_terms(model, x, generator=g) for _ in range(400))])
    stderr = draws.std(0) / 20
    assert ((draws.mean(0) - elbo_quad).abs() < 4 * stderr + 0.01).all()

    iw = iw_log_likelihood(model, x, k=5000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(iw, log_px.float(), atol=0.03, rtol=0)


def test_iw_bound_is_above_elbo_and_tightens_with_k(tiny_checkpoint, digits):
    model = checkpoints.load(tiny_checkpoint).model
    x = digits.test_x  # all 360 images, so the averages are precise
    g = torch.Generator().manual_seed(0)
    elbo = -float(torch.stack([r + k for r, k in (elbo_terms(model, x, generator=g) for _ in range(100))]).mean())
    bounds = {
        k: float(iw_log_likelihood(model, x, k=k, generator=torch.Generator().manual_seed(1)).mean())
        for k in (1, 10, 1000)
    }
    assert bounds[1] == pytest.approx(elbo, abs=0.1)  # k = 1 is a one-sample ELBO
    assert elbo < bounds[10] < bounds[1000]


def test_iw_is_batched_without_changing_the_answer(tiny_checkpoint, digits):
    model = checkpoints.load(tiny_checkpoint).model
    x = digits.test_x[:20]
    a = iw_log_likelihood(model, x, k=64, generator=torch.Generator().manual_seed(3), rows_per_pass=64 * 20)
    b = iw_log_likelihood(model, x, k=64, generator=torch.Generator().manual_seed(3), rows_per_pass=64 * 20)
    c = iw_log_likelihood(model, x, k=64, generator=torch.Generator().manual_seed(3), rows_per_pass=16)
    assert torch.equal(a, b)
    assert torch.isfinite(c).all() and float((a - c).abs().mean()) < 1.0  # other draws, same quantity


def test_active_units_and_kl_per_dimension():
    mu = torch.stack([torch.linspace(-2, 2, 100), torch.full((100,), 0.3), torch.randn(100) * 0.01], dim=1)
    assert active_units(mu) == 1
    logvar = torch.zeros_like(mu)
    per_dim = kl_per_dimension(mu, logvar)
    assert per_dim.shape == (3,)
    assert float(per_dim.sum()) == pytest.approx(float((0.5 * mu.pow(2)).sum(1).mean()), rel=1e-5)


def test_evaluate_reports_consistent_numbers(tiny_checkpoint, digits):
    ckpt = checkpoints.load(tiny_checkpoint)
    m = evaluate(ckpt.model, digits.train_x, digits.train_y, digits.test_x, digits.test_y, iw_samples=50, seed=0)
    assert m.neg_elbo == pytest.approx(m.recon + m.kl, rel=1e-6)
    assert m.nll_iw < m.neg_elbo + 0.05
    assert 0.2 < m.knn_accuracy <= 1.0
    assert sum(m.kl_per_dim) == pytest.approx(m.kl, rel=1e-4)
    again = evaluate(ckpt.model, None, None, digits.test_x, digits.test_y, iw_samples=50, seed=0)
    assert again.neg_elbo == m.neg_elbo and again.nll_iw == m.nll_iw and again.knn_accuracy is None


def test_iw_bound_is_finite_for_a_near_deterministic_encoder(tiny_checkpoint, digits):
    """An encoder with log sigma^2 = -150 (as beta = 0 training reaches) must still give a finite
    IW bound: e^logvar underflows to 0 in float32, so log q(z|x) is taken from eps, not from z - mu."""
    model = checkpoints.load(tiny_checkpoint).model
    last = model.encoder.layers[-1]
    d = last.out_features // 2
    with torch.no_grad():
        last.weight[d:] = 0.0
        last.bias[d:] = -150.0
    x = digits.test_x[:10]
    assert float(model.encode(x)[1].detach().max()) == -150.0
    iw = iw_log_likelihood(model, x, k=50, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(iw).all()
    # With sigma this small z = mu, so each weight is log p(x|mu) + log p(mu) - log q(mu|x), and
    # log q(mu|x) = -(log 2 pi - 150) / 2 per dimension plus the eps^2 term: far below the ELBO's recon alone.
    recon, _ = elbo_terms(model, x, generator=torch.Generator().manual_seed(0))
    assert (iw < -recon).all()
