"""A class on one server: a dozen browser sessions at once against the real app, with the
smallest two-slider Streamlit app as the floor, measured the same way in the same run.

    python benchmarks/classroom_load.py                       # 12 sessions, 3 rounds, both apps
    python benchmarks/classroom_load.py --sessions 4 --changes 4 --rounds 1 --apps explore

Starts `streamlit run streamlit_app.py` (the shipped checkpoints in checkpoints/, or
--shipped-dir) and `streamlit run benchmarks/apps/two_sliders.py`, and one headless Chromium
(/usr/bin/chromium) with one browser context per student. Rounds alternate between the two apps
so both see the same machine. In each round every session opens the page, then makes
--changes changes with a short pause between them, each timed in the page from the input event
(the key press, or the pointer release on the pad) until the page shows the answer:

- Explore page: the z₁ / z₂ sliders (arrow keys, a random walk) and drags on the live latent pad
  (press, five moves, release); answered when the server's decoded image of z
  (data-testid="current-z-image") and its caption change.
- two-slider app: its two sliders; answered when its text changes.

During the Explore rounds two more browser sessions work the two-slider app at the same pace
(--probes, default 2): the floor measured under the same load, in the same run, which is the
issue's target (Explore's answer within 1.5x of it; the verdict's latency_within_target). The
two-slider app's own class, in its own rounds, shows how much more of the machine Explore's
class takes (class_vs_class_within_1_5x): on a 2-core machine that also runs the twelve
browsers, that ratio is mostly the browsers' CPU.

Inside each server (benchmarks/server_stats) the benchmark reads the sessions Streamlit holds and
the Python objects alive, idle, with the class, and after it left: a session that leaves must
leave nothing behind, whatever the allocator does with the process's resident memory.

--apps padded adds a third class: the same two sliders with 40 static captions below them
(benchmarks/apps/padded_sliders.py), a page of about Explore's element count that does nothing
more per step. Its ratio to the two-slider class shows what the page's size alone costs a class.

A change not answered within --timeout seconds counts as unanswered. Errors: st.exception
elements on the pages, uncaught page errors, and tracebacks in the server's log. The server's
resident memory (VmRSS of the process and its children) is sampled every 0.25 s throughout;
after each round the sessions leave, and once Streamlit has dropped them (it keeps a
disconnected session for server.disconnectedSessionTTL, set here to --ttl seconds, then drops it
when the next session comes and goes: a probe session does that) the memory is read again, so
rounds that keep climbing show a leak. Prints a markdown table and writes JSON
(benchmarks/results/classroom_load.json by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "classroom_load.json"
EXCEPTION = '[data-testid="stException"]'
PAD = '[data-testid="latent-pad"]'
VIEWPORT = {"width": 1280, "height": 900}
RSS_LIMIT_MB = 2048
RATIO_TARGET = 1.5
RSS_SLACK_MB = 25.0  # a class may leave the allocator this much fuller (rss_levels_off)
OBJECTS_SLACK = 0.01  # and Python 1 % more live objects than the first class left


@dataclass(frozen=True)
class AppSpec:
    name: str
    script: str  # relative to the repository
    watch: str  # the element whose content answers a change
    marker: str  # text in the websocket message that carries the answer (the element's data-testid)
    sliders: tuple[str, ...]  # slider labels (has_text), or "#0", "#1" for the n-th slider
    pad: bool  # also drag the live pad
    served: str | None = None  # the watched element's attribute naming what the server drew, when the
    # page answers first itself; None: the first change of the element is the server's answer
    query: str = ""  # appended to the server's address


APPS = {
    "explore": AppSpec(
        "explore",
        "streamlit_app.py",
        '[data-testid="current-z-image"]',
        "current-z-image",
        ("z₁", "z₂"),
        True,
        served="data-z",
    ),
    "minimal": AppSpec(
        "minimal",
        "benchmarks/apps/two_sliders.py",
        '[data-testid="two-sliders-value"]',
        "two-sliders-value",
        ("#0", "#1"),
        False,
    ),
    # the same two sliders with 40 static captions below them: a page of about Explore's size that
    # does nothing more per step (benchmarks/rerun_cost.py: a rerun's cost grows with the elements)
    "padded": AppSpec(
        "padded",
        "benchmarks/apps/padded_sliders.py",
        '[data-testid="two-sliders-value"]',
        "two-sliders-value",
        ("#0", "#1"),
        False,
        query="/?extra=40",
    ),
}

# Installed in every page before Streamlit's own code: notes when a websocket message holding
# `marker` (the answer's data-testid, in the protobuf as plain text) arrives after the armed event.
SOCKET_JS = """
(() => {
  const state = (window.__answer = { marker: null, t0: null, ms: null });
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, listener, options) {
    if (type !== 'message') return add.call(this, type, listener, options);
    const wrapped = (event) => {
      if (state.marker && state.t0 !== null && state.ms === null && event.data instanceof ArrayBuffer) {
        const bytes = new Uint8Array(event.data);
        const m = state.marker;
        outer: for (let i = 0; i + m.length <= bytes.length; i++) {
          for (let j = 0; j < m.length; j++) if (bytes[i + j] !== m[j]) continue outer;
          state.ms = performance.now() - state.t0;
          break;
        }
      }
      return listener.call(this, event);
    };
    return add.call(this, type, wrapped, options);
  };
})();
"""

# Arms a timer: the next `eventType` event (capture phase, on window) starts it. ms: the first DOM
# mutation after which `selector`'s src + its container's text differ from now (after an <img>
# has decoded): the answer is shown. server_ms: the same for the `served` attribute, which only
# the server's answer changes (without one, server_ms = ms). Resolves window.__change with
# {ms, server_ms, socket_ms} (null for what was not seen within timeoutMs); socket_ms: when the
# message with the server's answer reached the page.
ARM_JS = """
([selector, marker, eventType, timeoutMs, served]) => {
  const read = () => {
    const el = document.querySelector(selector);
    if (!el) return null;
    return (el.getAttribute('src') || '') + '|' + (el.parentElement || el).textContent;
  };
  const readServed = () => {
    const el = document.querySelector(selector);
    return el ? el.getAttribute(served) : null;
  };
  const before = read();
  const servedBefore = served ? readServed() : null;
  const answer = window.__answer;
  answer.marker = new TextEncoder().encode(marker);
  answer.t0 = null;
  answer.ms = null;
  window.__change = new Promise((resolve) => {
    let t0 = null;
    let done = false;
    let shown = null;
    let server = null;
    let first = null; // 'page' when the page showed the answer before the server's came
    const observer = new MutationObserver(() => check());
    const finish = () => {
      if (done) return;
      done = true;
      observer.disconnect();
      resolve({ ms: shown, server_ms: server, socket_ms: answer.ms, first });
    };
    const decoded = async () => {
      const el = document.querySelector(selector);
      if (el && el.tagName === 'IMG' && el.decode) { try { await el.decode(); } catch (e) {} }
      return performance.now() - t0;
    };
    const check = async () => {
      if (done || t0 === null) return;
      const now = read();
      const nowServed = served ? readServed() : null;
      const seenServer = served ? nowServed !== null && nowServed !== servedBefore : now !== null && now !== before;
      if (shown === null && now !== null && now !== before) {
        first = seenServer ? 'server' : 'page';
        shown = -1; // being decoded
        shown = await decoded();
      }
      if (server === null && seenServer) {
        server = -1;
        server = await decoded();
      }
      if (shown !== null && shown >= 0 && server !== null && server >= 0) finish();
    };
    const onEvent = () => {
      window.removeEventListener(eventType, onEvent, true);
      t0 = performance.now();
      answer.t0 = t0;
      check();
    };
    window.addEventListener(eventType, onEvent, true);
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    setTimeout(() => {
      if (shown !== null && shown < 0) shown = null;
      if (server !== null && server < 0) server = null;
      finish();
    }, timeoutMs);
  });
}
"""

PAD_READY_JS = (
    "() => { const p = window.__latentPad && window.__latentPad.get(); return !!(p && p.ready && p.frames > 0); }"
)


# ---------------------------------------------------------------- server memory


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    kids, out, stack = _children(), [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    return {p: _cpu_s(p) for p in pids}


def browser_pids() -> list[int]:
    """This benchmark's Chromium processes (descendants of this process, not the servers)."""
    out = []
    for p in _descendants(os.getpid()):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if b"chrom" in f.read().split(b"\0")[0]:
                    out.append(p)
        except OSError:
            pass
    return out


