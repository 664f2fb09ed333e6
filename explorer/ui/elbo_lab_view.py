"""ELBO lab view (A9, J3): every term of the bound, computed live for one test image.

Widgets and session state only; the numbers come from explorer.elbo_lab (the same functions
`python -m explorer evaluate --index I` calls) and the figures from explorer.elbo_plots.
pages/elbo_lab.py calls render() with the model the sidebar picked.
"""

from __future__ import annotations

import math
import random

import numpy as np
import streamlit as st

from explorer import elbo_lab, elbo_plots
from explorer.latent import decode
from explorer.ui.common import Loaded, clamp_z, set_z, test_images
from explorer.ui.registry import REPO

SAMPLE_CHOICES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
IW_CHOICES = (0, 1, 10, 100, 1000, 5000)
DEFAULT_SAMPLES = 10
DEFAULT_IW = 1000


# ---------------------------------------------------------------- cached computations


def _token(loaded: Loaded) -> str:
    """Cache key of the model: its registry key and the file's version."""
    stat = loaded.entry.path.stat()
    return f"{loaded.key}|{stat.st_mtime_ns}|{stat.st_size}"


@st.cache_data(max_entries=128, show_spinner="Computing the terms of the bound…")
def _image_terms(token: str, index: int, seed: int, samples: int, iw_samples: int, binarize: str, _model, _images):
    x = elbo_lab.image_target(_images, index, binarize)
    return elbo_lab.analyse_image(_model, x, index=index, seed=seed, samples=samples, iw_samples=iw_samples)


@st.cache_data(max_entries=64, show_spinner="Integrating p(x, z) over the latent plane…")
def _exact(token: str, index: int, binarize: str, _model, _images):
    return elbo_lab.exact_posterior(_model, elbo_lab.image_target(_images, index, binarize))


@st.cache_data(max_entries=128, show_spinner=False)
def _code_terms(token: str, index: int, seed: int, samples: int, _model, _mu, _logvar):
    return elbo_lab.analyse_code(_model, _mu[index], _logvar[index], index=index, seed=seed, samples=samples)


@st.cache_data(max_entries=16, show_spinner="Summing the test set's posteriors…")
def _aggregate(token: str, dims: tuple[int, int], _mu, _logvar):
    agg = elbo_lab.aggregate_posterior(_mu, _logvar, dims=dims)
    return agg, elbo_lab.find_holes(agg)


@st.cache_data(max_entries=16, show_spinner=False)
def _encoded(token: str, _encoded):
    return elbo_lab.encoded_arrays(_encoded)


# ---------------------------------------------------------------- state


def _state_keys(loaded: Loaded) -> dict[str, str]:
    k = loaded.key
    return {
        "index": f"elbo_index::{k}",
        "pick": f"elbo_pick::{k}",
        "holes": f"elbo_holes::{k}",
        "hole_z": f"elbo_hole_z::{k}",
        "dim_x": f"elbo_dim_x::{k}",
        "dim_y": f"elbo_dim_y::{k}",
    }


def _first_point(event) -> dict | None:
    """The first point of a plotly selection, or None (also for a malformed one: the browser sends it)."""
    selection = event.get("selection") if isinstance(event, dict) else None
    points = selection.get("points") if isinstance(selection, dict) else None
    if not isinstance(points, list) or not points or not isinstance(points[0], dict):
        return None
    return points[0]


