"""How long the ELBO lab's computations take for one image on the CPU (what a page rerun waits for
on a cache miss).

    EXPLORER_DATA_DIR=../shared/data python -m benchmarks.elbo_lab_timing [checkpoints/mnist-mlp-z2.pt ...]

Without arguments it times every checkpoint in checkpoints/ whose data set is on disk. Each number
is the median of 5 runs over different images, in milliseconds.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

from explorer import checkpoints, elbo_lab
from explorer.data import DatasetUnavailable, load_dataset


def _median_ms(fn, runs: int = 5) -> float:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        fn(i)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def time_checkpoint(path: Path) -> dict | None:
    ckpt = checkpoints.load(path)
    try:
        data = load_dataset(ckpt.dataset.name, download=False)
    except DatasetUnavailable as exc:
        print(f"{path.name}: skipped ({exc})", file=sys.stderr)
        return None
    binarize = ckpt.train_config.binarize if ckpt.train_config else "none"
    x = elbo_lab.image_targets(data.test_x, binarize)
    model = ckpt.model
    mu, logvar, _ = elbo_lab.encoded_arrays(ckpt.encoded)
    row = {"checkpoint": path.name, "latent": ckpt.latent_dim}
    row["terms L=10 k=1000"] = _median_ms(lambda i: elbo_lab.analyse_image(model, x[i], seed=i, samples=10))
    row["terms L=1000 k=5000"] = _median_ms(
        lambda i: elbo_lab.analyse_image(model, x[i], seed=i, samples=1000, iw_samples=5000)
    )
    if ckpt.latent_dim == 2:
        row["exact posterior"] = _median_ms(lambda i: elbo_lab.exact_posterior(model, x[i]))
    row["aggregate 161x161"] = _median_ms(lambda i: elbo_lab.aggregate_posterior(mu, logvar), runs=3)
    return row


def main(argv: list[str]) -> None:
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    paths = [Path(a) for a in argv] or sorted(Path("checkpoints").glob("*.pt"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; milliseconds (median)")
    for path in paths:
        row = time_checkpoint(path)
        if row:
            print("  ".join(f"{k}: {v:.0f}" if isinstance(v, float) else f"{k}: {v}" for k, v in row.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
