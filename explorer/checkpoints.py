"""The one checkpoint format: a single .pt file holding a plain dict.

    format          "vae-explorer"
    format_version  1
    model_config    ModelConfig.to_dict()
    train_config    TrainConfig.to_dict() (or None for a model trained elsewhere)
    state_dict      the weights (float32, or float16 when saved compact)
    history         [EpochStats.to_dict(), ...]
    metrics         Metrics.to_dict() or {}
    dataset         {"name", "image_shape", "class_names"}
    encoded_test    {"mu": (N, D), "logvar": (N, D), "labels": (N,)}, N <= 10,000
    meta            {"device", "seconds", "torch_version", "created", ...}

Loading uses torch's weights-only unpickler, so nothing in a file can run code, and then checks
every part against what the model config implies before any weight is used. Any problem is a
`CheckpointError` whose message says what is wrong and what to do.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor

from explorer.config import ModelConfig, TrainConfig
from explorer.data import DatasetInfo
from explorer.errors import ConfigError, ExplorerError
from explorer.models import VAE

FORMAT = "vae-explorer"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_ENCODED_ROWS = 10_000
MAX_HISTORY = 10_000
MAX_CLASSES = 1000
REQUIRED_KEYS = ("format", "format_version", "model_config", "state_dict", "dataset", "encoded_test")
OPTIONAL_KEYS = ("train_config", "history", "metrics", "meta")


class CheckpointError(ExplorerError):
    """The file is not a checkpoint this program can use; the message says why."""


@dataclass(frozen=True)
class EncodedTestSet:
    """q(z|x) of the test images, stored so the scatter needs no data set."""

    mu: Tensor  # (N, D) float32
    logvar: Tensor  # (N, D) float32
    labels: Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Checkpoint:
    model: VAE  # on the requested device, eval mode
    model_config: ModelConfig
    train_config: TrainConfig | None
    dataset: DatasetInfo
    encoded: EncodedTestSet
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def latent_dim(self) -> int:
        return self.model_config.latent_dim


# ---------------------------------------------------------------- saving


def to_dict(
    model: VAE,
    *,
    train_config: TrainConfig | None,
    dataset: DatasetInfo,
    encoded: EncodedTestSet,
    history: list[dict] | None = None,
    metrics: dict | None = None,
    meta: dict | None = None,
    compact: bool = False,
) -> dict[str, Any]:
    """The plain dict that goes into the file. compact=True stores weights and codes as float16."""
    store = torch.float16 if compact else torch.float32
    state = {k: v.detach().to("cpu", store).contiguous() for k, v in model.state_dict().items()}
    rows = slice(0, MAX_ENCODED_ROWS)
    info = {
        "device": None,
        "seconds": None,
        "torch_version": str(torch.__version__),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "compact": compact,
    }
    info.update(meta or {})
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "train_config": train_config.to_dict() if train_config else None,
        "state_dict": state,
        "history": list(history or []),
        "metrics": dict(metrics or {}),
        "dataset": dataset.to_dict(),
        "encoded_test": {
            "mu": encoded.mu[rows].detach().to("cpu", store).contiguous(),
            "logvar": encoded.logvar[rows].detach().to("cpu", store).contiguous(),
            "labels": encoded.labels[rows].detach().to("cpu", torch.int64).contiguous(),
        },
        "meta": info,
    }


def encode_test_set(model: VAE, test_x: Tensor, test_y: Tensor, *, binarize: str = "none") -> EncodedTestSet:
    """Encode (at most MAX_ENCODED_ROWS of) the test images the model is scored on."""
    from explorer.metrics import encode_all, evaluation_targets

    x = evaluation_targets(test_x[:MAX_ENCODED_ROWS], binarize)
    mu, logvar = encode_all(model, x)
    return EncodedTestSet(mu=mu.cpu(), logvar=logvar.cpu(), labels=test_y[:MAX_ENCODED_ROWS].cpu().long())


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Write atomically: to a temporary file beside `path`, flushed to disk, then renamed over it.

    A crash at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with _suppress_os_error():
            os.unlink(tmp_name)
        raise
    with _suppress_os_error():
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def save(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Save a checkpoint dict (see `to_dict`) atomically."""
    return atomic_write(path, lambda f: torch.save(payload, f))


def save_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Store an already validated checkpoint file (an upload) atomically."""
    return atomic_write(path, lambda f: f.write(data))


class _suppress_os_error:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, OSError)


# ---------------------------------------------------------------- loading


def load(
    source: str | os.PathLike | bytes | BinaryIO,
    map_location: str | torch.device = "cpu",
    *,
    max_bytes: int = MAX_FILE_BYTES,
) -> Checkpoint:
    """Load and validate a checkpoint from a path, bytes or a binary file object."""
    raw = _read_raw(source, max_bytes)
    return from_dict(raw, map_location=map_location)


def read_dict(source: str | os.PathLike | bytes | BinaryIO, *, max_bytes: int = MAX_FILE_BYTES) -> dict:
    """The file's plain dict, read with the same safety checks as `load` but not validated further."""
    raw = _read_raw(source, max_bytes)
    if not isinstance(raw, dict):
        raise _fail(f"the file holds a {type(raw).__name__}, expected a dict")
    return raw


