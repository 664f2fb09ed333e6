"""Training throughput: the pytorch/examples VAE recipe against our trainer, same run, same machine.

The reference is the classic recipe (784-400-20 MLP, ReLU, sigmoid + BCE summed + KL, Adam 1e-3,
batch 128) fed by a torch DataLoader over torchvision's MNIST with transforms.ToTensor(), as in
pytorch/examples vae/main.py. Ours trains the same network with the same settings through
explorer.train (whole data set as one tensor, batches by index, fused Adam, BCE on logits).

Both are timed per epoch (training pass + test pass), and both final models are scored with the
same function (explorer.metrics.elbo_terms, one seeded sample per test image).

    python -m benchmarks.train_throughput --data-dir ../shared/data --epochs 5 [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from explorer.config import ModelConfig, TrainConfig
from explorer.data import load_dataset, resolve_data_dir
from explorer.metrics import elbo_terms
from explorer.models import VAE
from explorer.train import train

RESULTS = Path(__file__).parent / "results"


class ReferenceVAE(nn.Module):
    """The pytorch/examples network: fc1 784-400, fc21/fc22 400-20, fc3 20-400, fc4 400-784."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def reference_loss(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def run_reference(data_dir: Path, epochs: int, seed: int) -> tuple[ReferenceVAE, list[float]]:
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    train_set = datasets.MNIST(str(data_dir), train=True, download=False, transform=transforms.ToTensor())
    test_set = datasets.MNIST(str(data_dir), train=False, download=False, transform=transforms.ToTensor())
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=128, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=128, shuffle=False)
    model = ReferenceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for x, _ in train_loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = reference_loss(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for x, _ in test_loader:
                recon, mu, logvar = model(x)
                reference_loss(recon, x, mu, logvar)
        times.append(time.perf_counter() - start)
    return model, times


def as_explorer_model(ref: ReferenceVAE) -> VAE:
    """The same weights in our module layout, so both are scored by one function."""
    model = VAE(ModelConfig(hidden=(400,), latent_dim=20))
    enc, dec = (
        model.encoder.layers,
        model.decoder.layers,
    )  # Flatten, Linear, ReLU, Linear / Linear, ReLU, Linear, Unflatten
    with torch.no_grad():
        enc[1].weight.copy_(ref.fc1.weight)
        enc[1].bias.copy_(ref.fc1.bias)
        enc[3].weight.copy_(torch.cat([ref.fc21.weight, ref.fc22.weight]))
        enc[3].bias.copy_(torch.cat([ref.fc21.bias, ref.fc22.bias]))
        dec[0].weight.copy_(ref.fc3.weight)
        dec[0].bias.copy_(ref.fc3.bias)
        dec[2].weight.copy_(ref.fc4.weight)
        dec[2].bias.copy_(ref.fc4.bias)
    return model.eval()


def score(model: VAE, test_x: torch.Tensor) -> float:
    recon, kl = elbo_terms(model, test_x, generator=torch.Generator().manual_seed(0))
    return float((recon + kl).mean())


def run_ours(data, epochs: int, seed: int):
    mc = ModelConfig(hidden=(400,), latent_dim=20, activation="relu", likelihood="bernoulli")
    tc = TrainConfig(
        dataset="mnist", epochs=epochs, batch_size=128, lr=1e-3, lr_schedule="constant", seed=seed, device="cpu"
    )
    ours = train(mc, tc, data, device=torch.device("cpu"))
    return ours.model, [h.seconds for h in ours.history]


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds", type=int, default=1, help="train both this many times (seed, seed+1, ...): the -ELBO's seed spread"
    )
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    data = load_dataset("mnist", data_dir, download=False)

    ref_times, our_times, ref_scores, our_scores = [], [], [], []
    for seed in range(args.seed, args.seed + args.seeds):  # alternating, so both see the same machine
        ref_model, times = run_reference(data_dir, args.epochs, seed)
        ref_times += times
        ref_scores.append(round(score(as_explorer_model(ref_model), data.test_x), 2))
        our_model, times = run_ours(data, args.epochs, seed)
        our_times += times
        our_scores.append(round(score(our_model, data.test_x), 2))

    ref_median, our_median = statistics.median(ref_times), statistics.median(our_times)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": str(torch.__version__),
        "epochs": args.epochs,
        "seeds": list(range(args.seed, args.seed + args.seeds)),
        "reference_epoch_s": [round(t, 3) for t in ref_times],
        "ours_epoch_s": [round(t, 3) for t in our_times],
        "reference_median_s": round(ref_median, 3),
        "ours_median_s": round(our_median, 3),
        "speedup": round(ref_median / our_median, 2),
        "reference_test_neg_elbo": ref_scores,
        "ours_test_neg_elbo": our_scores,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"| trainer | median epoch (s) | test -ELBO after {args.epochs} epochs (nats, {args.seeds} seeds) |")
    print("|---|---|---|")
    print(f"| pytorch/examples recipe (DataLoader + ToTensor) | {ref_median:.2f} | {_spread(ref_scores)} |")
    print(f"| explorer.train | {our_median:.2f} | {_spread(our_scores)} |")
    print(f"speed-up: {result['speedup']:.2f}x (median epoch, same run)")


if __name__ == "__main__":
    main()
