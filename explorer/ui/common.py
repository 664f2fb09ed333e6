"""Shared Streamlit pieces: the sidebar model picker (A1), cached loading, the current z.

Models are cached once per file with st.cache_resource and shared by every session; they are in
eval mode and only ever used for inference, never modified. Each session keeps its own z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer import checkpoints
from explorer.checkpoints import Checkpoint, CheckpointError
from explorer.data import DatasetUnavailable, load_dataset
from explorer.ui import registry
from explorer.ui.registry import ModelEntry

Z_LIMIT = 10.0  # |z_i| beyond this is clamped: nothing there is worth seeing under N(0, I)
MAX_UPLOAD_MB = 100


@dataclass(frozen=True)
class Loaded:
    entry: ModelEntry
    ckpt: Checkpoint

    @property
    def key(self) -> str:
        return self.entry.key

    @property
    def latent_dim(self) -> int:
        return self.ckpt.model_config.latent_dim


@st.cache_resource(max_entries=32, show_spinner=False)
def _load_checkpoint(path: str, mtime_ns: int, size: int) -> Checkpoint:
    del mtime_ns, size  # part of the cache key: a rewritten file is loaded afresh
    return checkpoints.load(path, map_location="cpu")


def load_entry(entry: ModelEntry) -> Checkpoint:
    stat = entry.path.stat()
    return _load_checkpoint(str(entry.path), stat.st_mtime_ns, stat.st_size)


@st.cache_resource(max_entries=4, show_spinner="Loading the test images…")
def _test_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset(name, download=False)
    return data.test_x.numpy(), data.test_y.numpy()


def test_images(ckpt: Checkpoint) -> tuple[np.ndarray | None, str | None]:
    """The test images (N, C, H, W) in the order of the encoded set, or None and the reason."""
    try:
        images, _ = _test_set(ckpt.dataset.name)
    except DatasetUnavailable as exc:
        return None, str(exc)
    return images[: len(ckpt.encoded)], None


# ---------------------------------------------------------------- current z


def _z_key(model_key: str) -> str:
    return f"z::{model_key}"


def clamp_z(z: np.ndarray) -> np.ndarray:
    """z as float32 within ±Z_LIMIT, NaN as 0 (clipped in float64 first: 1e300 must not overflow)."""
    clipped = np.clip(np.nan_to_num(np.asarray(z, dtype=np.float64), nan=0.0), -Z_LIMIT, Z_LIMIT)
    return clipped.astype(np.float32)


def get_z(loaded: Loaded) -> np.ndarray:
    """This session's current z for the model (zeros, i.e. the prior's mean, at first)."""
    key = _z_key(loaded.key)
    z = st.session_state.get(key)
    if z is None or len(z) != loaded.latent_dim:
        z = np.zeros(loaded.latent_dim, dtype=np.float32)
        st.session_state[key] = z
    return z.copy()


def set_z(loaded: Loaded, z: np.ndarray, *, sliders: bool = True, link: bool = True) -> None:
    """Make z this session's current z (and the link's).

    sliders=False leaves the slider keys alone. For a widget in one fragment (the live pad)
    while the sliders live in another: the browser still shows the old slider values and sends
    them with the next run, and Streamlit would take them for a user's change. Pages that draw
    the sliders set their keys from get_z before drawing them.
    link=False leaves the address bar for a later `sync_link` (one message less before a
    redraw that must be quick, such as a slider step's decoded image).
    """
    z = clamp_z(z)
    st.session_state[_z_key(loaded.key)] = z
    for i, value in enumerate(z if sliders else ()):  # keep the sliders (A4) in step
        key = f"zslider::{loaded.key}::{i}"
        # Only changed values: a second set_z with the same z (say, a callback then the page)
        # must not touch a slider this run has already drawn, which Streamlit refuses; and a
        # slider's own value (0.3) must not be written back as z's float32 (0.30000001), which
        # Streamlit would send as a new value and so pull the thumb back under quick key presses.
        if not slider_shows(st.session_state.get(key), float(value)):
            st.session_state[key] = float(value)
    if link:
        _sync_query_params(loaded)


def slider_shows(shown: object, value: float) -> bool:
    """Whether a slider showing `shown` already shows z's coordinate `value` (z is float32)."""
    return isinstance(shown, (int, float)) and abs(float(shown) - value) <= 1e-6


def sync_link(loaded: Loaded) -> None:
    """Bring the address bar's link (model, z, presenter mode) up to date; nothing if it is."""
    _sync_query_params(loaded)


LINK_PARAMS = ("model", "z", "present")  # what a shared link restores (A12)


def link_params(loaded: Loaded) -> dict[str, str]:
    """The query parameters that bring a new session to this model, z and presenter mode."""
    params = {"model": loaded.key}
    z = st.session_state.get(_z_key(loaded.key))
    if z is not None:
        params["z"] = format_z(z)
    if st.session_state.get("presenter"):
        params["present"] = "1"
    return params


def format_z(z: np.ndarray) -> str:
    """z for a link: 3 decimals, '-0' written as '0' (parse_z reads it back)."""
    return ",".join(f"{v:.3f}".replace("-0.000", "0.000") for v in np.asarray(z, dtype=np.float64))


def _sync_query_params(loaded: Loaded) -> None:
    """Keep the address bar a shareable link; other parameters are left alone."""
    wanted = link_params(loaded)
    current = {k: st.query_params.get(k) for k in LINK_PARAMS}
    if all(current[k] == wanted.get(k) for k in LINK_PARAMS):
        return
    for k in LINK_PARAMS:
        if k not in wanted and k in st.query_params:
            del st.query_params[k]
    st.query_params.update(wanted)


def parse_z(text: str, latent_dim: int) -> np.ndarray | None:
    """A 'z' query parameter: comma-separated numbers, one per latent dimension, else None."""
    parts = text.split(",")
    if len(parts) != latent_dim or len(text) > 20 * max(latent_dim, 1):
        return None
    try:
        values = np.array([float(p) for p in parts], dtype=np.float32)
    except ValueError:
        return None
    return clamp_z(values)


# ---------------------------------------------------------------- picker


def _uploads() -> list[str]:
    return st.session_state.setdefault("uploaded_keys", [])


def _handle_upload(file) -> None:
    data = file.getvalue()
    if len(data) > MAX_UPLOAD_MB * 2**20:
        st.session_state["upload_error"] = f"{file.name} is over {MAX_UPLOAD_MB} MB; checkpoints here are a few MB"
        return
    try:
        checkpoints.load(data)
    except CheckpointError as exc:
        st.session_state["upload_error"] = f"{file.name} was not opened: {exc}"
        return
    digest = registry.digest_of(data)
    entry = registry.upload_entry(digest)
    if not entry.path.is_file():
        checkpoints.save_bytes(entry.path, data)
    if entry.key not in _uploads():
        _uploads().append(entry.key)
    st.session_state["model_key"] = entry.key
    st.session_state.pop("upload_error", None)


def _on_upload() -> None:
    file = st.session_state.get("upload_file")
    if file is not None:
        _handle_upload(file)


def available_entries() -> list[ModelEntry]:
    uploads = [registry.upload_entry(k.split(":", 1)[1]) for k in _uploads()]
    return registry.shipped_models() + registry.trained_models() + [u for u in uploads if u.path.is_file()]


def _restore_from_query(entries: list[ModelEntry]) -> None:
    """On a session's first run, take the model and z from the link (A12)."""
    if st.session_state.get("_restored"):
        return
    st.session_state["_restored"] = True
    params = st.query_params
    keys = {e.key for e in entries}
    wanted = params.get("model")
    if wanted:
        if wanted in keys:
            st.session_state["model_key"] = wanted
        else:
            st.session_state["link_warning"] = (
                f"The link names a model this server does not have ({wanted[:80]}); showing the default."
            )
    st.session_state["presenter"] = params.get("present") == "1"
    z_text = params.get("z")
    if z_text and (not wanted or wanted in keys):  # z of an unknown model means nothing here
        st.session_state["pending_z"] = z_text[:2000]


def model_picker() -> Loaded | None:
    """The sidebar picker shared by every page. Returns the chosen model, or None if there is none."""
    entries = available_entries()
    _restore_from_query(entries)
    if not entries:
        st.sidebar.error(
            "No checkpoints found in checkpoints/. Train one on the Train page or with `python -m explorer train`."
        )
        return None
    keys = [e.key for e in entries]
    by_key = {e.key: e for e in entries}
    if st.session_state.get("model_key") not in keys:
        st.session_state["model_key"] = keys[0]
    st.sidebar.selectbox("Model", keys, key="model_key", format_func=lambda k: by_key[k].label)
    entry = by_key[st.session_state["model_key"]]
    try:
        ckpt = load_entry(entry)
    except CheckpointError as exc:
        st.sidebar.error(f"{entry.label} could not be opened: {exc}")
        return None
    loaded = Loaded(entry, ckpt)

    pending = st.session_state.pop("pending_z", None)
    if pending is not None:
        z = parse_z(pending, loaded.latent_dim)
        if z is None:
            st.session_state["link_warning"] = (
                f"The link's z does not fit this {loaded.latent_dim}-D model; starting at z = 0."
            )
        else:
            set_z(loaded, z)

    _sync_query_params(loaded)  # a model switch or a page change updates the link too
    _model_card(loaded)
    with st.sidebar.expander("Open a checkpoint file"):
        st.file_uploader(
            "A .pt file from `python -m explorer train`",
            type=["pt"],
            key="upload_file",
            on_change=_on_upload,
            help="Checked with torch's weights-only loader: nothing in the file can run code.",
        )
        if st.session_state.get("upload_error"):
            st.error(st.session_state["upload_error"])
    if st.session_state.get("link_warning"):
        st.sidebar.warning(st.session_state.pop("link_warning"))
    return loaded


def _fmt(value, spec: str, unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{unit}"


def _model_card(loaded: Loaded) -> None:
    ckpt = loaded.ckpt
    cfg = ckpt.model_config
    m = ckpt.metrics or {}
    history = ckpt.history or []
    neg_elbo = m.get("neg_elbo", history[-1]["test_neg_elbo"] if history else None)
    lines = [
        f"**{ckpt.dataset.title}** · {cfg.latent_dim}-D latent",
        f"{cfg.describe()}",
        f"test −ELBO **{_fmt(neg_elbo, '.1f', ' nats')}**"
        + (f" · −log p(x) ≈ {_fmt(m.get('nll_iw'), '.1f')} (k={m.get('iw_samples')})" if m.get("nll_iw") else ""),
    ]
    if m.get("active_units") is not None:
        lines.append(
            f"active units {m['active_units']}/{cfg.latent_dim} · 5-NN on μ {_fmt(100 * m['knn_accuracy'] if m.get('knn_accuracy') is not None else None, '.1f', '%')}"
        )
    trained = ckpt.meta.get("device")
    epochs = len(history)
    lines.append(f"{epochs} epochs" + (f" on {trained}" if trained else "") + " · decoding here on cpu")
    st.sidebar.caption("  \n".join(lines))
    _checkpoint_download(loaded)


def _checkpoint_download(loaded: Loaded) -> None:
    """The chosen checkpoint file (A11), read only when the button is pressed."""
    path = loaded.entry.path
    try:
        size = path.stat().st_size
    except OSError:
        return
    shown = f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{max(1, round(size / 2**10))} KB"
    st.sidebar.download_button(
        f"Download {path.name} ({shown})",
        data=lambda: path.read_bytes(),
        file_name=path.name if loaded.entry.source != "upload" else f"{loaded.entry.name}.pt",
        mime="application/octet-stream",
        on_click="ignore",
        icon=":material/download:",
        key="sidebar_checkpoint_download",
        help="The checkpoint: weights, configs, history, metrics and the encoded test set in one file.",
    )


def require_model() -> Loaded:
    """For pages: the model chosen in the sidebar, or stop the page with a message."""
    if "_loaded" not in st.session_state:  # the entry has never run in this session
        _run_through_entry()
    loaded = st.session_state.get("_loaded")
    if loaded is None:
        st.info("Choose or train a model first.")
        st.stop()
    return loaded


def _run_through_entry() -> None:
    """A page ran without streamlit_app.py: rerun, through the entry and its picker this time.

    Until st.navigation has run once in a process, Streamlit treats the pages/ folder the legacy
    way and runs a page file alone when it is asked for by name, as when a link straight to
    /generate is a fresh server's first request. The entry's st.navigation switches that mode
    off for good; here it is switched off before the run starts again.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without it has no legacy mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
