"""Model and training configurations: frozen dataclasses, validated on construction.

A checkpoint stores both as plain dicts (`to_dict`) and rebuilds them with `from_dict`, which
refuses unknown keys, wrong types and sizes outside the bounds below, so a crafted file cannot
ask for a model with a billion hidden units.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from explorer.errors import ConfigError

ARCHS = ("mlp", "conv")
ACTIVATIONS = ("relu", "tanh")
LIKELIHOODS = ("bernoulli", "gaussian")
BINARIZE = ("none", "dynamic")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Bounds that keep every model small enough to build on a laptop.
MAX_LATENT_DIM = 128
MAX_HIDDEN_WIDTH = 4096
MAX_HIDDEN_LAYERS = 6
MAX_IMAGE_SIDE = 128
MAX_CHANNELS = 4
MAX_PARAMETERS = 60_000_000
DEFAULT_CONV_DENSE = 256  # the dense layer a conv model gets unless told otherwise (CLI and Train page)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _from_dict(cls, data: Any):
    """Rebuild a config dataclass from a plain dict, refusing unknown or missing keys."""
    _require(isinstance(data, dict), f"{cls.__name__} must be a dict, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in names)
    _require(not unknown, f"{cls.__name__} has unknown settings: {', '.join(unknown)}")
    kwargs = dict(data)
    for f in dataclasses.fields(cls):
        if f.name in kwargs and isinstance(kwargs[f.name], list):
            kwargs[f.name] = tuple(kwargs[f.name])
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required setting is missing
        raise ConfigError(f"{cls.__name__}: {exc}") from None


@dataclass(frozen=True)
class ModelConfig:
    """What the network is. Every shape in the model comes from here."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the data
    arch: str = "mlp"  # "mlp" or "conv"
    hidden: tuple[int, ...] = (512, 256)  # MLP: widths; conv: channels per stride-2 conv
    dense: int = 0  # conv only: a fully connected layer of this width between the convs and z (0: none)
    activation: str = "relu"  # non-linearity between layers
    latent_dim: int = 2  # size of z
    likelihood: str = "bernoulli"  # p(x|z): "bernoulli" (cross-entropy) or "gaussian"
    gaussian_sigma: float = 0.1  # fixed std of the Gaussian likelihood, in pixel units

    def __post_init__(self) -> None:
        shape = self.image_shape
        _require(
            isinstance(shape, tuple) and len(shape) == 3 and all(_is_int(s) for s in shape),
            f"image_shape must be three integers (C, H, W), got {shape!r}",
        )
        c, h, w = shape
        _require(1 <= c <= MAX_CHANNELS, f"image channels must be 1..{MAX_CHANNELS}, got {c}")
        _require(
            2 <= h <= MAX_IMAGE_SIDE and 2 <= w <= MAX_IMAGE_SIDE,
            f"image sides must be 2..{MAX_IMAGE_SIDE} pixels, got {h}x{w}",
        )
        _require(self.arch in ARCHS, f"arch must be one of {ARCHS}, got {self.arch!r}")
        _require(
            self.activation in ACTIVATIONS,
            f"activation must be one of {ACTIVATIONS}, got {self.activation!r}",
        )
        _require(
            self.likelihood in LIKELIHOODS,
            f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}",
        )
        _require(
            _is_int(self.latent_dim) and 1 <= self.latent_dim <= MAX_LATENT_DIM,
            f"latent_dim must be an integer 1..{MAX_LATENT_DIM}, got {self.latent_dim!r}",
        )
        hidden = self.hidden
        _require(
            isinstance(hidden, tuple) and 1 <= len(hidden) <= MAX_HIDDEN_LAYERS,
            f"hidden must list 1..{MAX_HIDDEN_LAYERS} layer sizes, got {hidden!r}",
        )
        _require(
            all(_is_int(n) and 1 <= n <= MAX_HIDDEN_WIDTH for n in hidden),
            f"each hidden size must be an integer 1..{MAX_HIDDEN_WIDTH}, got {hidden!r}",
        )
        _require(
            _is_number(self.gaussian_sigma) and 1e-3 <= self.gaussian_sigma <= 10.0,
            f"gaussian_sigma must be a number in [0.001, 10], got {self.gaussian_sigma!r}",
        )
        _require(
            _is_int(self.dense) and 0 <= self.dense <= MAX_HIDDEN_WIDTH,
            f"dense must be an integer 0..{MAX_HIDDEN_WIDTH}, got {self.dense!r}",
        )
        _require(self.arch == "conv" or self.dense == 0, "dense is a setting of the conv architecture only")
        if self.arch == "conv":
            side = min(h, w)
            _require(
                side >= 2 ** len(hidden),
                f"a conv model with {len(hidden)} stride-2 layers needs images of at least "
                f"{2 ** len(hidden)} pixels a side; this data is {h}x{w}",
            )
        n_params = self.parameter_count()
        _require(
            n_params <= MAX_PARAMETERS,
            f"this model would have {n_params:,} parameters; the limit is {MAX_PARAMETERS:,}",
        )

    @property
    def n_pixels(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def conv_sides(self) -> list[tuple[int, int]]:
        """Feature-map sides after each stride-2 conv of the encoder, input first."""
        _, h, w = self.image_shape
        sides = [(h, w)]
        for _ in self.hidden:
            h, w = h // 2, w // 2
            sides.append((h, w))
        return sides

    def parameter_count(self) -> int:
        """Number of weights the model will have, computed without building it."""
        d = self.latent_dim
        if self.arch == "mlp":
            sizes = [self.n_pixels, *self.hidden]
            pairs = list(zip(sizes[:-1], sizes[1:]))
            encoder = sum((a + 1) * b for a, b in pairs) + (self.hidden[-1] + 1) * 2 * d
            decoder = (d + 1) * self.hidden[-1] + sum((b + 1) * a for a, b in pairs)
            return encoder + decoder
        channels = [self.image_shape[0], *self.hidden]
        convs = sum((a * 16 + 1) * b for a, b in zip(channels[:-1], channels[1:]))
        convs_t = sum((b * 16 + 1) * a for a, b in zip(channels[:-1], channels[1:]))
        h, w = self.conv_sides()[-1]
        flat = self.hidden[-1] * h * w
        if self.dense:
            heads = (flat + 1) * self.dense + (self.dense + 1) * 2 * d + (d + 1) * self.dense + (self.dense + 1) * flat
        else:
            heads = (flat + 1) * 2 * d + (d + 1) * flat
        return convs + convs_t + heads

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["image_shape"] = list(self.image_shape)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ModelConfig:
        return _from_dict(cls, data)

    def describe(self) -> str:
        """A one-line summary such as 'MLP 784-512-256-2, relu, Bernoulli'."""
        if self.arch == "mlp":
            body = "-".join(str(n) for n in (self.n_pixels, *self.hidden, self.latent_dim))
            kind = f"MLP {body}"
        else:
            dense = f" + {self.dense}" if self.dense else ""
            kind = f"Conv {'-'.join(str(c) for c in self.hidden)} ch{dense}, z={self.latent_dim}"
        lik = "Bernoulli" if self.likelihood == "bernoulli" else f"Gaussian σ={self.gaussian_sigma}"
        return f"{kind}, {self.activation}, {lik}"


@dataclass(frozen=True)
class TrainConfig:
    """How the model is trained."""

    dataset: str = "mnist"  # mnist, fashion-mnist, kmnist or digits
    epochs: int = 20  # full passes over the training set
    batch_size: int = 128  # images per gradient step
    lr: float = 1e-3  # Adam learning rate
    lr_schedule: str = "constant"  # "constant" or "cosine" (decays to 0 over the run)
    beta: float = 1.0  # weight of the KL term; 0 gives a plain autoencoder
    warmup_epochs: int = 0  # KL weight ramps linearly from 0 to beta over these epochs
    binarize: str = "none"  # "dynamic": resample binary pixels each batch (Bernoulli only)
    seed: int = 0  # seeds weights, shuffling and the reparameterization noise
    device: str = "auto"  # auto, cpu, cuda or mps
    amp: bool = True  # bf16 autocast on CUDA (ignored elsewhere)
    extra: dict = field(default_factory=dict)  # free-form notes (e.g. who trained it)

    def __post_init__(self) -> None:
        _require(isinstance(self.dataset, str) and 0 < len(self.dataset) <= 64, "dataset must be a name")
        _require(
            _is_int(self.epochs) and 1 <= self.epochs <= 10_000,
            f"epochs must be an integer 1..10000, got {self.epochs!r}",
        )
        _require(
            _is_int(self.batch_size) and 1 <= self.batch_size <= 65_536,
            f"batch_size must be an integer 1..65536, got {self.batch_size!r}",
        )
        _require(
            _is_number(self.lr) and 0 < self.lr <= 10,
            f"lr must be a positive number up to 10, got {self.lr!r}",
        )
        _require(
            self.lr_schedule in ("constant", "cosine"),
            f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}",
        )
        _require(
            _is_number(self.beta) and 0 <= self.beta <= 1000,
            f"beta must be a number in [0, 1000], got {self.beta!r}",
        )
        _require(
            _is_int(self.warmup_epochs) and 0 <= self.warmup_epochs <= 10_000,
            f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}",
        )
        _require(self.binarize in BINARIZE, f"binarize must be one of {BINARIZE}, got {self.binarize!r}")
        _require(_is_int(self.seed) and 0 <= self.seed < 2**63, f"seed must be an integer >= 0, got {self.seed!r}")
        _require(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")
        _require(isinstance(self.amp, bool), "amp must be true or false")
        _require(isinstance(self.extra, dict), "extra must be a dict")

    def beta_at(self, epoch: int) -> float:
        """KL weight during `epoch` (0-based): a linear warm-up, then beta."""
        if self.warmup_epochs == 0:
            return self.beta
        return self.beta * min(1.0, (epoch + 1) / self.warmup_epochs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        return _from_dict(cls, data)
