"""Which checkpoints the app can open: shipped ones, ones trained in the app, uploads.

No Streamlit here, so it is tested directly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DIR = REPO / "checkpoints"
MODELS_DIR_ENV = "EXPLORER_MODELS_DIR"
DEFAULT_MODEL = "shipped:mnist-mlp-z2"
SOURCES = ("shipped", "trained", "upload")


@dataclass(frozen=True)
class ModelEntry:
    key: str  # "shipped:mnist-mlp-z2", "trained:my-run", "upload:3fa2c1d0e9b7"
    path: Path
    source: str  # shipped, trained or upload

    @property
    def name(self) -> str:
        return self.key.split(":", 1)[1]

    @property
    def label(self) -> str:
        suffix = {"shipped": "", "trained": " · trained here", "upload": " · uploaded"}[self.source]
        return f"{self.name}{suffix}"


def shipped_dir() -> Path:
    return Path(os.environ.get("EXPLORER_SHIPPED_DIR", SHIPPED_DIR))


def user_models_dir() -> Path:
    """Where models trained in the app are saved: $EXPLORER_MODELS_DIR, else user_models/ (git-ignored)."""
    return Path(os.environ.get(MODELS_DIR_ENV) or REPO / "user_models")


def uploads_dir() -> Path:
    return user_models_dir() / "uploads"


def _entries(folder: Path, source: str) -> list[ModelEntry]:
    if not folder.is_dir():
        return []
    return [ModelEntry(f"{source}:{p.stem}", p, source) for p in sorted(folder.glob("*.pt")) if p.is_file()]


def shipped_models() -> list[ModelEntry]:
    """Shipped checkpoints, the default model first."""
    entries = _entries(shipped_dir(), "shipped")
    return sorted(entries, key=lambda e: (e.key != DEFAULT_MODEL, e.name))


def trained_models() -> list[ModelEntry]:
    """Models trained in the app, newest first."""
    entries = _entries(user_models_dir(), "trained")
    return sorted(entries, key=lambda e: e.path.stat().st_mtime, reverse=True)


def upload_entry(digest: str) -> ModelEntry:
    return ModelEntry(f"upload:{digest}", uploads_dir() / f"{digest}.pt", "upload")


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def find(key: str, uploads: list[str] | tuple[str, ...] = ()) -> ModelEntry | None:
    """The entry for a key, or None. Upload keys resolve only when the session uploaded them."""
    source, _, name = key.partition(":")
    if source == "upload":
        return upload_entry(name) if key in uploads and upload_entry(name).path.is_file() else None
    for entry in shipped_models() + trained_models():
        if entry.key == key:
            return entry
    return None
