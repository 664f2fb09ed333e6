"""Command line: `python -m explorer train ...` and `python -m explorer evaluate FILE.pt`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from explorer import checkpoints
from explorer.config import (
    ACTIVATIONS,
    ARCHS,
    BINARIZE,
    DEFAULT_CONV_DENSE,
    DEVICES,
    LIKELIHOODS,
    ModelConfig,
    TrainConfig,
)
from explorer.data import DATASETS, dataset_spec, load_dataset
from explorer.devices import describe_device, resolve_device
from explorer.errors import ExplorerError, TrainingDiverged
from explorer.metrics import MAX_IW_SAMPLES, evaluate
from explorer.train import Progress, train

DEFAULT_HIDDEN = {"mlp": "512,256", "conv": "32,64"}

TRAIN_EPILOG = """\
examples:
  python -m explorer train                                  # MNIST, MLP, 2-D latent, 20 epochs
  python -m explorer train --dataset digits --epochs 30     # tiny, offline, seconds on a CPU
  python -m explorer train --arch conv --latent-dim 2 --epochs 30 --out runs/conv2.pt
  python -m explorer train --beta 0 --out runs/ae.pt        # a plain autoencoder, for contrast
  python -m explorer train --hidden 500 --activation tanh   # Kingma & Welling's MLP

The checkpoint is rewritten (atomically) after every epoch, so an interrupted or diverged run
keeps its last good epoch. Open the file in the app, or score it with `python -m explorer evaluate`.
"""

EVALUATE_EPILOG = """\
examples:
  python -m explorer evaluate checkpoints/mnist-mlp-z2.pt
  python -m explorer evaluate runs/model.pt --iw-samples 1000 --json
  python -m explorer evaluate checkpoints/mnist-mlp-z2.pt --index 7 --samples 10 --seed 0 --device cpu

