"""Device choice: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

from explorer.errors import DeviceUnavailable


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(requested: str = "auto") -> torch.device:
    """'auto' picks the best device present; naming one that is absent raises DeviceUnavailable."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("--device cuda was asked for, but no CUDA GPU is visible; use --device auto or cpu")
    if requested == "mps" and not mps_available():
        raise DeviceUnavailable(
            "--device mps was asked for, but Apple's MPS backend is not available; use --device auto or cpu"
        )
    if requested not in ("cpu", "cuda", "mps"):
        raise DeviceUnavailable(f"unknown device {requested!r}; choose auto, cpu, cuda or mps")
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A human name, e.g. 'cuda (NVIDIA H100 80GB HBM3)' or 'cpu (8 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
