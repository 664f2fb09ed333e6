"""A crash or kill during a save leaves the previous checkpoint intact (issue 8, M7)."""

import os
import signal
import subprocess
import sys
import time

import torch

from explorer import checkpoints

from .conftest import REPO

WRITER = r"""
import sys, torch
from explorer import checkpoints
src, dst = sys.argv[1], sys.argv[2]
payload = torch.load(src, weights_only=True)
# a longer history (plain data, still a valid checkpoint) so that each save takes a while
payload["history"] = [dict(payload["history"][-1], pad=i) for i in range(5000)]
print("ready", flush=True)
while True:
    checkpoints.save(dst, payload)
"""


def test_kill_during_save_keeps_a_loadable_file(tiny_checkpoint, tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(tiny_checkpoint.read_bytes())
    original = checkpoints.load(target)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.05, 0.13, 0.31, 0.52, 0.77):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tiny_checkpoint), str(target)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        loaded = checkpoints.load(target)  # never half a file
        for (name, a), b in zip(original.model.state_dict().items(), loaded.model.state_dict().values()):
            assert torch.equal(a, b), name
        assert len(loaded.history) in (len(original.history), 5000)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.pt"]
    # the kills landed inside saves (their temporary files are left), yet the checkpoint always loaded
    assert leftovers
    assert all(name.startswith(".model.pt.") and name.endswith(".tmp") for name in leftovers)
