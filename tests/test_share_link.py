"""A12: a link with ?model=...&z=...(&present=1) restores the model, z and presenter mode, and
the address bar keeps such a link up to date. AppTest runs of tests/apps/pad_app.py, which uses
the app's own sidebar picker; the browser test of the real server is in tests/browser."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.ui.common import format_z, parse_z
from tests.conftest import REPO

APP = str(REPO / "tests" / "apps" / "pad_app.py")


@pytest.fixture
def app(tiny_models_dir, monkeypatch):
    monkeypatch.setenv("EXPLORER_SHIPPED_DIR", str(tiny_models_dir))

    def make(**params: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        for name, value in params.items():
            at.query_params[name] = value
        return at.run()

    return make


def _z(at: AppTest, key: str) -> np.ndarray:
    return np.asarray(at.session_state[f"z::{key}"])


def test_link_restores_model_and_z(app):
    at = app(model="shipped:digits-conv-z2", z="0.5,-1.25")
    assert not at.exception
    assert at.session_state["model_key"] == "shipped:digits-conv-z2"
    np.testing.assert_allclose(_z(at, "shipped:digits-conv-z2"), [0.5, -1.25])
    assert [s.value for s in at.sidebar.slider] == [0.5, -1.25]  # the sliders follow
    assert at.query_params["model"] == "shipped:digits-conv-z2"
    assert at.query_params["z"] == "0.500,-1.250"
    assert not at.sidebar.warning


def test_z_without_model_applies_to_the_default_model(app):
    at = app(z="1,2")
    default = at.session_state["model_key"]
    np.testing.assert_allclose(_z(at, default), [1.0, 2.0])
    assert at.query_params["model"] == default  # the address bar now names the model too


def test_unknown_model_warns_and_ignores_its_z(app):
    at = app(model="shipped:nope", z="1,2")
    assert "does not have" in at.sidebar.warning[0].value
    np.testing.assert_allclose(_z(at, at.session_state["model_key"]), [0.0, 0.0])


def test_z_of_the_wrong_size_warns(app):
    at = app(model="shipped:digits-mlp-z20", z="1,2")
    assert "does not fit this 20-D model" in at.sidebar.warning[0].value
    np.testing.assert_allclose(_z(at, "shipped:digits-mlp-z20"), np.zeros(20))


def test_switching_model_updates_the_link(app):
    at = app(model="shipped:digits-conv-z2", z="0.5,-1.25")
    at.sidebar.selectbox[0].set_value("shipped:digits-mlp-z2").run()
    assert at.query_params["model"] == "shipped:digits-mlp-z2"
    assert at.query_params.get("z") in (None, "0.000,0.000")  # not the other model's z


def test_slider_change_updates_the_link(app):
    at = app(model="shipped:digits-mlp-z2")
    at.sidebar.slider[1].set_value(-2.5).run()
    assert at.query_params["z"] == "0.000,-2.500"


def test_presenter_mode_from_the_link_and_the_toggle(app):
    at = app(model="shipped:digits-mlp-z2", present="1")
    toggle = at.sidebar.toggle[0]
    assert toggle.value is True
    assert at.query_params["present"] == "1"
    toggle.set_value(False).run()
    assert "present" not in at.query_params
    at.sidebar.toggle[0].set_value(True).run()
    assert at.query_params["present"] == "1"


def test_format_and_parse_z_round_trip():
    z = np.array([0.1234, -2.0, -0.0001, 9.5], dtype=np.float32)
    text = format_z(z)
    assert text == "0.123,-2.000,0.000,9.500"
    np.testing.assert_allclose(parse_z(text, 4), [0.123, -2.0, 0.0, 9.5], atol=1e-6)
    assert parse_z(text, 3) is None  # wrong size
    assert parse_z("1,x", 2) is None
    assert parse_z("1," + "1" * 200, 2) is None  # absurdly long
    np.testing.assert_allclose(parse_z("1e9,nan", 2), [10.0, 0.0])  # clamped, NaN to 0
