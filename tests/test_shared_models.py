"""A model the server caches is shared by every session (st.cache_resource): nothing one session
does may change it under another.

Many threads at once (as many sessions' script runs are) decode, tile manifolds, score images and
export the decoder for the pad with one model: its weights stay bitwise equal and are never
written in place (each tensor's version counter stays put), it stays in eval mode, no autograd
graph is built (no .grad, no output that requires grad), and every thread gets the answers a lone
thread gets. Then the same for the app's own cached model after real page runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import checkpoints, elbo_lab, latent, metrics
from explorer.pad_export import export_decoder, pack_decoder
from explorer.ui import common, registry

from .conftest import REPO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def snapshot(model: torch.nn.Module) -> dict[str, tuple[torch.Tensor, int]]:
    """Each weight's values and its in-place version counter."""
    return {name: (t.detach().clone(), t._version) for name, t in model.state_dict(keep_vars=True).items()}


def assert_unchanged(model: torch.nn.Module, before: dict[str, tuple[torch.Tensor, int]]) -> None:
    now = model.state_dict(keep_vars=True)
    assert set(now) == set(before)
    for name, (values, version) in before.items():
        assert torch.equal(now[name].detach(), values), f"{name} changed"
        assert now[name]._version == version, f"{name} was written in place"
    assert not model.training, "the model left eval mode"
    assert all(p.grad is None for p in model.parameters()), "a gradient was computed"


def workload(model, images: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    """What the pages ask of a model, with inputs fixed by the seed."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(32, model.config.latent_dim)).astype(np.float32)
    x = elbo_lab.image_targets(images, "none")
    tiles, _, _ = latent.manifold(model, n=8, limit=2.5, base_z=np.zeros(model.config.latent_dim))
    terms = elbo_lab.analyse_image(model, x[seed], index=seed, seed=seed, samples=20, iw_samples=50)
    iw = metrics.iw_log_likelihood(model, x[:6], k=20, generator=torch.Generator().manual_seed(seed))
    assert not iw.requires_grad
    packed = pack_decoder(export_decoder(model))
    return {
        "decode": latent.decode(model, z),
        "manifold": tiles,
        "embed": latent.embed(model, images[:16]),
        "reconstruct": latent.reconstruct(model, images[:16]),
        "prior": latent.prior_samples(model, 9, seed=seed)[1],
        "recon_term": np.array([terms.recon, terms.kl_mc, terms.log_px_iw]),
        "iw": iw.numpy(),
        "posterior": elbo_lab.exact_posterior(model, x[seed], n=41).log_posterior,
        "pad": np.frombuffer(packed, dtype=np.uint8),
    }


def test_many_threads_using_one_model_never_change_it(tiny_checkpoint, digits):
    model = checkpoints.load(tiny_checkpoint).model
    images = digits.test_x[:64]
    before = snapshot(model)
    reference = {seed: workload(model, images, seed) for seed in range(4)}
    assert_unchanged(model, before)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: (i % 4, workload(model, images, i % 4)), range(32)))

    assert_unchanged(model, before)
    for seed, result in results:  # the same answers as a lone thread's: no session sees another's state
        for name, value in result.items():
            np.testing.assert_allclose(value, reference[seed][name], rtol=1e-6, atol=1e-6, err_msg=name)


def test_exported_decoder_arrays_are_copies_not_views_of_the_weights(tiny_checkpoint):
    """The pad's export outlives the script run; writing into it must not reach the shared model."""
    model = checkpoints.load(tiny_checkpoint).model
    before = snapshot(model)
    export = export_decoder(model)
    weights = [p.detach().numpy() for p in model.parameters()]
    for name, array in export.params.items():
        assert not any(np.shares_memory(array, w) for w in weights), name
        array[...] = 0.0  # a careless caller
    assert_unchanged(model, before)


@pytest.mark.usefixtures("navigation_as_on_a_server")
def test_page_runs_of_several_sessions_leave_the_apps_cached_model_unchanged(shipped):
    key = "shipped:digits-mlp-z2"
    entry = registry.find(key)
    cached = common.load_entry(entry)  # the object every session's pages use
    before = snapshot(cached.model)

    sessions = []
    for page in (None, "pages/generate.py", "pages/elbo_lab.py"):
        at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90)
        at.session_state["model_key"] = key
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        assert not at.exception, at.exception
        assert at.session_state["_loaded"].ckpt is cached  # shared, not a copy per session
        sessions.append(at)
    explore = sessions[0]
    for value in (1.5, -2.0, 0.25):
        explore.slider(key=f"zslider::{key}::0").set_value(value).run()
        assert not explore.exception, explore.exception
    explore.button(key="explore_prior").click().run()
    sessions[1].button(key="gen_prior_reseed").click().run()
    next(b for b in sessions[2].button if b.label == "Resample ε").click().run()
    for at in sessions[1:]:
        assert not at.exception, at.exception

    assert common.load_entry(entry) is cached
    assert_unchanged(cached.model, before)
    fresh = checkpoints.load(entry.path)
    for name, weight in fresh.model.state_dict().items():
        assert torch.equal(cached.model.state_dict()[name], weight), name
