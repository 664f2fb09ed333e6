"""The Generate page (A8): samples from the prior; latent sizes 2, 5, 10 and 20 side by side (as
in Kingma & Welling's figure 5); interpolation between two test images, linear and spherical, with
the path drawn on the scatter; reconstructions next to the originals.

Reconstructions are decode(mu) of the codes stored in each checkpoint, so they need no data set;
the originals beside them do, and without it the page says where to put the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer import latent, plots
from explorer.checkpoints import Checkpoint, CheckpointError
from explorer.models import VAE
from explorer.ui import registry
from explorer.ui.common import Loaded, load_entry
from explorer.ui.explore_view import clamp, projection
from explorer.ui.registry import ModelEntry
from explorer.ui.widgets import (
    PLOT_CONFIG,
    Encoded,
    data_note,
    decoded_rows,
    encoded_arrays,
    model_version,
    originals,
    reconstructions,
    show_image,
    show_images,
)

COMPARE_SIZES = (2, 5, 10, 20)
FAMILY_PATTERN = re.compile(r"^(?P<stem>.+)-z(?P<d>\d+)$")  # e.g. mnist-mlp-z10
DEFAULT_FAMILY = "mnist-mlp"
GRID_BOUNDS = (2, 12)
GRID_DEFAULT = 8
COMPARE_GRID = 6  # 6 x 6 images per latent size
STEPS_BOUNDS = (3, 16)
STEPS_DEFAULT = 10
BATCH = 12  # reconstructions shown at a time


# ---------------------------------------------------------------- plain helpers (tested directly)


@dataclass(frozen=True)
class Family:
    """Shipped checkpoints that differ only in latent size: <stem>-z<d>."""

    stem: str
    members: dict[int, ModelEntry]  # latent size -> entry

    def missing(self, sizes: tuple[int, ...] = COMPARE_SIZES) -> list[int]:
        return [d for d in sizes if d not in self.members]


def latent_size_families(entries: list[ModelEntry]) -> dict[str, Family]:
    """Group shipped entries named <stem>-z<d> by stem."""
    groups: dict[str, dict[int, ModelEntry]] = {}
    for entry in entries:
        match = FAMILY_PATTERN.match(entry.name)
        if entry.source == "shipped" and match:
            groups.setdefault(match["stem"], {})[int(match["d"])] = entry
    return {stem: Family(stem, dict(sorted(m.items()))) for stem, m in groups.items()}


def choose_family(families: dict[str, Family], current_name: str) -> Family | None:
    """The current model's family when it has a sibling of another size, else mnist-mlp, else the largest."""
    match = FAMILY_PATTERN.match(current_name)
    if match and len(families.get(match["stem"], Family("", {})).members) > 1:
        return families[match["stem"]]
    if DEFAULT_FAMILY in families:
        return families[DEFAULT_FAMILY]
    if families:
        return max(families.values(), key=lambda f: (len(f.members), f.stem == DEFAULT_FAMILY))
    return None


def pair_indices(n: int, seed: int) -> tuple[int, int]:
    """Two different test indices, reproducible from the seed."""
    a, b = np.random.default_rng(seed).choice(n, size=2, replace=False)
    return int(a), int(b)


def batch_indices(n: int, seed: int, size: int = BATCH) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size=min(size, n), replace=False))


# ---------------------------------------------------------------- cached


@st.cache_data(max_entries=32, show_spinner=False)
def prior_grid(_model: VAE, version: str, n: int, seed: int) -> np.ndarray:
    """n x n decodes of z ~ N(0, I), (n, n, C, H, W)."""
    del version
    _, images = latent.prior_samples(_model, n * n, seed=seed)
    return images.reshape(n, n, *images.shape[1:])


def _new_seed(key: str) -> None:
    st.session_state[key] = int(np.random.default_rng().integers(0, 2**31 - 1))


def _seed(key: str) -> int:
    return int(st.session_state.setdefault(key, 0))


# ---------------------------------------------------------------- sections


