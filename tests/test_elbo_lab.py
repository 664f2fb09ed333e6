"""The ELBO lab's per-image numbers: equal to the library's for fixed seeds, and consistent with
the theory (KL Monte Carlo -> closed form, ELBO = -(recon + KL), ELBO <= IW <= log p(x))."""

import json
import math

import numpy as np
import pytest
import torch

from explorer import checkpoints, elbo_lab, elbo_plots
from explorer.cli import main
from explorer.config import ModelConfig
from explorer.losses import kl_gaussians
from explorer.metrics import elbo_terms, evaluation_targets, iw_log_likelihood, posterior_grid
from explorer.models import VAE


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return checkpoints.load(tiny_checkpoint).model


@pytest.fixture(scope="module")
def images(digits):
    return elbo_lab.image_targets(digits.test_x, "none")


# ---------------------------------------------------------------- equal to the library


@pytest.mark.parametrize("index, seed", [(0, 0), (5, 3), (17, 11)])
def test_first_sample_is_the_one_elbo_terms_draws(model, images, index, seed):
    """With L = 1, the lab's recon and KL are exactly metrics.elbo_terms on that image with that seed."""
    x = images[index]
    terms = elbo_lab.analyse_image(model, x, index=index, seed=seed, samples=1, iw_samples=0)
    recon, kl = elbo_terms(model, x[None], generator=torch.Generator().manual_seed(seed))
    assert terms.recon == pytest.approx(float(recon[0]), abs=1e-4)
    assert terms.kl == pytest.approx(float(kl[0]), abs=1e-5)
    assert terms.neg_elbo == pytest.approx(float(recon[0] + kl[0]), abs=1e-4)


def test_iw_estimate_is_the_librarys(model, images):
    x = images[3]
    terms = elbo_lab.analyse_image(model, x, seed=4, samples=5, iw_samples=300)
    expected = iw_log_likelihood(model, x[None], k=300, generator=torch.Generator().manual_seed(5))
    assert terms.log_px_iw == pytest.approx(float(expected[0]), abs=1e-5)
    assert terms.gap_iw == pytest.approx(terms.log_px_iw - terms.elbo)


def test_same_seed_same_numbers_and_new_seed_new_samples(model, images):
    a = elbo_lab.analyse_image(model, images[2], seed=7, samples=20, iw_samples=50)
    b = elbo_lab.analyse_image(model, images[2], seed=7, samples=20, iw_samples=50)
    c = elbo_lab.analyse_image(model, images[2], seed=8, samples=20, iw_samples=50)
    assert a.to_dict() == b.to_dict()
    np.testing.assert_array_equal(a.z, b.z)
    assert not np.allclose(a.eps, c.eps)
    np.testing.assert_allclose(c.z, c.mu + c.sigma * c.eps, atol=1e-6)  # the reparameterization


def test_elbo_is_minus_recon_plus_kl(model, images):
    terms = elbo_lab.analyse_image(model, images[1], seed=0, samples=50, iw_samples=0)
    assert terms.recon == pytest.approx(-float(terms.log_px_z.mean()), rel=1e-6)
    assert terms.elbo == pytest.approx(-(terms.recon + terms.kl), rel=1e-9)
    assert terms.recon > 0 and terms.kl > 0
    assert terms.log_px_iw is None and terms.gap_iw is None


