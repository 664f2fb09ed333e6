"""The training loop: learning, seeds, callbacks, cancellation, the NaN guard."""

import pytest
import torch

from explorer.config import ModelConfig, TrainConfig
from explorer.errors import ConfigError, TrainingCancelled, TrainingDiverged
from explorer.metrics import elbo_terms
from explorer.models import VAE
from explorer.train import train

MC = ModelConfig(image_shape=(1, 8, 8), hidden=(64,), latent_dim=2)


def _tc(**kw):
    return TrainConfig(**{"dataset": "digits", "epochs": 3, "batch_size": 64, "lr": 3e-3, "device": "cpu", **kw})


def test_training_lowers_the_test_loss(digits):
    torch.manual_seed(0)
    untrained = VAE(MC).eval()
    recon, kl = elbo_terms(untrained, digits.test_x, generator=torch.Generator().manual_seed(0))
    before = float((recon + kl).mean())
    result = train(MC, _tc(epochs=4), digits)
    after = result.history[-1].test_neg_elbo
    assert after < before - 5  # nats per image
    assert [h.epoch for h in result.history] == [1, 2, 3, 4]
    assert result.history[-1].train_neg_elbo == pytest.approx(
        result.history[-1].train_recon + result.history[-1].train_kl
    )


def test_same_seed_same_run(digits):
    a = train(MC, _tc(epochs=2, seed=7), digits)
    b = train(MC, _tc(epochs=2, seed=7), digits)
    c = train(MC, _tc(epochs=2, seed=8), digits)
    for (name, wa), wb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert a.history[-1].test_neg_elbo == b.history[-1].test_neg_elbo
    assert a.history[-1].test_neg_elbo != c.history[-1].test_neg_elbo


def test_warmup_ramps_beta(digits):
    result = train(MC, _tc(epochs=4, beta=2.0, warmup_epochs=4), digits)
    assert [h.beta for h in result.history] == [0.5, 1.0, 1.5, 2.0]


def test_callback_sees_progress_and_can_cancel(digits):
    events = []

    def callback(p):
        events.append(p)
        if p.stats is not None and p.epoch == 2:
            raise TrainingCancelled

    result = train(MC, _tc(epochs=5), digits, callback=callback, progress_interval=0.0)
    assert result.cancelled
    assert len(result.history) == 2
    ends = [e for e in events if e.stats is not None]
    assert [e.epoch for e in ends] == [1, 2] and all(e.model is not None for e in ends)
    assert all(0 < e.fraction <= 1 for e in events)


def test_nan_stops_the_run_and_keeps_the_last_good_epoch(digits):
    data = digits.to("cpu")
    poisoned = data.train_x.clone()
    from dataclasses import replace

    data = replace(data, train_x=poisoned)
    snapshot = {}

    def callback(p):
        if p.stats is not None:
            snapshot.update({k: v.clone() for k, v in p.model.state_dict().items()})
            poisoned[:] = float("nan")  # the next epoch's first batch is NaN

    with pytest.raises(TrainingDiverged, match="smaller learning rate") as info:
        train(MC, _tc(epochs=3), data, callback=callback)
    kept = info.value.result
    assert len(kept.history) == 1
    for name, weight in kept.model.state_dict().items():
        assert torch.equal(weight, snapshot[name]), name
        assert torch.isfinite(weight).all()


def test_incompatible_settings_are_refused(digits):
    with pytest.raises(ConfigError, match="expects images of shape"):
        train(ModelConfig(), _tc(), digits)
    with pytest.raises(ConfigError, match="binarization"):
        train(ModelConfig(image_shape=(1, 8, 8), hidden=(8,), likelihood="gaussian"), _tc(binarize="dynamic"), digits)


def test_dynamic_binarization_and_gaussian_train(digits):
    r1 = train(MC, _tc(epochs=1, binarize="dynamic"), digits)
    g = ModelConfig(image_shape=(1, 8, 8), hidden=(32,), latent_dim=2, likelihood="gaussian", gaussian_sigma=0.2)
    r2 = train(g, _tc(epochs=1), digits)
    assert torch.isfinite(torch.tensor([r1.history[0].test_neg_elbo, r2.history[0].test_neg_elbo])).all()
