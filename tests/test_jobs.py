"""The background job runner, without Streamlit: real processes training real (tiny) digits models."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import torch

from explorer import checkpoints
from explorer.config import ModelConfig, TrainConfig
from explorer.errors import ConfigError, DatasetUnavailable
from explorer.jobs import (
    JobManager,
    JobRejected,
    JobSettings,
    JobSpec,
    failure_message,
    job_name,
    project_frame,
    timelapse_subset,
    unique_name,
)
from explorer.ui import registry

TINY = ModelConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


def spec(model_config: ModelConfig = TINY, **train) -> JobSpec:
    tc = {"dataset": "digits", "epochs": 3, "batch_size": 64, "lr": 3e-3, "device": "cpu", **train}
    return JobSpec(model_config, TrainConfig(**tc))


@pytest.fixture
def make_manager(tmp_path):
    managers = []

    def make(**settings) -> JobManager:
        manager = JobManager(
            tmp_path / "models", JobSettings(**{"threads": 1, "memory_mb": None, "nice": 0, **settings})
        )
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown(timeout=10)


def watch(manager: JobManager, job_id: str, timeout: float = 90.0) -> list:
    """Every distinct state the job passes through, until it ends."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = manager.get(job_id)
        key = (state.status, state.phase, state.epoch, state.step, len(state.history))
        if not seen or key != seen[-1][0]:
            seen.append((key, state))
        if not state.active:
            return [s for _, s in seen]
        time.sleep(0.02)
    raise TimeoutError(f"{job_id} did not finish in {timeout} s")


def test_a_job_reports_progress_and_saves_a_checkpoint_the_app_can_open(make_manager, monkeypatch):
    manager = make_manager(nice=3)
    # Batches of 2 make each epoch last long enough (hundreds of steps) that a fast machine still
    # shows the rows arriving one by one to a watcher polling every 20 ms.
    job = manager.submit(spec(epochs=3, batch_size=2), owner="alice")
    assert job.status == "queued" and job.place == 1 and job.epochs == 3
    deadline = time.monotonic() + 60
    while (state := manager.get(job.id)).phase in ("", "starting"):  # it lowers its priority, then loads
        assert time.monotonic() < deadline and state.active
        time.sleep(0.01)
    pid = state.pid
    assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + 3
    states = watch(manager, job.id)
    final = states[-1]
    assert final.status == "done", final.message

    running = [s for s in states if s.status == "running"]
    assert "training" in {s.phase for s in running}
    fractions = [s.fraction for s in running]
    assert fractions == sorted(fractions) and 0 < max(fractions) <= 1
    assert [len(s.history) for s in running] == sorted(len(s.history) for s in running)  # rows arrive one by one
    assert any(0 < len(s.history) < 3 for s in running)  # a row was visible before the end
    assert final.device.startswith("cpu")

    assert [row["epoch"] for row in final.history] == [1, 2, 3]
    assert all(np.isfinite(row["test_neg_elbo"]) for row in final.history)
    assert len(final.frames) == 4  # epoch 0 (untrained) and each epoch
    assert all(f.shape == (360, 2) and np.isfinite(f).all() for f in final.frames)
    assert final.frame_labels.shape == (360,) and final.class_names[0] == "0"
    assert not np.allclose(final.frames[0], final.frames[-1])  # the codes moved
    assert "saved as" in final.message and "−ELBO" in final.message

    assert final.path.parent == manager.out_dir and final.path.suffix == ".pt"
    ckpt = checkpoints.load(final.path)
    assert ckpt.model_config == TINY and ckpt.train_config.epochs == 3
    assert [row["epoch"] for row in ckpt.history] == [1, 2, 3]
    assert ckpt.metrics["neg_elbo"] == pytest.approx(ckpt.metrics["recon"] + ckpt.metrics["kl"])
    assert len(ckpt.encoded) == 360 and ckpt.dataset.name == "digits"
    mu, _ = ckpt.model.encode(torch.zeros(1, 1, 8, 8))
    assert mu.shape == (1, 2)

    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(manager.out_dir))
    assert final.model_key in [e.key for e in registry.trained_models()]


