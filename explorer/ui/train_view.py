"""The Train page (PRODUCT.md A7, A10, J2): a form, background jobs, live curves, the time-lapse.

Training never runs inside a script run: the form hands a JobSpec to the process-wide
JobManager (explorer.jobs, one per server, shared by every session through st.cache_resource)
and a fragment redraws this session's jobs every second while any is waiting or running. A
session finds its jobs again by an owner token kept in its session state, so switching pages and
coming back shows them; a finished job triggers one full rerun so the new model appears in the
sidebar picker.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import astuple

import numpy as np
import streamlit as st

from explorer import data as datasets
from explorer.config import ACTIVATIONS, ARCHS, DEFAULT_CONV_DENSE, MAX_LATENT_DIM, ModelConfig, TrainConfig
from explorer.errors import ConfigError, ExplorerError
from explorer.jobs import JobManager, JobSettings, JobSpec, JobState, available_devices
from explorer.train_plots import curves_figure, timelapse_figure
from explorer.ui import registry

REFRESH_S = 1.0  # how often the jobs panel redraws while a job is waiting or running
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
MAX_ANIMATION_FRAMES = 101  # a longer run's time-lapse shows every k-th epoch (first and last kept)
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
EXPLORE_PAGE = "pages/explore.py"

# Per data set: what a first run should use (small: digits in seconds, MNIST ~5 s an epoch on a CPU).
DEFAULTS = {
    "digits": {"hidden": {"mlp": "128,64", "conv": "16,32"}, "epochs": 30, "batch": 64, "lr": 3e-3},
    "mnist": {"hidden": {"mlp": "256,128", "conv": "32,64"}, "epochs": 5, "batch": 128, "lr": 1e-3},
}


def _defaults(dataset: str) -> dict:
    return DEFAULTS["digits" if dataset == "digits" else "mnist"]


# ---------------------------------------------------------------- the manager


@st.cache_resource(show_spinner=False, on_release=lambda manager: manager.shutdown(timeout=5))
def _manager(out_dir: str, settings: tuple) -> JobManager:
    return JobManager(out_dir, JobSettings(*settings))


def job_manager() -> JobManager:
    """The server's one job manager (a new one only if the models folder or settings change)."""
    return _manager(str(registry.user_models_dir()), astuple(JobSettings.from_env()))


def session_owner() -> str:
    """This session's token in the manager: its jobs are the ones with this owner."""
    return st.session_state.setdefault("train_owner", uuid.uuid4().hex)


# ---------------------------------------------------------------- the form


def parse_hidden(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"hidden sizes are whole numbers separated by commas, like 256,128; got {text!r}") from None
    if not sizes:
        raise ConfigError("give at least one hidden size, like 256,128")
    return sizes


def build_specs(values: dict, *, compare: bool = False) -> list[JobSpec]:
    """The job(s) a filled-in form asks for: one, or AE (β = 0) and VAE (β = 1) of the same network.
    Raises ConfigError with a readable message for settings that do not fit."""
    spec = datasets.dataset_spec(values["dataset"])
    model_config = ModelConfig(
        image_shape=spec.image_shape,
        arch=values["arch"],
        hidden=parse_hidden(values["hidden"]),
        dense=DEFAULT_CONV_DENSE if values["arch"] == "conv" else 0,
        activation=values["activation"],
        latent_dim=int(values["latent_dim"]),
        likelihood=values["likelihood"],
        gaussian_sigma=float(values["sigma"]),
    )
    binarize = "dynamic" if values["binarize"] and values["likelihood"] == "bernoulli" else "none"

    def train_config(beta: float) -> TrainConfig:
        return TrainConfig(
            dataset=values["dataset"],
            epochs=int(values["epochs"]),
            batch_size=int(values["batch"]),
            lr=float(values["lr"]),
            lr_schedule=values["schedule"],
            beta=float(beta),
            warmup_epochs=int(values["warmup"]) if beta > 0 else 0,
            binarize=binarize,
            seed=int(values["seed"]),
            device=values["device"],
            extra={"source": "app"},
        )

    common = {"iw_samples": int(values["iw"])}
    if not compare:
        return [JobSpec(model_config, train_config(values["beta"]), **common)]
    group = uuid.uuid4().hex[:8]
    return [
        JobSpec(model_config, train_config(0.0), label="AE (β = 0)", group=group, **common),
        JobSpec(model_config, train_config(1.0), label="VAE (β = 1)", group=group, **common),
    ]


