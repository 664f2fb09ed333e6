"""The live latent pad (A5): placeholder until the component lands.

Interface the pages rely on; the implementation decodes in the browser while dragging.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.ui.common import Loaded


def latent_pad(
    loaded: Loaded,
    *,
    z: np.ndarray,
    dims: tuple[int, int],
    points: np.ndarray,
    labels: np.ndarray,
    limit: float,
    background: np.ndarray | None = None,
    key: str = "pad",
) -> np.ndarray | None:
    """Draw the pad; return the new full z when the user releases the pointer, else None."""
    del loaded, z, dims, points, labels, limit, background, key
    st.caption("The live latent pad is not built yet.")
    return None