def tree_rss_mb(pid: int) -> float:
    """VmRSS of a process and all its descendants, in MB."""
    kids, total, stack = _children(), 0, [pid]
    while stack:
        p = stack.pop()
        total += _status_kb(p, "VmRSS")
        stack.extend(kids.get(p, []))
    return total / 1024


class RssSampler:
    """Samples tree_rss_mb(pid) every `interval` s in a thread, tagged with the current phase."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float, str]] = []
        self.phase = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._t0 = time.monotonic()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._t0, tree_rss_mb(self.pid), self.phase))
            self._stop.wait(self.interval)

    def peak(self, phase_prefix: str = "") -> float:
        values = [rss for _, rss, phase in self.samples if phase.startswith(phase_prefix)]
        return max(values) if values else 0.0

    def now(self, seconds: float = 1.0) -> float:
        """The median of fresh samples over `seconds`."""
        start = len(self.samples)
        time.sleep(seconds)
        values = [rss for _, rss, _ in self.samples[start:]] or [tree_rss_mb(self.pid)]
        return statistics.median(values)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


SERVER_STATS = REPO / "benchmarks" / "server_stats"  # its sitecustomize answers held()


def _held_text(snapshot: dict | None) -> str:
    if not snapshot or "sessions" not in snapshot:
        return f"? ({snapshot})"
    return f"{snapshot['sessions']} sessions, {snapshot['python_objects']} Python objects"


def held(path: Path, timeout_s: float = 30.0) -> dict | None:
    """What the server holds now: its sessions and its Python heap (benchmarks/server_stats),
    asked through `path`'s `.request` twin; None when no answer comes."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".request").touch()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.1)
    return None