def _init_form() -> None:
    ss = st.session_state
    if "train_dataset" in ss:
        return
    first = "mnist" if datasets.is_available("mnist") else "digits"
    d = _defaults(first)
    ss.update(
        {
            "train_dataset": first,
            "train_arch": "mlp",
            "train_hidden": d["hidden"]["mlp"],
            "train_activation": "relu",
            "train_latent_dim": 2,
            "train_likelihood": "bernoulli",
            "train_sigma": 0.1,
            "train_binarize": False,
            "train_beta": 1.0,
            "train_warmup": 0,
            "train_epochs": d["epochs"],
            "train_batch": d["batch"],
            "train_lr": d["lr"],
            "train_schedule": "constant",
            "train_seed": 0,
            "train_device": "auto",
            "train_iw": 0,
        }
    )


def _on_dataset_change() -> None:
    ss = st.session_state
    d = _defaults(ss["train_dataset"])
    ss["train_hidden"] = d["hidden"][ss["train_arch"]]
    ss["train_epochs"], ss["train_batch"], ss["train_lr"] = d["epochs"], d["batch"], d["lr"]


def _on_arch_change() -> None:
    ss = st.session_state
    ss["train_hidden"] = _defaults(ss["train_dataset"])["hidden"][ss["train_arch"]]


def _dataset_label(name: str) -> str:
    title = datasets.DATASETS[name].title
    if datasets.is_available(name):
        return title
    offline = os.environ.get(datasets.OFFLINE_ENV, "") not in ("", "0")
    return f"{title} — not on this machine" if offline else f"{title} — downloads on first use"