def test_cancel_stops_soon_and_keeps_the_last_completed_epoch(make_manager):
    manager = make_manager()
    job = manager.submit(spec(epochs=2000), owner="alice")
    deadline = time.monotonic() + 90
    while len(manager.get(job.id).history) < 2:
        assert time.monotonic() < deadline and manager.get(job.id).active
        time.sleep(0.02)
    asked = time.monotonic()
    assert manager.cancel(job.id).cancel_requested
    final = manager.wait(job.id, timeout=30)
    assert time.monotonic() - asked < 10
    assert final.status == "cancelled"
    done = len(final.history)
    assert 2 <= done < 2000
    assert f"epoch {done} of 2000 saved" in final.message
    ckpt = checkpoints.load(final.path)
    assert len(ckpt.history) == done
    assert ckpt.history[-1] == pytest.approx(final.history[-1])
    assert ckpt.meta["note"] == f"cancelled after epoch {done} of 2000"


def test_the_queue_runs_one_job_at_a_time_first_come_first_served(make_manager):
    manager = make_manager(max_running=1)
    first, second, third = manager.submit_all([spec(epochs=2000), spec(epochs=1), spec(epochs=1)], owner="alice")
    assert [first.place, second.place, third.place] == [1, 2, 3]
    assert len({first.name, second.name, third.name}) == 3  # same settings, same second: still unique

    cancelled = manager.cancel(third.id)
    assert cancelled.status == "cancelled" and "before it started" in cancelled.message

    deadline = time.monotonic() + 90
    while not manager.get(first.id).history:  # the first one trains ...
        assert time.monotonic() < deadline
        time.sleep(0.02)
    waiting = manager.get(second.id)
    assert waiting.status == "queued" and waiting.place == 1  # ... while the second waits, first in line
    assert manager.overview() == (1, 1)
    manager.cancel(first.id)

    most_running = 0
    while manager.get(second.id).active:
        assert time.monotonic() < deadline
        most_running = max(most_running, manager.overview()[0])
        time.sleep(0.02)
    a, b = manager.get(first.id), manager.get(second.id)
    assert a.status == "cancelled" and b.status == "done"
    assert most_running == 1
    assert a.finished <= b.started
    assert manager.get(third.id).path is None and manager.get(third.id).started is None


def test_queue_limits_per_session_and_overall(make_manager):
    manager = make_manager(max_running=0, max_queued=3, per_owner=2)  # 0: the queue is paused
    manager.submit_all([spec(), spec()], owner="alice")
    with pytest.raises(JobRejected, match="each session may have 2"):
        manager.submit(spec(), owner="alice")
    manager.submit(spec(), owner="bob")
    with pytest.raises(JobRejected, match="queue is full"):
        manager.submit(spec(), owner="carol")
    with pytest.raises(JobRejected):  # all or none
        manager.submit_all([spec(), spec()], owner="bob")
    assert [j.place for j in manager.jobs()] == [1, 2, 3]
    assert [j.owner for j in manager.jobs("alice")] == ["alice", "alice"]
    manager.cancel(manager.jobs("alice")[0].id)
    assert [j.place for j in manager.jobs() if j.active] == [1, 2]
    manager.submit(spec(), owner="alice")  # a cancelled job frees its place


def test_failures_end_with_a_message_and_the_server_keeps_running(make_manager, tmp_path):
    manager = make_manager(max_running=3)
    nan = manager.submit(spec(lr=10.0, epochs=5), owner="alice")
    missing = manager.submit(
        JobSpec(
            ModelConfig(image_shape=(1, 28, 28), hidden=(16,)),
            TrainConfig(dataset="kmnist", epochs=1, device="cpu"),
            data_dir=str(tmp_path / "empty"),
        ),
        owner="alice",
    )
    huge = ModelConfig(image_shape=(1, 8, 8), hidden=(4096, 4096), latent_dim=2)  # ~0.5 GB with Adam
    oom_manager = make_manager(memory_mb=200)
    oom = oom_manager.submit(spec(huge, epochs=1), owner="alice")

    nan_state = manager.wait(nan.id, 90)
    assert nan_state.status == "failed"
    assert "smaller learning rate" in nan_state.message and "nothing was saved" in nan_state.message
    assert nan_state.path is None

    missing_state = manager.wait(missing.id, 90)
    assert missing_state.status == "failed"
    assert str(tmp_path / "empty" / "KMNIST" / "raw") in missing_state.message

    oom_state = oom_manager.wait(oom.id, 90)
    assert oom_state.status == "failed"
    assert "ran out of memory" in oom_state.message and "smaller batch size" in oom_state.message

    deadline = time.monotonic() + 10
    while (manager.overview(), oom_manager.overview()) != ((0, 0), (0, 0)):  # the processes have exited
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert manager.submit(spec(), owner="alice").status == "queued"  # and it takes new work