def _finite(value) -> float | None:
    """A number sent by the browser as a float, or None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _take_clicks(keys: dict[str, str], n_images: int) -> None:
    """Apply a new click on the picker scatter or the aggregate map before the widgets are drawn.

    A selection stays in the chart's state across reruns, so each is applied once.
    """
    point = _first_point(st.session_state.get(keys["pick"]))
    if point is None:  # cleared (a second click on the same point): the next click counts again
        st.session_state.pop(keys["pick"] + "::seen", None)
    else:
        data = point.get("customdata")
        if isinstance(data, dict):  # an array arrives as {"0": ..., "1": ...}
            data = data.get("0")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        data = _finite(data)
        if data is not None and data != st.session_state.get(keys["pick"] + "::seen"):
            st.session_state[keys["pick"] + "::seen"] = data
            if 0 <= data < n_images:
                st.session_state[keys["index"]] = int(data)
    point = _first_point(st.session_state.get(keys["holes"]))
    if point is None:
        st.session_state.pop(keys["holes"] + "::seen", None)
    elif _finite(point.get("x")) is not None and _finite(point.get("y")) is not None:
        z = tuple(float(v) for v in clamp_z([point["x"], point["y"]]))
        if z != st.session_state.get(keys["holes"] + "::seen"):
            st.session_state[keys["holes"] + "::seen"] = z
            st.session_state[keys["hole_z"]] = z


def _random_image(index_key: str, n_images: int) -> None:
    st.session_state[index_key] = random.randrange(n_images)


def _resample() -> None:
    st.session_state["elbo_seed"] = st.session_state.get("elbo_seed", 0) + 1


# ---------------------------------------------------------------- sections


def _derivation() -> None:
    st.latex(
        r"\log p(x)\ \ge\ \mathrm{ELBO}(x) = \mathbb E_{q(z|x)}[\log p(x \mid z)]"
        r" - \mathrm{KL}\big(q(z|x)\,\|\,p(z)\big), \qquad"
        r"\log p(x) - \mathrm{ELBO}(x) = \mathrm{KL}\big(q(z|x)\,\|\,p(z|x)\big)"
    )
    with st.expander("The derivation, step by step", expanded=False):
        left, right = st.columns(2)
        with left:
            st.markdown("**Model.** A prior over codes and a decoder; the marginal and the posterior are intractable.")
            st.latex(r"p_\theta(x, z) = p(z)\, p_\theta(x \mid z), \qquad p(z) = \mathcal N(0, I)")
            st.latex(
                r"p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz, \qquad p_\theta(z \mid x) = \frac{p_\theta(x, z)}{p_\theta(x)}"
            )
            st.markdown("**Encoder.** An approximate posterior for each image:")
            st.latex(r"q_\phi(z \mid x) = \mathcal N\!\big(\mu_\phi(x),\ \operatorname{diag} \sigma_\phi^2(x)\big)")
            st.markdown("**Jensen's inequality** (log is concave) gives the evidence lower bound:")
            st.latex(
                r"\log p(x) = \log \mathbb E_{q(z|x)}\!\left[\frac{p(x, z)}{q(z|x)}\right]"
                r"\ \ge\ \mathbb E_{q(z|x)}\!\left[\log \frac{p(x, z)}{q(z|x)}\right]"
            )
            st.latex(
                r"= \underbrace{\mathbb E_{q(z|x)}[\log p(x \mid z)]}_{-\text{reconstruction}}"
                r" - \underbrace{\mathrm{KL}\big(q(z|x)\,\|\,p(z)\big)}_{\text{KL}} = \mathrm{ELBO}(x)"
            )
            st.markdown("**The gap** is itself a KL divergence, so it is never negative:")
            st.latex(r"\log p(x) - \mathrm{ELBO}(x) = \mathrm{KL}\big(q(z|x)\,\|\,p(z|x)\big) \ \ge 0")
        with right:
            st.markdown("**KL between two Gaussians** in k dimensions:")
            st.latex(
                r"\begin{aligned}\mathrm{KL}\big(\mathcal N(m_0, S_0)\,\|\,\mathcal N(m_1, S_1)\big) = \tfrac12\Big("
                r"&\operatorname{tr}(S_1^{-1} S_0) + (m_1 - m_0)^\top S_1^{-1} (m_1 - m_0) \\"
                r"&- k + \log \tfrac{\det S_1}{\det S_0}\Big)\end{aligned}"
            )
            st.markdown("With S₀ = diag σ², m₀ = μ and the prior's S₁ = I, m₁ = 0, it splits by coordinate:")
            st.latex(
                r"\mathrm{KL}\big(q(z|x)\,\|\,\mathcal N(0, I)\big) = \tfrac12 \sum_{j=1}^{k} \big(\sigma_j^2 + \mu_j^2 - 1 - \log \sigma_j^2\big)"
            )
            st.markdown("**Reparameterization**: a sample that is differentiable in μ and σ,")
            st.latex(r"z = \mu + \sigma \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I)")
            st.markdown("**Monte Carlo** with L samples (L = 1 in training):")
            st.latex(r"\mathbb E_q[\log p(x|z)] \approx \frac1L \sum_{l=1}^{L} \log p(x \mid z_l)")
            st.latex(r"\mathrm{KL} \approx \frac1L \sum_{l=1}^{L} \big(\log q(z_l|x) - \log p(z_l)\big)")
            st.markdown("**Importance weighting** (Burda et al. 2015) tightens the bound as k grows:")
            st.latex(
                r"\log p(x) \ \ge\ \mathbb E\Big[\log \frac1k \sum_{i=1}^{k} \frac{p(x, z_i)}{q(z_i|x)}\Big]"
                r" \ \xrightarrow{k \to \infty}\ \log p(x)"
            )


def _controls(
    loaded: Loaded, keys: dict[str, str], n_images: int, mu_all: np.ndarray, *, has_images: bool
) -> tuple[int, int, int, tuple]:
    d = loaded.latent_dim
    cols = st.columns([1.1, 1.1, 1.6, 1.1, 1.6])
    with cols[0]:
        if keys["index"] not in st.session_state:
            st.session_state[keys["index"]] = 0
        index = st.number_input(
            f"Test image (0–{n_images - 1})",
            min_value=0,
            max_value=n_images - 1,
            step=1,
            key=keys["index"],
            help="Or click a point on the scatter, or draw one at random.",
        )
    with cols[1]:
        st.write("")
        st.button(
            "Random image",
            icon=":material/casino:",
            on_click=_random_image,
            args=(keys["index"], n_images),
            width="stretch",
        )
    with cols[2]:
        samples = st.select_slider(
            "Samples L of z = μ + σε",
            options=SAMPLE_CHOICES,
            value=DEFAULT_SAMPLES,
            key="elbo_samples",
            help="Monte Carlo samples for the reconstruction term and the KL estimate. Training uses L = 1.",
        )
    with cols[3]:
        st.write("")
        st.button(
            "Resample ε",
            icon=":material/refresh:",
            on_click=_resample,
            width="stretch",
            help="Draw new ε: the seed goes up by one.",
        )
        st.caption(f"seed = {st.session_state.get('elbo_seed', 0)}")
    with cols[4]:
        iw_samples = st.select_slider(
            "Importance samples k for log p(x)",
            options=IW_CHOICES,
            value=DEFAULT_IW,
            key="elbo_iw",
            disabled=not has_images,
            help="k = 1 is an unbiased ELBO estimate; larger k gives a tighter bound on log p(x). 0 skips it.",
        )
    dims = (0, 1) if d >= 2 else (0, 0)
    if d > 2:
        default = elbo_lab.default_dims(mu_all)
        options = list(range(d))
        cols = st.columns([1.1, 1.1, 4.4], vertical_alignment="bottom")
        dx = cols[0].selectbox(
            "Horizontal axis", options, index=default[0], format_func=lambda i: f"z{i + 1}", key=keys["dim_x"]
        )
        dy = cols[1].selectbox(
            "Vertical axis", options, index=default[1], format_func=lambda i: f"z{i + 1}", key=keys["dim_y"]
        )
        cols[2].caption(
            f"The plots show two of the {d} coordinates (at first the two whose μ varies most over the test "
            "set); the numbers always use all of them."
        )
        dims = (int(dx), int(dy))
        if dims[0] == dims[1]:
            st.warning("Choose two different coordinates to see the plane.")
    return int(index), int(samples), int(iw_samples), dims


def _fmt(value: float | None, stderr: float | None = None) -> str:
    """3 decimals; a Monte Carlo estimate with its standard error gets 2 of each (it fits the column)."""
    if value is None:
        return "—"
    return f"{value:.3f}" if stderr is None else f"{value:.2f} ± {stderr:.2f}"


def _numbers(terms: elbo_lab.ImageELBO, exact: elbo_lab.ExactPosterior | None) -> None:
    st.subheader("The terms, in nats")
    row = st.columns(4)
    row[0].metric(
        "KL, closed form",
        _fmt(terms.kl),
        help="KL(q(z|x) ‖ p(z)) = ½ Σ (σ² + μ² − 1 − log σ²), exact.",
    )
    row[1].metric(
        f"KL, Monte Carlo (L = {terms.samples})",
        _fmt(terms.kl_mc, terms.kl_mc_stderr),
        help="Mean of log q(z_l|x) − log p(z_l) over the samples, ± one standard error.",
    )
    row[2].metric(
        f"Reconstruction (L = {terms.samples})",
        _fmt(terms.recon, terms.recon_stderr),
        help="−E_q[log p(x|z)] estimated by the mean of −log p(x|z_l) over the samples, ± one standard error.",
    )
    row[3].metric(
        "ELBO",
        _fmt(terms.elbo),
        help="ELBO = −(reconstruction + KL): the Monte Carlo reconstruction term and the closed-form KL, as the trainer computes them.",
    )
    if not terms.has_image:
        return
    row = st.columns(4)
    row[0].metric(
        f"log p(x), IW (k = {terms.iw_samples})",
        _fmt(terms.log_px_iw),
        help="Importance-weighted: log (1/k) Σ p(x, z_i)/q(z_i|x) with z_i ~ q(z|x) (seed + 1). A lower bound on log p(x) in expectation; one draw of it can land a little above.",
    )
    row[1].metric(
        "Gap, IW − ELBO",
        _fmt(terms.gap_iw),
        help="IW log p(x) − ELBO, an estimate of KL(q(z|x) ‖ p(z|x)): how far q is from the true posterior.",
    )
    if exact is not None:
        row[2].metric(
            "log p(x), quadrature",
            _fmt(exact.log_px),
            help="∫ p(x|z) p(z) dz summed on a fine grid over the latent plane: the number both bounds estimate.",
        )
        row[3].metric(
            "Gap, quadrature",
            _fmt(exact.kl_to_posterior),
            help=f"KL(q(z|x) ‖ p(z|x)) = log p(x) − ELBO with both integrals done on the grid (ELBO = {exact.elbo:.3f}), so neither is noisy.",
        )
    notes = []
    if terms.gap_iw is not None and terms.gap_iw < 0:
        notes.append(
            "The IW estimate came out below this ELBO estimate: both are random (the ELBO carries its "
            "reconstruction term's standard error), and more samples L or k settle the order."
        )
    if exact is not None and terms.log_px_iw is not None and exact.log_px - terms.log_px_iw > 1.0:
        notes.append(
            f"The IW estimate is still {exact.log_px - terms.log_px_iw:.1f} nats below log p(x): its k samples "
            "come from q(z|x), and where q puts little mass on the true posterior (the plot above), "
            "importance weighting tightens the bound only slowly."
        )
    for note in notes:
        st.caption(note)


def _kl_and_recon_worked(terms: elbo_lab.ImageELBO, n_pixels: int) -> None:
    p = terms.kl_parts
    left, right = st.columns(2)
    with left:
        st.markdown("**The closed-form KL with this image's numbers** (S₀ = diag σ², S₁ = I):")
        st.latex(
            r"\begin{aligned}\mathrm{KL} &= \tfrac12\Big(\underbrace{\textstyle\sum_j \sigma_j^2}_{\operatorname{tr}}"
            r" + \underbrace{\textstyle\sum_j \mu_j^2}_{\text{Mahalanobis}} - k"
            r" \underbrace{- \textstyle\sum_j \log \sigma_j^2}_{\log \det S_1 / \det S_0}\Big) \\"
            rf" &= \tfrac12\big({p.trace:.4f} + {p.mahalanobis:.4f} - {p.k} + {p.log_det_ratio:.4f}\big)"
            rf" = {p.total:.4f}\ \text{{nats}}\end{{aligned}}"
        )
        se = terms.kl_mc_stderr
        st.latex(
            rf"\frac1{{{terms.samples}}}\sum_l \big(\log q(z_l|x) - \log p(z_l)\big) = {terms.kl_mc:.4f}"
            + (rf" \pm {se:.4f}" if se is not None else "")
        )
    with right:
        if terms.likelihood == "bernoulli":
            st.markdown(
                f"**Bernoulli decoder**: the reconstruction term is a binary cross-entropy over n = {n_pixels} pixels."
            )
            st.latex(r"\log p(x \mid z) = \sum_{i=1}^{n} x_i \log p_i(z) + (1 - x_i) \log\big(1 - p_i(z)\big)")
            if terms.recon is not None:
                floor = terms.bernoulli_floor
                st.latex(
                    rf"-\frac1{{{terms.samples}}}\sum_l \log p(x \mid z_l) = {terms.recon:.3f}"
                    r"\ \text{nats}"
                )
                st.caption(
                    f"No constant term. The cross-entropy cannot go below Σᵢ H(xᵢ) = {floor:.3f} nats "
                    "for this image (0 for a binary image): grey pixels are uncertain under any decoder."
                )
        else:
            sigma = terms.gaussian_sigma
            const = terms.gaussian_constant
            st.markdown(
                f"**Gaussian decoder** (σ = {sigma:g}): the reconstruction term is a scaled squared error plus a constant."
            )
            st.latex(
                r"-\log p(x \mid z) = \frac{\lVert x - \hat x(z) \rVert^2}{2\sigma^2} + \frac n2 \log(2\pi\sigma^2)"
            )
            if terms.squared_error is not None:
                sq = float(terms.squared_error.mean())
                st.latex(
                    rf"= \frac{{{sq:.4f}}}{{2 \cdot {sigma:g}^2}} + \frac{{{n_pixels}}}{{2}} \log(2\pi \cdot {sigma:g}^2)"
                    rf" = {sq / (2 * sigma**2):.3f} {const:+.3f} = {terms.recon:.3f}\ \text{{nats}}"
                )
                st.caption(
                    "The constant does not depend on z, so it changes no gradient, but it belongs in log p(x): "
                    "leave it out and the numbers are not comparable across σ or with a Bernoulli model."
                )


def _image_and_posterior(loaded: Loaded, terms: elbo_lab.ImageELBO, index: int, label: str, dims) -> None:
    """The image beside decode(mu), and q(z|x)'s parameters coordinate by coordinate."""
    d = loaded.latent_dim
    pics = st.columns(2)
    if terms.x is not None:
        pics[0].image(elbo_plots.display_image(terms.x, size=180), caption=f"x: test image {index} ({label})")
        pics[1].image(elbo_plots.display_image(terms.recon_at_mu, size=180), caption="decode(μ(x))")
    else:
        pics[0].image(
            elbo_plots.display_image(decode(loaded.ckpt.model, terms.mu[None])[0], size=180),
            caption=f"decode(μ) of test image {index} ({label}); the image itself is not on disk",
        )
    table = {
        "coordinate": [f"z{k + 1}" for k in range(d)],
        "μ": terms.mu,
        "σ": terms.sigma,
        "KL (nats)": terms.kl_per_dim,
    }
    st.markdown("**q(z|x) = N(μ, diag σ²)** for this image")
    st.dataframe(table, hide_index=True, height=min(38 + 35 * d, 300), width="stretch")
    if d > 2:
        st.plotly_chart(elbo_plots.kl_per_dimension(terms.kl_per_dim, dims=dims), width="stretch")