def render_form(settings: JobSettings) -> tuple[dict, str | None]:
    """The training form. Returns its values and which button was pressed ('train', 'compare' or None)."""
    _init_form()
    keep = {"persist_state": "session"}  # values survive a visit to another page
    st.selectbox(
        "Data set",
        list(datasets.DATASETS),
        key="train_dataset",
        format_func=_dataset_label,
        on_change=_on_dataset_change,
        help="scikit-learn's 8x8 digits always work offline and train in seconds.",
        **keep,
    )
    a, b = st.columns(2)
    a.segmented_control(
        "Architecture",
        list(ARCHS),
        key="train_arch",
        required=True,
        format_func=str.upper,
        on_change=_on_arch_change,
        **keep,
    )
    b.segmented_control("Activation", list(ACTIVATIONS), key="train_activation", required=True, **keep)
    a, b = st.columns(2)
    a.text_input(
        "Hidden sizes",
        key="train_hidden",
        max_chars=100,  # Streamlit cuts longer input (typed or sent) on the server
        help="MLP: layer widths, e.g. 256,128. Conv: channels of each stride-2 layer, e.g. 32,64.",
        **keep,
    )
    b.number_input("Latent size", min_value=1, max_value=MAX_LATENT_DIM, step=1, key="train_latent_dim", **keep)
    a, b = st.columns(2)
    a.segmented_control(
        "Likelihood p(x|z)",
        ["bernoulli", "gaussian"],
        key="train_likelihood",
        required=True,
        format_func=str.capitalize,
        help="Bernoulli: binary cross-entropy. Gaussian: squared error with a fixed σ.",
        **keep,
    )
    if st.session_state["train_likelihood"] == "gaussian":
        b.number_input(
            "Gaussian σ", min_value=0.001, max_value=10.0, step=0.05, format="%.3f", key="train_sigma", **keep
        )
    else:
        b.checkbox(
            "Dynamic binarization",
            key="train_binarize",
            help="Sample binary pixels afresh for every batch (Bernoulli only).",
            **keep,
        )
    a, b = st.columns(2)
    a.number_input(
        "β (KL weight)",
        min_value=0.0,
        max_value=1000.0,
        step=0.1,
        key="train_beta",
        help="β = 1 is the VAE's ELBO; β = 0 is a plain autoencoder.",
        **keep,
    )
    b.number_input(
        "KL warm-up (epochs)",
        min_value=0,
        max_value=10_000,
        step=1,
        key="train_warmup",
        help="Ramp β linearly from 0 over this many epochs.",
        **keep,
    )
    a, b = st.columns(2)
    a.number_input("Epochs", min_value=1, max_value=1000, step=1, key="train_epochs", **keep)
    b.selectbox("Batch size", BATCH_SIZES, key="train_batch", **keep)
    st.select_slider("Learning rate (Adam)", LEARNING_RATES, key="train_lr", format_func=lambda v: f"{v:g}", **keep)
    devices = available_devices(settings.threads)
    if st.session_state.get("train_device") not in devices:
        st.session_state["train_device"] = "auto"
    st.selectbox("Device", list(devices), key="train_device", format_func=devices.get, **keep)
    with st.expander("More settings"):
        st.segmented_control(
            "Learning-rate schedule", ["constant", "cosine"], key="train_schedule", required=True, **keep
        )
        st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="train_seed", **keep)
        st.number_input(
            "Importance samples for the final log p(x)",
            min_value=0,
            max_value=1000,
            step=10,
            key="train_iw",
            help="0 skips the estimate; 100 takes a few seconds on MNIST.",
            **keep,
        )
    a, b = st.columns([1, 1.4])
    train = a.button("Train", type="primary", icon=":material/play_arrow:", key="train_submit", width="stretch")
    compare = b.button(
        "AE vs VAE",
        icon=":material/compare:",
        key="train_compare",
        width="stretch",
        help="Train this network twice, with β = 0 (a plain autoencoder) and β = 1 (a VAE), "
        "and show both latent spaces side by side.",
    )
    values = {k.removeprefix("train_"): st.session_state[k] for k in list(st.session_state) if _is_form_key(k)}
    return values, "train" if train else "compare" if compare else None


FORM_KEYS = (
    "dataset arch hidden activation latent_dim likelihood sigma binarize beta warmup epochs batch lr schedule seed "
    "device iw"
).split()


def _is_form_key(key: str) -> bool:
    return key.startswith("train_") and key.removeprefix("train_") in FORM_KEYS


# ---------------------------------------------------------------- jobs


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe(job: JobState) -> str:
    mc, tc = job.spec.model_config, job.spec.train_config
    title = datasets.DATASETS[tc.dataset].title if tc.dataset in datasets.DATASETS else tc.dataset
    warm = f", warm-up {tc.warmup_epochs}" if tc.warmup_epochs else ""
    device = f" on {job.device}" if job.device else ""
    return (
        f"{title} · {mc.describe()} · β = {tc.beta:g}{warm} · {tc.epochs} epochs, batch {tc.batch_size}, "
        f"lr {tc.lr:g}{device}"
    )


PHASES = {
    "starting": "starting a training process…",
    "loading data": "loading the data set…",
    "evaluating": "training done; scoring the test set…",
    "saving": "saving the model…",
}


def _progress_text(job: JobState) -> str:
    if job.phase != "training":
        return PHASES.get(job.phase, f"{job.phase}…")
    if job.epoch == 0:
        return f"epoch 1/{job.epochs} · first batches…"
    return (
        f"epoch {job.epoch}/{job.epochs} · batch {job.step}/{job.steps} · "
        f"{fmt_seconds(job.elapsed)} so far, about {fmt_seconds(job.seconds_left)} left"
    )


