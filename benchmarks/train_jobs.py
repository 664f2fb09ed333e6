"""What a student waits for on the Train page: background jobs through the app's JobManager.

For each run it reports the time from "Train" to the job's process running its first batch
(process start, imports, data loading), the seconds per epoch, the time to the model saved
(evaluation and the checkpoint included), and how long a cancel takes to stop the job.

    EXPLORER_DATA_DIR=../shared/data python -m benchmarks.train_jobs [--threads N] [--json FILE]

Runs: digits MLP 128-64 z=2 for 30 epochs (the page's default for digits) and, when MNIST is on
disk, MNIST MLP 256-128 z=2 for 5 epochs (the page's default for MNIST). Jobs run one at a time
with the manager's default priority (nice 10), as in the app. Timings on a busy machine are noisy:
rerun on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from explorer.config import ModelConfig, TrainConfig
from explorer.data import DATASETS, is_available
from explorer.jobs import JobManager, JobSettings, JobSpec

RUNS = {
    "digits-mlp-128-64-z2 (30 epochs)": ("digits", (128, 64), 30, 64, 3e-3),
    "mnist-mlp-256-128-z2 (5 epochs)": ("mnist", (256, 128), 5, 128, 1e-3),
}


def run_one(manager: JobManager, dataset: str, hidden: tuple[int, ...], epochs: int, batch: int, lr: float) -> dict:
    spec = JobSpec(
        ModelConfig(image_shape=DATASETS[dataset].image_shape, hidden=hidden, latent_dim=2),
        TrainConfig(dataset=dataset, epochs=epochs, batch_size=batch, lr=lr, device="cpu"),
    )
    submitted = time.monotonic()
    job = manager.submit(spec, owner="bench")
    first_batch = None
    while (state := manager.get(job.id)).active:
        if first_batch is None and state.step > 0:
            first_batch = time.monotonic() - submitted
        time.sleep(0.01)
    total = time.monotonic() - submitted
    if state.status != "done":
        raise RuntimeError(f"{job.id} {state.status}: {state.message}")
    per_epoch = [row["seconds"] for row in state.history]
    return {
        "to_first_batch_s": round(first_batch or float("nan"), 2),
        "seconds_per_epoch": round(sum(per_epoch) / len(per_epoch), 2),
        "to_saved_s": round(total, 2),
        "device": state.device,
    }


def cancel_latency(manager: JobManager) -> float:
    spec = JobSpec(
        ModelConfig(image_shape=(1, 8, 8), hidden=(128, 64), latent_dim=2),
        TrainConfig(dataset="digits", epochs=5000, batch_size=64, lr=3e-3, device="cpu"),
    )
    job = manager.submit(spec, owner="bench")
    while not manager.get(job.id).history:
        time.sleep(0.01)
    asked = time.monotonic()
    manager.cancel(job.id)
    manager.wait(job.id, timeout=120)
    return round(time.monotonic() - asked, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads per job (default: as the app)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    settings = JobSettings.from_env()
    if args.threads:
        settings = JobSettings(**{**settings.__dict__, "threads": args.threads})
    with tempfile.TemporaryDirectory() as out:
        manager = JobManager(Path(out), settings)
        results = {"threads_per_job": settings.threads, "runs": {}}
        try:
            for name, (dataset, *rest) in RUNS.items():
                if not is_available(dataset):
                    print(f"{name}: skipped ({dataset} is not on disk; set EXPLORER_DATA_DIR)")
                    continue
                results["runs"][name] = run_one(manager, dataset, *rest)
                print(f"{name}: {results['runs'][name]}", flush=True)
            results["cancel_to_stopped_s"] = cancel_latency(manager)
            print(f"cancel -> stopped and saved: {results['cancel_to_stopped_s']} s")
        finally:
            manager.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