def _read_raw(source: str | os.PathLike | bytes | BinaryIO, max_bytes: int) -> Any:
    name = "the uploaded file"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise CheckpointError(f"no checkpoint at {path}: check the path")
        if not path.is_file():
            raise CheckpointError(f"{path} is not a file")
        size = path.stat().st_size
        _check_size(size, max_bytes, name)
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_size(len(data), max_bytes, name)
    else:
        data = source.read(max_bytes + 1)
        _check_size(len(data), max_bytes, name)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data.startswith(b"PK\x03\x04"):  # a zip archive's first record, but no directory at the end
            raise CheckpointError(
                f"{name} starts like a checkpoint but is cut short ({len(data):,} bytes): "
                "the copy or upload did not finish; copy the file again"
            )
        raise CheckpointError(
            f"{name} is not a PyTorch checkpoint (no torch.save archive inside); "
            "save models with `python -m explorer train` or torch.save of the format described in explorer/checkpoints.py"
        )
    _check_archive(data, name, max_bytes)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{name} was refused: it contains Python objects other than tensors and plain data, "
            f"which could run code when loaded ({first[:200]}). Only files written by this program are accepted."
        ) from None
    except Exception as exc:  # truncated archive, corrupt record, bad storage...
        raise CheckpointError(
            f"{name} could not be read as a checkpoint ({type(exc).__name__}: {str(exc)[:200]}); "
            "the file may be truncated or damaged: copy it again"
        ) from None


MAX_ARCHIVE_MEMBERS = 10_000