def _open_model(model_key: str) -> None:
    st.session_state["model_key"] = model_key  # the sidebar picker's selection, set before it is drawn


def _status(job: JobState, manager: JobManager, explore_page) -> None:
    """The status line of one job: place in the queue, progress bar, or how it ended, and its buttons."""
    if job.status == "queued":
        running, _ = manager.overview()
        st.info(
            f"Waiting: **{ordinal(job.place or 1)} in the queue** "
            f"({running} job{'s' * (running != 1)} training on this server now).",
            icon=":material/hourglass_top:",
        )
    elif job.status == "running":
        st.progress(min(max(job.fraction, 0.0), 1.0), text=_progress_text(job))
        if job.cancel_requested:
            st.caption(job.message)
    elif job.status == "done":
        st.success(job.message, icon=":material/check_circle:")
    elif job.status == "cancelled":
        st.warning(job.message, icon=":material/cancel:")
    else:
        st.error(job.message, icon=":material/error:")
    if job.active:
        st.button(
            "Cancel",
            key=f"train_cancel::{job.id}",
            icon=":material/stop:",
            on_click=manager.cancel,
            args=(job.id,),
            disabled=job.cancel_requested,
            help="Stop after the current batch; the epochs finished so far are saved.",
        )
    elif job.model_key and job.path is not None and job.path.is_file():
        if st.button(
            "Open in Explore",
            key=f"train_open::{job.id}",
            icon=":material/explore:",
            on_click=_open_model,
            args=(job.model_key,),
            type="primary" if job.status == "done" else "secondary",
            help=f"Choose {job.path.stem} in the sidebar and go to the Explore page.",
        ):
            st.switch_page(explore_page)


def _animation_steps(n: int) -> list[int]:
    if n <= MAX_ANIMATION_FRAMES:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, MAX_ANIMATION_FRAMES).round().astype(int).tolist()))


def _latents(jobs: list[JobState], key: str) -> None:
    """The time-lapse of one job, or of two side by side. While a job runs: the epoch chosen on a
    slider (following the newest one); once all have ended: a Plotly animation with play and scrubber."""
    with_frames = [j for j in jobs if j.frames and j.frame_labels is not None]
    if not with_frames or (len(with_frames[0].frames) < 2 and not any(j.active for j in jobs) and len(jobs) == 1):
        return  # nothing to watch: a run that ended before its first epoch
    first = with_frames[0]
    titles = [j.label for j in jobs] if len(jobs) > 1 else None
    labels = [j.frame_labels if j.frame_labels is not None else first.frame_labels for j in jobs]
    n = max(len(j.frames) for j in jobs)
    live = any(j.active for j in jobs)
    if live:
        chosen = n - 1
        if n > 1:
            slider_key, last_key = f"train_scrub::{key}", f"train_scrub_last::{key}"
            current = st.session_state.get(slider_key)
            if current is None or current == st.session_state.get(last_key) or current > n - 1:
                st.session_state[slider_key] = n - 1  # new, or on the newest epoch: follow the next one
            st.session_state[last_key] = n - 1
            chosen = st.slider("Epoch of the latent scatter", 0, n - 1, key=slider_key)
        steps = [chosen]
        caption = f"Epoch {chosen}: the encoded means μ of {len(first.frame_labels)} test images."
    else:
        steps = _animation_steps(n)
        caption = (
            f"The encoded means μ of {len(first.frame_labels)} test images after each epoch (epoch 0: untrained). "
            "Press ▶ play, or drag the slider."
        )
    panels = [[j.frames[min(k, len(j.frames) - 1)] for k in steps] if j.frames else [] for j in jobs]
    fig = timelapse_figure(
        panels, labels, first.class_names, titles=titles, axis_titles=first.axis_titles, epochs=steps
    )
    st.plotly_chart(fig, config=PLOT_CONFIG, key=f"train_latents::{key}::{'live' if live else 'done'}")
    if first.axis_titles[1]:
        caption += " The dotted circle is |z| = 2 under the prior N(0, I)."
    st.caption(caption)


