"""Every input a person can type, link or craft is bounded: out-of-range values are clamped or
refused with a message, never a traceback.

Through the app (AppTest on streamlit_app.py with the tiny digits models): query parameters,
widget values sent outside their ranges (a hand-made websocket message can carry any value; the
browser's own widgets cannot), malformed chart selections, the training form. Directly: the
library functions behind them (grid sizes, k, L, t-SNE points), parse_z / clamp_z, the pad's
release parser and the command line.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from explorer import checkpoints, cli, elbo_lab, latent, metrics
from explorer.config import ModelConfig, TrainConfig
from explorer.errors import ConfigError
from explorer.ui import explore_view, train_view
from explorer.ui.common import Z_LIMIT, clamp_z, parse_z
from explorer.ui.pad import parse_release

from .conftest import REPO

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.usefixtures("navigation_as_on_a_server"),
]

DEFAULT = "shipped:digits-conv-z2"  # the picker's first model in tiny_models_dir
Z2 = "shipped:digits-mlp-z2"
Z20 = "shipped:digits-mlp-z20"


@pytest.fixture
def shipped(shipped, monkeypatch):
    """conftest's shipped models, and a Train page that queues but never trains."""
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "0")
    train_view._manager.clear()
    yield shipped
    train_view._manager.clear()


def open_app(model_key: str | None = Z2, page: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90)
    if model_key:
        at.session_state["model_key"] = model_key
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, at.exception
    return at


def z_of(at: AppTest, key: str = Z2) -> np.ndarray:
    return np.asarray(at.session_state[f"z::{key}"])


def warnings(at: AppTest) -> str:
    return " | ".join(w.value for w in at.sidebar.warning)


def send_raw(at: AppTest, element_id: str, **value) -> AppTest:
    """Run with one widget's state replaced by a raw value, as a hand-made websocket message would."""
    states = at._tree.get_widget_states()
    state = WidgetState(id=element_id, **value)
    kept = [w for w in states.widgets if w.id != element_id]
    del states.widgets[:]
    states.widgets.extend([*kept, state])
    return at._run(states)


def chart_id(at: AppTest, key_part: str) -> str:
    ids = [c.proto.id for c in at.get("plotly_chart") if key_part in c.proto.id]
    assert ids, f"no chart with {key_part!r} in its id"
    return ids[0]


# ---------------------------------------------------------------- links (A12)


@pytest.mark.parametrize(
    "model",
    [
        "shipped:../../etc/passwd",
        "trained:../checkpoints/digits-mlp-z2",
        "upload:0123456789abcdef",  # an upload this session never made
        "upload:../shipped/digits-mlp-z2",
        "x" * 100_000,
    ],
)
def test_a_link_to_a_model_the_server_does_not_list_is_refused_briefly(shipped, model):
    at = open_app(None, model=model, z="1,1")
    assert at.session_state["model_key"] == DEFAULT
    text = warnings(at)
    assert "does not have" in text and len(text) < 300  # the name is cut short in the message
    np.testing.assert_array_equal(z_of(at, DEFAULT), [0.0, 0.0])  # its z is ignored too


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        ("nan,nan", [0.0, 0.0]),
        ("inf,-inf", [Z_LIMIT, -Z_LIMIT]),
        ("1e309,-1e309", [Z_LIMIT, -Z_LIMIT]),  # overflows to ±inf, then clamped
        ("-1e6,3", [-Z_LIMIT, 3.0]),
        (" 1.5 , -2 ", [1.5, -2.0]),
    ],
)
def test_numbers_in_a_link_are_clamped(shipped, z, expected):
    at = open_app(None, model=Z2, z=z)
    np.testing.assert_allclose(z_of(at), expected)
    assert not at.sidebar.warning
    for s in at.slider:
        if s.key and s.key.startswith("zslider"):
            assert abs(s.value) <= explore_view.SLIDER_LIMIT


@pytest.mark.parametrize("z", ["abc,1", "1,2,3", "1", ",", "1,,2", "0x10,1", "1," * 100_000 + "1"])
def test_a_z_that_does_not_fit_the_model_is_refused_with_a_message(shipped, z):
    start = time.perf_counter()
    at = open_app(None, model=Z2, z=z)
    assert time.perf_counter() - start < 60
    assert "does not fit this 2-D model" in warnings(at)
    np.testing.assert_array_equal(z_of(at), [0.0, 0.0])


def test_a_query_string_over_streamlits_limit_is_ignored(shipped):
    at = open_app(None, model=Z2, z="1," * 500_000 + "1")  # 1 MB: Streamlit drops the whole query string
    assert at.session_state["model_key"] == DEFAULT
    np.testing.assert_array_equal(z_of(at, DEFAULT), [0.0, 0.0])


