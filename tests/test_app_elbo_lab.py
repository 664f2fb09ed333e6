"""The ELBO lab page under AppTest: the numbers it shows are the library's for the same image and
seed, on 2-D and 20-D models, and it degrades to what q(z|x) alone gives when the data set is missing."""

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import checkpoints, elbo_lab
from explorer.data import load_dataset

from .conftest import REPO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _open_lab(model_key: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90)
    if model_key:
        at.session_state["model_key"] = model_key
    at.run()
    at.switch_page("pages/elbo_lab.py")
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "ELBO lab"
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _expect(terms: elbo_lab.ImageELBO, exact: elbo_lab.ExactPosterior | None) -> dict[str, str]:
    """What the page must show for these terms: the library's numbers, to 3 decimals."""
    L, k = terms.samples, terms.iw_samples
    out = {
        "KL, closed form": f"{terms.kl:.3f}",
        f"KL, Monte Carlo (L = {L})": f"{terms.kl_mc:.2f} ± {terms.kl_mc_stderr:.2f}",
        f"Reconstruction (L = {L})": f"{terms.recon:.2f} ± {terms.recon_stderr:.2f}",
        "ELBO": f"{terms.elbo:.3f}",
        f"log p(x), IW (k = {k})": f"{terms.log_px_iw:.3f}",
        "Gap, IW − ELBO": f"{terms.gap_iw:.3f}",
    }
    if exact is not None:
        out["log p(x), quadrature"] = f"{exact.log_px:.3f}"
        out["Gap, quadrature"] = f"{exact.kl_to_posterior:.3f}"
    return out


def _library(path: Path, index: int, *, seed: int, samples: int, iw_samples: int):
    model = checkpoints.load(path).model
    x = elbo_lab.image_targets(load_dataset("digits").test_x, "none")[index]
    terms = elbo_lab.analyse_image(model, x, index=index, seed=seed, samples=samples, iw_samples=iw_samples)
    exact = elbo_lab.exact_posterior(model, x) if model.config.latent_dim == 2 else None
    return terms, exact


@pytest.mark.parametrize("name", ["digits-mlp-z2", "digits-conv-z2"])
def test_numbers_equal_the_library_for_the_same_image_and_seed(shipped, name):
    at = _open_lab(f"shipped:{name}")
    assert len(at.latex) >= 2  # the bound and the worked KL at least; the derivation's are in the expander
    terms, exact = _library(shipped / f"{name}.pt", 0, seed=0, samples=10, iw_samples=1000)
    assert _metrics(at) == _expect(terms, exact)

    # another image, new samples (the seed goes up by one), more of them
    at.number_input(key=f"elbo_index::shipped:{name}").set_value(5)
    at.select_slider(key="elbo_samples").set_value(50)
    next(b for b in at.button if b.label == "Resample ε").click()
    at.run()
    assert not at.exception
    terms, exact = _library(shipped / f"{name}.pt", 5, seed=1, samples=50, iw_samples=1000)
    assert _metrics(at) == _expect(terms, exact)
    command = at.code[0].value
    assert f"{name}.pt --index 5 --samples 50 --seed 1 --iw-samples 1000 --device cpu" in command
    assert command.startswith("python -m explorer evaluate ")


def test_random_image_and_k(shipped):
    at = _open_lab("shipped:digits-mlp-z2")
    key = "elbo_index::shipped:digits-mlp-z2"
    at.select_slider(key="elbo_iw").set_value(10)
    seen = set()
    for _ in range(4):
        next(b for b in at.button if b.label == "Random image").click()
        at.run()
        assert not at.exception
        seen.add(at.number_input(key=key).value)
    assert len(seen) > 1 and all(0 <= i < 360 for i in seen)
    assert "log p(x), IW (k = 10)" in _metrics(at)


def test_twenty_dimensional_model(shipped):
    at = _open_lab("shipped:digits-mlp-z20")
    labels = _metrics(at)
    assert "log p(x), quadrature" not in labels  # quadrature only for a 2-D latent
    terms, _ = _library(shipped / "digits-mlp-z20.pt", 0, seed=0, samples=10, iw_samples=1000)
    assert labels == _expect(terms, None)
    axes = (
        at.selectbox(key="elbo_dim_x::shipped:digits-mlp-z20"),
        at.selectbox(key="elbo_dim_y::shipped:digits-mlp-z20"),
    )
    assert axes[0].value != axes[1].value
    axes[0].set_value(19)
    at.run()
    assert not at.exception
    assert any("z20" in str(df.value.columns.tolist()) for df in at.dataframe)