# ---------------------------------------------------------------- one student


@dataclass
class Session:
    spec: AppSpec
    url: str
    index: int
    rng: random.Random
    timeout_s: float
    context: object = None
    page: object = None
    ready_s: float | None = None
    page_errors: list[str] = field(default_factory=list)
    positions: dict[int, int] = field(default_factory=dict)  # slider -> steps from its start

    async def open(self, browser) -> None:
        self.context = await browser.new_context(viewport=VIEWPORT)
        await self.context.add_init_script(SOCKET_JS)
        self.page = await self.context.new_page()
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)[:300]))
        start = time.perf_counter()
        await self.page.goto(self.url + self.spec.query, timeout=240_000)
        await self.page.wait_for_selector(self.spec.watch, timeout=240_000)
        for i in range(len(self.spec.sliders)):
            await self.slider(i).wait_for(timeout=240_000)
        if self.spec.pad:
            await self.page.wait_for_function(PAD_READY_JS, timeout=240_000)
        await self.quiet()
        self.ready_s = time.perf_counter() - start

    async def quiet(self, timeout: float = 120.0) -> None:
        """Until no script run has been in progress for 0.5 s."""
        deadline = time.monotonic() + timeout
        since = None
        while time.monotonic() < deadline:
            running = await self.page.locator('[data-testid="stStatusWidget"]').count()
            if running:
                since = None
            elif since is None:
                since = time.monotonic()
            elif time.monotonic() - since > 0.5:
                return
            await asyncio.sleep(0.1)

    def slider(self, i: int):
        label = self.spec.sliders[i]
        sliders = self.page.locator('[data-testid="stSlider"]')
        chosen = sliders.nth(int(label[1:])) if label.startswith("#") else sliders.filter(has_text=label).first
        return chosen.locator("input")

    async def _arm(self, event: str) -> None:
        await self.page.evaluate(
            ARM_JS, [self.spec.watch, self.spec.marker, event, int(self.timeout_s * 1000), self.spec.served]
        )

    async def _result(self) -> dict:
        """ms: until the page shows the answer; server_ms: until it shows the server's; socket_ms:
        until the server's message arrived (None: not seen); first: 'page' when the page showed
        an answer of its own before the server's."""
        try:
            result = await asyncio.wait_for(self.page.evaluate("window.__change"), self.timeout_s + 10)
        except TimeoutError:
            result = None
        if not isinstance(result, dict):
            result = {}
        return {k: result.get(k) for k in ("ms", "server_ms", "socket_ms", "first")}

    async def move_slider(self) -> dict:
        i = self.rng.randrange(len(self.spec.sliders))
        pos = self.positions.get(i, 0)
        step = self.rng.choice((-1, 1)) if abs(pos) < 20 else (-1 if pos > 0 else 1)  # a walk within ±1.0
        self.positions[i] = pos + step
        thumb = self.slider(i)
        await thumb.focus()
        await self._arm("keydown")
        await thumb.press("ArrowRight" if step > 0 else "ArrowLeft")
        return await self._result()

    async def drag_pad(self) -> dict:
        pad = self.page.locator(PAD)
        await pad.scroll_into_view_if_needed()  # a slider's focus may have scrolled it away
        snap = await self.page.evaluate("() => window.__latentPad.get().snapshot()")
        limit, dims, z = snap["limit"], snap["dims"], snap["z"]
        box = await pad.bounding_box()

        def point(zx: float, zy: float) -> tuple[float, float]:
            return (
                box["x"] + (zx + limit) / (2 * limit) * box["width"],
                box["y"] + (limit - zy) / (2 * limit) * box["height"],
            )

        lo = 0.8 * limit
        start = (min(max(z[dims[0]], -lo), lo), min(max(z[dims[1]], -lo), lo))
        while True:
            target = (self.rng.uniform(-2.0, 2.0), self.rng.uniform(-2.0, 2.0))
            if abs(target[0] - start[0]) + abs(target[1] - start[1]) > 0.5:
                break
        await self.page.mouse.move(*point(*start))
        await self.page.mouse.down()
        for k in range(1, 6):
            t = k / 5
            await self.page.mouse.move(
                *point(start[0] + t * (target[0] - start[0]), start[1] + t * (target[1] - start[1]))
            )
            await asyncio.sleep(0.03)
        await self._arm("pointerup")
        await self.page.mouse.up()
        return await self._result()

    async def work(self, changes: int, think: tuple[float, float], records: list[dict], round_no: int) -> None:
        await asyncio.sleep(self.rng.uniform(0, think[1]))  # students do not move in step
        for n in range(changes):
            kind = "pad" if self.spec.pad and n % 3 == 2 else "slider"
            try:
                result = await (self.drag_pad() if kind == "pad" else self.move_slider())
                error = None
            except Exception as exc:  # a broken page: count it, keep the others going
                result = {"ms": None, "server_ms": None, "socket_ms": None, "first": None}
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            records.append(
                {
                    "app": self.spec.name,
                    "round": round_no,
                    "session": self.index,
                    "kind": kind,
                    **result,
                    "error": error,
                }
            )
            await asyncio.sleep(self.rng.uniform(*think))

    async def exceptions(self) -> int:
        try:
            return await self.page.locator(EXCEPTION).count()
        except Exception:
            return -1

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()


