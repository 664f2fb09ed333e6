"""The checkpoint format: round trip, compact storage, atomic saves, refusals."""

import io
import os

import pytest
import torch

from explorer import checkpoints
from explorer.checkpoints import CheckpointError


def _raw(path):
    return torch.load(path, weights_only=True)


def test_round_trip_is_exact(tiny_checkpoint, tmp_path):
    raw = _raw(tiny_checkpoint)
    ckpt = checkpoints.load(tiny_checkpoint, map_location="cpu")
    for name, weight in ckpt.model.state_dict().items():
        assert torch.equal(weight, raw["state_dict"][name]), name
    assert torch.equal(ckpt.encoded.mu, raw["encoded_test"]["mu"])
    assert torch.equal(ckpt.encoded.labels, raw["encoded_test"]["labels"])
    assert ckpt.model_config.to_dict() == raw["model_config"]
    assert ckpt.train_config.to_dict() == raw["train_config"]
    assert ckpt.history == raw["history"] and len(ckpt.history) == 8
    assert ckpt.dataset.class_names == tuple(str(d) for d in range(10))
    assert not ckpt.model.training

    # save what was loaded, load again: identical weights
    again = tmp_path / "again.pt"
    checkpoints.save(
        again,
        checkpoints.to_dict(
            ckpt.model,
            train_config=ckpt.train_config,
            dataset=ckpt.dataset,
            encoded=ckpt.encoded,
            history=ckpt.history,
            metrics=ckpt.metrics,
        ),
    )
    reloaded = checkpoints.load(again)
    for (name, a), b in zip(ckpt.model.state_dict().items(), reloaded.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_loads_from_bytes_and_file_objects(tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    a = checkpoints.load(data)
    b = checkpoints.load(io.BytesIO(data))
    assert torch.equal(a.encoded.mu, b.encoded.mu)


def test_compact_storage_halves_the_size_and_loads_as_float32(tiny_checkpoint, tmp_path):
    ckpt = checkpoints.load(tiny_checkpoint)
    path = tmp_path / "compact.pt"
    checkpoints.save(
        path,
        checkpoints.to_dict(ckpt.model, train_config=None, dataset=ckpt.dataset, encoded=ckpt.encoded, compact=True),
    )
    small = checkpoints.load(path)
    assert path.stat().st_size < 0.6 * tiny_checkpoint.stat().st_size
    for (name, full), half in zip(ckpt.model.state_dict().items(), small.model.state_dict().values()):
        assert half.dtype == torch.float32
        assert torch.equal(half, full.half().float()), name
    assert small.train_config is None


def test_save_is_atomic_when_writing_fails(tiny_checkpoint, tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    target.write_bytes(tiny_checkpoint.read_bytes())
    before = target.read_bytes()

    def explode(obj, f, *a, **k):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save(target, {"anything": 1})
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]  # no temporary file left behind


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d.pop("state_dict"), "missing part"),
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(format_version=99), "newer than this program"),
        (lambda d: d["model_config"].update(latent_dim=10**9), "latent_dim"),
        (lambda d: d["model_config"].update(hidden=[10**9]), "hidden size"),
        (lambda d: d["model_config"].update(latent_dim=3), "shape"),
        (
            lambda d: d["state_dict"].update({"encoder.layers.1.weight": torch.full((64, 64), float("nan"))}),
            "shape|NaN",
        ),
        (lambda d: d["state_dict"]["decoder.layers.0.weight"].fill_(float("nan")), "NaN"),
        (lambda d: d["state_dict"].pop("decoder.layers.0.bias"), "do not fit"),
        (lambda d: d["encoded_test"].update(labels=d["encoded_test"]["labels"] + 100), "labels"),
        (lambda d: d["dataset"].update(image_shape=[1, 28, 28]), "image_shape"),
        (lambda d: d.update(extra_code="x"), "unexpected part"),
    ],
)
def test_bad_content_is_refused_with_a_reason(tiny_checkpoint, tmp_path, mutate, needle):
    raw = _raw(tiny_checkpoint)
    mutate(raw)
    path = tmp_path / "bad.pt"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=needle):
        checkpoints.load(path)


def test_files_that_are_not_checkpoints(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        checkpoints.load(empty)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        checkpoints.load(noise)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        checkpoints.load(tmp_path / "missing.pt")
    bare = tmp_path / "bare.pt"
    torch.save({"weight": torch.zeros(3)}, bare)
    with pytest.raises(CheckpointError, match="bare state_dict"):
        checkpoints.load(bare)


def test_truncated_file_is_refused(tiny_checkpoint, tmp_path):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(tiny_checkpoint.read_bytes()[: tiny_checkpoint.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        checkpoints.load(cut)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/explorer-pwned",))


def test_pickled_code_never_runs(tmp_path):
    marker = "/tmp/explorer-pwned"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "evil.pt"
    torch.save({"format": "vae-explorer", "payload": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="could run code"):
        checkpoints.load(path)
    assert not os.path.exists(marker)


def test_size_limit(tiny_checkpoint):
    with pytest.raises(CheckpointError, match="over the"):
        checkpoints.load(tiny_checkpoint, max_bytes=1000)


def test_compressed_archive_is_refused_unread(tiny_checkpoint, tmp_path):
    """torch.save never compresses; a deflated record could be a zip bomb, so it is refused before reading."""
    import zipfile

    bomb = tmp_path / "deflated.pt"
    with zipfile.ZipFile(tiny_checkpoint) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(CheckpointError, match="compressed records"):
        checkpoints.load(bomb)


def test_shared_reference_bomb_is_refused_quickly(tiny_checkpoint, tmp_path):
    """Small on disk (the pickle memoizes shared lists) but 10^9 values when walked."""
    import time

    raw = _raw(tiny_checkpoint)
    leaf = [1.0] * 1000
    middle = [leaf] * 1000
    raw["history"] = [{"epoch": 1, "rows": [middle] * 1000}]
    path = tmp_path / "laughs.pt"
    torch.save(raw, path)
    assert path.stat().st_size < 2 * tiny_checkpoint.stat().st_size
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="too many values"):
        checkpoints.load(path)
    assert time.perf_counter() - start < 10
