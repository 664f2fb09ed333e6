"""Hostile checkpoint files uploaded through the app's sidebar (AppTest on streamlit_app.py).

Each kind the loader refuses (tests/test_checkpoints.py) is uploaded the way a person would: the
page shows the loader's message, nothing from the file runs, nothing is stored, and the session
keeps working with the model it had. A session cannot open another session's upload by a link.
"""

from __future__ import annotations

import io
import os
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.ui import common, registry

from .conftest import REPO

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.usefixtures("navigation_as_on_a_server"),
]

DEFAULT = "shipped:digits-conv-z2"  # the picker's first model in tiny_models_dir
Z2 = "shipped:digits-mlp-z2"


def open_app(model_key: str | None = Z2, **params: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90)
    if model_key:
        at.session_state["model_key"] = model_key
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.sidebar.file_uploader(key="upload_file").set_value((name, data, "application/octet-stream")).run()
    return at


def sidebar_errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.sidebar.error)


def uploads_on_disk() -> list[str]:
    folder = registry.uploads_dir()
    return sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []


# ---------------------------------------------------------------- hostile files


class _RunsCode:
    """Unpickling this would run `touch <marker>`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _raw(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _saved(raw: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(raw, buffer)
    return buffer.getvalue()


def hostile_files(good: Path, marker: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (file content, a phrase the refusal must contain)."""
    data = good.read_bytes()

    absurd = _raw(good)
    absurd["model_config"]["hidden"] = [10**9]
    huge_latent = _raw(good)
    huge_latent["model_config"]["latent_dim"] = 10**9
    nan_weights = _raw(good)
    next(iter(nan_weights["state_dict"].values())).fill_(float("nan"))
    wrong_content = {"weight": torch.zeros(3)}  # a bare state_dict: no config to rebuild from

    zipped = io.BytesIO()  # the same records, deflated: torch.save never does that (zip bombs do)
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))

    laughs = _raw(good)  # small on disk, 10^9 values when walked
    laughs["history"] = [{"epoch": 1, "rows": [[[1.0] * 1000] * 1000] * 1000}]

    return {
        "runs-code.pt": (_saved({"format": "vae-explorer", "payload": _RunsCode(marker)}), "could run code"),
        "runs-code-plain-pickle.pt": (pickle.dumps(_RunsCode(marker)), "not a PyTorch checkpoint"),
        "random-bytes.pt": (random.Random(0).randbytes(4096), "not a PyTorch checkpoint"),
        "empty.pt": (b"", "empty"),
        "truncated.pt": (data[: len(data) // 2], "cut short"),
        "absurd-hidden.pt": (_saved(absurd), "hidden size"),
        "absurd-latent.pt": (_saved(huge_latent), "latent_dim"),
        "nan-weights.pt": (_saved(nan_weights), "NaN"),
        "bare-state-dict.pt": (_saved(wrong_content), "bare state_dict"),
        "deflated.pt": (zipped.getvalue(), "compressed records"),
        "billion-laughs.pt": (_saved(laughs), "too many values"),
    }


KINDS = [
    "runs-code.pt",
    "runs-code-plain-pickle.pt",
    "random-bytes.pt",
    "empty.pt",
    "truncated.pt",
    "absurd-hidden.pt",
    "absurd-latent.pt",
    "nan-weights.pt",
    "bare-state-dict.pt",
    "deflated.pt",
    "billion-laughs.pt",
]


@pytest.fixture(scope="module")
def files(tiny_models_dir, tmp_path_factory):
    marker = tmp_path_factory.mktemp("marker") / "pwned"
    return hostile_files(tiny_models_dir / "digits-mlp-z2.pt", marker), marker


@pytest.mark.parametrize("name", KINDS)
def test_a_hostile_upload_is_refused_with_the_loaders_message_and_the_page_keeps_working(shipped, files, name):
    import re

    hostile, marker = files
    data, phrase = hostile[name]
    at = open_app()
    z_before = np.asarray(at.session_state[f"z::{Z2}"]).copy()

    upload(at, name, data)
    assert not at.exception, at.exception
    errors = sidebar_errors(at)
    assert f"{name} was not opened" in errors
    assert re.search(phrase, errors), errors
    assert not marker.exists(), "code in the file ran"
    assert uploads_on_disk() == []  # nothing from a refused file is kept
    assert at.session_state["model_key"] == Z2  # still the model it had
    assert not any(o.endswith("· uploaded") for o in at.sidebar.selectbox(key="model_key").options)
    np.testing.assert_array_equal(at.session_state[f"z::{Z2}"], z_before)

    # ...and the page still works with it: a slider moves z and the decoded image follows
    image_before = [m.value for m in at.markdown if 'data-testid="current-z-image"' in m.value]
    at.slider(key=f"zslider::{Z2}::0").set_value(1.5).run()
    assert not at.exception, at.exception
    assert at.session_state[f"z::{Z2}"][0] == pytest.approx(1.5)
    image_after = [m.value for m in at.markdown if 'data-testid="current-z-image"' in m.value]
    assert image_after and image_after != image_before


def test_one_session_survives_every_hostile_file_in_a_row_then_opens_a_good_one(shipped, files):
    hostile, marker = files
    at = open_app()
    for name in KINDS:
        upload(at, name, hostile[name][0])
        assert not at.exception, (name, at.exception)
        assert f"{name} was not opened" in sidebar_errors(at)
    assert not marker.exists()
    assert at.session_state["model_key"] == Z2
    good = (shipped / "digits-mlp-z20.pt").read_bytes()
    upload(at, "good.pt", good)
    assert not at.exception
    assert at.session_state["model_key"].startswith("upload:")
    assert not sidebar_errors(at)  # the last refusal's message is gone
    assert len([s for s in at.slider if s.key and s.key.startswith("zslider")]) == 20
    assert uploads_on_disk() == [f"{registry.digest_of(good)}.pt"]


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(shipped, monkeypatch):
    reads = []
    real_load = common.checkpoints.load
    monkeypatch.setattr(common.checkpoints, "load", lambda *a, **k: reads.append(1) or real_load(*a, **k))
    monkeypatch.setattr(common, "MAX_UPLOAD_MB", 1)
    at = open_app()
    upload(at, "big.pt", b"\0" * (2**20 + 1))
    assert not at.exception
    assert "big.pt is over 1 MB" in sidebar_errors(at)
    assert reads == []  # refused on its size alone
    assert at.session_state["model_key"] == Z2
    assert uploads_on_disk() == []


def test_the_servers_upload_limit_matches_the_apps():
    """Streamlit refuses larger uploads itself (server.maxUploadSize, in MB) before the app sees them."""
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == common.MAX_UPLOAD_MB
    from explorer.checkpoints import MAX_FILE_BYTES

    assert common.MAX_UPLOAD_MB * 2**20 <= MAX_FILE_BYTES


def test_an_odd_file_name_is_shown_as_text(shipped):
    at = open_app()
    name = "<img src=x onerror=alert(1)>" + "x" * 5000 + ".pt"
    upload(at, name, b"not a checkpoint")
    assert not at.exception
    errors = at.sidebar.error
    assert errors and "was not opened" in errors[0].value
    assert at.session_state["model_key"] == Z2


def test_another_sessions_upload_cannot_be_opened_by_a_link(shipped):
    owner = open_app()
    good = (shipped / "digits-mlp-z20.pt").read_bytes()
    upload(owner, "mine.pt", good)
    key = owner.session_state["model_key"]
    assert key.startswith("upload:") and registry.upload_entry(key.split(":", 1)[1]).path.is_file()

    stranger = open_app(model_key=None, model=key, z=",".join(["0.5"] * 20))
    assert stranger.session_state["model_key"] != key
    assert "does not have" in stranger.sidebar.warning[0].value
    assert not any(o.endswith("· uploaded") for o in stranger.sidebar.selectbox(key="model_key").options)
