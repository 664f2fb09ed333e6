"""The command line end to end on the offline digits data set."""

import json
import subprocess
import sys

import pytest
import torch

from explorer import checkpoints
from explorer.cli import main

from .conftest import REPO


def test_train_then_evaluate_json(tmp_path):
    out = tmp_path / "digits.pt"
    code = main(
        [
            "train",
            "--dataset",
            "digits",
            "--hidden",
            "64",
            "--epochs",
            "3",
            "--batch-size",
            "64",
            "--lr",
            "0.003",
            "--iw-samples",
            "20",
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert code == 0 and out.is_file()
    ckpt = checkpoints.load(out)
    assert len(ckpt.history) == 3 and ckpt.metrics["iw_samples"] == 20
    assert ckpt.model_config.hidden == (64,) and ckpt.train_config.lr == 0.003
    assert len(ckpt.encoded) == 360

    proc = subprocess.run(
        [sys.executable, "-m", "explorer", "evaluate", str(out), "--iw-samples", "50", "--json", "--device", "cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for key in ("neg_elbo", "recon", "kl", "nll_iw", "active_units", "knn_accuracy", "latent_dim", "dataset", "arch"):
        assert key in result, key
    assert result["dataset"] == "digits" and result["arch"] == "mlp" and result["latent_dim"] == 2
    assert result["recon"] > 0 and result["kl"] > 0
    assert result["neg_elbo"] == pytest.approx(result["recon"] + result["kl"], rel=1e-6)
    assert result["nll_iw"] <= result["neg_elbo"] + 0.05
    # the stored test -ELBO of the last epoch used the same single-sample estimator
    assert abs(result["neg_elbo"] - ckpt.history[-1]["test_neg_elbo"]) < 1.0


def test_help_speaks_to_a_newcomer():
    proc = subprocess.run(
        [sys.executable, "-m", "explorer", "train", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for text in ("--latent-dim", "plain autoencoder", "examples:", "--data-dir", "EXPLORER_DATA_DIR"):
        assert text in proc.stdout


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert (
        main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.pt")]) == 2
    )
    assert "FashionMNIST" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--latent-dim", "100000", "--out", str(tmp_path / "y.pt")]) == 2
    assert "latent_dim" in capsys.readouterr().err


def test_checkpoint_is_written_every_epoch(tmp_path, monkeypatch):
    """A run stopped after epoch 2 leaves a loadable checkpoint holding two epochs."""
    out = tmp_path / "partial.pt"
    import explorer.cli as cli

    real_save = checkpoints.save
    saves = []

    def save_then_stop(path, payload):
        real_save(path, payload)
        saves.append(len(payload["history"]))
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.checkpoints, "save", save_then_stop)
    assert (
        main(["train", "--dataset", "digits", "--hidden", "32", "--epochs", "5", "--out", str(out), "--quiet"]) == 130
    )
    assert len(checkpoints.load(out).history) == 2


def test_evaluate_can_store_its_metrics_in_the_checkpoint(tiny_checkpoint, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(tiny_checkpoint.read_bytes())
    before = checkpoints.load(path)
    assert "nll_iw" not in before.metrics
    assert main(["evaluate", str(path), "--iw-samples", "30", "--save-metrics", "--json"]) == 0
    after = checkpoints.load(path)
    assert after.metrics["iw_samples"] == 30 and after.metrics["nll_iw"] <= after.metrics["neg_elbo"] + 0.05
    for (name, a), b in zip(before.model.state_dict().items(), after.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert after.history == before.history