def test_closed_form_kl_is_the_general_gaussian_formula(model, images):
    terms = elbo_lab.analyse_image(model, images[9], samples=2, iw_samples=0)
    mu = torch.as_tensor(terms.mu, dtype=torch.float64)
    var = torch.as_tensor(terms.sigma, dtype=torch.float64) ** 2
    general = kl_gaussians(mu, torch.diag(var), torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    assert terms.kl == pytest.approx(float(general), rel=1e-5)
    assert terms.kl_parts.total == pytest.approx(terms.kl, rel=1e-5)
    assert terms.kl_parts.k == 2
    assert terms.kl_parts.trace == pytest.approx(float(var.sum()), rel=1e-5)


def test_code_only_analysis_matches_the_image_analysis(model, images):
    """Without the image (data set missing), the q-only terms are the same for the same mu, logvar."""
    full = elbo_lab.analyse_image(model, images[4], index=4, seed=2, samples=30, iw_samples=0)
    code = elbo_lab.analyse_code(model, full.mu, full.logvar, index=4, seed=2, samples=30)
    np.testing.assert_array_equal(code.z, full.z)
    assert code.kl == full.kl and code.kl_mc == full.kl_mc
    np.testing.assert_allclose(code.decoded, full.decoded, atol=1e-6)
    assert not code.has_image and code.recon is None and code.elbo is None and code.gap_iw is None


# ---------------------------------------------------------------- the theory holds


def test_kl_monte_carlo_converges_to_the_closed_form(model, images):
    few = elbo_lab.analyse_image(model, images[6], seed=1, samples=50, iw_samples=0)
    many = elbo_lab.analyse_image(model, images[6], seed=1, samples=5000, iw_samples=0)
    assert abs(many.kl_mc - many.kl) < 4 * many.kl_mc_stderr + 1e-3
    assert many.kl_mc_stderr < few.kl_mc_stderr / 5  # 1/sqrt(L): 10x the samples' square root
    assert elbo_lab.analyse_image(model, images[6], samples=1, iw_samples=0).kl_mc_stderr is None


@pytest.mark.parametrize("index", [0, 8])
def test_bounds_are_ordered_and_meet_the_quadrature(model, images, index):
    """ELBO <= IW estimate <= log p(x) (up to the IW estimate's noise), the gap is the posterior KL,
    and the Monte Carlo ELBO estimates the quadrature ELBO."""
    x = images[index]
    exact = elbo_lab.exact_posterior(model, x)
    terms = elbo_lab.analyse_image(model, x, seed=0, samples=3000, iw_samples=5000)
    assert exact.elbo < exact.log_px and exact.kl_to_posterior > 0
    assert exact.elbo <= terms.log_px_iw <= exact.log_px + 0.02
    assert terms.log_px_iw == pytest.approx(exact.log_px, abs=0.05)
    assert abs(terms.elbo - exact.elbo) < 4 * terms.recon_stderr + 0.01
    # the library's own quadrature (a wider, coarser grid) gives the same log p(x)
    assert exact.log_px == pytest.approx(posterior_grid(model, x, n=301).log_px, abs=0.01)
    assert exact.coarse_log_px == pytest.approx(exact.log_px, abs=0.05)


def test_posterior_contours_hold_their_mass(model, images):
    exact = elbo_lab.exact_posterior(model, images[2])
    cell = (exact.xs[1] - exact.xs[0]) * (exact.ys[1] - exact.ys[0])
    density = np.exp(exact.log_posterior.astype(np.float64))
    assert density.sum() * cell == pytest.approx(1.0, abs=1e-3)
    inner, outer = exact.levels
    assert inner > outer
    assert (density * (exact.log_posterior >= inner)).sum() * cell == pytest.approx(elbo_lab.MASS_1SD, abs=0.01)
    assert (density * (exact.log_posterior >= outer)).sum() * cell == pytest.approx(elbo_lab.MASS_2SD, abs=0.01)


def test_exact_posterior_needs_a_2d_latent(digits):
    model = VAE(ModelConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3))
    with pytest.raises(ValueError, match="2-D"):
        elbo_lab.exact_posterior(model, digits.test_x[0])


def test_gaussian_decoder_recon_is_scaled_squared_error_plus_constant(digits):
    torch.manual_seed(0)
    model = VAE(
        ModelConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2, likelihood="gaussian", gaussian_sigma=0.2)
    )
    model.eval()
    terms = elbo_lab.analyse_image(model, digits.test_x[0], samples=8, iw_samples=0)
    constant = 0.5 * 64 * math.log(2 * math.pi * 0.2**2)
    assert terms.gaussian_constant == pytest.approx(constant)
    expected = float(terms.squared_error.mean()) / (2 * 0.2**2) + constant
    assert terms.recon == pytest.approx(expected, rel=1e-5)


