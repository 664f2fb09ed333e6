"""The Generate page under AppTest on the tiny digits models and on an MNIST-shaped model whose
data set is not on disk; and the page's plain helpers."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import checkpoints
from explorer.ui import generate_view
from explorer.ui.registry import ModelEntry

from .conftest import REPO

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.usefixtures("navigation_as_on_a_server"),
]

Z2 = "shipped:digits-mlp-z2"


def open_generate(model_key: str | None = Z2) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90)
    if model_key:
        at.session_state["model_key"] = model_key
    at.run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception, at.exception
    return at


def element(at: AppTest, testid: str) -> str:
    found = [m.value for m in at.markdown if f'data-testid="{testid}"' in m.value]
    assert len(found) == 1, f"{len(found)} elements with data-testid={testid}"
    return found[0]


def image_count(at: AppTest, testid: str) -> int:
    return element(at, testid).count("<img")


def text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


def test_opens_with_four_tabs_and_prior_samples(shipped):
    at = open_generate()
    assert [t.label for t in at.tabs] == [
        "Prior samples",
        "Latent sizes 2 · 5 · 10 · 20",
        "Interpolation",
        "Reconstructions",
    ]
    before = element(at, "prior-samples")
    at.button(key="gen_prior_reseed").click().run()
    assert element(at, "prior-samples") != before
    at.number_input(key="gen_prior_n").set_value(3).run()
    assert not at.exception
    width = int(re.search(r"width: (\d+)px", element(at, "prior-samples")).group(1))
    assert width == 3 * 70


def test_latent_sizes_side_by_side_from_the_registry(shipped):
    at = open_generate()
    page = text(at)
    assert "**2-D latent**" in page and "**20-D latent**" in page
    assert "Not shipped yet: digits-mlp-z5.pt, digits-mlp-z10.pt" in page
    prior = element(at, "compare-z20")
    at.button_group(key="gen_compare_what").set_value("recon").run()
    assert not at.exception
    assert element(at, "compare-z20") != prior
    assert image_count(at, "compare-z2") == 1 and image_count(at, "compare-z20") == 1
    recon = element(at, "compare-z2")
    at.button(key="gen_compare_reseed").click().run()
    assert element(at, "compare-z2") != recon


def test_a_model_without_siblings_shows_the_largest_family(shipped):
    at = open_generate("shipped:digits-conv-z2")
    assert "**20-D latent**" in text(at)  # digits-mlp, not the lone digits-conv


def test_interpolation_rows_and_paths(shipped):
    at = open_generate()
    at.number_input(key="gen_interp_a").set_value(3).run()
    at.number_input(key="gen_interp_b").set_value(9).run()
    at.slider(key="gen_interp_steps").set_value(5).run()
    assert not at.exception
    assert image_count(at, "interp-linear") == 5 + 2  # the two originals at the ends
    assert image_count(at, "interp-spherical") == 5 + 2
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    paths = {t["name"]: t for t in spec["data"] if t["name"] in ("linear", "spherical")}
    assert set(paths) == {"linear", "spherical"}
    mu = checkpoints.load(shipped / "digits-mlp-z2.pt").encoded.mu.numpy()
    linear = paths["linear"]
    xs = np.frombuffer(base64.b64decode(linear["x"]["bdata"]), dtype=linear["x"]["dtype"])
    np.testing.assert_allclose([xs[0], xs[-1]], [mu[3, 0], mu[9, 0]], atol=1e-5)
    assert len(xs) == 5
    at.button(key="gen_interp_random").click().run()
    a, b = at.number_input(key="gen_interp_a").value, at.number_input(key="gen_interp_b").value
    assert a != b and 0 <= a < 360 and 0 <= b < 360


def test_interpolation_in_twenty_dimensions_is_drawn_on_the_pca_plane(shipped):
    at = open_generate("shipped:digits-mlp-z20")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"].startswith("PCA of μ")
    assert image_count(at, "interp-spherical") == generate_view.STEPS_DEFAULT + 2


def test_reconstructions_next_to_originals(shipped):
    at = open_generate()
    assert image_count(at, "recon-originals") == generate_view.BATCH
    assert image_count(at, "recon-reconstructions") == generate_view.BATCH
    before = element(at, "recon-originals")
    at.button(key="gen_recon_reseed").click().run()
    assert element(at, "recon-originals") != before


def test_without_the_data_set_reconstructions_still_show_and_the_page_says_why(no_data):
    at = open_generate(None)
    assert not at.exception
    assert image_count(at, "recon-reconstructions") == generate_view.BATCH
    assert not [m for m in at.markdown if "recon-originals" in m.value]
    assert image_count(at, "interp-linear") == generate_view.STEPS_DEFAULT  # no originals at the ends
    page = text(at)
    assert "Originals are not shown" in page and "MNIST is not in" in page
    assert "Not shipped yet: mnist-mlp-z5.pt, mnist-mlp-z10.pt, mnist-mlp-z20.pt" in page


# ---------------------------------------------------------------- plain helpers


def _entry(name: str, source: str = "shipped") -> ModelEntry:
    return ModelEntry(f"{source}:{name}", Path(f"/nowhere/{name}.pt"), source)


def test_families_group_shipped_models_by_latent_size():
    entries = [
        _entry("mnist-mlp-z2"),
        _entry("mnist-mlp-z20"),
        _entry("mnist-mlp-z5"),
        _entry("mnist-mlp-z2-ae"),  # the autoencoder is not a latent size
        _entry("mnist-conv-z2"),
        _entry("fashion-mnist-mlp-z2"),
        _entry("mnist-mlp-z10", source="trained"),
    ]
    families = generate_view.latent_size_families(entries)
    assert sorted(families) == ["fashion-mnist-mlp", "mnist-conv", "mnist-mlp"]
    mlp = families["mnist-mlp"]
    assert list(mlp.members) == [2, 5, 20]
    assert mlp.missing() == [10]
    assert generate_view.choose_family(families, "fashion-mnist-mlp-z2").stem == "mnist-mlp"  # no siblings
    assert generate_view.choose_family(families, "mnist-mlp-z5").stem == "mnist-mlp"
    assert generate_view.choose_family({}, "anything") is None


def test_pairs_and_batches_are_reproducible():
    a, b = generate_view.pair_indices(360, seed=4)
    assert a != b and (a, b) == generate_view.pair_indices(360, seed=4)
    batch = generate_view.batch_indices(360, seed=1)
    assert len(batch) == generate_view.BATCH and len(set(batch)) == generate_view.BATCH
    np.testing.assert_array_equal(batch, generate_view.batch_indices(360, seed=1))
    assert len(generate_view.batch_indices(5, seed=0)) == 5