def test_clicked_hole_is_decoded(shipped):
    at = _open_lab("shipped:digits-mlp-z2")
    at.session_state["elbo_hole_z::shipped:digits-mlp-z2"] = (0.5, -1.0)
    at.run()
    assert not at.exception
    assert any("q(z)/p(z) here" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Use this z on the Explore page").click()
    at.run()
    assert at.session_state["z::shipped:digits-mlp-z2"].tolist() == [0.5, -1.0]


def test_missing_data_set_keeps_what_q_alone_gives(monkeypatch, tmp_path, tiny_checkpoint):
    """A checkpoint of a torchvision data set that is not on disk: the page says where to put it
    and still shows the posterior, the KLs and the aggregate posterior from the stored codes."""
    from explorer.ui.common import _test_set

    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["dataset"]["name"] = "mnist"  # an 8x8 stand-in; the files are never read
    folder = tmp_path / "shipped"
    checkpoints.save(folder / "mnist-like.pt", raw)
    monkeypatch.setenv("EXPLORER_SHIPPED_DIR", str(folder))
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "user_models"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data"))
    _test_set.clear()

    at = _open_lab()
    warning = at.warning[0].value
    assert "not on this machine" in warning and str(tmp_path / "no-data") in warning
    ckpt = checkpoints.load(folder / "mnist-like.pt")
    terms = elbo_lab.analyse_code(ckpt.model, ckpt.encoded.mu[0], ckpt.encoded.logvar[0], index=0, seed=0, samples=10)
    shown = _metrics(at)
    assert shown["KL, closed form"] == f"{terms.kl:.3f}"
    assert shown["KL, Monte Carlo (L = 10)"] == f"{terms.kl_mc:.2f} ± {terms.kl_mc_stderr:.2f}"
    assert shown["ELBO"] == "—" and shown["Reconstruction (L = 10)"] == "—"
    assert not any(label.startswith("log p(x)") for label in shown)
    assert any(s.value == "The aggregate posterior against the prior" for s in at.subheader)
    assert not at.code  # no command line to offer without the data
    _test_set.clear()


@pytest.fixture
def odd_models(monkeypatch, tmp_path, digits):
    """Untrained digits models the tiny set lacks: a Gaussian decoder and a 1-D latent."""
    from explorer.config import ModelConfig
    from explorer.models import VAE

    folder = tmp_path / "odd"
    for name, config in {
        "gauss-z2": ModelConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2, likelihood="gaussian"),
        "line-z1": ModelConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=1),
    }.items():
        torch.manual_seed(0)
        model = VAE(config).eval()
        payload = checkpoints.to_dict(
            model,
            train_config=None,
            dataset=digits.info,
            encoded=checkpoints.encode_test_set(model, digits.test_x, digits.test_y),
        )
        checkpoints.save(folder / f"{name}.pt", payload)
    monkeypatch.setenv("EXPLORER_SHIPPED_DIR", str(folder))
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "user_models"))
    return folder


def test_gaussian_decoder_shows_squared_error_and_its_constant(odd_models):
    at = _open_lab("shipped:gauss-z2")
    terms, exact = _library(odd_models / "gauss-z2.pt", 0, seed=0, samples=10, iw_samples=1000)
    assert _metrics(at) == _expect(terms, exact)
    worked = [e.value for e in at.latex if "2\\sigma^2" in e.value or "2 \\cdot" in e.value]
    assert any(f"{terms.gaussian_constant:+.3f}" in v and f"{terms.recon:.3f}" in v for v in worked)
    assert any("Gaussian decoder" in m.value for m in at.markdown)


def test_one_dimensional_latent_shows_numbers_without_a_plane(odd_models):
    at = _open_lab("shipped:line-z1")
    assert any("1-D latent has no plane" in i.value for i in at.info)
    terms, _ = _library(odd_models / "line-z1.pt", 0, seed=0, samples=10, iw_samples=1000)
    assert _metrics(at) == _expect(terms, None)
    assert not any(s.value == "The aggregate posterior against the prior" for s in at.subheader)