def _check_archive(data: bytes, name: str, max_bytes: int) -> None:
    """torch.save writes an uncompressed zip; refuse anything that could unpack to more than the limit."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{name} is a damaged archive ({exc}); copy the file again") from None
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise CheckpointError(f"{name} holds {len(members)} records; a checkpoint has a few dozen")
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):
        raise CheckpointError(f"{name} holds compressed records, which torch.save never writes; it was refused unread")
    unpacked = sum(m.file_size for m in members)
    if unpacked > max_bytes:
        raise CheckpointError(
            f"{name} would unpack to {unpacked / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit"
        )


def _check_size(size: int, max_bytes: int, name: str) -> None:
    if size == 0:
        raise CheckpointError(f"{name} is empty (0 bytes): the copy or upload did not finish")
    if size > max_bytes:
        raise CheckpointError(
            f"{name} is {size / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit for checkpoints"
        )


def _fail(message: str) -> CheckpointError:
    return CheckpointError(f"not a valid VAE Explorer checkpoint: {message}")


def _check_tensor(name: str, value: Any, shape: tuple[int, ...], *, floating: bool = True) -> Tensor:
    if not isinstance(value, Tensor):
        raise _fail(f"{name} should be a tensor, found {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        raise _fail(f"{name} has shape {tuple(value.shape)}, the config implies {tuple(shape)}")
    if value.is_sparse or value.layout != torch.strided:
        raise _fail(f"{name} must be a dense tensor")
    if floating:
        if value.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            raise _fail(f"{name} should hold floating-point numbers, found {value.dtype}")
        if not bool(torch.isfinite(value).all()):
            raise _fail(f"{name} contains NaN or infinite values (the model diverged while training)")
    return value


MAX_PLAIN_NODES = 1_000_000  # values visited in one file's metadata, shared references counted each time


def _plain(value: Any, where: str, depth: int = 0, budget: list[int] | None = None) -> Any:
    """Accept only numbers, strings, None, lists and str-keyed dicts (no tensors) in metadata.

    The budget counts every value visited, so a pickle that shares one list many times over
    (a "billion laughs" file: small on disk, astronomically large when walked) is refused.
    """
    budget = [MAX_PLAIN_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise _fail(f"{where} holds too many values (a file built to exhaust memory?)")
    if depth > 6:
        raise _fail(f"{where} is nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str) and len(value) > 10_000:
            raise _fail(f"{where} holds an overlong string")
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        if len(value) > 100_000:
            raise _fail(f"{where} is too long")
        return [_plain(v, where, depth + 1, budget) for v in value]
    if isinstance(value, dict):
        if len(value) > 10_000 or not all(isinstance(k, str) for k in value):
            raise _fail(f"{where} must be a dict with string keys")
        return {k: _plain(v, f"{where}.{k}", depth + 1, budget) for k, v in value.items()}
    raise _fail(f"{where} holds a {type(value).__name__}, expected plain numbers and text")


def from_dict(raw: Any, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Validate the loaded dict part by part and rebuild the model from it."""
    if not isinstance(raw, dict):
        raise _fail(f"the file holds a {type(raw).__name__}, expected a dict")
    if raw.get("format") != FORMAT:
        keys = ", ".join(sorted(str(k) for k in raw)[:8])
        raise _fail(
            f"it has no 'format': '{FORMAT}' marker (keys found: {keys}). A bare state_dict cannot be "
            "opened: the model's configuration is needed too"
        )
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise _fail(f"missing part(s): {', '.join(missing)}")
    unknown = [str(k) for k in raw if k not in REQUIRED_KEYS + OPTIONAL_KEYS]
    if unknown:
        raise _fail(f"unexpected part(s): {', '.join(unknown)}")
    version = raw["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(f"format_version must be a positive integer, found {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"this checkpoint uses format version {version}, newer than this program's {FORMAT_VERSION}: "
            "update VAE Latent Explorer to open it"
        )

    try:
        model_config = ModelConfig.from_dict(_plain(raw["model_config"], "model_config"))
        train_config = (
            TrainConfig.from_dict(_plain(raw["train_config"], "train_config"))
            if raw.get("train_config") is not None
            else None
        )
    except ConfigError as exc:
        raise _fail(f"its configuration was refused: {exc}") from None

    dataset = _dataset_info(raw["dataset"], model_config)
    model = _build_model(model_config, raw["state_dict"], map_location)
    encoded = _encoded(raw["encoded_test"], model_config.latent_dim, len(dataset.class_names))
    history = _plain(raw.get("history") or [], "history")
    if not isinstance(history, list) or len(history) > MAX_HISTORY or not all(isinstance(h, dict) for h in history):
        raise _fail("history must be a list of per-epoch dicts")
    metrics = _plain(raw.get("metrics") or {}, "metrics")
    meta = _plain(raw.get("meta") or {}, "meta")
    if not isinstance(metrics, dict) or not isinstance(meta, dict):
        raise _fail("metrics and meta must be dicts")
    return Checkpoint(
        model=model,
        model_config=model_config,
        train_config=train_config,
        dataset=dataset,
        encoded=encoded,
        history=history,
        metrics=metrics,
        meta=meta,
        format_version=version,
    )


def _dataset_info(raw: Any, model_config: ModelConfig) -> DatasetInfo:
    raw = _plain(raw, "dataset")
    if not isinstance(raw, dict) or set(raw) != {"name", "image_shape", "class_names"}:
        raise _fail("dataset must have exactly name, image_shape and class_names")
    name, shape, classes = raw["name"], raw["image_shape"], raw["class_names"]
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise _fail("dataset name must be a short string")
    if list(shape) != list(model_config.image_shape):
        raise _fail(f"dataset image_shape {shape} does not match the model's {list(model_config.image_shape)}")
    if not isinstance(classes, list) or not 1 <= len(classes) <= MAX_CLASSES:
        raise _fail(f"class_names must list 1..{MAX_CLASSES} names")
    if not all(isinstance(c, str) and len(c) <= 100 for c in classes):
        raise _fail("class_names must be short strings")
    return DatasetInfo(name, tuple(model_config.image_shape), tuple(classes))


def _build_model(config: ModelConfig, state: Any, map_location: str | torch.device) -> VAE:
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise _fail("state_dict must be a dict of named tensors")
    with torch.device("meta"):
        expected = VAE(config).state_dict()  # shapes only, no memory
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise _fail(f"the weights do not fit the configured {config.arch} model ({detail})")
    weights = {k: _check_tensor(f"weight {k}", state[k], tuple(v.shape)).to(torch.float32) for k, v in expected.items()}
    model = VAE(config)
    model.load_state_dict(weights)
    return model.to(map_location).eval()


def _encoded(raw: Any, latent_dim: int, n_classes: int) -> EncodedTestSet:
    if not isinstance(raw, dict) or set(raw) != {"mu", "logvar", "labels"}:
        raise _fail("encoded_test must have exactly mu, logvar and labels")
    labels = raw["labels"]
    if not isinstance(labels, Tensor) or labels.dim() != 1:
        raise _fail("encoded_test labels must be a 1-D tensor")
    n = len(labels)
    if not 1 <= n <= MAX_ENCODED_ROWS:
        raise _fail(f"encoded_test must have 1..{MAX_ENCODED_ROWS} rows, found {n}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise _fail(f"encoded_test labels must be integers, found {labels.dtype}")
    if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
        raise _fail(f"encoded_test labels must lie in 0..{n_classes - 1}")
    mu = _check_tensor("encoded_test mu", raw["mu"], (n, latent_dim)).to(torch.float32)
    logvar = _check_tensor("encoded_test logvar", raw["logvar"], (n, latent_dim)).to(torch.float32)
    return EncodedTestSet(mu=mu, logvar=logvar, labels=labels.to(torch.int64))
