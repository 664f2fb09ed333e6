"""Training jobs that run in the background: one process per job, a queue, a manager thread.

The Streamlit server holds one `JobManager` for all sessions. `submit` puts a `JobSpec` in a
first-come queue; the manager's thread starts up to `max_running` jobs at a time, each in its own
Python process with a limited torch thread count, a lowered priority and (on the CPU) a memory
budget, so a busy or crashing job cannot take the server down and cancelling always works. The
process reads its spec from stdin and writes events to stdout (progress, one row and one latent
frame per epoch, the saved file); the manager folds them into a `JobState` that pages read as
copies. A plain subprocess rather than multiprocessing: Streamlit runs each page script as
`__main__`, which multiprocessing's spawn would execute again in the child.

A job's latent "time-lapse" is the encoded mean of a fixed subset of test images (1000 by
default), recorded before training (epoch 0) and after every epoch, projected to 2-D.

No Streamlit here, so the runner is tested directly. Settings come from the environment:

    EXPLORER_MAX_JOBS          jobs training at once (default 1; 0 pauses the queue)
    EXPLORER_MAX_QUEUED        jobs waiting, all sessions together (default 16)
    EXPLORER_JOBS_PER_SESSION  jobs waiting or running per session (default 4)
    EXPLORER_JOB_THREADS       torch threads per job (default: the CPUs left over, at most 4)
    EXPLORER_JOB_MEMORY_MB     memory a CPU job may allocate (default: half the machine's RAM)
    EXPLORER_JOB_NICE          priority increment of a job's process (default 10)
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import pickle
import queue
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from explorer.config import ModelConfig, TrainConfig
from explorer.errors import ExplorerError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder that holds explorer/

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
TIMELAPSE_POINTS = 1000  # test images whose codes make the time-lapse
TIMELAPSE_SEED = 0  # the subset is the same for every job on a data set
CANCEL_GRACE_S = 30.0  # a job that ignores its cancel flag this long is terminated
MAX_FINISHED_KEPT = 200  # finished jobs remembered (their curves and frames), oldest dropped first
_NAME_RE = re.compile(r"[^a-z0-9-]+")
MEMORY_ERRORS = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to map segment")


class JobRejected(ExplorerError):
    """The queue (or this session's share of it) is full; the message says what to do."""


@dataclass(frozen=True)
class JobSpec:
    """What to train: the two configs and where the data lives."""

    model_config: ModelConfig
    train_config: TrainConfig
    label: str = ""  # shown on the page, e.g. "AE (β = 0)"; empty: the file name
    group: str | None = None  # jobs submitted together (AE vs VAE) share a group id
    data_dir: str | None = None  # None: $EXPLORER_DATA_DIR, else the cache folder
    iw_samples: int = 0  # importance samples for the final log p(x) estimate; 0 skips it
    timelapse_points: int = TIMELAPSE_POINTS


@dataclass(frozen=True)
class JobSettings:
    """How the manager runs jobs; `from_env` reads the EXPLORER_* variables."""

    max_running: int = 1
    max_queued: int = 16
    per_owner: int = 4
    threads: int = 1
    memory_mb: int | None = None  # None: no limit
    nice: int = 10

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> JobSettings:
        env = os.environ if environ is None else environ

        def number(name: str, default: int, low: int = 0) -> int:
            text = env.get(name, "").strip()
            if not text:
                return default
            try:
                return max(low, int(text))
            except ValueError:
                log.warning("%s=%r is not an integer; using %d", name, text, default)
                return default

        max_running = number("EXPLORER_MAX_JOBS", 1)
        cpus = os.cpu_count() or 1
        threads = max(1, min(4, (cpus - 1) // max(1, max_running)))
        memory = number("EXPLORER_JOB_MEMORY_MB", _total_memory_mb() // 2)
        return cls(
            max_running=max_running,
            max_queued=number("EXPLORER_MAX_QUEUED", 16),
            per_owner=number("EXPLORER_JOBS_PER_SESSION", 4, low=1),
            threads=number("EXPLORER_JOB_THREADS", threads, low=1),
            memory_mb=memory or None,
            nice=number("EXPLORER_JOB_NICE", 10),
        )


def _total_memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return 0


@dataclass
class JobState:
    """One job as the page sees it. The manager hands out copies; changing one changes nothing."""

    id: str
    name: str  # file stem of the checkpoint, unique among trained models
    spec: JobSpec
    owner: str
    status: str = "queued"
    place: int | None = None  # 1-based place in the queue while waiting
    phase: str = ""  # while running: starting, loading data, training, evaluating, saving
    device: str = ""
    epoch: int = 0  # epoch under way (1-based), or the last one finished
    epochs: int = 0
    step: int = 0
    steps: int = 0
    fraction: float = 0.0  # of all training steps done
    seconds_left: float | None = None
    elapsed: float = 0.0  # seconds of training so far
    history: list[dict] = field(default_factory=list)  # EpochStats.to_dict() per finished epoch
    frames: list[np.ndarray] = field(default_factory=list)  # (N, 2) codes after epoch 0, 1, 2, ...
    frame_labels: np.ndarray | None = None  # (N,) class of each time-lapse point
    class_names: tuple[str, ...] = ()
    axis_titles: tuple[str, str] = ("z₁", "z₂")
    message: str = ""  # what happened, in words (errors included)
    pid: int | None = None  # the job's process while it runs
    path: Path | None = None  # the saved checkpoint, once there is one
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False

    @property
    def label(self) -> str:
        return self.spec.label or self.name

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def model_key(self) -> str | None:
        """The sidebar picker's key for the saved model ('trained:<stem>'), once saved."""
        return f"trained:{self.path.stem}" if self.path is not None else None


# ---------------------------------------------------------------- names


def job_name(spec: JobSpec, *, when: float | None = None) -> str:
    """A readable file stem: data set, architecture, latent size, AE or beta, and the time."""
    mc, tc = spec.model_config, spec.train_config
    parts = [tc.dataset, mc.arch, f"z{mc.latent_dim}"]
    if tc.beta == 0:
        parts.append("ae")
    elif tc.beta != 1:
        parts.append(f"beta{tc.beta:g}".replace(".", "p"))
    parts.append(datetime.fromtimestamp(when or time.time()).strftime("%m%d-%H%M%S"))
    return _NAME_RE.sub("-", "-".join(parts).lower()).strip("-")


def unique_name(base: str, taken: set[str], folder: Path) -> str:
    name, n = base, 1
    while name in taken or (folder / f"{name}.pt").exists():
        n += 1
        name = f"{base}-{n}"
    return name


# ---------------------------------------------------------------- the manager


@dataclass
class _Running:
    process: subprocess.Popen
    events: queue.Queue  # (kind, payload) read from the process's stdout by `reader`
    reader: threading.Thread
    cancel_sent: float | None = None
    terminated: bool = False

    def send_cancel(self) -> None:
        try:
            self.process.stdin.write(b"c")
            self.process.stdin.flush()
        except (OSError, ValueError):  # the process has already gone
            pass


class JobManager:
    """Queues training jobs and runs each in its own process; safe to call from many threads."""

    def __init__(
        self,
        out_dir: str | os.PathLike,
        settings: JobSettings | None = None,
        *,
        poll_interval: float = 0.1,
    ):
        self.out_dir = Path(out_dir)
        self.settings = settings or JobSettings.from_env()
        self.poll_interval = poll_interval
        self._lock = threading.RLock()
        self._jobs: dict[str, JobState] = {}
        self._queue: list[str] = []  # waiting job ids, first come first served
        self._running: dict[str, _Running] = {}
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ public API

    def submit(self, spec: JobSpec, *, owner: str) -> JobState:
        """Queue one job; raises JobRejected when the queue or the owner's share is full."""
        return self.submit_all([spec], owner=owner)[0]

    def submit_all(self, specs: Sequence[JobSpec], *, owner: str) -> list[JobState]:
        """Queue several jobs at once (all or none), in order."""
        s = self.settings
        with self._lock:
            mine = sum(1 for j in self._jobs.values() if j.owner == owner and j.active)
            if mine + len(specs) > s.per_owner:
                raise JobRejected(
                    f"you already have {mine} job{'s' * (mine != 1)} waiting or running and each session may "
                    f"have {s.per_owner}; wait for one to finish or cancel one"
                )
            if len(self._queue) + len(specs) > s.max_queued:
                raise JobRejected(
                    f"the training queue is full ({len(self._queue)} jobs waiting); try again in a few minutes"
                )
            taken = {j.name for j in self._jobs.values()}
            states = []
            now = time.time()
            for spec in specs:
                job_id = f"job-{next(self._ids)}"
                name = unique_name(job_name(spec, when=now), taken, self.out_dir)
                taken.add(name)
                state = JobState(id=job_id, name=name, spec=spec, owner=owner, epochs=spec.train_config.epochs)
                self._jobs[job_id] = state
                self._queue.append(job_id)
                states.append(state)
            self._update_places()
            self._prune()
            self._ensure_thread()
            return [self._copy(st) for st in states]

    def get(self, job_id: str) -> JobState | None:
        with self._lock:
            state = self._jobs.get(job_id)
            return self._copy(state) if state is not None else None

    def jobs(self, owner: str | None = None) -> list[JobState]:
        """Copies of the jobs (of one owner, or all), oldest first."""
        with self._lock:
            return [self._copy(j) for j in self._jobs.values() if owner is None or j.owner == owner]

    def overview(self) -> tuple[int, int]:
        """(jobs training now, jobs waiting), all sessions together."""
        with self._lock:
            return len(self._running), len(self._queue)

    def cancel(self, job_id: str) -> JobState | None:
        """Cancel a job: a waiting one leaves the queue; a running one stops after its current
        batch and keeps (saves) its last completed epoch."""
        with self._lock:
            state = self._jobs.get(job_id)
            if state is None or not state.active:
                return self._copy(state) if state else None
            if state.status == "queued":
                self._queue.remove(job_id)
                self._finish(state, "cancelled", "cancelled before it started")
                self._update_places()
            elif not state.cancel_requested:
                state.cancel_requested = True
                state.message = "stopping after the current batch…"
                run = self._running.get(job_id)
                if run is not None:
                    run.send_cancel()
                    run.cancel_sent = time.monotonic()
            return self._copy(state)

    def wait(self, job_id: str, timeout: float = 60.0) -> JobState:
        """Block until the job has finished (for scripts and tests); TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.get(job_id)
            if state is None:
                raise KeyError(job_id)
            if not state.active:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{job_id} still {state.status} after {timeout} s")
            time.sleep(0.05)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every job, give running ones `timeout` seconds to stop, then terminate them."""
        with self._lock:
            for job_id in list(self._queue):
                self.cancel(job_id)
            for job_id in list(self._running):
                self.cancel(job_id)
        deadline = time.monotonic() + timeout
        while self._running and time.monotonic() < deadline:
            if self._thread is None or not self._thread.is_alive():
                self._tick()
            time.sleep(0.05)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for job_id, run in list(self._running.items()):
                if run.process.poll() is None:
                    run.process.kill()
                run.process.wait(timeout=5)
                run.reader.join(timeout=5)
                self._drain(job_id, run)
                self._reap(job_id, run)

    # ------------------------------------------------------------ the thread

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="explorer-jobs", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self._tick()
            except Exception:  # never let one bad event stop the queue
                log.exception("job manager tick failed")

    def _tick(self) -> None:
        with self._lock:
            for job_id, run in list(self._running.items()):
                self._drain(job_id, run)
                if not run.reader.is_alive() and run.process.poll() is not None:
                    self._drain(job_id, run)  # everything it wrote before it ended
                    self._reap(job_id, run)
                elif run.cancel_sent is not None and time.monotonic() - run.cancel_sent > CANCEL_GRACE_S:
                    if not run.terminated:
                        run.process.terminate()
                        run.terminated = True
                    elif time.monotonic() - run.cancel_sent > CANCEL_GRACE_S + 10:
                        run.process.kill()
            while self._queue and len(self._running) < self.settings.max_running:
                self._start(self._queue.pop(0))
            self._update_places()

    def _start(self, job_id: str) -> None:
        state = self._jobs[job_id]
        state.status, state.phase, state.place = "running", "starting", None
        state.started = time.time()
        threads = str(self.settings.threads)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", "from explorer.jobs import child_main; child_main()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=str(PACKAGE_ROOT),
            )
            process.stdin.write(pickle.dumps((state.spec, str(self.out_dir / f"{state.name}.pt"), self.settings)))
            process.stdin.flush()
        except (OSError, ValueError) as exc:  # too many processes, no memory for one more...
            self._finish(state, "failed", f"the training process could not start: {exc}")
            return
        events: queue.Queue = queue.Queue()
        reader = threading.Thread(
            target=_read_events, args=(process.stdout, events), name=f"explorer-{job_id}-reader", daemon=True
        )
        reader.start()
        self._running[job_id] = _Running(process, events, reader)
        state.pid = process.pid

    def _drain(self, job_id: str, run: _Running) -> None:
        state = self._jobs[job_id]
        while True:
            try:
                kind, payload = run.events.get_nowait()
            except queue.Empty:
                return
            self._apply(state, kind, payload)

    def _apply(self, state: JobState, kind: str, p: dict) -> None:
        if state.status != "running":
            return
        if kind == "phase":
            state.phase = p["phase"]
            state.device = p.get("device", state.device)
        elif kind == "started":
            state.frame_labels = p["labels"]
            state.class_names = tuple(p["class_names"])
            state.axis_titles = tuple(p["axis_titles"])
            state.steps = p["steps"]
            state.frames.append(p["frame"])
            state.phase = "training"
        elif kind in ("progress", "epoch"):
            for key in ("epoch", "epochs", "step", "steps", "fraction", "seconds_left", "elapsed"):
                setattr(state, key, p[key])
            if kind == "epoch":
                state.history.append(p["stats"])
                state.frames.append(p["frame"])
        elif kind == "finished":
            state.path = Path(p["path"]) if p.get("path") else None
            if p["status"] == "done":
                state.fraction, state.seconds_left = 1.0, 0.0
            self._finish(state, p["status"], p["message"])

    def _reap(self, job_id: str, run: _Running) -> None:
        """The process has exited: record how, if it did not say so itself."""
        state = self._jobs[job_id]
        del self._running[job_id]
        state.pid = None
        if state.status == "running":
            code = run.process.returncode
            if state.cancel_requested:
                kept = f"; epoch {len(state.history)} was not saved" if state.history else ""
                self._finish(state, "cancelled", f"cancelled: the process did not stop in time and was ended{kept}")
            elif code is not None and code == -9:
                self._finish(
                    state,
                    "failed",
                    "the training process was killed (signal 9), most likely because the machine ran out of "
                    "memory. Try a smaller batch size or smaller hidden sizes.",
                )
            else:
                self._finish(state, "failed", f"the training process stopped unexpectedly (exit code {code})")
        for stream in (run.process.stdin, run.process.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass

    def _finish(self, state: JobState, status: str, message: str) -> None:
        state.status, state.message, state.place = status, message, None
        state.phase = ""
        state.finished = time.time()
        if status != "done":
            state.seconds_left = None

    def _update_places(self) -> None:
        for place, job_id in enumerate(self._queue, start=1):
            self._jobs[job_id].place = place

    def _prune(self) -> None:
        finished = [j for j in self._jobs.values() if not j.active]
        for old in sorted(finished, key=lambda j: j.finished or 0)[: max(0, len(finished) - MAX_FINISHED_KEPT)]:
            del self._jobs[old.id]

    @staticmethod
    def _copy(state: JobState) -> JobState:
        clone = copy.copy(state)
        clone.history = list(state.history)
        clone.frames = list(state.frames)  # the arrays themselves are never written to
        return clone


def available_devices(threads: int) -> dict[str, str]:
    """The devices a job can ask for, each with a label: 'auto' names what it picks."""
    import torch

    from explorer.devices import mps_available

    found = {"cpu": f"cpu ({threads} thread{'s' * (threads != 1)} per job)"}
    if torch.cuda.is_available():
        found["cuda"] = f"cuda ({torch.cuda.get_device_name(0)})"
    if mps_available():
        found["mps"] = "mps (Apple GPU)"
    best = "cuda" if "cuda" in found else "mps" if "mps" in found else "cpu"
    return {"auto": f"auto → {found[best]}", **found}


# ---------------------------------------------------------------- the job's process


def timelapse_subset(n_test: int, n: int = TIMELAPSE_POINTS) -> np.ndarray:
    """The fixed test images (indices, sorted) whose codes make a data set's time-lapse."""
    rng = np.random.default_rng(TIMELAPSE_SEED)
    return np.sort(rng.permutation(n_test)[: min(n, n_test)])


def project_frame(mu: np.ndarray, previous: np.ndarray | None = None) -> tuple[np.ndarray, tuple[str, str]]:
    """Codes (N, D) as a 2-D frame and its axis titles: z itself for D = 2, (z₁, 0) for D = 1,
    the two principal axes for D > 2, their signs chosen to follow the previous frame so the
    time-lapse does not flip from one epoch to the next."""
    mu = np.asarray(mu, dtype=np.float32)
    d = mu.shape[1]
    if d == 1:
        return np.column_stack([mu[:, 0], np.zeros(len(mu), np.float32)]), ("z₁", "")
    if d == 2:
        return mu.copy(), ("z₁", "z₂")
    centred = mu - mu.mean(axis=0)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    frame = (centred @ vt[:2].T).astype(np.float32)
    if previous is not None and previous.shape == frame.shape:
        signs = np.where((frame * previous).sum(axis=0) < 0, -1.0, 1.0).astype(np.float32)
        frame *= signs
    return frame, ("PC 1 of μ", "PC 2 of μ")


def failure_message(exc: BaseException) -> str:
    """What a person reads when a job fails."""
    text = str(exc).strip()
    lowered = text.lower()
    if isinstance(exc, MemoryError) or any(m in lowered for m in MEMORY_ERRORS):
        return (
            "the job ran out of memory"
            + (f" ({text.splitlines()[0][:200]})" if text else "")
            + ". Try a smaller batch size, smaller hidden sizes or a smaller latent size."
        )
    if isinstance(exc, ExplorerError):
        return text
    first = text.splitlines()[0][:300] if text else ""
    return f"training failed: {type(exc).__name__}" + (f": {first}" if first else "")


def _lower_priority(settings: JobSettings) -> None:
    if settings.nice > 0 and hasattr(os, "nice"):
        try:
            os.nice(settings.nice)
        except OSError:
            pass


def _limit_memory(settings: JobSettings) -> None:
    """Cap the address space so that a too-big batch fails with MemoryError in this process
    instead of waking the kernel's OOM killer (CPU only: CUDA reserves huge virtual ranges)."""
    if not settings.memory_mb:
        return
    try:
        import resource

        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = current + settings.memory_mb * 2**20
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):  # not Linux: no cap
        pass


def _read_events(stream, events: queue.Queue) -> None:
    """In the server: turn the job's stdout (length-prefixed pickles) into queue items until EOF."""
    while True:
        header = stream.read(4)
        if len(header) < 4:
            return
        (size,) = struct.unpack("<I", header)
        body = stream.read(size)
        if len(body) < size:
            return
        try:
            events.put(pickle.loads(body))
        except Exception:  # a message cut short by a killed process
            return


def child_main() -> None:
    """The entry of a job's process. Reads (spec, out, settings) from stdin, writes events to stdout;
    a "c" on stdin, or stdin closing (the server has gone), cancels the run."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else gets printed (by Python or C code) goes to stderr
    stdin = sys.stdin.buffer
    spec, out, settings = pickle.load(stdin)
    stop = threading.Event()

    def watch_stdin() -> None:
        while True:
            byte = stdin.read(1)
            if not byte or byte == b"c":
                stop.set()
                return

    threading.Thread(target=watch_stdin, daemon=True).start()
    lock = threading.Lock()

    def send(kind: str, **payload: Any) -> None:
        body = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        with lock:
            channel.write(struct.pack("<I", len(body)) + body)
            channel.flush()

    code = 0
    try:
        run_job(spec, Path(out), settings, send, stop.is_set)
        channel.close()
    except BaseException:  # the server has gone (broken pipe): nothing left to tell
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)  # not a normal exit: the stdin watcher is blocked in a read that would hang it


def run_job(spec: JobSpec, out: Path, settings: JobSettings, send, should_stop) -> None:
    """Train, report through `send(kind, **payload)`, save the model, say how it ended. Every
    failure ends as a "finished" event with a message; `should_stop()` cancels."""
    try:
        _lower_priority(settings)
        _train_and_save(spec, out, settings, send, should_stop)
    except BaseException as exc:  # the job's own process: report everything, then end
        send("finished", status="failed", message=failure_message(exc), path=None)


def _train_and_save(spec: JobSpec, out: Path, settings: JobSettings, send, should_stop) -> None:
    import torch

    from explorer import checkpoints
    from explorer.data import load_dataset
    from explorer.devices import describe_device, resolve_device
    from explorer.errors import TrainingCancelled, TrainingDiverged
    from explorer.metrics import encode_all, evaluate, evaluation_targets
    from explorer.models import VAE
    from explorer.train import Progress, train

    mc, tc = spec.model_config, spec.train_config
    torch.set_num_threads(settings.threads)
    device = resolve_device(tc.device)
    device_name = describe_device(device)
    send("phase", phase="loading data", device=device_name)
    data = load_dataset(tc.dataset, spec.data_dir)
    if device.type == "cpu":
        _limit_memory(settings)  # after the imports and the data: the budget is for training
    if should_stop():
        send("finished", status="cancelled", message="cancelled before training started; nothing saved")
        return
    subset = torch.from_numpy(timelapse_subset(len(data.test_x), spec.timelapse_points))
    subset_x = evaluation_targets(data.test_x[subset], tc.binarize).to(device)
    started = time.perf_counter()

    def frame_of(model, previous=None) -> tuple[np.ndarray, tuple[str, str]]:
        mu, _ = encode_all(model, subset_x)
        frame, titles = project_frame(mu.cpu().numpy(), previous)
        frame.setflags(write=False)
        return frame, titles

    # Epoch 0 of the time-lapse: the untrained network, built exactly as train() builds it.
    torch.manual_seed(tc.seed)
    frame, titles = frame_of(VAE(mc).to(device).eval())
    previous = [frame]
    send(
        "started",
        labels=data.test_y[subset].numpy(),
        class_names=list(data.info.class_names),
        axis_titles=titles,
        steps=-(-len(data.train_x) // tc.batch_size),
        frame=frame,
    )

    def callback(p: Progress) -> None:
        timing = {
            "epoch": p.epoch,
            "epochs": p.epochs,
            "step": p.step,
            "steps": p.steps,
            "fraction": p.fraction,
            "seconds_left": p.seconds_left,
            "elapsed": p.elapsed,
        }
        if p.stats is None:
            send("progress", **timing)
        else:  # sent even when cancelling: train() keeps this epoch, so the page shows it too
            frame, _ = frame_of(p.model, previous[-1])
            previous.append(frame)
            send("epoch", stats=p.stats.to_dict(), frame=frame, **timing)
        if should_stop():
            raise TrainingCancelled

    def save(model, history, metrics: dict | None, note: str) -> str:
        send("phase", phase="saving")
        payload = checkpoints.to_dict(
            model,
            train_config=tc,
            dataset=data.info,
            encoded=checkpoints.encode_test_set(model, data.test_x.to(device), data.test_y, binarize=tc.binarize),
            history=[h.to_dict() for h in history],
            metrics=metrics,
            meta={
                "device": device_name,
                "seconds": round(time.perf_counter() - started, 2),
                "source": "trained in the app",
                "note": note,
            },
        )
        return str(checkpoints.save(out, payload))

    send("phase", phase="training")
    try:
        result = train(mc, tc, data, device=device, callback=callback)
    except TrainingDiverged as exc:
        kept = exc.result.history if exc.result is not None else []
        message = str(exc)
        if kept:
            path = save(exc.result.model, kept, None, f"diverged after epoch {len(kept)}")
            message += f" Epoch {len(kept)} is saved as {Path(path).name}."
        else:
            path = None
            message = re.sub(r";? the last good epoch \(0\) is kept\.?$", ".", message)
            message += " No epoch had finished, so nothing was saved."
        send("finished", status="failed", message=message, path=path)
        return

    done = len(result.history)
    if result.cancelled:
        if done == 0:
            send("finished", status="cancelled", message="cancelled before the first epoch ended; nothing saved")
            return
        path = save(result.model, result.history, None, f"cancelled after epoch {done} of {tc.epochs}")
        send(
            "finished",
            status="cancelled",
            message=f"cancelled; epoch {done} of {tc.epochs} saved as {Path(path).name}",
            path=path,
        )
        return

    send("phase", phase="evaluating")
    dev = data.to(device)
    metrics = evaluate(
        result.model,
        dev.train_x,
        dev.train_y,
        dev.test_x,
        dev.test_y,
        binarize=tc.binarize,
        iw_samples=spec.iw_samples,
        seed=tc.seed,
    ).to_dict()
    path = save(result.model, result.history, metrics, f"{done} epochs")
    send(
        "finished",
        status="done",
        message=f"saved as {Path(path).name}: test −ELBO {metrics['neg_elbo']:.1f} nats "
        f"(recon {metrics['recon']:.1f} + KL {metrics['kl']:.1f})",
        path=path,
    )
