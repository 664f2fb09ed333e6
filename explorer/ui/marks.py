"""The current z marked on the Explore page's views, moved in the browser on every step.

A slider step changes z, and the pad, the manifold and the scatter each mark z with a cross.
Sending those views again for every step (a 10,000-point figure, the manifold's picture, the
pad's scene) cost the server, and far more every browser, which draws them again: with a class
on one server that was most of the machine's work. Instead the z panel's run ends with this one
small element (components v2, no output); its script, marks_assets/marks.js, moves the three
crosses in place (the scatter's is laid over the Plotly chart, which need not be drawn again).
The views are sent again only when their pictures change.

The script also answers a slider step before the server does: it watches the z panel's sliders,
and when the user moves one it decodes the new z with the live pad's decoder (already in the
browser), shows it as the current image and moves the crosses. The server's answer (its own
decode, the nearest test images) follows and replaces it; an answer older than what the sliders
show is kept out until the newest arrives. With the model's atlas on the page (explorer.ui.atlas,
sent once by atlas_carrier) the script finds and shows the nearest test images itself too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

_component = st.components.v2.component(
    "explorer_z_marks",
    html='<span class="explorer-z-marks"></span>',
    css='div[data-testid="stElementContainer"]:has(.explorer-z-marks) {\n  display: none;\n}\n',
    js=(Path(__file__).with_name("marks_assets") / "marks.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)


def z_marks(
    key: str,
    *,
    z: np.ndarray,
    pad: tuple[str, int] | None = None,
    manifold: dict | None | bool = False,
    scatter: tuple[str, np.ndarray] | None = None,
    local: dict | None = None,
    link: str | None = None,
) -> None:
    """Move the crosses of the views already on the page to z.

    pad: (the pad's widget key, the last release this run has seen), see explorer.ui.pad.pad_sync.
    manifold: explorer.plots.manifold_mark's result (None: z is off the grid); False: no manifold.
    scatter: (the chart's layout.meta["plane"], z's position on that plane).
    local: what the script needs to answer a slider step itself (explore_view.local_answer):
      the sliders' container classes, the plane, the manifold's grid, the scatter's projection.
      It needs the pad's decoder too, so it takes effect only with `pad`.
    link: z as the share link writes it (explorer.ui.common.format_z), put into the address bar
      in place of a query-parameter change from the server.
    """
    data: dict = {"z": [float(v) for v in np.asarray(z, dtype=np.float64)]}
    if pad is not None:
        data["pad"], data["ack"] = pad[0], int(pad[1])
    if manifold is not False:
        data["manifold"] = {"mark": manifold}
    if scatter is not None:
        data["scatter"] = {"plane": scatter[0], "xy": [float(v) for v in np.asarray(scatter[1], dtype=np.float64)]}
    if local is not None:
        data["local"] = local
    if link is not None:
        data["link"] = link
    _component(key=key, data=data)


def atlas_carrier(key: str, data: bytes) -> None:
    """The test set for the script's own nearest images (explorer.ui.atlas): an element that is the
    same on every run until the model changes, so it is sent to each page once."""
    _component(key=key, data=data)