def test_a_z_beyond_the_sliders_is_kept_and_said_so(shipped):
    at = open_app(None, model=Z20, z=",".join(["1e6"] * 19 + ["-7"]))
    np.testing.assert_allclose(z_of(at, Z20), [Z_LIMIT] * 19 + [-7.0])
    values = [s.value for s in at.slider if s.key and s.key.startswith("zslider")]
    assert len(values) == 20 and max(abs(v) for v in values) == explore_view.SLIDER_LIMIT
    assert any("Beyond the sliders" in c.value for c in at.caption)


@pytest.mark.parametrize(("present", "on"), [("1", True), ("1" * 10_000, False), ("yes", False), ("", False)])
def test_presenter_mode_only_for_present_1(shipped, present, on):
    at = open_app(None, model=Z2, present=present)
    assert at.session_state["presenter"] is on


# ---------------------------------------------------------------- widgets sent out of range


def test_explore_widgets_sent_out_of_range_stay_in_range(shipped):
    at = open_app(Z2)
    grid = f"explore_grid::{Z2}"
    for value in (10**9, -5, 2.5e300):
        at.number_input(key=grid).set_value(value).run()
        assert not at.exception, at.exception
        n = at.number_input(key=grid).value
        assert explore_view.GRID_BOUNDS[0] <= n <= explore_view.GRID_BOUNDS[1]
        assert any(f"{n}×{n} decodes" in c.value for c in at.caption)
    at.slider(key=f"explore_range::{Z2}").set_value(1e6).run()
    assert not at.exception
    assert explore_view.LIMIT_BOUNDS[0] <= at.slider(key=f"explore_range::{Z2}").value <= explore_view.LIMIT_BOUNDS[1]
    for value in (1e12, -math.inf, math.nan):
        at.slider(key=f"zslider::{Z2}::0").set_value(value).run()
        assert not at.exception, at.exception
        assert np.all(np.abs(z_of(at)) <= explore_view.SLIDER_LIMIT)
        assert np.all(np.isfinite(z_of(at)))


def test_t_sne_point_count_sent_out_of_range_is_bounded(shipped):
    at = open_app(Z20)
    at.segmented_control(key=f"explore_plane::{Z20}").set_value("tsne").run()
    assert not at.exception, at.exception
    at.number_input(key=f"explore_tsne::{Z20}").set_value(10**9).run()
    assert not at.exception, at.exception
    assert at.number_input(key=f"explore_tsne::{Z20}").value <= explore_view.TSNE_BOUNDS[1]
    n_test = len(checkpoints.load(shipped / "digits-mlp-z20.pt").encoded)
    assert any(
        f"t-SNE of {min(n_test, explore_view.TSNE_DEFAULT)} test codes" in str(c.proto) for c in at.get("plotly_chart")
    )


def test_generate_widgets_sent_out_of_range_stay_in_range(shipped):
    from explorer.ui import generate_view

    at = open_app(Z2, page="pages/generate.py")
    at.number_input(key="gen_prior_n").set_value(10**6).run()
    assert not at.exception, at.exception
    assert generate_view.GRID_BOUNDS[0] <= at.number_input(key="gen_prior_n").value <= generate_view.GRID_BOUNDS[1]
    at.slider(key="gen_interp_steps").set_value(10**6).run()
    assert not at.exception, at.exception
    assert at.slider(key="gen_interp_steps").value <= generate_view.STEPS_BOUNDS[1]
    for value in (-5, 10**9):
        at.number_input(key="gen_interp_a").set_value(value).run()
        assert not at.exception, at.exception
        a = at.number_input(key="gen_interp_a").value
        assert 0 <= a < len(checkpoints.load(shipped / "digits-mlp-z2.pt").encoded)


def test_elbo_lab_widgets_sent_out_of_range_stay_in_range(shipped):
    at = open_app(Z2, page="pages/elbo_lab.py")
    index_key = f"elbo_index::{Z2}"
    n_test = len(checkpoints.load(shipped / "digits-mlp-z2.pt").encoded)
    for value in (10**9, -1):
        at.number_input(key=index_key).set_value(value).run()
        assert not at.exception, at.exception
        assert 0 <= at.number_input(key=index_key).value < n_test
    at.select_slider(key="elbo_samples").set_value(10**9).run()  # not one of the choices
    assert not at.exception, at.exception
    assert at.select_slider(key="elbo_samples").value in pages_choices("SAMPLE_CHOICES")
    at.select_slider(key="elbo_iw").set_value(10**9).run()
    assert not at.exception, at.exception
    assert at.select_slider(key="elbo_iw").value in pages_choices("IW_CHOICES")
    assert max(pages_choices("IW_CHOICES")) <= elbo_lab.MAX_IW_SAMPLES
    assert max(pages_choices("SAMPLE_CHOICES")) <= elbo_lab.MAX_SAMPLES