def _prior_section(loaded: Loaded) -> None:
    st.markdown("Decodes of z drawn from the prior p(z) = N(0, I): what the model generates from scratch.")
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    n = left.number_input(
        "Grid N × N", min_value=GRID_BOUNDS[0], max_value=GRID_BOUNDS[1], value=GRID_DEFAULT, key="gen_prior_n"
    )
    n = int(clamp(n, *GRID_BOUNDS))
    right.button(
        "New samples", key="gen_prior_reseed", icon=":material/casino:", on_click=_new_seed, args=("gen_prior_seed",)
    )
    grid = prior_grid(loaded.ckpt.model, model_version(loaded), n, _seed("gen_prior_seed"))
    show_image(plots.tile_grid(grid), width=min(560, 70 * n), testid="prior-samples")


def _load_member(entry: ModelEntry) -> Checkpoint | str:
    try:
        return load_entry(entry)
    except (CheckpointError, OSError) as exc:
        return f"{entry.name} could not be opened: {exc}"


def _compare_section(loaded: Loaded) -> None:
    families = latent_size_families(registry.shipped_models())
    family = choose_family(families, loaded.entry.name)
    st.markdown(
        "The same architecture trained with latent sizes 2, 5, 10 and 20 (Kingma & Welling, figure 5): "
        "more dimensions give sharper reconstructions, while samples from the prior need the aggregate "
        "posterior to fill N(0, I)."
    )
    if family is None:
        st.info(
            "No shipped checkpoints named `<data>-<arch>-z<size>.pt` were found in "
            f"{registry.shipped_dir()}; train them with `bash checkpoints/train_all.sh`."
        )
        return
    missing = family.missing()
    if missing:
        names = ", ".join(f"{family.stem}-z{d}.pt" for d in missing)
        st.caption(f"Not shipped yet: {names} (`bash checkpoints/train_all.sh` trains them).")
    what = st.segmented_control(
        "Show",
        ["prior", "recon"],
        default="prior",
        key="gen_compare_what",
        format_func={"prior": "prior samples", "recon": "reconstructions"}.get,
    )
    what = what or "prior"
    seed = _seed("gen_compare_seed")
    shown = [d for d in sorted(set(COMPARE_SIZES) | set(family.members)) if d in family.members][:6]
    columns = st.columns(max(len(shown), 1))
    for column, d in zip(columns, shown):
        entry = family.members[d]
        ckpt = _load_member(entry)
        with column:
            if isinstance(ckpt, str):
                st.error(ckpt)
                continue
            member = Loaded(entry, ckpt)
            neg_elbo = ckpt.metrics.get("neg_elbo", ckpt.history[-1]["test_neg_elbo"] if ckpt.history else None)
            score = f" · −ELBO {neg_elbo:.1f}" if isinstance(neg_elbo, (int, float)) else ""
            st.markdown(f"**{d}-D latent**{score}")
            if what == "prior":
                grid = prior_grid(ckpt.model, model_version(member), COMPARE_GRID, seed)
            else:
                enc = encoded_arrays(ckpt, model_version(member))
                index = batch_indices(len(enc.labels), seed, COMPARE_GRID * COMPARE_GRID)
                grid = reconstructions(member, enc, index).reshape(
                    COMPARE_GRID, COMPARE_GRID, *ckpt.model_config.image_shape
                )
            show_image(plots.tile_grid(grid), width=220, testid=f"compare-z{d}")
            st.caption(entry.name)
    if what == "recon":
        st.caption("Each column reconstructs the same test images, decode(μ(x)), from the codes in its checkpoint.")
    st.button(
        "New draw", key="gen_compare_reseed", icon=":material/casino:", on_click=_new_seed, args=("gen_compare_seed",)
    )