def test_bernoulli_recon_never_beats_the_entropy_floor(model, images):
    terms = elbo_lab.analyse_image(model, images[0], samples=20, iw_samples=0)
    assert 0 < terms.bernoulli_floor < terms.recon
    binary = elbo_lab.analyse_image(model, (images[0] > 0.5).float(), samples=2, iw_samples=0)
    assert binary.bernoulli_floor == pytest.approx(0.0, abs=1e-6)


def test_bad_sizes_are_refused(model, images):
    with pytest.raises(ValueError, match="samples"):
        elbo_lab.analyse_image(model, images[0], samples=0)
    with pytest.raises(ValueError, match="importance"):
        elbo_lab.analyse_image(model, images[0], iw_samples=-1)
    with pytest.raises(ValueError, match="shape"):
        elbo_lab.analyse_image(model, torch.zeros(1, 28, 28))


def test_binarized_targets_are_the_evaluated_ones(digits):
    targets = elbo_lab.image_targets(digits.test_x, "dynamic")
    torch.testing.assert_close(targets, evaluation_targets(digits.test_x, "dynamic"))
    assert set(torch.unique(targets).tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(elbo_lab.image_target(digits.test_x.numpy(), 11, "dynamic"), targets[11])
    torch.testing.assert_close(elbo_lab.image_target(digits.test_x.numpy(), 11, "none"), digits.test_x[11])


# ---------------------------------------------------------------- the aggregate posterior


def test_aggregate_posterior_is_the_mixture_density():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(50, 3))
    logvar = np.log(rng.uniform(0.2, 0.6, size=(50, 3)) ** 2)
    agg = elbo_lab.aggregate_posterior(mu, logvar, dims=(2, 0), limit=5.0, n=101)
    cell = (agg.axis[1] - agg.axis[0]) ** 2
    assert agg.density.sum() * cell == pytest.approx(1.0, abs=2e-3)
    assert agg.prior.sum() * cell == pytest.approx(1.0, abs=2e-3)
    # a point check against the mixture written out (coordinate 2 across, coordinate 0 up)
    i, j = 60, 40
    zx, zy = agg.axis[j], agg.axis[i]
    sx, sy = np.exp(0.5 * logvar[:, 2]), np.exp(0.5 * logvar[:, 0])
    direct = np.mean(
        np.exp(-0.5 * ((zx - mu[:, 2]) / sx) ** 2 - 0.5 * ((zy - mu[:, 0]) / sy) ** 2) / (2 * np.pi * sx * sy)
    )
    assert agg.density[i, j] == pytest.approx(direct, rel=0.01)


def test_holes_are_found_where_no_code_lands():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(4000, 2))
    mu = mu[mu[:, 0] ** 2 + (mu[:, 1] - 0.0) ** 2 > 0.8**2]  # nothing lands inside radius 0.8
    logvar = np.full_like(mu, np.log(0.05**2))
    agg = elbo_lab.aggregate_posterior(mu, logvar, n=121)
    holes = elbo_lab.find_holes(agg, count=3)
    assert 1 <= len(holes) <= 3
    assert (np.hypot(holes[:, 0], holes[:, 1]) < 0.8).all()
    assert len(elbo_lab.find_holes(agg, max_ratio=1e-300)) == 0


def test_default_dims_are_the_most_varied(tiny_checkpoint):
    mu = np.zeros((100, 5))
    mu[:, 3] = np.linspace(-2, 2, 100)
    mu[:, 1] = np.linspace(-1, 1, 100)
    assert elbo_lab.default_dims(mu) == (1, 3)
    mu_all, logvar_all, labels = elbo_lab.encoded_arrays(checkpoints.load(tiny_checkpoint).encoded)
    assert mu_all.shape == logvar_all.shape == (360, 2) and labels.shape == (360,)


# ---------------------------------------------------------------- the command line gives the page's numbers