def pages_choices(name: str) -> tuple[int, ...]:
    """A constant of the ELBO lab view, read without running the page."""
    import ast

    tree = ast.parse((REPO / "explorer" / "ui" / "elbo_lab_view.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise LookupError(name)


# ---------------------------------------------------------------- malformed chart selections

MALFORMED_SELECTIONS = [
    {"selection": {"points": [{"customdata": "Infinity"}]}},
    {"selection": {"points": [{"customdata": "abc", "x": "a", "y": 1}]}},
    {"selection": {"points": [{"customdata": 1e300, "x": 1e300, "y": -1e300}]}},
    {"selection": {"points": [{"customdata": [-3], "x": None}]}},
    {"selection": {"points": 5}},
    {"selection": {"points": ["x", None]}},
    {"selection": {}},
]


def _selection_json(event: dict) -> str:
    return json.dumps(event).replace('"Infinity"', "Infinity")  # JSON as Python reads it, non-finite included


@pytest.mark.parametrize("event", MALFORMED_SELECTIONS)
def test_elbo_lab_ignores_malformed_clicks(shipped, event):
    at = open_app(Z2, page="pages/elbo_lab.py")
    index = at.number_input(key=f"elbo_index::{Z2}").value
    for key_part in (f"elbo_pick::{Z2}", f"elbo_holes::{Z2}"):
        send_raw(at, chart_id(at, key_part), string_value=_selection_json(event))
        assert not at.exception, (key_part, at.exception)
        assert at.number_input(key=f"elbo_index::{Z2}").value == index


@pytest.mark.parametrize("event", MALFORMED_SELECTIONS)
def test_explore_scatter_ignores_malformed_selections(shipped, event):
    at = open_app(Z2)
    send_raw(at, chart_id(at, f"explore_scatter::{Z2}"), string_value=_selection_json(event))
    assert not at.exception, at.exception


# ---------------------------------------------------------------- the training form


@pytest.mark.parametrize(
    ("hidden", "message"),
    [
        ("1000000000", "each hidden size must be an integer 1..4096"),
        ("a,b", "hidden sizes are whole numbers"),
        ("", "give at least one hidden size"),
        ("0", "each hidden size must be an integer 1..4096"),
        ("-5", "each hidden size must be an integer 1..4096"),
        ("64," * 7, "hidden must list 1..6 layer sizes"),
        ("1e3", "hidden sizes are whole numbers"),
        ("9" * 100_000, "each hidden size must be an integer 1..4096"),  # cut to 100 characters first
    ],
)
def test_hidden_sizes_that_do_not_fit_are_refused_with_a_message(shipped, hidden, message):
    at = open_app(Z2, page="pages/train.py")
    at.selectbox(key="train_dataset").set_value("digits").run()
    at.text_input(key="train_hidden").set_value(hidden)
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    errors = " | ".join(e.value for e in at.error)
    assert message in errors and len(errors) < 600
    assert train_view.job_manager().jobs(at.session_state["train_owner"]) == []


def test_training_numbers_sent_out_of_range_are_reset_before_a_job_is_queued(shipped):
    at = open_app(Z2, page="pages/train.py")
    at.selectbox(key="train_dataset").set_value("digits").run()
    at.text_input(key="train_hidden").set_value("16")
    at.number_input(key="train_latent_dim").set_value(10**6)
    at.number_input(key="train_epochs").set_value(10**9)
    at.number_input(key="train_beta").set_value(1e300)
    at.number_input(key="train_warmup").set_value(-3)
    at.select_slider(key="train_lr").set_value(1e9)  # not one of the choices
    at.run()
    send_raw(at, at.selectbox(key="train_batch").id, string_value="3")  # not one of the choices
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    (job,) = train_view.job_manager().jobs(at.session_state["train_owner"])
    mc, tc = job.spec.model_config, job.spec.train_config
    assert 1 <= mc.latent_dim <= 128 and mc.hidden == (16,)
    assert 1 <= tc.epochs <= 1000 and 0 <= tc.beta <= 1000 and tc.warmup_epochs >= 0
    assert tc.lr in train_view.LEARNING_RATES and tc.batch_size in train_view.BATCH_SIZES


# ---------------------------------------------------------------- the library behind the pages


def test_grid_sizes_are_bounded():
    for n in (1, latent.MAX_GRID + 1, 10**9):
        with pytest.raises(ValueError, match="grid size"):
            latent.grid_coordinates(n)
    assert len(latent.grid_coordinates(latent.MAX_GRID, spacing="gaussian")) == latent.MAX_GRID
    assert explore_view.GRID_BOUNDS[1] <= latent.MAX_GRID


def test_t_sne_refuses_too_many_points_before_working():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="limited to"):
        latent.tsne_2d(np.zeros((latent.MAX_TSNE_POINTS + 1, 2), dtype=np.float32))
    assert time.perf_counter() - start < 5
    proj = explore_view.make_projection(np.random.default_rng(0).normal(size=(40, 5)), "tsne", (0, 1), 10**9)
    assert len(proj.index) == 40  # clamped to what there is


def test_importance_and_monte_carlo_sample_counts_are_bounded(tiny_checkpoint):
    import torch

    model = checkpoints.load(tiny_checkpoint).model
    x = torch.rand(2, 1, 8, 8)
    for k in (0, metrics.MAX_IW_SAMPLES + 1):
        with pytest.raises(ValueError, match="k must be"):
            metrics.iw_log_likelihood(model, x, k=k)
    for samples in (0, elbo_lab.MAX_SAMPLES + 1, 10**9):
        with pytest.raises(ValueError, match="samples L"):
            elbo_lab.analyse_image(model, x[0], index=0, seed=0, samples=samples, iw_samples=0)
    with pytest.raises(ValueError, match="importance samples k"):
        elbo_lab.analyse_image(model, x[0], index=0, seed=0, samples=1, iw_samples=10**9)


def test_typed_numbers_are_clamped():
    clamp = explore_view.clamp
    assert clamp(float("nan"), 3, 30) == 3
    assert clamp(float("inf"), 3, 30) == 30 and clamp(-1e300, 3, 30) == 3 and clamp(7.5, 3, 30) == 7.5
    np.testing.assert_array_equal(clamp_z([np.nan, np.inf, -np.inf, 0.5]), [0.0, Z_LIMIT, -Z_LIMIT, 0.5])
    assert clamp_z(np.zeros(3)).dtype == np.float32


def test_parse_z_refuses_what_does_not_fit():
    assert parse_z("1,2", 2) is not None
    for text in ("", "1", "1,2,3", "a,b", "1;2", "None,1", "1," * 100 + "1", "[1,2]"):
        assert parse_z(text, 2) is None, text
    start = time.perf_counter()
    assert parse_z("1," * 5_000_000 + "1", 2) is None  # 10 MB: refused on its length, quickly
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    "value",
    [
        None,
        "z",
        {"z": "1,2"},
        {"z": [1.0]},
        {"z": [1.0, 2.0, 3.0]},
        {"z": ["a", 1]},
        {"z": [float("nan"), 1.0]},
        {"z": [float("inf"), 1.0]},
        {"z": [[1], 2]},
        {"z": [None, 1]},
        {"z": [1.0] * 1_000_000},
    ],
)
def test_a_malformed_release_from_the_pad_is_ignored(value):
    assert parse_release(value, 2) is None