def _interpolation_section(loaded: Loaded, enc: Encoded) -> None:
    st.markdown(
        "From μ of one test image to μ of another. Linear steps cut through the middle of the prior, where "
        "in many dimensions it has little mass; spherical steps (slerp) keep the norm of a typical code."
    )
    n = len(enc.labels)
    key_a, key_b = "gen_interp_a", "gen_interp_b"
    cols = st.columns([1, 1, 1.4, 1.6], vertical_alignment="bottom")
    a = cols[0].number_input("From test image #", min_value=0, max_value=n - 1, value=0, key=key_a)
    b = cols[1].number_input("to test image #", min_value=0, max_value=n - 1, value=min(1, n - 1), key=key_b)
    steps = cols[2].slider(
        "Steps", min_value=STEPS_BOUNDS[0], max_value=STEPS_BOUNDS[1], value=STEPS_DEFAULT, key="gen_interp_steps"
    )
    cols[3].button("Random pair", key="gen_interp_random", icon=":material/shuffle:", on_click=_random_pair, args=(n,))
    a, b = int(clamp(a, 0, n - 1)), int(clamp(b, 0, n - 1))
    steps = int(clamp(steps, *STEPS_BOUNDS))
    version = model_version(loaded)
    paths = {m: latent.interpolate(enc.mu[a], enc.mu[b], steps, method=m) for m in ("linear", "spherical")}

    left, right = st.columns([3.3, 2], gap="medium")
    with left:
        ends, reason = originals(loaded, [a, b])
        for method, path in paths.items():
            images = decoded_rows(loaded.ckpt.model, version, tuple(tuple(float(v) for v in row) for row in path))
            captions = [f"t={t:.2g}" for t in np.linspace(0, 1, len(images))]
            if ends is not None:  # the originals at both ends of the row
                images = np.concatenate([ends[:1], images, ends[1:]])
                captions = [f"x #{a}", *captions, f"x #{b}"]
            line = "straight line" if method == "linear" else "great circle"
            st.caption(
                f"**{method}** · a {line} from μ of test image #{a} (class {enc.names([a])[0]}) "
                f"to μ of #{b} (class {enc.names([b])[0]})"
            )
            show_images(images, captions, width=40, testid=f"interp-{method}")
        if reason:
            data_note(reason)
    with right:
        proj = projection(loaded.ckpt, version, "axes" if loaded.latent_dim == 2 else "pca", (0, 1), 0)
        planar = {
            method: (path[:, :2] if proj.mode == "axes" else (path - proj.mean) @ proj.axes.T)
            for method, path in paths.items()
        }
        fig = plots.latent_scatter(
            proj.coords,
            enc.labels,
            enc.class_names,
            axis_titles=proj.titles,
            title=None if proj.mode == "axes" else "PCA of μ (paths projected)",
            paths=planar,
            height=440,
        )
        fig.update_layout(legend={"orientation": "h", "y": -0.18, "x": 0, "title": {"text": ""}})
        st.plotly_chart(fig, key=f"gen_interp_scatter::{loaded.key}", config=PLOT_CONFIG)


def _random_pair(n: int) -> None:
    a, b = pair_indices(n, int(np.random.default_rng().integers(0, 2**31 - 1)))
    st.session_state["gen_interp_a"], st.session_state["gen_interp_b"] = a, b


def _reconstruction_section(loaded: Loaded, enc: Encoded) -> None:
    st.markdown("Test images next to their reconstructions decode(μ(x)), the mean of p(x|z) at z = μ.")
    st.button(
        "New batch", key="gen_recon_reseed", icon=":material/casino:", on_click=_new_seed, args=("gen_recon_seed",)
    )
    index = batch_indices(len(enc.labels), _seed("gen_recon_seed"))
    captions = [f"{c} · #{i}" for c, i in zip(enc.names(index), index)]
    images, reason = originals(loaded, index)
    if images is not None:
        st.caption("Originals")
        show_images(images, captions, width=64, testid="recon-originals")
    st.caption("Reconstructions")
    show_images(reconstructions(loaded, enc, index), captions, width=64, testid="recon-reconstructions")
    if reason:
        data_note(reason)


def render(loaded: Loaded) -> None:
    enc = encoded_arrays(loaded.ckpt, model_version(loaded))
    st.markdown(
        f"#### Generate with **{loaded.entry.name}** "
        f"<span style='color:#666; font-weight:normal'>· {loaded.ckpt.dataset.title} · {loaded.latent_dim}-D latent</span>",
        unsafe_allow_html=True,
    )
    prior, compare, interp, recon = st.tabs(
        ["Prior samples", "Latent sizes 2 · 5 · 10 · 20", "Interpolation", "Reconstructions"]
    )
    with prior:
        _prior_section(loaded)
    with compare:
        _compare_section(loaded)
    with interp:
        _interpolation_section(loaded, enc)
    with recon:
        _reconstruction_section(loaded, enc)
