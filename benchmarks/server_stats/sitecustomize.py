"""What a Streamlit server holds, for benchmarks/classroom_load.py: its live sessions and its
Python heap, read inside the server process.

classroom_load puts this folder on the server's PYTHONPATH and names a file in
EXPLORER_SERVER_STATS; Python imports this module at start-up (as it does any `sitecustomize`).
A thread then waits for that file's `.request` twin to appear and answers it by writing one JSON
object to the file: the sessions Streamlit still holds (connected or kept for a reconnect), the
Python objects the collector tracks and the memory blocks Python has allocated. It reads nothing
until asked, so it costs the server nothing while a class works. Without the variable it does
nothing at all.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path


def _snapshot() -> dict:
    from streamlit.runtime import Runtime

    runtime = Runtime.instance() if Runtime.exists() else None
    manager = runtime._session_mgr if runtime is not None else None  # noqa: SLF001 (no public count)
    gc.collect()
    return {
        "time": time.time(),
        "sessions": len(manager.list_sessions()) if manager is not None else None,
        "active_sessions": len(manager.list_active_sessions()) if manager is not None else None,
        "python_objects": len(gc.get_objects()),
        "allocated_blocks": sys.getallocatedblocks(),
    }


def _serve(path: Path) -> None:
    request = path.with_name(path.name + ".request")
    while True:
        time.sleep(0.1)
        if not request.exists():
            continue
        request.unlink(missing_ok=True)  # taken before the answer shows, so the asker never sees both
        try:
            answer = _snapshot()
        except Exception as exc:  # report it; the benchmark shows what went wrong
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(answer))
        os.replace(tmp, path)


if os.environ.get("EXPLORER_SERVER_STATS"):
    threading.Thread(target=_serve, args=(Path(os.environ["EXPLORER_SERVER_STATS"]),), daemon=True).start()