def _curves(job: JobState) -> None:
    if job.history:
        st.plotly_chart(curves_figure(job.history), config=PLOT_CONFIG, key=f"train_curves::{job.id}")


def _job_card(job: JobState, manager: JobManager, explore_page) -> None:
    with st.container(border=True):
        st.markdown(f"**{job.label}**" + (f" · `{job.name}`" if job.label != job.name else ""))
        st.caption(describe(job))
        _status(job, manager, explore_page)
        _curves(job)
        _latents([job], job.id)


def _group_card(jobs: list[JobState], manager: JobManager, explore_page) -> None:
    with st.container(border=True):
        st.markdown("**Autoencoder vs VAE** · the same network trained with β = 0 and with β = 1")
        st.caption(describe(jobs[0]).replace(f"β = {jobs[0].spec.train_config.beta:g} · ", ""))
        for job in jobs:
            st.markdown(f"{job.label} · `{job.name}`")
            _status(job, manager, explore_page)
        _latents(jobs, jobs[0].spec.group or jobs[0].id)
        st.caption(
            "Without the KL term the autoencoder may put codes anywhere: its clusters can be far apart and "
            "far from the origin, with empty space between them that decodes to nothing sensible. The VAE keeps "
            "them near N(0, I), so points drawn from the prior land among the codes."
        )
        for job in jobs:
            if job.history:
                with st.expander(f"Loss curves of {job.label}"):
                    _curves(job)


def render_jobs(manager: JobManager, owner: str, explore_page=EXPLORE_PAGE) -> None:
    """This session's jobs, newest first; AE-vs-VAE pairs together. `explore_page` is where
    "Open in Explore" goes (a path or an st.Page)."""
    hidden = st.session_state.setdefault("train_hidden_jobs", set())
    jobs = [j for j in manager.jobs(owner) if j.id not in hidden]
    seen = st.session_state.setdefault("train_seen_finished", set())
    newly_finished = [j.id for j in jobs if not j.active and j.id not in seen]
    if newly_finished:
        seen.update(newly_finished)
        st.rerun()  # a full run: the sidebar picker lists the new model, and the polling stops
    running, waiting = manager.overview()
    if not jobs:
        st.info(
            "No training runs yet in this session. Choose the settings on the left and press **Train**. "
            "Training runs in the background: you can switch pages and come back."
        )
        if running or waiting:
            st.caption(f"On this server now: {running} training, {waiting} waiting.")
        return
    groups: dict[str, list[JobState]] = {}
    for job in jobs:
        groups.setdefault(job.spec.group or job.id, []).append(job)
    for members in reversed(list(groups.values())):
        if len(members) > 1:
            _group_card(members, manager, explore_page)
        else:
            _job_card(members[0], manager, explore_page)
    if any(not j.active for j in jobs):
        if st.button("Clear finished runs from this list", key="train_clear", icon=":material/clear_all:"):
            hidden.update(j.id for j in jobs if not j.active)
            st.rerun()


# ---------------------------------------------------------------- the page


def submit(manager: JobManager, owner: str, values: dict, *, compare: bool) -> None:
    try:
        manager.submit_all(build_specs(values, compare=compare), owner=owner)
    except ExplorerError as exc:
        st.error(f"Not started: {exc}")


def render(*, explore_page=EXPLORE_PAGE) -> None:
    """The whole page; `explore_page` (a path or an st.Page) is where a trained model opens."""
    st.title("Train a VAE")
    manager = job_manager()
    owner = session_owner()
    form, results = st.columns([1.3, 2], gap="medium")
    with form:
        values, pressed = render_form(manager.settings)
        if pressed:
            submit(manager, owner, values, compare=pressed == "compare")
    active = any(j.active for j in manager.jobs(owner))
    with results:
        st.fragment(render_jobs, run_every=REFRESH_S if active else None)(manager, owner, explore_page)
