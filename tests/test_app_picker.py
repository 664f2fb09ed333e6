"""The sidebar model picker (A1) under AppTest: what it lists and shows, switching models, uploads
good and bad, and the checkpoint download."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import REPO

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.usefixtures("navigation_as_on_a_server"),
]


def open_app() -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    return at


def card(at: AppTest) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def sliders(at: AppTest) -> list[str]:
    return [s.label for s in at.slider if s.key and s.key.startswith("zslider")]


def test_lists_the_shipped_models_and_describes_the_chosen_one(shipped):
    at = open_app()
    picker = at.sidebar.selectbox(key="model_key")
    assert sorted(picker.options) == ["digits-conv-z2", "digits-mlp-z2", "digits-mlp-z20"]
    assert picker.value == "shipped:digits-conv-z2"  # the first by name: there is no mnist-mlp-z2 here
    text = card(at)
    assert "scikit-learn digits (8x8)" in text and "2-D latent" in text
    assert "Conv" in text and "test −ELBO" in text and "nats" in text
    assert "4 epochs on cpu" in text and "decoding here on cpu" in text
    download = [b for b in at.sidebar.get("download_button") if b.proto.label.startswith("Download digits-conv-z2.pt")]
    assert len(download) == 1


def test_switching_models_switches_the_page(shipped):
    at = open_app()
    at.sidebar.selectbox(key="model_key").set_value("shipped:digits-mlp-z20").run()
    assert not at.exception
    assert "20-D latent" in card(at) and "MLP" in card(at)
    assert len(sliders(at)) == 20
    assert "Latent space of **digits-mlp-z20**" in at.markdown[0].value
    at.sidebar.selectbox(key="model_key").set_value("shipped:digits-mlp-z2").run()
    assert sliders(at) == ["z₁", "z₂"]


def test_a_bad_upload_is_refused_with_the_loaders_message(shipped):
    at = open_app()
    at.sidebar.file_uploader(key="upload_file").set_value(
        ("notes.pt", b"this is not a checkpoint", "application/octet-stream")
    ).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "notes.pt was not opened" in errors and "not a PyTorch checkpoint" in errors
    assert at.session_state["model_key"] == "shipped:digits-conv-z2"  # still the model it had


def test_a_good_upload_is_opened_and_chosen(shipped):
    at = open_app()
    data = (shipped / "digits-mlp-z20.pt").read_bytes()
    at.sidebar.file_uploader(key="upload_file").set_value(("my-model.pt", data, "application/octet-stream")).run()
    assert not at.exception
    key = at.session_state["model_key"]
    assert key.startswith("upload:")
    assert "20-D latent" in card(at)
    assert len(sliders(at)) == 20
    assert any(o.endswith("· uploaded") for o in at.sidebar.selectbox(key="model_key").options)