def _samples_table(terms: elbo_lab.ImageELBO, dims: tuple[int, int]) -> None:
    shown = list(dict.fromkeys(dims))  # one column per coordinate, even when both axes are the same
    table = {"l": np.arange(1, terms.samples + 1)}
    table.update({f"ε{c + 1}": terms.eps[:, c] for c in shown})
    table.update({f"z{c + 1}": terms.z[:, c] for c in shown})
    table.update({"log q(z|x)": terms.log_q, "log p(z)": terms.log_prior})
    if terms.log_px_z is not None:
        table["log p(x|z)"] = terms.log_px_z
    st.dataframe(table, hide_index=True, height=240, width="stretch")


def _aggregate_section(loaded: Loaded, keys, token, mu_all, logvar_all, dims) -> None:
    st.subheader("The aggregate posterior against the prior")
    st.markdown(
        "Averaging every test image's q(z|x) gives the distribution the decoder was trained on, "
        "q(z) = (1/N) Σₙ q(z|xₙ). Where the prior N(0, I) has mass but q(z) has little, the decoder "
        "has rarely seen a code — so a sample from the prior that lands there decodes poorly. "
        "**Click anywhere on the map** (the red rings mark the worst holes inside 2 σ) to decode that z."
    )
    agg, holes = _aggregate(token, dims, mu_all, logvar_all)
    show = st.radio(
        "Colour by",
        ["density", "ratio"],
        format_func=lambda s: {"density": "log q(z)", "ratio": "log q(z) / p(z) — red = hole"}[s],
        horizontal=True,
        key="elbo_agg_show",
    )
    clicked = st.session_state.get(keys["hole_z"])
    names = (f"z{dims[0] + 1}", f"z{dims[1] + 1}")
    left, right = st.columns([2.2, 1])
    with left:
        fig = elbo_plots.aggregate_map(
            agg.axis,
            agg.density,
            agg.prior,
            show=show,
            holes=holes,
            clicked=np.array(clicked) if clicked else None,
            axis_titles=names,
        )
        _clickable(fig, keys["holes"])
    with right:
        if clicked is None:
            st.info("Click the map to decode a point; the holes are the interesting ones.")
            return
        z = np.zeros(loaded.latent_dim, dtype=np.float32)
        z[dims[0]], z[dims[1]] = clicked
        image = decode(loaded.ckpt.model, z[None])[0]
        ratio = _ratio_at(agg, clicked)
        st.image(
            elbo_plots.display_image(image, size=220), caption=f"decode(z) at ({clicked[0]:.2f}, {clicked[1]:.2f})"
        )
        st.caption(
            f"q(z)/p(z) here ≈ {ratio:.3g}: "
            + ("the codes of real images rarely land here." if ratio < 0.2 else "real images' codes do land here.")
            + (" Other coordinates are 0." if loaded.latent_dim > 2 else "")
        )
        if st.button("Use this z on the Explore page", key="elbo_send_z"):
            set_z(loaded, z)
            st.toast("The current z is set; open Explore to see it.")


