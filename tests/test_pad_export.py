"""The decoder export for the browser pad (explorer/pad_export.py) and the pad's Python helpers.

The numpy reference decoder reads exactly what the browser receives; it must agree with torch.
The JavaScript decoder is compared with torch in tests/browser/test_pad_browser.py.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from torch import nn

from explorer.config import ModelConfig
from explorer.models import VAE
from explorer.pad_export import PadExportError, decode_numpy, export_decoder, pack_decoder, unpack_decoder

CONFIGS = {
    "mlp-relu": ModelConfig(image_shape=(1, 8, 8), hidden=(64,), latent_dim=2),
    "mlp-tanh-deep": ModelConfig(image_shape=(1, 28, 28), hidden=(128, 64), activation="tanh", latent_dim=5),
    "conv-digits": ModelConfig(image_shape=(1, 8, 8), arch="conv", hidden=(8, 16), latent_dim=2),
    "conv-mnist": ModelConfig(image_shape=(1, 28, 28), arch="conv", hidden=(8, 16), latent_dim=2),
    "conv-dense-mnist": ModelConfig(image_shape=(1, 28, 28), arch="conv", hidden=(8, 16), dense=32, latent_dim=2),
    # odd sides: the transposed convs need output_padding (3 -> 7 and 4 -> 9); three channels
    "conv-odd-rgb": ModelConfig(image_shape=(3, 7, 9), arch="conv", hidden=(4,), latent_dim=3, activation="tanh"),
}


def _model(config: ModelConfig, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    model = VAE(config).eval()
    with torch.no_grad():  # larger weights than the init, so the test sees saturated and signed values
        for p in model.decoder.parameters():
            p.mul_(3.0)
    return model


@pytest.mark.parametrize("name", list(CONFIGS))
def test_numpy_decoder_matches_torch(name):
    config = CONFIGS[name]
    model = _model(config)
    export = export_decoder(model)
    z = np.random.default_rng(1).normal(scale=2.0, size=(12, config.latent_dim)).astype(np.float32)
    with torch.no_grad():
        expected = model.decode(torch.from_numpy(z)).numpy()
    got = decode_numpy(export, z)
    assert got.shape == expected.shape == (12, *config.image_shape)
    assert np.abs(got - expected).max() < 1e-5
    assert got.std() > 0.05  # not a constant image


def test_output_padding_is_exported():
    export = export_decoder(_model(CONFIGS["conv-odd-rgb"]))
    conv = [layer for layer in export.layers if layer["type"] == "conv_transpose"]
    assert len(conv) == 1
    assert conv[0]["output_padding"] == [1, 1]
    assert conv[0]["in_shape"] == [4, 3, 4]
    assert conv[0]["out_shape"] == [3, 7, 9]
    assert export.layers[-1] == {"type": "sigmoid"}


def test_packed_decoder_round_trip():
    model = _model(CONFIGS["conv-digits"])
    export = export_decoder(model)
    data = pack_decoder(export)
    assert data[:4] == b"LPAD"
    header, floats = unpack_decoder(data)
    assert (len(data) - len(floats) * 4) % 4 == 0  # the floats start 4-byte aligned
    assert floats.size == export.n_floats
    state = {k: v.numpy() for k, v in model.decoder.layers.state_dict().items()}
    for layer, described in zip(export.layers, header["layers"]):
        assert described["type"] == layer["type"]
        for role, name in zip(("weight", "bias"), layer.get("params", [])):
            offset, length = described[role]
            np.testing.assert_array_equal(floats[offset : offset + length], state[name].ravel())
    assert header["latent_dim"] == 2 and header["image_shape"] == [1, 8, 8]
    with pytest.raises(ValueError, match="packed"):
        unpack_decoder(b"nonsense" + data)


def test_packed_id_follows_the_weights():
    def packed_id(seed: int) -> str:
        return unpack_decoder(pack_decoder(export_decoder(_model(CONFIGS["mlp-relu"], seed=seed))))[0]["id"]

    assert packed_id(0) == packed_id(0)
    assert packed_id(0) != packed_id(1)


def test_unsupported_layer_is_refused():
    model = VAE(CONFIGS["mlp-relu"])
    model.decoder.layers = nn.Sequential(nn.Linear(2, 64), nn.GELU(), nn.Linear(64, 64), nn.Unflatten(1, (1, 8, 8)))
    with pytest.raises(PadExportError, match="GELU"):
        export_decoder(model)


def test_wrong_output_shape_is_refused():
    model = VAE(CONFIGS["mlp-relu"])
    model.decoder.layers = nn.Sequential(nn.Linear(2, 60))
    with pytest.raises(PadExportError, match="60 values"):
        export_decoder(model)


def test_non_finite_weights_are_refused():
    model = VAE(CONFIGS["mlp-relu"])
    with torch.no_grad():
        model.decoder.layers[0].weight[0, 0] = float("nan")
    with pytest.raises(PadExportError, match="NaN"):
        export_decoder(model)


def test_decoder_without_unflatten_still_exports():
    model = VAE(CONFIGS["mlp-relu"]).eval()
    model.decoder.layers = nn.Sequential(*list(model.decoder.layers)[:-1])  # drop the Unflatten
    export = export_decoder(model)
    z = np.zeros((1, 2), dtype=np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(model.decoder.layers(torch.from_numpy(z))).numpy().reshape(1, 1, 8, 8)
    assert np.abs(decode_numpy(export, z) - expected).max() < 1e-6


def test_decode_numpy_checks_z():
    export = export_decoder(VAE(CONFIGS["mlp-relu"]))
    with pytest.raises(ValueError, match="2 coordinates"):
        decode_numpy(export, np.zeros(3))


# ---------------------------------------------------------------- the pad's Python helpers


def test_plane_points_takes_the_chosen_columns_and_samples():
    from explorer.ui.pad import plane_points

    mu = np.arange(5000 * 4, dtype=np.float32).reshape(5000, 4)
    labels = np.arange(5000) % 10
    xy, kept = plane_points(mu, labels, dims=(3, 1), latent_dim=4, max_points=1000)
    assert xy.shape == (1000, 2) and kept.shape == (1000,)
    rows = (xy[:, 0] - 3) / 4  # which mu rows were kept
    np.testing.assert_array_equal(xy[:, 1], mu[rows.astype(int), 1])
    np.testing.assert_array_equal(kept, labels[rows.astype(int)])
    again, _ = plane_points(mu, labels, dims=(3, 1), latent_dim=4, max_points=1000)
    np.testing.assert_array_equal(xy, again)  # the same sample every run


def test_plane_points_accepts_plane_coordinates_and_drops_non_finite():
    from explorer.ui.pad import plane_points

    xy = np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]])
    got, labels = plane_points(xy, np.array([1, 2, 3]), dims=(0, 4), latent_dim=8)
    np.testing.assert_array_equal(got, [[0.0, 1.0], [3.0, 4.0]])
    np.testing.assert_array_equal(labels, [1, 3])
    with pytest.raises(ValueError, match="8 or 2 columns"):
        plane_points(np.zeros((3, 5)), np.zeros(3), dims=(0, 1), latent_dim=8)


def test_parse_release_validates_what_the_browser_sent():
    from explorer.ui.pad import parse_release

    np.testing.assert_allclose(parse_release({"z": [0.5, -1.25], "seq": 1}, 2), [0.5, -1.25])
    np.testing.assert_allclose(parse_release({"z": [50.0, 0.0]}, 2), [10.0, 0.0])  # clamped like every z
    assert parse_release({"z": [0.5]}, 2) is None
    assert parse_release({"z": [0.5, "x"]}, 2) is None
    assert parse_release({"z": [0.5, float("nan")]}, 2) is None
    assert parse_release(None, 2) is None
    assert parse_release([0.5, 0.5], 2) is None


def test_background_png_round_trip():
    from PIL import Image

    from explorer.ui.pad import background_png

    image = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40)
    url = background_png(image)
    assert url.startswith("data:image/png;base64,")
    assert background_png(image.copy()) is url  # cached by content
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, np.round(image * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="image"):
        background_png(np.zeros((2, 3, 4, 5)))


# ---------------------------------------------------------------- latent_pad in a script


def _pad_script(path: str, key: str, poison: bool) -> None:
    import copy
    import dataclasses
    from pathlib import Path

    import numpy as np
    import streamlit as st
    import torch

    from explorer import checkpoints
    from explorer.ui.common import Loaded
    from explorer.ui.pad import latent_pad
    from explorer.ui.registry import ModelEntry

    ckpt = checkpoints.load(path)
    if poison:  # a diverged decoder: the browser must not be sent NaN weights
        model = copy.deepcopy(ckpt.model)
        with torch.no_grad():
            model.decoder.layers[0].weight[0, 0] = float("nan")
        ckpt = dataclasses.replace(ckpt, model=model)
    loaded = Loaded(ModelEntry("shipped:tiny", Path(path), "shipped"), ckpt)
    result = latent_pad(
        loaded,
        z=np.zeros(2),
        dims=(0, 1),
        points=ckpt.encoded.mu.numpy(),
        labels=ckpt.encoded.labels.numpy(),
        limit=3.0,
        key=key,
    )
    st.write(f"returned {result}")


def test_latent_pad_renders_with_any_key(tiny_checkpoint):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_pad_script, args=(str(tiny_checkpoint), "pad::trained:my__run", False))
    at.run(timeout=60)
    assert not at.exception
    assert not at.warning
    assert at.markdown[-1].value == "returned None"  # nothing released yet


def test_latent_pad_warns_instead_of_sending_nan_weights(tiny_checkpoint):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_pad_script, args=(str(tiny_checkpoint), "pad", True))
    at.run(timeout=60)
    assert not at.exception
    assert "cannot run this decoder" in at.warning[0].value
    assert "NaN" in at.warning[0].value
