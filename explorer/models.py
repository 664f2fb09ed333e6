"""The VAE: a Gaussian encoder q(z|x) = N(mu, diag sigma^2) and a decoder p(x|z).

Two architectures share one `VAE` module and differ only in their Encoder/Decoder parts:
an MLP (Kingma & Welling's is `hidden=(500,)`, tanh) and a convolutional one (stride-2 convs,
mirrored by transposed convs). Every shape is derived from `ModelConfig`.

Each decoder is a plain `nn.Sequential` of Linear / activation / Unflatten / ConvTranspose2d
layers, so it can be exported layer by layer (the browser pad decodes with the same weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from explorer.config import ModelConfig


@dataclass(frozen=True)
class VAEOutput:
    """What `VAE.forward` returns."""

    logits: Tensor  # (B, C, H, W) decoder output before the sigmoid
    mu: Tensor  # (B, D) posterior means
    logvar: Tensor  # (B, D) posterior log-variances
    z: Tensor  # (B, D) reparameterized sample mu + sigma * eps


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.Tanh()


def _mlp(sizes: list[int], activation: str) -> list[nn.Module]:
    """Linear layers between consecutive sizes, with the activation between (not after) them."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(_activation(activation))
        layers.append(nn.Linear(n_in, n_out))
    return layers


class MLPEncoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        sizes = [config.n_pixels, *config.hidden, 2 * config.latent_dim]
        self.layers = nn.Sequential(nn.Flatten(), *_mlp(sizes, config.activation))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, 2D)
        return self.layers(x)


class MLPDecoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        sizes = [config.latent_dim, *reversed(config.hidden), config.n_pixels]
        self.layers = nn.Sequential(*_mlp(sizes, config.activation), nn.Unflatten(1, config.image_shape))

    def forward(self, z: Tensor) -> Tensor:  # (B, D) -> (B, C, H, W) logits
        return self.layers(z)


class ConvEncoder(nn.Module):
    """Stride-2 4x4 convolutions halve each side; a linear head (through an optional dense
    layer) gives (mu, logvar)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        channels = [config.image_shape[0], *config.hidden]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), _activation(config.activation)]
        h, w = config.conv_sides()[-1]
        flat = config.hidden[-1] * h * w
        layers.append(nn.Flatten())
        if config.dense:
            layers += [nn.Linear(flat, config.dense), _activation(config.activation)]
        layers.append(nn.Linear(config.dense or flat, 2 * config.latent_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, 2D)
        return self.layers(x)


class ConvDecoder(nn.Module):
    """Mirror of ConvEncoder: linear layer(s), then 4x4 stride-2 transposed convs.

    output_padding restores odd sides exactly (7 -> 3 in the encoder, 3 -> 7 here).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        sides = config.conv_sides()  # [(28, 28), (14, 14), (7, 7)] for MNIST with 2 convs
        h, w = sides[-1]
        channels = [config.image_shape[0], *config.hidden]
        flat = config.hidden[-1] * h * w
        layers: list[nn.Module] = []
        if config.dense:
            layers += [nn.Linear(config.latent_dim, config.dense), _activation(config.activation)]
        layers += [
            nn.Linear(config.dense or config.latent_dim, flat),
            _activation(config.activation),
            nn.Unflatten(1, (config.hidden[-1], h, w)),
        ]
        for i in reversed(range(len(config.hidden))):
            (h_out, w_out), (h_in, w_in) = sides[i], sides[i + 1]
            pad = (h_out - 2 * h_in, w_out - 2 * w_in)
            layers.append(nn.ConvTranspose2d(channels[i + 1], channels[i], 4, stride=2, padding=1, output_padding=pad))
            if i > 0:
                layers.append(_activation(config.activation))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:  # (B, D) -> (B, C, H, W) logits
        return self.layers(z)


class VAE(nn.Module):
    """encode(x) -> (mu, logvar); decode(z) -> pixel means; forward(x) -> VAEOutput."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.arch == "mlp":
            self.encoder: nn.Module = MLPEncoder(config)
            self.decoder: nn.Module = MLPDecoder(config)
        else:
            self.encoder = ConvEncoder(config)
            self.decoder = ConvDecoder(config)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of q(z|x): mu and log sigma^2, each (B, D)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode_logits(self, z: Tensor) -> Tensor:
        """Decoder output before the sigmoid, (B, C, H, W)."""
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """Pixel means of p(x|z) in [0, 1], (B, C, H, W)."""
        return torch.sigmoid(self.decoder(z))

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I): the sample is differentiable in mu and sigma."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: Tensor, *, generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator=generator)
        return VAEOutput(logits=self.decoder(z), mu=mu, logvar=logvar, z=z)
