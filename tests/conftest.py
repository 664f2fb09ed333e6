"""Shared fixtures. Tests never download: EXPLORER_OFFLINE is set for the whole session.

MNIST-based tests need the data in ../shared/data (beside the checkout) or $EXPLORER_DATA_DIR;
without it they skip with that reason. CI has it, so they run there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ["EXPLORER_OFFLINE"] = "1"


def mnist_dir() -> Path | None:
    for candidate in (os.environ.get("EXPLORER_DATA_DIR"), SHARED_DATA):
        if candidate and (Path(candidate) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
            return Path(candidate)
    return None


MNIST_DIR = mnist_dir()
requires_mnist = pytest.mark.skipif(
    MNIST_DIR is None,
    reason="needs the MNIST files in ../shared/data (beside the checkout) or $EXPLORER_DATA_DIR",
)


@pytest.fixture(scope="session")
def digits():
    from explorer.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, digits) -> Path:
    """A small digits model trained for a few epochs by the real trainer and saved by the real writer."""
    from explorer import checkpoints
    from explorer.config import ModelConfig, TrainConfig
    from explorer.train import train

    torch.set_num_threads(min(2, torch.get_num_threads()))
    mc = ModelConfig(image_shape=(1, 8, 8), hidden=(64,), latent_dim=2)
    tc = TrainConfig(dataset="digits", epochs=8, batch_size=64, lr=3e-3, device="cpu")
    result = train(mc, tc, digits)
    path = tmp_path_factory.mktemp("ckpt") / "digits-z2.pt"
    payload = checkpoints.to_dict(
        result.model,
        train_config=tc,
        dataset=digits.info,
        encoded=checkpoints.encode_test_set(result.model, digits.test_x, digits.test_y),
        history=[h.to_dict() for h in result.history],
        metrics={"neg_elbo": result.history[-1].test_neg_elbo},
    )
    checkpoints.save(path, payload)
    return path


def _train_and_save(path: Path, digits, **model_kw) -> Path:
    from explorer import checkpoints
    from explorer.config import ModelConfig, TrainConfig
    from explorer.train import train

    mc = ModelConfig(image_shape=(1, 8, 8), **model_kw)
    tc = TrainConfig(dataset="digits", epochs=4, batch_size=64, lr=3e-3, device="cpu")
    result = train(mc, tc, digits)
    payload = checkpoints.to_dict(
        result.model,
        train_config=tc,
        dataset=digits.info,
        encoded=checkpoints.encode_test_set(result.model, digits.test_x, digits.test_y),
        history=[h.to_dict() for h in result.history],
        metrics={"neg_elbo": result.history[-1].test_neg_elbo},
        meta={"device": "cpu"},
    )
    return checkpoints.save(path, payload)


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory, tiny_checkpoint, digits) -> Path:
    """A folder of small digits checkpoints standing in for checkpoints/ in app tests:
    digits-conv-z2, digits-mlp-z2 and digits-mlp-z20. Without mnist-mlp-z2 among them the picker's
    default is the first by name, digits-conv-z2; tests that need another one select it by key."""
    import shutil

    folder = tmp_path_factory.mktemp("shipped")
    shutil.copy(tiny_checkpoint, folder / "digits-mlp-z2.pt")
    _train_and_save(folder / "digits-mlp-z20.pt", digits, hidden=(64,), latent_dim=20)
    _train_and_save(folder / "digits-conv-z2.pt", digits, arch="conv", hidden=(8, 16), latent_dim=2)
    return folder


# ---------------------------------------------------------------- the app under AppTest


@pytest.fixture
def navigation_as_on_a_server(monkeypatch):
    """AppTest turns Streamlit's legacy pages/ mode back on before every run, so each run after
    the first would execute the page file alone, without the entry and its sidebar; a server
    turns it off for good once st.navigation has run. Keep it off here too. App test modules
    use it with pytest.mark.usefixtures."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def shipped(monkeypatch, tmp_path, tiny_models_dir):
    """The app's shipped models are the tiny digits models; models trained in the app go to tmp."""
    monkeypatch.setenv("EXPLORER_SHIPPED_DIR", str(tiny_models_dir))
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "user_models"))
    return tiny_models_dir


def mnist_shaped_checkpoint(path: Path) -> Path:
    """An untrained 28x28 'mnist' model: enough to open pages whose data set is not on disk."""
    from explorer import checkpoints
    from explorer.checkpoints import EncodedTestSet
    from explorer.config import ModelConfig
    from explorer.data import DATASETS, DatasetInfo
    from explorer.models import VAE

    torch.manual_seed(0)
    config = ModelConfig(image_shape=(1, 28, 28), hidden=(32,), latent_dim=2)
    model = VAE(config).eval()
    n = 300
    encoded = EncodedTestSet(mu=torch.randn(n, 2), logvar=torch.full((n, 2), -1.0), labels=torch.arange(n) % 10)
    info = DatasetInfo("mnist", (1, 28, 28), DATASETS["mnist"].class_names)
    checkpoints.save(path, checkpoints.to_dict(model, train_config=None, dataset=info, encoded=encoded))
    return path


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """A shipped folder holding only an MNIST-shaped model, and an empty data folder."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    mnist_shaped_checkpoint(folder / "mnist-mlp-z2.pt")
    monkeypatch.setenv("EXPLORER_SHIPPED_DIR", str(folder))
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "user_models"))
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "no-data-here"))
    return folder