All numbers are nats per test image: -ELBO = recon + KL, and nll_iw is -log p(x) estimated with
k importance samples (Burda et al. 2015), which is never above -ELBO and tightens as k grows.
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"hidden sizes are comma-separated integers, like 512,256; got {text!r}"
        ) from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one hidden size")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m explorer",
        description="Train and evaluate variational autoencoders for VAE Latent Explorer.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate}")

    t = sub.add_parser(
        "train",
        help="train a VAE and write a checkpoint the app can open",
        description="Train a VAE on an image data set and save a checkpoint (weights, configs, history, "
        "metrics and the encoded test set) that the app opens without the data set.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = t.add_argument_group("data")
    data.add_argument(
        "--dataset", choices=list(DATASETS), default="mnist", help="data set to train on (default: mnist)"
    )
    data.add_argument(
        "--data-dir",
        default=None,
        help="folder with torchvision's layout (MNIST/raw/...); "
        "default: $EXPLORER_DATA_DIR, else ~/.cache/vae-explorer/data",
    )
    model = t.add_argument_group("model")
    model.add_argument("--arch", choices=ARCHS, default="mlp", help="mlp or conv (default: mlp)")
    model.add_argument(
        "--hidden",
        type=_hidden,
        default=None,
        help="MLP: hidden widths, e.g. 512,256; conv: channels per stride-2 layer, e.g. 32,64 "
        f"(default: {DEFAULT_HIDDEN['mlp']} for mlp, {DEFAULT_HIDDEN['conv']} for conv)",
    )
    model.add_argument(
        "--dense",
        type=int,
        default=None,
        help="conv only: width of a fully connected layer between the convs and z (default: 256 for conv; 0 for none)",
    )
    model.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="non-linearity (default: relu)")
    model.add_argument(
        "--latent-dim", type=_positive_int, default=2, help="size of z (default: 2, drawable as a plane)"
    )
    model.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        default="bernoulli",
        help="p(x|z): bernoulli = cross-entropy, gaussian = squared error (default: bernoulli)",
    )
    model.add_argument(
        "--gaussian-sigma", type=float, default=0.1, help="std of the Gaussian likelihood (default: 0.1)"
    )
    opt = t.add_argument_group("training")
    opt.add_argument(
        "--binarize",
        choices=BINARIZE,
        default="none",
        help="dynamic: sample binary pixels afresh each batch (Bernoulli only; default: none)",
    )
    opt.add_argument("--beta", type=float, default=1.0, help="KL weight; 0 trains a plain autoencoder (default: 1)")
    opt.add_argument(
        "--warmup-epochs", type=int, default=0, help="ramp the KL weight from 0 to beta over N epochs (default: 0)"
    )
    opt.add_argument("--epochs", type=_positive_int, default=20, help="passes over the training set (default: 20)")
    opt.add_argument("--batch-size", type=_positive_int, default=128, help="images per step (default: 128)")
    opt.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 0.001)")
    opt.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default="cosine",
        help="learning-rate schedule (default: cosine, decaying to 0 at the last epoch)",
    )
    opt.add_argument("--seed", type=int, default=0, help="random seed; the same seed repeats the run (default: 0)")
    opt.add_argument(
        "--device", choices=DEVICES, default="auto", help="auto picks cuda, then mps, then cpu (default: auto)"
    )
    opt.add_argument("--no-amp", action="store_true", help="train in float32 on CUDA instead of bf16 autocast")
    out = t.add_argument_group("output")
    out.add_argument("--out", default=None, help="checkpoint file to write (default: runs/<dataset>-<arch>-z<N>.pt)")
    out.add_argument(
        "--iw-samples",
        type=int,
        default=100,
        help="importance samples for the final log p(x) estimate; 0 skips it (default: 100)",
    )
    out.add_argument("--compact", action="store_true", help="store weights and codes as float16 (half the size)")
    out.add_argument("--quiet", action="store_true", help="print only the final summary")

    e = sub.add_parser(
        "evaluate",
        help="score a checkpoint on its test set (-ELBO, IW log p(x), active units, k-NN)",
        description="Score a checkpoint on its data set's test images.",
        epilog=EVALUATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("checkpoint", help="a .pt file written by `python -m explorer train`")
    e.add_argument("--data-dir", default=None, help="where the data set lives (as for train)")
    e.add_argument(
        "--iw-samples", type=int, default=100, help="importance samples k for log p(x); 0 skips it (default: 100)"
    )
    e.add_argument("--seed", type=int, default=0, help="seed of the sampling (default: 0)")
    e.add_argument("--device", choices=DEVICES, default="auto", help="device to evaluate on (default: auto)")
    e.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    e.add_argument(
        "--save-metrics",
        action="store_true",
        help="also write these metrics into the checkpoint (atomically), so the app shows them",
    )
    one = e.add_argument_group("one image (the numbers of the app's ELBO lab)")
    one.add_argument(
        "--index",
        type=int,
        default=None,
        help="score only test image I: mu, sigma, KL (closed form and Monte Carlo), recon, ELBO, "
        "IW log p(x) and, for a 2-D latent, log p(x) by quadrature. The app computes on the CPU: "
        "add --device cpu to match its numbers exactly",
    )
    one.add_argument(
        "--samples", type=_positive_int, default=10, help="with --index: Monte Carlo samples L (default: 10)"
    )
    return parser


class _ProgressLine:
    """A one-line progress bar on stderr: redrawn in place on a terminal, a line per epoch elsewhere."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        if p.stats is not None:
            s = p.stats
            line = (
                f"epoch {s.epoch}/{p.epochs}  train -ELBO {s.train_neg_elbo:8.2f} "
                f"(recon {s.train_recon:7.2f} + KL {s.train_kl:6.2f})  test -ELBO {s.test_neg_elbo:8.2f}  "
                f"beta {s.beta:g}  {s.seconds:5.1f} s"
            )
            print(("\r\033[K" if self.tty else "") + line, file=sys.stderr, flush=True)
        elif self.tty:
            width = 30
            filled = int(width * p.step / p.steps)
            left = p.seconds_left
            eta = f"{left:5.0f} s left" if left is not None else ""
            bar = "#" * filled + "." * (width - filled)
            print(
                f"\r\033[Kepoch {p.epoch}/{p.epochs} [{bar}] {p.step}/{p.steps}  {eta}",
                end="",
                file=sys.stderr,
                flush=True,
            )


def _iw_progress(k: int, enabled: bool = True):
    """Progress of the importance-weighted bound on stderr (it is the slow part for large k)."""
    if not enabled or k == 0:
        return None
    started = time.perf_counter()
    tty = sys.stderr.isatty()
    shown = [0.0]

    def report(done: int, total: int) -> None:
        fraction = done / total
        if not tty and fraction < 1 and fraction - shown[0] < 0.1:
            return
        shown[0] = fraction
        elapsed = time.perf_counter() - started
        left = elapsed * (1 - fraction) / max(fraction, 1e-9)
        text = f"IW bound (k={k}): {done}/{total} images, {left:4.0f} s left"
        print(
            ("\r\033[K" + text) if tty else text, end="" if tty and done < total else "\n", file=sys.stderr, flush=True
        )

    return report


def cmd_train(args: argparse.Namespace) -> int:
    spec = dataset_spec(args.dataset)
    hidden = args.hidden or _hidden(DEFAULT_HIDDEN[args.arch])
    dense = (DEFAULT_CONV_DENSE if args.arch == "conv" else 0) if args.dense is None else args.dense
    model_config = ModelConfig(
        image_shape=spec.image_shape,
        arch=args.arch,
        hidden=hidden,
        dense=dense,
        activation=args.activation,
        latent_dim=args.latent_dim,
        likelihood=args.likelihood,
        gaussian_sigma=args.gaussian_sigma,
    )
    train_config = TrainConfig(
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        beta=args.beta,
        warmup_epochs=args.warmup_epochs,
        binarize=args.binarize,
        seed=args.seed,
        device=args.device,
        amp=not args.no_amp,
    )
    if not 0 <= args.iw_samples <= MAX_IW_SAMPLES:
        raise ExplorerError(f"--iw-samples must be 0..{MAX_IW_SAMPLES}")
    out = Path(args.out or f"runs/{args.dataset}-{args.arch}-z{args.latent_dim}.pt")
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, args.data_dir)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    say(
        f"training {model_config.describe()} on {spec.title} ({len(data.train_x)} images) "
        f"for {args.epochs} epochs on {describe_device(device)}; checkpoint: {out}"
    )

    progress = _ProgressLine(enabled=not args.quiet)
    started = time.perf_counter()

    command = "python -m explorer " + " ".join(shlex.quote(a) for a in (args.argv or []))

    def write(model, history, metrics=None, seconds=None) -> None:
        payload = checkpoints.to_dict(
            model,
            train_config=train_config,
            dataset=data.info,
            encoded=checkpoints.encode_test_set(model, data.test_x.to(device), data.test_y, binarize=args.binarize),
            history=[h.to_dict() for h in history],
            metrics=metrics,
            meta={
                "device": describe_device(device),
                "seconds": round(seconds if seconds is not None else time.perf_counter() - started, 2),
                "command": command,
            },
            compact=args.compact,
        )
        checkpoints.save(out, payload)

    history = []

    def on_progress(p: Progress) -> None:
        progress(p)
        if p.stats is not None:
            history.append(p.stats)
            write(p.model, history)

    try:
        result = train(model_config, train_config, data, device=device, callback=on_progress)
    except TrainingDiverged as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        if history:
            print(f"the checkpoint of epoch {len(history)} is in {out}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"\ninterrupted; {out} holds epoch {len(history)}" if history else "\ninterrupted", file=sys.stderr)
        return 130

    say(f"evaluating (k-NN on mu, IW bound with k={args.iw_samples}) ...")
    dev_data = data.to(device)
    metrics = evaluate(
        result.model,
        dev_data.train_x,
        dev_data.train_y,
        dev_data.test_x,
        dev_data.test_y,
        binarize=args.binarize,
        iw_samples=args.iw_samples,
        seed=args.seed,
        progress=_iw_progress(args.iw_samples, enabled=not args.quiet),
    )
    write(result.model, result.history, metrics.to_dict(), seconds=result.seconds)
    print(_summary(metrics.to_dict(), title=f"{out}  ({result.seconds:.0f} s training)"))
    return 0


def _summary(m: dict, *, title: str) -> str:
    lines = [title]
    lines.append(f"  -ELBO        {m['neg_elbo']:10.2f} nats  (recon {m['recon']:.2f} + KL {m['kl']:.2f})")
    if m.get("nll_iw") is not None:
        lines.append(f"  -log p(x)    {m['nll_iw']:10.2f} nats  (IW bound, k={m['iw_samples']})")
    dims = len(m.get("kl_per_dim", []))
    lines.append(f"  active units {m['active_units']:10d} of {dims}")
    if m.get("knn_accuracy") is not None:
        lines.append(f"  5-NN on mu   {100 * m['knn_accuracy']:9.1f} %")
    return "\n".join(lines)


def _store_metrics(path: str, metrics: dict) -> None:
    """Replace the checkpoint's metrics, leaving every other part of the file as it was."""
    raw = checkpoints.read_dict(path)
    raw["metrics"] = dict(metrics)
    checkpoints.from_dict(raw)  # still a valid checkpoint
    checkpoints.save(path, raw)


def cmd_evaluate(args: argparse.Namespace) -> int:
    if not 0 <= args.iw_samples <= MAX_IW_SAMPLES:
        raise ExplorerError(f"--iw-samples must be 0..{MAX_IW_SAMPLES}")
    device = resolve_device(args.device)
    ckpt = checkpoints.load(args.checkpoint, map_location=device)
    data = load_dataset(ckpt.dataset.name, args.data_dir).to(device)
    binarize = ckpt.train_config.binarize if ckpt.train_config else "none"
    if args.index is not None:
        return _evaluate_image(args, ckpt, data.test_x, data.test_y, binarize)
    started = time.perf_counter()
    metrics = evaluate(
        ckpt.model,
        data.train_x,
        data.train_y,
        data.test_x,
        data.test_y,
        binarize=binarize,
        iw_samples=args.iw_samples,
        seed=args.seed,
        progress=_iw_progress(args.iw_samples),
    ).to_dict()
    if args.save_metrics:
        _store_metrics(args.checkpoint, metrics)
    cfg = ckpt.model_config
    metrics.update(
        latent_dim=cfg.latent_dim,
        dataset=ckpt.dataset.name,
        arch=cfg.arch,
        likelihood=cfg.likelihood,
        hidden=list(cfg.hidden),
        checkpoint=str(args.checkpoint),
        seconds=round(time.perf_counter() - started, 2),
    )
    if args.json:
        print(json.dumps(metrics))
    else:
        print(_summary(metrics, title=f"{args.checkpoint}: {cfg.describe()} on {ckpt.dataset.title}"))
    return 0


def _evaluate_image(args: argparse.Namespace, ckpt, test_x, test_y, binarize: str) -> int:
    """`evaluate --index I`: every term of one image's ELBO, computed as the app's ELBO lab does."""
    from explorer import elbo_lab

    targets = elbo_lab.image_targets(test_x, binarize)
    if not 0 <= args.index < len(targets):
        raise ExplorerError(f"--index must be 0..{len(targets) - 1} for {ckpt.dataset.title}, got {args.index}")
    if args.samples > elbo_lab.MAX_SAMPLES:
        raise ExplorerError(f"--samples must be 1..{elbo_lab.MAX_SAMPLES}")
    x = targets[args.index]
    terms = elbo_lab.analyse_image(
        ckpt.model, x, index=args.index, seed=args.seed, samples=args.samples, iw_samples=args.iw_samples
    )
    exact = elbo_lab.exact_posterior(ckpt.model, x) if ckpt.latent_dim == 2 else None
    report = elbo_lab.image_report(terms, exact)
    cfg = ckpt.model_config
    label = int(test_y[args.index])
    report.update(
        label=ckpt.dataset.class_names[label],
        latent_dim=cfg.latent_dim,
        dataset=ckpt.dataset.name,
        arch=cfg.arch,
        checkpoint=str(args.checkpoint),
    )
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.checkpoint}: test image {args.index} ({report['label']}), seed {args.seed}, L = {args.samples}")
    print(f"  mu           {' '.join(f'{v:+.4f}' for v in report['mu'])}")
    print(f"  sigma        {' '.join(f'{v:.4f}' for v in report['sigma'])}")
    kl_se = report["kl_mc_stderr"]
    print(
        f"  KL           {report['kl']:10.4f} nats closed form;  Monte Carlo {report['kl_mc']:.4f}"
        + (f" +- {kl_se:.4f}" if kl_se is not None else "")
    )
    recon_se = report["recon_stderr"]
    print(f"  recon        {report['recon']:10.4f} nats" + (f" +- {recon_se:.4f}" if recon_se is not None else ""))
    print(f"  ELBO         {report['elbo']:10.4f} nats  (-(recon + KL))")
    if report["log_px_iw"] is not None:
        print(
            f"  log p(x)     {report['log_px_iw']:10.4f} nats  (IW bound, k={args.iw_samples}; gap {report['gap_iw']:.4f})"
        )
    if exact is not None:
        print(
            f"  log p(x)     {exact.log_px:10.4f} nats  (quadrature; exact ELBO {exact.elbo:.4f}, "
            f"KL(q || p(z|x)) {exact.kl_to_posterior:.4f})"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        if args.command == "train":
            return cmd_train(args)
        return cmd_evaluate(args)
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
