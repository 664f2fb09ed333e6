"""A small app around the live pad, for the browser tests and benchmarks/pad_latency.py.

It uses the real sidebar picker (so ?model=...&z=... links work here as in the app), one
slider per coordinate that decodes on the server (the path the pad is compared against), and
the pad. `streamlit run tests/apps/pad_app.py` with EXPLORER_SHIPPED_DIR pointing at checkpoints.
"""

import numpy as np
import streamlit as st

from explorer import latent
from explorer.ui.common import get_z, model_picker, set_z
from explorer.ui.pad import latent_pad
from explorer.ui.presenter import presenter_toggle

st.set_page_config(page_title="Latent pad test", layout="wide")
loaded = model_picker()
presenter_toggle()
if loaded is None:
    st.stop()

d = loaded.latent_dim
slider_keys = [f"zslider::{loaded.key}::{i}" for i in range(d)]


def _from_sliders() -> None:
    set_z(loaded, np.array([st.session_state[k] for k in slider_keys], dtype=np.float32))


z = get_z(loaded)
for i, k in enumerate(slider_keys):
    if st.session_state.get(k) != float(z[i]):  # z may have moved elsewhere (the pad): follow it
        st.session_state[k] = float(z[i])
    st.sidebar.slider(f"z{i}", -4.0, 4.0, step=0.01, key=k, on_change=_from_sliders)

show_manifold = st.sidebar.checkbox("Manifold behind the points", key="pad_manifold")
limit = 4.0
dims = (0, 1) if d > 1 else (0, 0)
background = None
extent = None
if show_manifold and d > 1:
    tiles, xs, _ = latent.manifold(loaded.ckpt.model, n=15, limit=limit - 0.25, dims=dims, base_z=z)
    background = latent.tile(tiles)
    half_cell = (xs[1] - xs[0]) / 2
    extent = (xs[0] - half_cell, xs[-1] + half_cell, xs[0] - half_cell, xs[-1] + half_cell)

left, right = st.columns([3, 1])
with left:
    released = latent_pad(
        loaded,
        z=z,
        dims=dims,
        points=loaded.ckpt.encoded.mu.numpy(),
        labels=loaded.ckpt.encoded.labels.numpy(),
        limit=limit,
        background=background,
        background_extent=extent,
        key="pad",
    )
with right:
    z_now = get_z(loaded)
    st.image(latent.decode(loaded.ckpt.model, z_now)[0].mean(axis=0), width=168, caption="decoded on the server")
    st.markdown(f"session z: `{','.join(f'{v:.4f}' for v in z_now)}`")
    if released is not None:
        st.markdown(f"released z: `{','.join(f'{v:.4f}' for v in released)}`")