def test_a_release_from_the_pad_is_clamped():
    np.testing.assert_allclose(parse_release({"z": [1e9, "-2.5"]}, 2), [Z_LIMIT, -2.5])
    np.testing.assert_allclose(parse_release({"z": [True, 0]}, 2), [1.0, 0.0])


@pytest.mark.parametrize(
    "settings",
    [
        {"latent_dim": 10**9},
        {"latent_dim": 0},
        {"hidden": (10**9,)},
        {"hidden": (4096,) * 6},  # each width allowed, the whole too large
        {"hidden": ()},
        {"image_shape": (1, 10**6, 10**6)},
        {"gaussian_sigma": float("nan")},
        {"latent_dim": True},
    ],
)
def test_model_settings_out_of_bounds_are_refused(settings):
    with pytest.raises(ConfigError):
        ModelConfig(**settings)


@pytest.mark.parametrize(
    "settings",
    [{"epochs": 10**9}, {"batch_size": 0}, {"lr": float("nan")}, {"lr": 1e9}, {"beta": -1.0}, {"seed": -1}],
)
def test_training_settings_out_of_bounds_are_refused(settings):
    with pytest.raises(ConfigError):
        TrainConfig(**settings)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--dataset", "digits", "--hidden", "1000000000"], "hidden"),
        (["train", "--dataset", "digits", "--lr", "nan"], "lr"),
        (["train", "--dataset", "digits", "--beta", "-1"], "beta"),
        (["evaluate", "CHECKPOINT", "--iw-samples", "1000000000"], "--iw-samples must be"),
        (["evaluate", "CHECKPOINT", "--index", "1000000000", "--iw-samples", "0"], "--index must be"),
    ],
)
def test_the_command_line_refuses_out_of_range_values_with_a_message(tiny_checkpoint, capsys, argv, message):
    argv = [str(tiny_checkpoint) if a == "CHECKPOINT" else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err
