"""The Train page in AppTest: the form, queueing a job, the errors a student can cause, and a real
(tiny) run that ends in the sidebar picker. Jobs run in real processes through the app's one
JobManager; EXPLORER_MAX_JOBS=0 pauses the queue where a test only needs jobs to wait.

The page runs inside tests/apps/train_app.py (the real picker, Train as the default page): AppTest
runs an app's main script only when it starts on the default page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.data import is_available
from explorer.ui import train_view
from tests.conftest import REPO

APP = str(REPO / "tests" / "apps" / "train_app.py")


@pytest.fixture
def app(tiny_models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_SHIPPED_DIR", str(tiny_models_dir))
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "user_models"))
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "0")
    monkeypatch.setenv("EXPLORER_JOB_NICE", "0")
    train_view._manager.clear()

    def make(**env: str) -> AppTest:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return AppTest.from_file(APP, default_timeout=60).run()

    yield make
    train_view._manager.clear()  # shuts the manager's jobs down


def owner_jobs(at: AppTest):
    return train_view.job_manager().jobs(at.session_state["train_owner"])


def texts(elements) -> str:
    return " | ".join(e.value for e in elements)


def tiny_digits(at: AppTest, *, epochs: int = 3) -> None:
    at.selectbox(key="train_dataset").set_value("digits").run()
    at.text_input(key="train_hidden").set_value("16")
    at.number_input(key="train_epochs").set_value(epochs)


def test_the_form_renders_with_quick_defaults(app):
    at = app()
    assert not at.exception
    assert at.title[0].value == "Train a VAE"
    expected = "mnist" if is_available("mnist") else "digits"
    assert at.selectbox(key="train_dataset").value == expected
    assert at.selectbox(key="train_device").value == "auto"
    assert at.selectbox(key="train_device").format_func("auto").startswith("auto → ")
    assert at.number_input(key="train_latent_dim").value == 2
    assert at.button(key="train_submit").label == "Train"
    assert "No training runs yet" in texts(at.info)

    at.selectbox(key="train_dataset").set_value("digits").run()  # digits: more epochs, smaller net
    assert at.number_input(key="train_epochs").value == 30
    assert at.text_input(key="train_hidden").value == "128,64"
    at.selectbox(key="train_dataset").set_value("kmnist").run()
    assert at.number_input(key="train_epochs").value == 5


def test_submitting_queues_a_job_that_shows_its_place(app):
    at = app()
    tiny_digits(at)
    at.button(key="train_submit").click().run()
    assert not at.exception and not at.error
    (job,) = owner_jobs(at)
    assert job.status == "queued" and job.place == 1
    assert job.spec.train_config.dataset == "digits" and job.spec.train_config.epochs == 3
    assert job.spec.model_config.hidden == (16,) and job.spec.model_config.image_shape == (1, 8, 8)
    assert "1st in the queue" in texts(at.info)
    assert at.button(key=f"train_cancel::{job.id}").label == "Cancel"

    at.button(key=f"train_cancel::{job.id}").click().run()
    assert owner_jobs(at)[0].status == "cancelled"
    assert "cancelled before it started" in texts(at.warning)


def test_ae_vs_vae_queues_the_same_network_twice(app):
    at = app()
    tiny_digits(at)
    at.number_input(key="train_beta").set_value(4.0)
    at.button(key="train_compare").click().run()
    assert not at.exception and not at.error
    ae, vae = owner_jobs(at)
    assert (ae.spec.train_config.beta, vae.spec.train_config.beta) == (0.0, 1.0)
    assert ae.spec.model_config == vae.spec.model_config
    assert ae.spec.group == vae.spec.group is not None
    assert [ae.place, vae.place] == [1, 2]
    assert any("Autoencoder vs VAE" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("train_hidden", "12,abc", "hidden sizes are whole numbers"),
        ("train_hidden", "8,16,32,64", "needs images of at least 16 pixels"),
    ],
)
def test_settings_that_do_not_fit_show_an_error_and_queue_nothing(app, setting, value, message):
    at = app()
    at.selectbox(key="train_dataset").set_value("digits").run()
    if value == "8,16,32,64":
        at.session_state["train_arch"] = "conv"
    at.text_input(key=setting).set_value(value)
    at.button(key="train_submit").click().run()
    assert not at.exception
    assert message in texts(at.error)
    assert owner_jobs(at) == []


def test_a_full_queue_is_refused_with_a_message(app):
    at = app(EXPLORER_JOBS_PER_SESSION="1")
    tiny_digits(at)
    at.button(key="train_submit").click().run()
    at.button(key="train_submit").click().run()
    assert "each session may have 1" in texts(at.error)
    assert len(owner_jobs(at)) == 1


def test_a_finished_run_shows_its_curves_and_time_lapse_and_opens_in_explore(app):
    at = app(EXPLORER_MAX_JOBS="1")
    tiny_digits(at, epochs=3)
    at.button(key="train_submit").click().run()
    (job,) = owner_jobs(at)
    done = train_view.job_manager().wait(job.id, timeout=120)
    assert done.status == "done", done.message
    at.run()
    assert not at.exception
    assert "saved as" in texts(at.success)
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the loss curves and the time-lapse
    assert f"{done.name} · trained here" in at.sidebar.selectbox(key="model_key").options  # the picker has it

    at.button(key=f"train_open::{job.id}").click().run()
    assert not at.exception
    assert at.session_state["model_key"] == f"trained:{done.name}"
    assert at.title[0].value == "Explore (stub)"
    assert f"trained:{done.name}" in at.markdown[0].value


def test_a_failed_run_shows_its_message(app, tmp_path):
    at = app(EXPLORER_MAX_JOBS="1", EXPLORER_DATA_DIR=str(tmp_path / "no-data"))
    at.selectbox(key="train_dataset").set_value("fashion-mnist").run()
    assert "not on this machine" in at.selectbox(key="train_dataset").format_func("fashion-mnist")
    at.text_input(key="train_hidden").set_value("16")
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_submit").click().run()
    (job,) = owner_jobs(at)
    failed = train_view.job_manager().wait(job.id, timeout=120)
    assert failed.status == "failed"
    at.run()
    assert not at.exception
    assert str(tmp_path / "no-data" / "FashionMNIST" / "raw") in texts(at.error)

    at.button(key="train_clear").click().run()  # finished runs can be cleared from the list
    assert not at.error and "No training runs yet" in texts(at.info)


def test_times_and_places_read_naturally():
    assert [train_view.fmt_seconds(s) for s in (None, 4.4, 65, 3725)] == ["…", "4 s", "1 min 05 s", "1 h 02 min"]
    assert [train_view.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
    ]