def test_a_killed_process_fails_the_job_with_a_message(make_manager):
    manager = make_manager()
    job = manager.submit(spec(epochs=2000), owner="alice")
    deadline = time.monotonic() + 90
    while not (state := manager.get(job.id)).history:
        assert time.monotonic() < deadline and state.active
        time.sleep(0.02)
    os.kill(state.pid, signal.SIGKILL)  # what the kernel's OOM killer does
    final = manager.wait(job.id, 30)
    assert final.status == "failed" and "killed" in final.message and "memory" in final.message
    assert manager.overview() == (0, 0)


# ---------------------------------------------------------------- pure helpers


def test_timelapse_subset_is_fixed_sorted_and_bounded():
    a = timelapse_subset(360)
    assert np.array_equal(a, np.arange(360))
    b = timelapse_subset(10_000, 1000)
    assert len(b) == 1000 and np.array_equal(b, np.sort(b)) and len(set(b.tolist())) == 1000
    assert np.array_equal(b, timelapse_subset(10_000, 1000))


def test_project_frame_keeps_2d_pads_1d_and_follows_pca_signs():
    rng = np.random.default_rng(0)
    mu2 = rng.normal(size=(50, 2)).astype(np.float32)
    frame, titles = project_frame(mu2)
    assert np.array_equal(frame, mu2) and titles == ("z₁", "z₂")
    frame, titles = project_frame(mu2[:, :1])
    assert frame.shape == (50, 2) and not frame[:, 1].any() and titles[1] == ""

    mu5 = rng.normal(size=(200, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    first, titles = project_frame(mu5)
    assert titles == ("PC 1 of μ", "PC 2 of μ") and first.shape == (200, 2)
    assert np.var(first[:, 0]) == pytest.approx(np.var(mu5[:, 0]), rel=0.2)  # the widest axis first
    flipped, _ = project_frame(-mu5, previous=first)  # the same codes mirrored: no flip on screen
    np.testing.assert_allclose(flipped, first, atol=1e-4)


def test_names_are_readable_and_unique(tmp_path):
    when = time.mktime((2026, 3, 4, 5, 6, 7, 0, 0, -1))
    assert job_name(spec(), when=when) == "digits-mlp-z2-0304-050607"
    assert job_name(spec(beta=0.0), when=when) == "digits-mlp-z2-ae-0304-050607"
    assert job_name(spec(beta=0.5), when=when) == "digits-mlp-z2-beta0p5-0304-050607"
    (tmp_path / "x.pt").write_bytes(b"")
    assert unique_name("x", set(), tmp_path) == "x-2"
    assert unique_name("x", {"x-2"}, tmp_path) == "x-3"
    assert unique_name("y", set(), tmp_path) == "y"


def test_failure_messages_say_what_to_do():
    assert "smaller batch size" in failure_message(MemoryError())
    oom = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 bytes")
    assert failure_message(oom).startswith("the job ran out of memory (DefaultCPUAllocator")
    assert failure_message(DatasetUnavailable("MNIST is not in /x")) == "MNIST is not in /x"
    assert failure_message(ConfigError("bad")) == "bad"
    assert failure_message(ValueError("boom\nstack")) == "training failed: ValueError: boom"


def test_settings_come_from_the_environment():
    s = JobSettings.from_env(
        {
            "EXPLORER_MAX_JOBS": "2",
            "EXPLORER_MAX_QUEUED": "5",
            "EXPLORER_JOBS_PER_SESSION": "0",
            "EXPLORER_JOB_THREADS": "3",
            "EXPLORER_JOB_MEMORY_MB": "0",
            "EXPLORER_JOB_NICE": "oops",
        }
    )
    assert (s.max_running, s.max_queued, s.per_owner, s.threads, s.memory_mb, s.nice) == (2, 5, 1, 3, None, 10)
    default = JobSettings.from_env({})
    assert default.max_running == 1 and default.threads >= 1 and default.memory_mb
