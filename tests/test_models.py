"""Shapes for every architecture and latent size, and what the config promises."""

import pytest
import torch

from explorer.config import ModelConfig
from explorer.errors import ConfigError
from explorer.models import VAE, VAEOutput

SHAPES = [(1, 28, 28), (1, 8, 8)]


@pytest.mark.parametrize("arch,hidden,dense", [("mlp", (64, 32), 0), ("conv", (8, 16), 0), ("conv", (8, 16), 32)])
@pytest.mark.parametrize("latent_dim", [2, 5, 10, 20])
@pytest.mark.parametrize("shape", SHAPES)
def test_shapes(arch, hidden, dense, latent_dim, shape):
    cfg = ModelConfig(image_shape=shape, arch=arch, hidden=hidden, dense=dense, latent_dim=latent_dim)
    model = VAE(cfg)
    x = torch.rand(3, *shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, latent_dim)
    images = model.decode(mu)
    assert images.shape == (3, *shape)
    assert float(images.detach().min()) >= 0 and float(images.detach().max()) <= 1
    out = model(x)
    assert isinstance(out, VAEOutput)
    assert out.logits.shape == (3, *shape) and out.z.shape == (3, latent_dim)
    assert sum(p.numel() for p in model.parameters()) == cfg.parameter_count()


def test_conv_restores_odd_sides():
    cfg = ModelConfig(image_shape=(1, 28, 28), arch="conv", hidden=(8, 8, 8), latent_dim=2)  # 28 -> 14 -> 7 -> 3
    assert VAE(cfg).decode(torch.zeros(1, 2)).shape == (1, 1, 28, 28)


def test_kingma_welling_mlp_is_one_setting():
    cfg = ModelConfig(hidden=(500,), activation="tanh", latent_dim=20)
    layers = [m for m in VAE(cfg).modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(784, 500), (500, 40), (20, 500), (500, 784)]


def test_reparameterization_is_seeded_and_differentiable():
    model = VAE(ModelConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3))
    x = torch.rand(4, 1, 8, 8)
    a = model(x, generator=torch.Generator().manual_seed(0)).z
    b = model(x, generator=torch.Generator().manual_seed(0)).z
    assert torch.equal(a, b)
    mu = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    VAE.reparameterize(mu, logvar).sum().backward()
    assert mu.grad is not None and logvar.grad is not None


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(latent_dim=0), "latent_dim"),
        (dict(latent_dim=1_000_000_000), "latent_dim"),
        (dict(hidden=(1_000_000_000,)), "hidden size"),
        (dict(hidden=()), "hidden"),
        (dict(arch="transformer"), "arch"),
        (dict(likelihood="poisson"), "likelihood"),
        (dict(image_shape=(1, 8, 8), arch="conv", hidden=(4, 4, 4, 4)), "at least 16 pixels"),
        (dict(hidden=(4096, 4096, 4096, 4096, 4096)), "parameters"),
        (dict(dense=64), "conv architecture only"),
        (dict(arch="conv", hidden=(8,), dense=10**9), "dense"),
    ],
)
def test_config_refuses_absurd_settings(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        ModelConfig(**kwargs)


def test_config_round_trip_refuses_unknown_keys():
    cfg = ModelConfig(hidden=(32, 16), latent_dim=5)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown settings: surprise"):
        ModelConfig.from_dict({**cfg.to_dict(), "surprise": 1})
