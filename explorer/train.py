"""One plain training loop.

The whole data set sits on the training device as one tensor and batches are taken by index,
so no per-sample Python work happens in the hot loop. A callback receives `Progress` events
(a few per second, and one at each epoch's end) and may raise `TrainingCancelled` to stop;
a NaN loss stops the run with `TrainingDiverged`, whose `.result` holds the last good epoch.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from explorer.config import ModelConfig, TrainConfig
from explorer.data import ImageData
from explorer.devices import resolve_device
from explorer.errors import ConfigError, TrainingCancelled, TrainingDiverged
from explorer.losses import vae_loss
from explorer.metrics import elbo_terms, evaluation_targets
from explorer.models import VAE


@dataclass(frozen=True)
class EpochStats:
    """One row of the training history; losses in nats per image."""

    epoch: int  # 1-based
    beta: float  # KL weight used during this epoch
    lr: float
    train_neg_elbo: float  # mean over the epoch's batches
    train_recon: float
    train_kl: float
    test_neg_elbo: float  # on the test set at the end of the epoch, one sample per image
    test_recon: float
    test_kl: float
    seconds: float  # wall time of the epoch (training and test pass)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Progress:
    """What the callback sees: a few times a second, and at the end of every epoch."""

    epoch: int  # 1-based epoch under way
    epochs: int
    step: int  # batches done in this epoch
    steps: int  # batches per epoch
    elapsed: float  # seconds since training began
    stats: EpochStats | None = None  # set only on the end-of-epoch event
    model: VAE | None = None  # set only on the end-of-epoch event; read it, do not train it

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) * self.steps + self.step) / (self.epochs * self.steps)

    @property
    def seconds_left(self) -> float | None:
        if self.fraction <= 0:
            return None
        return self.elapsed * (1 - self.fraction) / self.fraction


@dataclass(frozen=True)
class TrainResult:
    model: VAE  # in eval mode, weights of the last completed epoch
    history: list[EpochStats]
    device: torch.device
    seconds: float
    cancelled: bool = False


def _make_optimizer(model: VAE, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam with the fused kernel where the device has one (about 1.3x faster on a CPU)."""
    if device.type in ("cpu", "cuda"):
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    return torch.optim.Adam(model.parameters(), lr=lr)


def check_compatible(model_config: ModelConfig, train_config: TrainConfig, data: ImageData) -> None:
    if tuple(data.info.image_shape) != tuple(model_config.image_shape):
        raise ConfigError(
            f"the model expects images of shape {model_config.image_shape} but {data.info.name} "
            f"has {data.info.image_shape}"
        )
    if train_config.binarize == "dynamic" and model_config.likelihood != "bernoulli":
        raise ConfigError("dynamic binarization only makes sense with the Bernoulli likelihood")


def _snapshot(model: VAE) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    data: ImageData,
    *,
    device: torch.device | None = None,
    callback: Callable[[Progress], None] | None = None,
    progress_interval: float = 0.25,
) -> TrainResult:
    """Train a VAE from scratch and return it with its per-epoch history."""
    check_compatible(model_config, train_config, data)
    device = device or resolve_device(train_config.device)
    cfg, tc = model_config, train_config

    torch.manual_seed(tc.seed)
    model = VAE(cfg).to(device)
    generator = torch.Generator(device=device).manual_seed(tc.seed)
    optimizer = _make_optimizer(model, tc.lr, device)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=tc.epochs) if tc.lr_schedule == "cosine" else None
    )
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and tc.amp else contextlib.nullcontext()
    )
    # On a GPU, asking whether the loss is finite forces a sync; do it every 50 batches there.
    check_every = 1 if device.type == "cpu" else 50

    train_x = data.train_x.to(device)
    test_x = evaluation_targets(data.test_x.to(device), tc.binarize)
    n = len(train_x)
    steps = math.ceil(n / tc.batch_size)
    history: list[EpochStats] = []
    good_state = _snapshot(model)
    start = time.perf_counter()
    last_report = 0.0

    def result(cancelled: bool = False) -> TrainResult:
        model.load_state_dict(good_state)
        model.eval()
        return TrainResult(model, history, device, time.perf_counter() - start, cancelled)

    def emit(progress: Progress) -> None:
        if callback is not None:
            callback(progress)

    try:
        for epoch in range(tc.epochs):
            epoch_start = time.perf_counter()
            beta = tc.beta_at(epoch)
            lr = optimizer.param_groups[0]["lr"]
            model.train()
            sums = torch.zeros(2, device=device)  # recon, kl summed over images
            order = torch.randperm(n, device=device, generator=generator)
            for step in range(steps):
                idx = order[step * tc.batch_size : (step + 1) * tc.batch_size]
                x = train_x[idx]
                if tc.binarize == "dynamic":
                    x = torch.bernoulli(x, generator=generator)
                with autocast:
                    out = model(x, generator=generator)
                terms = vae_loss(
                    out.logits.float(),
                    x,
                    out.mu.float(),
                    out.logvar.float(),
                    likelihood=cfg.likelihood,
                    gaussian_sigma=cfg.gaussian_sigma,
                    beta=beta,
                )
                sums += torch.stack([terms.recon.detach(), terms.kl.detach()]) * len(x)
                if (step + 1) % check_every == 0 or step == steps - 1:
                    if not bool(torch.isfinite(sums).all() and torch.isfinite(terms.total)):
                        raise TrainingDiverged(
                            f"the loss became {float(terms.total.detach())} at epoch {epoch + 1}, batch {step + 1}: "
                            f"training stopped. Try a smaller learning rate (now {tc.lr:g}) or a "
                            f"smaller beta; the last good epoch ({len(history)}) is kept."
                        )
                optimizer.zero_grad(set_to_none=True)
                terms.total.backward()
                optimizer.step()
                now = time.perf_counter()
                if callback is not None and now - last_report >= progress_interval:
                    last_report = now
                    emit(Progress(epoch + 1, tc.epochs, step + 1, steps, now - start))
            if scheduler is not None:
                scheduler.step()

            model.eval()
            eval_generator = torch.Generator(device=device).manual_seed(tc.seed + 1)
            test_recon, test_kl = elbo_terms(model, test_x, generator=eval_generator)
            train_recon, train_kl = (sums / n).tolist()
            stats = EpochStats(
                epoch=epoch + 1,
                beta=beta,
                lr=lr,
                train_neg_elbo=train_recon + train_kl,
                train_recon=train_recon,
                train_kl=train_kl,
                test_neg_elbo=float((test_recon + test_kl).mean()),
                test_recon=float(test_recon.mean()),
                test_kl=float(test_kl.mean()),
                seconds=time.perf_counter() - epoch_start,
            )
            if not math.isfinite(stats.test_neg_elbo):
                raise TrainingDiverged(
                    f"the test loss became {stats.test_neg_elbo} after epoch {epoch + 1}: training "
                    f"stopped. Try a smaller learning rate (now {tc.lr:g}); the last good epoch "
                    f"({len(history)}) is kept."
                )
            history.append(stats)
            good_state = _snapshot(model)
            emit(Progress(epoch + 1, tc.epochs, steps, steps, time.perf_counter() - start, stats, model))
    except TrainingCancelled:
        return result(cancelled=True)
    except TrainingDiverged as exc:
        exc.result = result()
        raise
    return result()
