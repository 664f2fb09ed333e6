"""Data sets as tensors: MNIST, Fashion-MNIST and KMNIST through torchvision, and
scikit-learn's 8x8 digits, which ship with scikit-learn and always work offline.

Images come back as float32 in [0, 1] with shape (N, C, H, W) and labels as int64, so the
trainer can keep a whole data set on its device and batch by index.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from explorer.errors import DatasetUnavailable

DATA_DIR_ENV = "EXPLORER_DATA_DIR"
OFFLINE_ENV = "EXPLORER_OFFLINE"  # "1": never try to download
DOWNLOAD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class DatasetSpec:
    """How to find one data set."""

    name: str  # the name used on the command line
    title: str  # the name shown to people
    torchvision_class: str | None  # class in torchvision.datasets, None for digits
    image_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...]


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist", "MNIST", "MNIST", (1, 28, 28), tuple(str(d) for d in range(10))),
        DatasetSpec(
            "fashion-mnist",
            "Fashion-MNIST",
            "FashionMNIST",
            (1, 28, 28),
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        ),
        DatasetSpec(
            "kmnist",
            "Kuzushiji-MNIST",
            "KMNIST",
            (1, 28, 28),
            ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        ),
        DatasetSpec("digits", "scikit-learn digits (8x8)", None, (1, 8, 8), tuple(str(d) for d in range(10))),
    )
}

# torchvision's file names inside <data dir>/<Class>/raw/
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class DatasetInfo:
    """What a checkpoint records about its data: enough to label plots without the data."""

    name: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "image_shape": list(self.image_shape), "class_names": list(self.class_names)}

    @property
    def title(self) -> str:
        spec = DATASETS.get(self.name)
        return spec.title if spec else self.name


@dataclass(frozen=True)
class ImageData:
    """Train and test splits as tensors."""

    info: DatasetInfo
    train_x: Tensor  # (N, C, H, W) float32 in [0, 1]
    train_y: Tensor  # (N,) int64
    test_x: Tensor  # (M, C, H, W)
    test_y: Tensor  # (M,)

    def to(self, device: torch.device | str) -> ImageData:
        return ImageData(
            self.info,
            self.train_x.to(device),
            self.train_y.to(device),
            self.test_x.to(device),
            self.test_y.to(device),
        )


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vae-explorer"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $EXPLORER_DATA_DIR, else ~/.cache/vae-explorer/data."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return default_cache_dir() / "data"


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetUnavailable(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}") from None


def raw_folder(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where torchvision keeps a data set's files: <data dir>/<Class>/raw."""
    spec = dataset_spec(name)
    if spec.torchvision_class is None:
        raise DatasetUnavailable(f"{name} ships with scikit-learn and has no folder on disk")
    return resolve_data_dir(data_dir) / spec.torchvision_class / "raw"


def is_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """True when the data set can be loaded without a network."""
    spec = dataset_spec(name)
    if spec.torchvision_class is None:
        return True
    folder = raw_folder(name, data_dir)
    return all((folder / f).is_file() for f in IDX_FILES)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> ImageData:
    """Load a data set as tensors on the CPU, downloading it first if allowed and needed."""
    spec = dataset_spec(name)
    if spec.torchvision_class is None:
        return _load_digits(spec)
    return _load_torchvision(spec, resolve_data_dir(data_dir), download=download)


def _info(spec: DatasetSpec) -> DatasetInfo:
    return DatasetInfo(spec.name, spec.image_shape, spec.class_names)


def _load_digits(spec: DatasetSpec) -> ImageData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # (1797, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_test = 360  # a fixed 20% split, the same on every machine
    test, train = order[:n_test], order[n_test:]
    return ImageData(_info(spec), x[train], y[train], x[test], y[test])


def _missing_message(spec: DatasetSpec, root: Path, reason: str) -> str:
    folder = root / spec.torchvision_class / "raw"
    files = ", ".join(IDX_FILES)
    return (
        f"{spec.title} is not in {folder} ({reason}). Put its four files there "
        f"({files}; the .gz versions work too), or run once with a network connection so "
        f"torchvision downloads them, or point --data-dir / ${DATA_DIR_ENV} at a folder that "
        f"has {spec.torchvision_class}/raw/ inside."
    )


def _load_torchvision(spec: DatasetSpec, root: Path, *, download: bool) -> ImageData:
    from torchvision import datasets

    cls = getattr(datasets, spec.torchvision_class)
    offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
    if not is_available(spec.name, root):
        if not download or offline:
            raise DatasetUnavailable(_missing_message(spec, root, "downloads are switched off"))
        _download(cls, spec, root)
    try:
        train = cls(str(root), train=True, download=False)
        test = cls(str(root), train=False, download=False)
    except Exception as exc:  # torchvision asserts on malformed headers
        raise DatasetUnavailable(_missing_message(spec, root, f"the files could not be read: {exc}")) from None

    def images(ds) -> Tensor:
        return ds.data.to(torch.float32).div_(255.0).unsqueeze(1)

    return ImageData(_info(spec), images(train), train.targets.long(), images(test), test.targets.long())


def _download(cls, spec: DatasetSpec, root: Path) -> None:
    """torchvision's own download (it skips any .gz already there with the right md5)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        cls(str(root), train=True, download=True)
    except Exception as exc:  # URLError, RuntimeError from every mirror, a full disk...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetUnavailable(_missing_message(spec, root, f"download failed: {first_line}")) from None
    finally:
        socket.setdefaulttimeout(previous)
