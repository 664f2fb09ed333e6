"""The shipped checkpoints (issue 3): every file loads, matches its model card, and reproduces the
card's test -ELBO within 0.5 nats when its data set is on disk."""

import json

import pytest
import torch

from explorer import checkpoints
from explorer.data import is_available, load_dataset
from explorer.metrics import elbo_terms, evaluation_targets

from .conftest import MNIST_DIR, REPO

FOLDER = REPO / "checkpoints"
EXPECTED = {
    "mnist-mlp-z2",
    "mnist-conv-z2",
    "fashion-mnist-mlp-z2",
    "mnist-mlp-z5",
    "mnist-mlp-z10",
    "mnist-mlp-z20",
    "digits-mlp-z2",
    "mnist-mlp-z2-ae",
}
SHIPPED = sorted(FOLDER.glob("*.pt"))


def _card(path):
    return json.loads((FOLDER / "cards" / f"{path.stem}.json").read_text())


def test_every_model_ships_with_a_card_and_the_folder_stays_small():
    assert {p.stem for p in SHIPPED} == EXPECTED
    assert sum(p.stat().st_size for p in SHIPPED) < 30 * 2**20
    readme = (FOLDER / "README.md").read_text()
    for path in SHIPPED:
        assert (FOLDER / "cards" / f"{path.stem}.json").is_file(), path.name
        assert f"`{path.name}`" in readme, f"{path.name} has no line in checkpoints/README.md"


def test_the_targets_of_the_issue_are_met():
    assert _card(FOLDER / "mnist-mlp-z2.pt")["neg_elbo"] <= 140.0
    assert _card(FOLDER / "mnist-mlp-z20.pt")["neg_elbo"] <= 100.0
    assert checkpoints.load(FOLDER / "mnist-mlp-z2-ae.pt").train_config.beta == 0.0


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_loads_and_matches_its_card(path):
    ckpt = checkpoints.load(path)
    card = _card(path)
    cfg = ckpt.model_config
    assert (ckpt.dataset.name, cfg.arch, cfg.latent_dim, list(cfg.hidden), cfg.likelihood) == (
        card["dataset"],
        card["arch"],
        card["latent_dim"],
        card["hidden"],
        card["likelihood"],
    )
    assert ckpt.metrics["neg_elbo"] == pytest.approx(card["neg_elbo"], abs=0.05)
    assert ckpt.metrics["iw_samples"] == card["iw_samples"] == 1000
    assert card["nll_iw"] <= card["neg_elbo"]
    n_test = 360 if ckpt.dataset.name == "digits" else 10_000
    assert len(ckpt.encoded) == n_test  # the scatter needs no data set
    assert len(ckpt.history) == ckpt.train_config.epochs


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_reproduces_the_cards_neg_elbo(path):
    ckpt = checkpoints.load(path)
    name = ckpt.dataset.name
    if not is_available(name, MNIST_DIR):
        pytest.skip(f"{name} is not on disk (../shared/data or $EXPLORER_DATA_DIR)")
    data = load_dataset(name, MNIST_DIR, download=False)
    targets = evaluation_targets(data.test_x, ckpt.train_config.binarize)
    recon, kl = elbo_terms(ckpt.model, targets, generator=torch.Generator().manual_seed(_card(path)["seed"]))
    assert float((recon + kl).mean()) == pytest.approx(_card(path)["neg_elbo"], abs=0.5)