# ---------------------------------------------------------------- rounds


def _server_tracebacks(server: StreamlitServer) -> int:
    server.log.flush()
    return Path(server.log.name).read_text(errors="replace").count("Traceback (most recent call last)")


async def _probe(browser, spec: AppSpec, url: str, timeout_s: float) -> float:
    """One session that comes and goes (which makes Streamlit drop the expired ones); its load time."""
    session = Session(spec, url, -1, random.Random(0), timeout_s)
    try:
        await session.open(browser)
    finally:
        await session.close()
    return session.ready_s or 0.0


async def run_round(
    browser,
    spec: AppSpec,
    server: StreamlitServer,
    sampler: RssSampler,
    *,
    round_no: int,
    sessions: int,
    changes: int,
    think: tuple[float, float],
    timeout_s: float,
    ttl_s: float,
    seed: int,
    stats: Path,
    probe: tuple[AppSpec, str, int] | None = None,
) -> dict:
    """One class: `sessions` students open the page, work, and leave. probe: (app, url, n) for n
    more sessions of another app working alongside, recorded apart."""
    tracebacks_before = _server_tracebacks(server)
    sampler.phase = f"round{round_no}:open"
    students = [Session(spec, server.url, i, random.Random(seed * 1000 + i), timeout_s) for i in range(sessions)]

    async def arrive(student: Session, delay: float) -> str | None:
        await asyncio.sleep(delay)
        try:
            await student.open(browser)
            return None
        except Exception as exc:
            return f"session {student.index} did not open: {type(exc).__name__}: {str(exc)[:200]}"

    open_errors = [e for e in await asyncio.gather(*(arrive(s, 0.25 * i) for i, s in enumerate(students))) if e]
    working = [s for s in students if s.ready_s is not None]
    probes: list[Session] = []
    if probe is not None:
        probe_spec, probe_url, n_probes = probe
        probes = [
            Session(probe_spec, probe_url, 1000 + i, random.Random(seed * 1000 + 500 + i), timeout_s)
            for i in range(n_probes)
        ]
        for session in probes:
            await session.open(browser)
    sampler.phase = f"round{round_no}:work"
    records: list[dict] = []
    probe_records: list[dict] = []
    server_pids, chrome_pids = _descendants(server.proc.pid), browser_pids()
    cpu_before = cpu_seconds(server_pids), cpu_seconds(chrome_pids)
    work_start = time.monotonic()
    await asyncio.gather(
        *(s.work(changes, think, records, round_no) for s in working),
        *(s.work(changes, think, probe_records, round_no) for s in probes),
    )
    work_s = time.monotonic() - work_start
    cpu_server = sum(_cpu_s(p) - t for p, t in cpu_before[0].items())
    cpu_browser = sum(_cpu_s(p) - t for p, t in cpu_before[1].items())
    await asyncio.sleep(1.0)  # let the last follow-up runs land before looking for errors
    exceptions = sum([max(await s.exceptions(), 0) for s in working])
    page_errors = [e for s in students for e in s.page_errors]
    rss_with_sessions = await asyncio.to_thread(sampler.now, 1.0)
    held_with_sessions = await asyncio.to_thread(held, stats)
    sampler.phase = f"round{round_no}:leave"
    for s in students + probes:
        await s.close()
    await asyncio.sleep(ttl_s + 2.0)
    probe_s = await _probe(browser, spec, server.url, timeout_s)
    await asyncio.sleep(3.0)
    rss_after = await asyncio.to_thread(sampler.now, 2.0)
    held_after = await asyncio.to_thread(held, stats)
    sampler.phase = "idle"
    return {
        "round": round_no,
        "records": records,
        "probe_records": probe_records,
        "ready_s": [s.ready_s for s in working],
        "open_errors": open_errors,
        "exceptions": exceptions,
        "page_errors": page_errors,
        "server_tracebacks": _server_tracebacks(server) - tracebacks_before,
        "rss_with_sessions_mb": round(rss_with_sessions, 1),
        "work_s": round(work_s, 1),
        "server_cpu_s": round(cpu_server, 2),
        "browser_cpu_s": round(cpu_browser, 2),
        "rss_after_leave_mb": round(rss_after, 1),
        "held_with_sessions": held_with_sessions,
        "held_after_leave": held_after,
        "probe_ready_s": round(probe_s, 2),
    }


def _order_stat(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values: the one at the nearest rank."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(values)
    p95 = _order_stat(ordered, 0.95)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
    }


