"""Data sets: resolution of the folder, the offline error, the real download path with local
files, KMNIST with a small fake file set, digits always offline."""

import shutil
import struct

import numpy as np
import pytest

from explorer.data import DATASETS, IDX_FILES, is_available, load_dataset, resolve_data_dir
from explorer.errors import DatasetUnavailable

from .conftest import MNIST_DIR, requires_mnist


def test_data_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("EXPLORER_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "cache" / "vae-explorer" / "data"


def test_missing_data_names_the_folder_and_files(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("fashion-mnist", tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    for name in IDX_FILES:
        assert name in message
    assert "--data-dir" in message


def test_offline_switch_prevents_download(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_OFFLINE", "1")
    with pytest.raises(DatasetUnavailable, match="downloads are switched off"):
        load_dataset("mnist", tmp_path, download=True)


def test_failed_download_is_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("EXPLORER_OFFLINE", raising=False)
    from torchvision.datasets import MNIST

    def no_network(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3]>")

    monkeypatch.setattr(MNIST, "download", no_network)
    with pytest.raises(DatasetUnavailable, match="download failed: Error downloading"):
        load_dataset("mnist", tmp_path)


@requires_mnist
def test_real_download_path_with_local_gz_files(tmp_path, monkeypatch):
    """torchvision's download() finds md5-verified .gz files and unpacks them; no network used."""
    monkeypatch.delenv("EXPLORER_OFFLINE", raising=False)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        shutil.copy(MNIST_DIR / "MNIST" / "raw" / f"{name}.gz", raw / f"{name}.gz")
    assert not is_available("mnist", tmp_path)
    data = load_dataset("mnist", tmp_path)
    assert is_available("mnist", tmp_path)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert float(data.train_x.max()) == 1.0 and float(data.train_x.min()) == 0.0


def _write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim  # unsigned byte type
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in array.shape)
    path.write_bytes(header + array.tobytes())


def test_kmnist_code_path_with_fake_files(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    _write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (50, 28, 28)))
    _write_idx(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, 50))
    _write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28)))
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(20) % 10)
    data = load_dataset("kmnist", tmp_path, download=False)
    assert data.train_x.shape == (50, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert data.info.class_names[:3] == ("o", "ki", "su")
    assert data.test_y.tolist() == [i % 10 for i in range(20)]


def test_unreadable_files_are_reported(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        (raw / name).write_bytes(b"not an idx file")
    with pytest.raises(DatasetUnavailable, match="could not be read"):
        load_dataset("mnist", tmp_path, download=False)


def test_digits_always_work_offline():
    data = load_dataset("digits", "/nonexistent")
    assert data.train_x.shape[1:] == (1, 8, 8)
    assert len(data.train_x) + len(data.test_x) == 1797
    assert 0.0 <= float(data.train_x.min()) and float(data.train_x.max()) == 1.0
    again = load_dataset("digits")
    assert (again.test_y == data.test_y).all()


def test_fashion_class_names_are_words():
    assert DATASETS["fashion-mnist"].class_names[0] == "T-shirt/top"


def test_unknown_dataset():
    with pytest.raises(DatasetUnavailable, match="unknown data set"):
        load_dataset("cifar")