def test_cli_index_prints_the_labs_numbers(tiny_checkpoint, model, images, capsys):
    code = main(
        [
            "evaluate",
            str(tiny_checkpoint),
            "--index",
            "12",
            "--samples",
            "7",
            "--seed",
            "3",
            "--iw-samples",
            "40",
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    terms = elbo_lab.analyse_image(model, images[12], index=12, seed=3, samples=7, iw_samples=40)
    expected = elbo_lab.image_report(terms, elbo_lab.exact_posterior(model, images[12]))
    for key, value in expected.items():
        assert printed[key] == pytest.approx(value, abs=1e-6), key
    assert (
        printed["dataset"] == "digits"
        and printed["latent_dim"] == 2
        and printed["label"] in [str(d) for d in range(10)]
    )


def test_cli_index_table_and_bad_index(tiny_checkpoint, capsys):
    assert main(["evaluate", str(tiny_checkpoint), "--index", "0", "--iw-samples", "10", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "KL" in out and "quadrature" in out and "ELBO" in out
    assert main(["evaluate", str(tiny_checkpoint), "--index", "360", "--device", "cpu"]) == 2
    assert "--index must be 0..359" in capsys.readouterr().err


# ---------------------------------------------------------------- figures (numpy in, plotly out)


def test_ellipse_points_lie_on_the_ellipse():
    x, y = elbo_plots.ellipse_xy(np.array([1.0, -2.0]), np.array([0.5, 0.1]), scale=2.0)
    np.testing.assert_allclose(((x - 1.0) / 1.0) ** 2 + ((y + 2.0) / 0.2) ** 2, 1.0, atol=1e-9)


def test_picker_scatter_carries_test_indices():
    points = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.arange(30) % 3
    fig = elbo_plots.picker_scatter(
        points, labels, ["a", "b", "c"], selected=4, sigma=np.array([0.1, 0.2]), samples=points[:5]
    )
    class_traces = [t for t in fig.data if t.name in ("a", "b", "c")]
    indices = np.concatenate([np.asarray(t.customdata) for t in class_traces])
    assert sorted(indices.tolist()) == list(range(30))
    assert all(t.type == "scattergl" for t in class_traces)


def test_other_figures_build():
    exact = (np.linspace(0, 1, 11), np.linspace(0, 1, 11), -np.ones((11, 11)), (-0.5, -1.5))
    fig = elbo_plots.posterior_zoom(np.array([0.5, 0.5]), np.array([0.1, 0.1]), np.zeros((3, 2)), posterior=exact)
    assert any(t.type == "contour" for t in fig.data)
    fig = elbo_plots.bounds_line(elbo=-90.0, elbo_stderr=0.3, log_px_iw=-88.0, iw_samples=100)
    assert len(fig.data) == 2 and fig.layout.annotations[0].text.endswith("≈ 2.00")
    fig = elbo_plots.bounds_line(
        elbo=-90.0, elbo_stderr=0.3, log_px_iw=-88.0, iw_samples=100, log_px_quad=-87.5, elbo_quad=-89.25
    )
    assert len(fig.data) == 4 and fig.layout.annotations[0].text.endswith("= 1.75")  # exact: both by quadrature
    axis = np.linspace(-4, 4, 21)
    dens = np.full((21, 21), 0.01)
    fig = elbo_plots.aggregate_map(axis, dens, dens, show="ratio", holes=np.zeros((2, 2)), clicked=np.zeros(2))
    assert fig.data[0].type == "heatmap"
    with pytest.raises(ValueError):
        elbo_plots.aggregate_map(axis, dens, dens, show="nope")
    assert elbo_plots.kl_per_dimension(np.arange(5.0), dims=(1, 3)).data[0].marker.color[1] == elbo_plots.Q_COLOUR


def test_images_are_enlarged_without_blur():
    image = np.random.default_rng(0).uniform(size=(1, 8, 8)).astype(np.float32)
    big = elbo_plots.display_image(image, size=64)
    assert big.shape == (64, 64) and big.dtype == np.uint8
    assert (big[:8, :8] == big[0, 0]).all()
    grid = elbo_plots.image_grid(np.stack([image] * 10), columns=4, size=16, pad=2)
    assert grid.shape == (3 * 18 - 2, 4 * 18 - 2)