def median_ratio_ci(
    numerator: list[float], denominator: list[float], *, reps: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """A bootstrap interval for median(numerator) / median(denominator): both samples resampled with
    replacement, each on its own, `reps` times. It covers the spread of the changes within this
    run only; how much a whole round moves (the machine's other work) shows in the per-round
    ratios beside it. None when either sample is empty."""
    if not numerator or not denominator:
        return None
    rng = random.Random(seed)
    ratios = []
    for _ in range(reps):
        top = statistics.median(rng.choices(numerator, k=len(numerator)))
        bottom = statistics.median(rng.choices(denominator, k=len(denominator)))
        if bottom > 0:
            ratios.append(top / bottom)
    if not ratios:
        return None
    ratios.sort()
    tail = (1.0 - level) / 2
    return round(_order_stat(ratios, tail), 2), round(_order_stat(ratios, 1.0 - tail), 2)


def round_medians(records: list[dict], key: str = "ms") -> dict[int, float]:
    """The median of `key` over each round's records that have it, by round number."""
    by_round: dict[int, list[float]] = {}
    for r in records:
        if r.get(key) is not None:
            by_round.setdefault(r["round"], []).append(r[key])
    return {n: round(statistics.median(v), 1) for n, v in sorted(by_round.items())}


def summarise(
    name: str, rounds: list[dict], sampler: RssSampler, idle_mb: float, held_idle: dict | None, server_pid: int
) -> dict:
    records = [r for rnd in rounds for r in rnd["records"]]
    answered = [r for r in records if r["server_ms"] is not None]  # the server's answer is on the page
    shown = [r for r in records if r["ms"] is not None]
    kinds = sorted({r["kind"] for r in records})
    by_kind = {kind: _stats([r["ms"] for r in shown if r["kind"] == kind]) for kind in kinds}
    ready = [s for rnd in rounds for s in rnd["ready_s"]]
    # the two-slider app, worked alongside this class on the same machine (run_round's probe)
    alongside = [r["server_ms"] for rnd in rounds for r in rnd["probe_records"] if r["server_ms"] is not None]
    return {
        "changes": len(records),
        "answered": len(answered),
        "unanswered": len(records) - len(answered),
        "errors_in_driver": [r["error"] for r in records if r["error"]][:10],
        # until the page shows the answer (for Explore, its own decode of the new z, first)
        "all": _stats([r["ms"] for r in shown]),
        **by_kind,
        "median_ms_per_round": round_medians(records),
        "shown_ms": [r["ms"] for r in shown],  # every change's, for the ratio's interval (verdict)
        "shown_first_by_page": {kind: sum(r["first"] == "page" for r in shown if r["kind"] == kind) for kind in kinds},
        # until the page shows the server's answer (the server's decode and the nearest test images)
        "server_all": _stats([r["server_ms"] for r in answered]),
        **{f"server_{kind}": _stats([r["server_ms"] for r in answered if r["kind"] == kind]) for kind in kinds},
        # when the websocket message with the answer reached the page (the server's share, without drawing)
        "socket_all": _stats([r["socket_ms"] for r in answered if r["socket_ms"] is not None]),
        **{
            f"socket_{kind}": _stats(
                [r["socket_ms"] for r in answered if r["kind"] == kind and r["socket_ms"] is not None]
            )
            for kind in kinds
        },
        "page_ready_s": {
            "median": round(statistics.median(ready), 2) if ready else None,
            "max": round(max(ready), 2) if ready else None,
        },
        "sessions_not_opened": [e for rnd in rounds for e in rnd["open_errors"]],
        "exceptions_on_pages": sum(rnd["exceptions"] for rnd in rounds),
        "page_errors": [e for rnd in rounds for e in rnd["page_errors"]][:10],
        "server_tracebacks": sum(rnd["server_tracebacks"] for rnd in rounds),
        # CPU time spent while the sessions worked, per change: the server's own cost does not
        # depend on how busy the machine is; the browser's is what rendering the answers took
        "server_cpu_ms_per_change": round(1000 * sum(rnd["server_cpu_s"] for rnd in rounds) / max(1, len(records)), 1),
        "browser_cpu_ms_per_change": round(
            1000 * sum(rnd["browser_cpu_s"] for rnd in rounds) / max(1, len(records)), 1
        ),
        "rss_idle_mb": round(idle_mb, 1),
        "rss_peak_mb": round(sampler.peak(), 1),
        "vm_hwm_mb": round(_status_kb(server_pid, "VmHWM") / 1024, 1),  # the server process's own peak
        "rss_with_sessions_mb": [rnd["rss_with_sessions_mb"] for rnd in rounds],
        "rss_after_leave_mb": [rnd["rss_after_leave_mb"] for rnd in rounds],
        # inside the server: the sessions it holds and its Python objects, idle, with the class, and
        # once the class has left
        "held_idle": held_idle,
        "held_with_sessions": [rnd["held_with_sessions"] for rnd in rounds],
        "held_after_leave": [rnd["held_after_leave"] for rnd in rounds],
        "floor_alongside": _stats(alongside),
        "floor_alongside_ms": alongside,  # every change's, for the ratio's interval (verdict)
        "floor_alongside_unanswered": sum(r["server_ms"] is None for rnd in rounds for r in rnd["probe_records"]),
        "rounds": [{k: v for k, v in rnd.items() if k not in ("records", "probe_records")} for rnd in rounds],
    }


async def run_load(
    *,
    apps: tuple[str, ...] = ("minimal", "explore"),
    sessions: int = 12,
    changes: int = 10,
    rounds: int = 3,
    think: tuple[float, float] = (0.3, 1.0),
    timeout_s: float = 20.0,
    ttl_s: float = 5.0,
    shipped_dir: str | None = None,
    seed: int = 0,
    probes: int = 2,
    log=print,
) -> dict:
    """The whole load test; returns the results as a dict (see main for the table)."""
    from playwright.async_api import async_playwright

    env = {"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(int(ttl_s))}
    if shipped_dir:
        env["EXPLORER_SHIPPED_DIR"] = str(shipped_dir)
    specs = [APPS[name] for name in apps]
    servers: dict[str, StreamlitServer] = {}
    samplers: dict[str, RssSampler] = {}
    stats: dict[str, Path] = {}
    held_idle: dict[str, dict | None] = {}
    results: dict = {
        "settings": {
            "sessions": sessions,
            "changes_per_session": changes,
            "rounds": rounds,
            "think_s": list(think),
            "timeout_s": timeout_s,
            "disconnected_session_ttl_s": ttl_s,
            "shipped_dir": shipped_dir or "checkpoints/",
            "seed": seed,
            "probes_alongside_explore": probes,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
        },
        "apps": {},
    }
    started = time.perf_counter()
    try:
        for spec in specs:
            stats[spec.name] = Path(tempfile.mkdtemp(prefix="classroom-")) / "held.json"
            server_env = {
                **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(SERVER_STATS), os.environ.get("PYTHONPATH")])),
                "EXPLORER_SERVER_STATS": str(stats[spec.name]),
            }
            servers[spec.name] = await asyncio.to_thread(StreamlitServer, REPO / spec.script, env=server_env)
            samplers[spec.name] = RssSampler(servers[spec.name].proc.pid)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            idle: dict[str, float] = {}
            for spec in specs:  # warm each server (imports, model load, caches), then let it settle
                samplers[spec.name].phase = "warmup"
                first = await _probe(browser, spec, servers[spec.name].url, timeout_s)
                log(f"{spec.name}: first page ready in {first:.1f} s")
                await asyncio.sleep(ttl_s + 2.0)
                await _probe(browser, spec, servers[spec.name].url, timeout_s)
                await asyncio.sleep(2.0)
                idle[spec.name] = await asyncio.to_thread(samplers[spec.name].now, 2.0)
                held_idle[spec.name] = await asyncio.to_thread(held, stats[spec.name])
                samplers[spec.name].phase = "idle"
            per_app: dict[str, list[dict]] = {spec.name: [] for spec in specs}
            for round_no in range(1, rounds + 1):
                for spec in specs:  # alternate, so both apps see the same machine
                    t = time.perf_counter()
                    outcome = await run_round(
                        browser,
                        spec,
                        servers[spec.name],
                        samplers[spec.name],
                        round_no=round_no,
                        sessions=sessions,
                        changes=changes,
                        think=think,
                        timeout_s=timeout_s,
                        ttl_s=ttl_s,
                        seed=seed + round_no,
                        stats=stats[spec.name],
                        probe=(
                            (APPS["minimal"], servers["minimal"].url, probes)
                            if spec.name == "explore" and "minimal" in servers and probes > 0
                            else None
                        ),
                    )
                    per_app[spec.name].append(outcome)
                    answered = [r["server_ms"] for r in outcome["records"] if r["server_ms"] is not None]
                    shown = [r["ms"] for r in outcome["records"] if r["ms"] is not None]
                    log(
                        f"{spec.name} round {round_no}: {len(answered)}/{len(outcome['records'])} answered, "
                        f"median {statistics.median(shown) if shown else float('nan'):.0f} ms shown, "
                        f"{statistics.median(answered) if answered else float('nan'):.0f} ms the server's answer, "
                        f"RSS {outcome['rss_with_sessions_mb']:.0f} MB with sessions, "
                        f"{outcome['rss_after_leave_mb']:.0f} MB after they left, then holding "
                        f"{_held_text(outcome['held_after_leave'])} ({time.perf_counter() - t:.0f} s)"
                    )
            await browser.close()
        for spec in specs:
            samplers[spec.name].stop()
            results["apps"][spec.name] = summarise(
                spec.name,
                per_app[spec.name],
                samplers[spec.name],
                idle[spec.name],
                held_idle[spec.name],
                servers[spec.name].proc.pid,
            )
            results["apps"][spec.name]["rss_timeline"] = [
                (round(t, 2), round(rss, 1), phase) for t, rss, phase in samplers[spec.name].samples[::4]
            ]
    finally:
        for sampler in samplers.values():
            sampler.stop()
        for server in servers.values():
            server.stop()
        for path in stats.values():
            shutil.rmtree(path.parent, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["verdict"] = verdict(results)
    return results


def verdict(results: dict) -> dict:
    apps = results["apps"]
    out: dict = {}
    if "explore" in apps and "minimal" in apps:
        app, floor = apps["explore"], apps["minimal"]
        if app["slider"]["median_ms"] and floor["slider"]["median_ms"]:
            out["ratio_median_slider"] = round(app["slider"]["median_ms"] / floor["slider"]["median_ms"], 2)
            out["ratio_p95_slider"] = round(app["slider"]["p95_ms"] / floor["slider"]["p95_ms"], 2)
        if app["all"]["median_ms"] and floor["all"]["median_ms"]:
            out["ratio_median_all"] = round(app["all"]["median_ms"] / floor["all"]["median_ms"], 2)
            out["ratio_p95_all"] = round(app["all"]["p95_ms"] / floor["all"]["p95_ms"], 2)
        if app["server_all"]["median_ms"] and floor["server_all"]["median_ms"]:
            out["ratio_median_server"] = round(app["server_all"]["median_ms"] / floor["server_all"]["median_ms"], 2)
            out["ratio_p95_server"] = round(app["server_all"]["p95_ms"] / floor["server_all"]["p95_ms"], 2)
        if app["socket_all"]["median_ms"] and floor["socket_all"]["median_ms"]:
            out["ratio_median_socket"] = round(app["socket_all"]["median_ms"] / floor["socket_all"]["median_ms"], 2)
            out["ratio_p95_socket"] = round(app["socket_all"]["p95_ms"] / floor["socket_all"]["p95_ms"], 2)
        interval = median_ratio_ci(app["shown_ms"], floor["shown_ms"])
        if interval is not None:
            out["ratio_median_all_ci95"] = list(interval)
        per_round = [
            round(app["median_ms_per_round"][n] / floor["median_ms_per_round"][n], 2)
            for n in app["median_ms_per_round"]
            if n in floor["median_ms_per_round"] and floor["median_ms_per_round"][n] > 0
        ]
        out["ratio_median_all_per_round"] = per_round
        # class against class: how much more of the machine Explore's twelve browsers take than the
        # two-slider app's twelve (on this machine they share the server's cores); not the target
        out["class_vs_class_within_1_5x"] = out.get("ratio_median_all", 99) <= RATIO_TARGET
    if "explore" in apps and apps["explore"]["floor_alongside"]["median_ms"]:
        alongside = apps["explore"]["floor_alongside"]
        out["ratio_median_slider_vs_floor_alongside"] = round(
            apps["explore"]["slider"]["median_ms"] / alongside["median_ms"], 2
        )
        out["ratio_median_all_vs_floor_alongside"] = round(
            apps["explore"]["all"]["median_ms"] / alongside["median_ms"], 2
        )
        out["ratio_median_server_vs_floor_alongside"] = round(
            apps["explore"]["server_all"]["median_ms"] / alongside["median_ms"], 2
        )
        interval = median_ratio_ci(apps["explore"]["shown_ms"], apps["explore"].get("floor_alongside_ms", []))
        if interval is not None:
            out["ratio_median_all_vs_floor_alongside_ci95"] = list(interval)
        # the target: what a student waits for after a change (the new image and its nearest
        # images on screen) against the two-slider app measured under the same load, in the same run
        out["latency_within_target"] = out["ratio_median_all_vs_floor_alongside"] <= RATIO_TARGET
        # the server's own answer repaints what the page already shows (the same image to 1/255)
        out["server_answer_within_1_5x_alongside"] = out["ratio_median_server_vs_floor_alongside"] <= RATIO_TARGET
    if "padded" in apps and "minimal" in apps:
        padded, floor = apps["padded"], apps["minimal"]
        if padded["all"]["median_ms"] and floor["all"]["median_ms"]:
            out["ratio_median_padded_vs_floor"] = round(padded["all"]["median_ms"] / floor["all"]["median_ms"], 2)
        interval = median_ratio_ci(padded["shown_ms"], floor["shown_ms"])
        if interval is not None:
            out["ratio_median_padded_vs_floor_ci95"] = list(interval)
    for name, a in apps.items():
        after = a["rss_after_leave_mb"]
        out[f"{name}_all_answered"] = a["unanswered"] == 0 and not a["sessions_not_opened"]
        out[f"{name}_no_errors"] = (
            a["exceptions_on_pages"] == 0 and not a["page_errors"] and a["server_tracebacks"] == 0
        )
        out[f"{name}_peak_under_2gb"] = a["rss_peak_mb"] < RSS_LIMIT_MB
        out[f"{name}_rss_flat_after_leaving"] = rss_levels_off(after)
        held_after = [h for h in a.get("held_after_leave", []) if h and "sessions" in h]
        if held_after:
            # what the class held is gone: the sessions (1: the probe that came and went last, still
            # within its reconnect time) and the Python objects they made
            out[f"{name}_sessions_dropped_after_leaving"] = all(h["sessions"] <= 1 for h in held_after)
            first, last = held_after[0]["python_objects"], held_after[-1]["python_objects"]
            out[f"{name}_python_objects_after_leaving"] = [h["python_objects"] for h in held_after]
            out[f"{name}_objects_flat_after_leaving"] = last - first <= OBJECTS_SLACK * first
    return out


def rss_levels_off(after: list[float]) -> bool:
    """Whether the server's resident memory after each class (MB) stops rising. The first classes
    leave the allocators holding memory for reuse (the Python objects are back to idle: see
    held_after_leave), so with three classes or more the last must leave the server within
    RSS_SLACK_MB of where the second left it; with two, within twice that (or 5 %) of the first."""
    if len(after) >= 3:
        return after[-1] - after[1] <= RSS_SLACK_MB
    return len(after) < 2 or after[-1] - after[0] <= max(2 * RSS_SLACK_MB, 0.05 * after[0])


def table(results: dict) -> str:
    apps = results["apps"]
    rows = [
        "| app | changes | unanswered | median ms | p95 ms | slider median / p95 ms | pad release median / p95 ms "
        "| server's answer shown median / p95 ms | its message median / p95 ms | server / browser CPU ms per change | errors | RSS idle MB | RSS peak MB "
        "| RSS after leaving, per round MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, a in apps.items():
        pad = a.get("pad", {})
        pad_text = f"{pad['median_ms']} / {pad['p95_ms']}" if pad.get("n") else "—"
        errors = a["exceptions_on_pages"] + len(a["page_errors"]) + a["server_tracebacks"]
        rows.append(
            f"| {name} | {a['changes']} | {a['unanswered']} | {a['all']['median_ms']} | {a['all']['p95_ms']} "
            f"| {a['slider']['median_ms']} / {a['slider']['p95_ms']} | {pad_text} "
            f"| {a['server_all']['median_ms']} / {a['server_all']['p95_ms']} "
            f"| {a['socket_all']['median_ms']} / {a['socket_all']['p95_ms']} "
            f"| {a['server_cpu_ms_per_change']:.0f} / {a['browser_cpu_ms_per_change']:.0f} | {errors} | {a['rss_idle_mb']:.0f} "
            f"| {a['rss_peak_mb']:.0f} | {', '.join(f'{v:.0f}' for v in a['rss_after_leave_mb'])} |"
        )
    v = results["verdict"]
    if "ratio_median_all" in v:
        rows.append("")
        rows.append(
            f"Explore's class / the two-slider app's class, until the new image is shown: median {v['ratio_median_all']}x, "
            f"p95 {v['ratio_p95_all']}x over all changes (bootstrap 95 % interval of the median's ratio "
            f"{v.get('ratio_median_all_ci95')}; each round on its own: {v.get('ratio_median_all_per_round')}); sliders alone: median {v.get('ratio_median_slider')}x, "
            f"p95 {v.get('ratio_p95_slider')}x. Until the server's answer is shown: "
            f"median {v.get('ratio_median_server')}x, p95 {v.get('ratio_p95_server')}x; until its message reaches "
            f"the page (without drawing it): median {v.get('ratio_median_socket')}x, p95 {v.get('ratio_p95_socket')}x."
        )
    if "ratio_median_all_vs_floor_alongside" in v:
        alongside = apps["explore"]["floor_alongside"]
        rows.append(
            f"The two-slider app worked alongside the Explore class (same machine, same moment): median "
            f"{alongside['median_ms']} ms, p95 {alongside['p95_ms']} ms (n={alongside['n']}, "
            f"{apps['explore']['floor_alongside_unanswered']} unanswered); Explore / that: median "
            f"{v['ratio_median_all_vs_floor_alongside']}x over all changes "
            f"(bootstrap 95 % interval {v.get('ratio_median_all_vs_floor_alongside_ci95')}), "
            f"{v['ratio_median_slider_vs_floor_alongside']}x for sliders, "
            f"{v['ratio_median_server_vs_floor_alongside']}x for the server's answer "
            f"(target <= {RATIO_TARGET}x for the new image: {'met' if v['latency_within_target'] else 'not met'})."
        )
    if "ratio_median_padded_vs_floor" in v:
        rows.append(
            f"The two sliders with 40 static captions below them / the two-slider app, class against class: "
            f"median {v['ratio_median_padded_vs_floor']}x (bootstrap 95 % interval "
            f"{v.get('ratio_median_padded_vs_floor_ci95')})."
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=12, help="browser sessions at once (default 12)")
    parser.add_argument("--changes", type=int, default=10, help="changes per session per round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="times the class arrives and leaves (default 3)")
    parser.add_argument(
        "--apps", default="minimal,explore", help="which apps: explore, minimal, padded (default minimal,explore)"
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a change counts as unanswered")
    parser.add_argument("--ttl", type=float, default=5.0, help="server.disconnectedSessionTTL for the servers (s)")
    parser.add_argument("--shipped-dir", help="folder of checkpoints to use instead of checkpoints/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--probes", type=int, default=2, help="two-slider sessions working alongside the Explore class (default 2)"
    )
    parser.add_argument("--json-out", default=str(RESULTS), help=f"where to write the JSON (default {RESULTS})")
    args = parser.parse_args()
    results = asyncio.run(
        run_load(
            apps=tuple(a.strip() for a in args.apps.split(",") if a.strip()),
            sessions=args.sessions,
            changes=args.changes,
            rounds=args.rounds,
            timeout_s=args.timeout,
            ttl_s=args.ttl,
            shipped_dir=args.shipped_dir,
            seed=args.seed,
            probes=args.probes,
        )
    )
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print()
    print(table(results))
    print()
    print("verdict:", json.dumps(results["verdict"]))
    print(f"{results['seconds']:.0f} s; JSON in {out}")


if __name__ == "__main__":
    main()