def _cli_path(loaded: Loaded) -> str:
    """The checkpoint's path as typed from the repository root, when it lies inside it."""
    path = loaded.entry.path.resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _ratio_at(agg: elbo_lab.AggregatePosterior, z: tuple[float, float]) -> float:
    j = int(np.abs(agg.axis - z[0]).argmin())
    i = int(np.abs(agg.axis - z[1]).argmin())
    return float(agg.density[i, j] / agg.prior[i, j])


def _clickable(fig, key: str) -> None:
    """A chart whose point clicks rerun the page (read back by _take_clicks)."""
    st.plotly_chart(
        fig, key=key, on_select="rerun", selection_mode="points", width="stretch", config={"displaylogo": False}
    )


# ---------------------------------------------------------------- the page


def render(loaded: Loaded) -> None:
    """The whole page for one loaded model."""
    ckpt = loaded.ckpt
    token = _token(loaded)
    keys = _state_keys(loaded)
    mu_all, logvar_all, labels = _encoded(token, ckpt.encoded)
    n_images = len(labels)
    binarize = ckpt.train_config.binarize if ckpt.train_config else "none"

    st.title("ELBO lab")
    st.caption(
        f"{ckpt.dataset.title} · {ckpt.model_config.describe()} · every term of one image's bound, computed live "
        "on this server's CPU."
    )
    _derivation()

    images, reason = test_images(ckpt)
    if images is None:
        st.warning(
            f"The test images are not on this machine, so the terms that need the image itself "
            f"(reconstruction, ELBO, log p(x)) cannot be computed. {reason}\n\n"
            "What needs only q(z|x) still works: the checkpoint stores each test image's μ and σ, so the "
            "posterior ellipse, the samples and their decodes, both KLs and the aggregate posterior are below."
        )

    _take_clicks(keys, n_images)
    if not 0 <= st.session_state.get(keys["index"], 0) < n_images:
        st.session_state[keys["index"]] = 0
    st.session_state.setdefault("elbo_seed", 0)
    index, samples, iw_samples, dims = _controls(loaded, keys, n_images, mu_all, has_images=images is not None)
    seed = int(st.session_state["elbo_seed"])
    d = loaded.latent_dim

    try:
        if images is not None:
            terms = _image_terms(token, index, seed, samples, iw_samples, binarize, ckpt.model, images)
            exact = _exact(token, index, binarize, ckpt.model, images) if d == 2 else None
        else:
            terms = _code_terms(token, index, seed, samples, ckpt.model, mu_all, logvar_all)
            exact = None
    except ValueError as exc:
        st.error(str(exc))
        return

    i, j = dims
    names = (f"z{i + 1}", f"z{j + 1}")
    label = ckpt.dataset.class_names[int(labels[index])]
    mu2, sigma2, z2 = terms.mu[[i, j]], terms.sigma[[i, j]], terms.z[:, [i, j]]
    plane = d >= 2  # a 1-D latent has no plane to draw: numbers and images only

    left, right = st.columns([1.35, 1])
    with left:
        if plane:
            st.markdown(
                f"**Test image {index}** ({label}) on the latent plane. Click any point to pick another image; "
                "the orange ellipses are its q(z|x) at 1 and 2 σ"
                + (f", shown on coordinates {names[0]} and {names[1]} of {d}" if d > 2 else "")
                + "."
            )
            fig = elbo_plots.picker_scatter(
                mu_all[:, [i, j]],
                labels,
                ckpt.dataset.class_names,
                selected=index,
                sigma=sigma2,
                samples=z2,
                axis_titles=names,
            )
            _clickable(fig, keys["pick"])
        else:
            st.info(f"Test image {index} ({label}). A 1-D latent has no plane to draw: pick images by number.")
    with right:
        _image_and_posterior(loaded, terms, index, label, dims)

    st.subheader("q(z|x) up close, with the reparameterized samples")
    left, right = st.columns([1.35, 1])
    with left:
        if plane:
            posterior = (exact.xs, exact.ys, exact.log_posterior, exact.levels) if exact is not None else None
            st.plotly_chart(
                elbo_plots.posterior_zoom(mu2, sigma2, z2, posterior=posterior, axis_titles=names),
                width="stretch",
                config={"displaylogo": False},
            )
        if exact is not None:
            st.caption(
                "Shaded in purple: the true posterior p(z|x) ∝ p(x|z) p(z), computed on a grid; its contours hold "
                "the same mass (39 % and 86 %) as q's 1 σ and 2 σ ellipses. Where they differ, the ELBO loses "
                f"KL(q ‖ p(z|x)) = {exact.kl_to_posterior:.3f} nats."
            )
        elif d > 2:
            st.caption("The true posterior is drawn for 2-D models only (it needs an integral over all of z).")
    with right:
        shown = len(terms.decoded)
        st.markdown(f"**Decodes of the first {shown} samples** z_l = μ + σ ⊙ ε_l (seed {seed})")
        st.image(elbo_plots.image_grid(terms.decoded, columns=8, size=64))
        _samples_table(terms, dims)

    _numbers(terms, exact)
    if terms.elbo is not None:
        st.plotly_chart(
            elbo_plots.bounds_line(
                elbo=terms.elbo,
                elbo_stderr=terms.recon_stderr,
                log_px_iw=terms.log_px_iw,
                iw_samples=terms.iw_samples,
                log_px_quad=exact.log_px if exact else None,
                elbo_quad=exact.elbo if exact else None,
            ),
            width="stretch",
            config={"displaylogo": False},
        )
    _kl_and_recon_worked(terms, int(np.prod(ckpt.model_config.image_shape)))

    if images is not None:
        st.markdown("**The same numbers from the command line** (the app computes on the CPU):")
        st.code(
            f"python -m explorer evaluate {_cli_path(loaded)} "
            f"--index {index} --samples {samples} --seed {seed} --iw-samples {iw_samples} --device cpu",
            language="bash",
        )

    if plane:
        st.divider()
        _aggregate_section(loaded, keys, token, mu_all, logvar_all, dims)
