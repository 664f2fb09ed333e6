"""Presenter mode (A12): large type for a projector, the sidebar's controls folded away.

On with the sidebar toggle or a link with ?present=1 (common._restore_from_query reads it, and
the link the address bar keeps carries it). Pages may ask `is_presenter()` to start their own
control panels collapsed.
"""

from __future__ import annotations

import streamlit as st

PRESENTER_KEY = "presenter"  # session state; set from ?present=1 on a session's first run

# Streamlit sizes its text in rem, so a larger root font scales type, widgets and the pad alike.
_STYLE = """
<style data-presenter>
html { font-size: 22px; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding-left: 2rem; padding-right: 2rem; }
[data-testid="stToolbar"] { display: none; }
div[data-testid="stElementContainer"]:has(style[data-presenter]) { display: none; }
</style>
"""


def is_presenter() -> bool:
    return bool(st.session_state.get(PRESENTER_KEY))


def presenter_toggle() -> bool:
    """The sidebar switch; in presenter mode also the larger type and a collapsed sidebar."""
    st.session_state.setdefault(PRESENTER_KEY, False)
    on = st.sidebar.toggle(
        "Presenter mode",
        key=PRESENTER_KEY,
        help="Large type for a projector; the sidebar folds away (open it again with the arrow, top left). "
        "Links from the address bar keep it on (?present=1).",
    )
    if on:
        st.html(_STYLE)
    st.set_page_config(initial_sidebar_state="collapsed" if on else "auto")
    return on
