"""The decoder as compact arrays for the browser pad (A5), and a numpy decoder that reads them.

`export_decoder(model)` walks `model.decoder.layers` (Linear, ReLU/Tanh, Unflatten,
ConvTranspose2d) and returns a `DecoderExport`: a list of small layer descriptions plus the
float32 weights. `pack_decoder` turns that into one binary message that the pad's JavaScript
decodes with the same arithmetic as `decode_numpy` here, so the numpy version is the reference
both are tested against (and against torch).

No streamlit here; torch only to read the module's weights.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from explorer.errors import ExplorerError
from explorer.models import VAE


class PadExportError(ExplorerError):
    """The decoder has a layer the browser pad cannot run."""


@dataclass(frozen=True)
class DecoderExport:
    """The decoder as data: `layers` describe each step, `params` hold their float32 arrays."""

    latent_dim: int
    image_shape: tuple[int, int, int]  # (C, H, W) of the decoded image
    layers: tuple[dict[str, Any], ...]  # {"type": ..., "params": [names], ...shape settings}
    params: dict[str, np.ndarray]  # name -> float32 array, e.g. "0.weight"

    @property
    def n_floats(self) -> int:
        return sum(a.size for a in self.params.values())


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _as_f32(name: str, tensor) -> np.ndarray:
    array = tensor.detach().cpu().float().numpy()
    if not np.all(np.isfinite(array)):
        raise PadExportError(f"the decoder's {name} holds NaN or infinite values; the pad cannot draw from it")
    # A copy: for float32 CPU weights .numpy() is a view, and the model is shared by every session.
    return np.array(array, dtype=np.float32, order="C", copy=True)


def export_decoder(model: VAE) -> DecoderExport:
    """Describe `model.decoder.layers` layer by layer; the output is followed by a sigmoid."""
    config = model.config
    shape: tuple[int, ...] = (config.latent_dim,)  # running shape of one sample, batch left out
    layers: list[dict[str, Any]] = []
    params: dict[str, np.ndarray] = {}
    for index, layer in enumerate(model.decoder.layers):
        where = f"layer {index} ({type(layer).__name__})"
        if isinstance(layer, nn.Linear):
            if shape != (layer.in_features,):
                raise PadExportError(f"{where} expects {layer.in_features} inputs, gets shape {shape}")
            names = [f"{index}.weight"]
            params[names[0]] = _as_f32(names[0], layer.weight)  # (out, in)
            if layer.bias is not None:
                names.append(f"{index}.bias")
                params[names[1]] = _as_f32(names[1], layer.bias)
            layers.append({"type": "linear", "in": layer.in_features, "out": layer.out_features, "params": names})
            shape = (layer.out_features,)
        elif isinstance(layer, (nn.ReLU, nn.Tanh)):
            layers.append({"type": "relu" if isinstance(layer, nn.ReLU) else "tanh"})
        elif isinstance(layer, nn.Unflatten):
            if layer.dim not in (1, -len(shape)) or len(shape) != 1:
                raise PadExportError(f"{where} must unflatten a flat vector, got dim {layer.dim} of {shape}")
            new_shape = tuple(int(s) for s in layer.unflattened_size)
            if int(np.prod(new_shape)) != shape[0] or len(new_shape) != 3:
                raise PadExportError(f"{where} cannot reshape {shape} to {new_shape}")
            layers.append({"type": "unflatten", "shape": list(new_shape)})
            shape = new_shape
        elif isinstance(layer, nn.ConvTranspose2d):
            if len(shape) != 3 or shape[0] != layer.in_channels:
                raise PadExportError(f"{where} expects {layer.in_channels} channels, gets shape {shape}")
            if layer.groups != 1 or _pair(layer.dilation) != (1, 1) or layer.padding_mode != "zeros":
                raise PadExportError(f"{where}: the pad supports groups=1, dilation=1 and zero padding only")
            if isinstance(layer.padding, str):
                raise PadExportError(f"{where}: string padding ({layer.padding!r}) is not supported")
            kh, kw = _pair(layer.kernel_size)
            sh, sw = _pair(layer.stride)
            ph, pw = _pair(layer.padding)
            oph, opw = _pair(layer.output_padding)
            _, h_in, w_in = shape
            h_out = (h_in - 1) * sh - 2 * ph + kh + oph
            w_out = (w_in - 1) * sw - 2 * pw + kw + opw
            names = [f"{index}.weight"]
            params[names[0]] = _as_f32(names[0], layer.weight)  # (C_in, C_out, kH, kW)
            if layer.bias is not None:
                names.append(f"{index}.bias")
                params[names[1]] = _as_f32(names[1], layer.bias)
            layers.append(
                {
                    "type": "conv_transpose",
                    "in_shape": list(shape),
                    "out_shape": [layer.out_channels, h_out, w_out],
                    "kernel": [kh, kw],
                    "stride": [sh, sw],
                    "padding": [ph, pw],
                    "output_padding": [oph, opw],
                    "params": names,
                }
            )
            shape = (layer.out_channels, h_out, w_out)
        else:
            raise PadExportError(
                f"{where} is not one the pad can run in the browser (Linear, ReLU, Tanh, Unflatten, ConvTranspose2d)"
            )
    if len(shape) == 1:  # an MLP decoder without the final Unflatten: read it as the image
        if shape[0] != config.n_pixels:
            raise PadExportError(f"the decoder gives {shape[0]} values for a {config.image_shape} image")
        layers.append({"type": "unflatten", "shape": list(config.image_shape)})
        shape = tuple(config.image_shape)
    if tuple(shape) != tuple(config.image_shape):
        raise PadExportError(f"the decoder gives shape {shape}, the images are {config.image_shape}")
    layers.append({"type": "sigmoid"})  # VAE.decode: pixel means = sigmoid(logits)
    return DecoderExport(config.latent_dim, tuple(config.image_shape), tuple(layers), params)


# ---------------------------------------------------------------- reference decoder


def _conv_transpose(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, layer: dict) -> np.ndarray:
    """x (B, C_in, H, W), weight (C_in, C_out, kH, kW): input pixel (iy, ix) adds
    x * weight[..., ky, kx] to output pixel (iy * stride - padding + ky, same for x)."""
    (kh, kw), (sh, sw), (ph, pw) = layer["kernel"], layer["stride"], layer["padding"]
    c_out, h_out, w_out = layer["out_shape"]
    b, _, h_in, w_in = x.shape
    # A canvas big enough for every tap, cropped by `padding` at the top/left afterwards.
    full_h = max((h_in - 1) * sh + kh, ph + h_out)
    full_w = max((w_in - 1) * sw + kw, pw + w_out)
    full = np.zeros((b, c_out, full_h, full_w), dtype=np.float64)
    for ky in range(kh):
        for kx in range(kw):
            contribution = np.einsum("bihw,io->bohw", x, weight[:, :, ky, kx])
            full[:, :, ky : ky + (h_in - 1) * sh + 1 : sh, kx : kx + (w_in - 1) * sw + 1 : sw] += contribution
    out = full[:, :, ph : ph + h_out, pw : pw + w_out]
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out


def decode_numpy(export: DecoderExport, z: np.ndarray) -> np.ndarray:
    """Pixel means for each row of z, (B, D) -> (B, C, H, W), in float64 like the browser."""
    x = np.atleast_2d(np.asarray(z, dtype=np.float64))
    if x.shape[1] != export.latent_dim:
        raise ValueError(f"z must have {export.latent_dim} coordinates, got {x.shape[1]}")
    for layer in export.layers:
        kind = layer["type"]
        arrays = [export.params[name].astype(np.float64) for name in layer.get("params", [])]
        if kind == "linear":
            x = x @ arrays[0].T + (arrays[1] if len(arrays) > 1 else 0.0)
        elif kind == "relu":
            x = np.maximum(x, 0.0)
        elif kind == "tanh":
            x = np.tanh(x)
        elif kind == "sigmoid":
            x = 1.0 / (1.0 + np.exp(-x))
        elif kind == "unflatten":
            x = x.reshape(len(x), *layer["shape"])
        elif kind == "conv_transpose":
            x = _conv_transpose(x, arrays[0], arrays[1] if len(arrays) > 1 else None, layer)
        else:  # pragma: no cover - export_decoder emits only the kinds above
            raise ValueError(f"unknown layer type {kind!r}")
    return x


# ---------------------------------------------------------------- browser payload

MAGIC = b"LPAD\x01\x00\x00\x00"  # format tag of the packed decoder, version 1


def pack_decoder(export: DecoderExport) -> bytes:
    """The decoder as one binary message for the browser.

    MAGIC (8 bytes), the header's length (uint32 little-endian), the header (UTF-8 JSON, padded
    with spaces to a multiple of 4 bytes), then every parameter as little-endian float32. The
    header lists the layers, each parameter as [offset, length] in floats, and an `id` (a digest
    of the content) so the browser keeps one copy per distinct decoder. Binary rather than JSON
    with base64: Streamlit hashes and serializes the payload on every rerun, and that is several
    times cheaper for raw bytes.
    """
    offsets: dict[str, list[int]] = {}
    chunks: list[bytes] = []
    position = 0
    for name, array in export.params.items():
        offsets[name] = [position, int(array.size)]
        chunks.append(array.astype("<f4").tobytes())
        position += int(array.size)
    blob = b"".join(chunks)
    layers = []
    for layer in export.layers:
        described = {k: v for k, v in layer.items() if k != "params"}
        if "params" in layer:
            names = layer["params"]
            described["weight"] = offsets[names[0]]
            described["bias"] = offsets[names[1]] if len(names) > 1 else None
        layers.append(described)
    header = {"latent_dim": export.latent_dim, "image_shape": list(export.image_shape), "layers": layers}
    header["id"] = hashlib.sha256(json.dumps(header, sort_keys=True).encode() + blob).hexdigest()[:20]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    return MAGIC + struct.pack("<I", len(text)) + text + blob


def unpack_decoder(data: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """Read pack_decoder's message back: (header, all parameters as one float32 array)."""
    if data[:8] != MAGIC:
        raise ValueError("not a packed decoder")
    (length,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + length])
    return header, np.frombuffer(data[12 + length :], dtype="<f4")
