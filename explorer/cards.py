"""Model cards for the shipped checkpoints: `python -m explorer.cards` rewrites the table in
checkpoints/README.md from each checkpoint and its `evaluate --iw-samples 1000 --json` output in
checkpoints/cards/<name>.json.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from explorer import checkpoints
from explorer.checkpoints import Checkpoint
from explorer.data import DATASETS

ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
BEGIN, END = "<!-- cards:begin -->", "<!-- cards:end -->"


def train_command(ckpt: Checkpoint, out: str) -> str:
    """The `python -m explorer train` line that rebuilds this checkpoint's configuration."""
    mc, tc = ckpt.model_config, ckpt.train_config
    args = [
        "--dataset",
        tc.dataset,
        "--arch",
        mc.arch,
        "--hidden",
        ",".join(map(str, mc.hidden)),
        "--activation",
        mc.activation,
        "--latent-dim",
        str(mc.latent_dim),
        "--likelihood",
        mc.likelihood,
    ]
    if mc.arch == "conv":
        args += ["--dense", str(mc.dense)]
    if mc.likelihood == "gaussian":
        args += ["--gaussian-sigma", f"{mc.gaussian_sigma:g}"]
    if tc.binarize != "none":
        args += ["--binarize", tc.binarize]
    if tc.beta != 1.0:
        args += ["--beta", f"{tc.beta:g}"]
    if tc.warmup_epochs:
        args += ["--warmup-epochs", str(tc.warmup_epochs)]
    args += [
        "--epochs",
        str(tc.epochs),
        "--batch-size",
        str(tc.batch_size),
        "--lr",
        f"{tc.lr:g}",
        "--lr-schedule",
        tc.lr_schedule,
        "--seed",
        str(tc.seed),
    ]
    if ckpt.meta.get("compact"):
        args.append("--compact")
    args += ["--iw-samples", "0", "--out", out]
    train = "python -m explorer train " + " ".join(shlex.quote(a) for a in args)
    return f"{train}\npython -m explorer evaluate {out} --iw-samples 1000 --json --save-metrics"


def card(path: Path) -> dict:
    ckpt = checkpoints.load(path)
    metrics = json.loads((path.parent / "cards" / f"{path.stem}.json").read_text())
    mc = ckpt.model_config
    return {
        "file": path.name,
        "data": DATASETS[ckpt.dataset.name].title if ckpt.dataset.name in DATASETS else ckpt.dataset.name,
        "architecture": mc.describe().split(",")[0],
        "latent": mc.latent_dim,
        "likelihood": mc.likelihood,
        "beta": ckpt.train_config.beta,
        "epochs": len(ckpt.history),
        "train_time": f"{ckpt.meta.get('seconds', 0) / 60:.1f} min on {ckpt.meta.get('device', '?')}",
        "command": train_command(ckpt, f"checkpoints/{path.name}"),
        "size_mb": path.stat().st_size / 2**20,
        "metrics": metrics,
    }


def render(cards: list[dict]) -> str:
    head = (
        "| file | data | architecture | z | likelihood | β | epochs | training | −ELBO | recon | KL | −log p(x) (IW, k=1000) "
        "| active units | 5-NN acc. | size |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for c in cards:
        m = c["metrics"]
        rows.append(
            f"| `{c['file']}` | {c['data']} | {c['architecture']} | {c['latent']} | {c['likelihood']} | {c['beta']:g} "
            f"| {c['epochs']} | {c['train_time']} | **{m['neg_elbo']:.2f}** | {m['recon']:.2f} | {m['kl']:.2f} "
            f"| {m['nll_iw']:.2f} | {m['active_units']}/{c['latent']} | {100 * m['knn_accuracy']:.1f}% | {c['size_mb']:.1f} MB |"
        )
    commands = "\n".join(f"# {c['file']}\n{c['command']}" for c in cards)
    total = sum(c["size_mb"] for c in cards)
    return (
        f"{head}" + "\n".join(rows) + f"\n\nAll files together: {total:.1f} MB.\n\n"
        "Commands that reproduce each file (same seed, same numbers on the same machine and torch build):\n\n"
        f"```bash\n{commands}\n```\n"
    )


def main() -> int:
    files = sorted(p for p in ROOT.glob("*.pt") if (ROOT / "cards" / f"{p.stem}.json").is_file())
    table = render([card(p) for p in files])
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + table + text[end:])
    print(f"wrote {len(files)} cards into {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
