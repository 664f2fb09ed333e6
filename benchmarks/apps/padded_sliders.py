"""The two-slider floor (two_sliders.py) in a fragment, with ?extra=N static captions below it,
for benchmarks/rerun_cost.py and benchmarks/classroom_load.py --apps padded: what the page's size
alone adds to a slider step. As on the Explore page, a step reruns only the fragment: the
captions are drawn by the page's full run and are not sent again.

    streamlit run benchmarks/apps/padded_sliders.py      # then open /?extra=40
"""

import runpy
from pathlib import Path

import streamlit as st

MAX_EXTRA = 400
FLOOR = Path(__file__).with_name("two_sliders.py")


@st.fragment
def two_sliders() -> None:
    runpy.run_path(str(FLOOR))


two_sliders()
try:
    extra = int(st.query_params.get("extra", "0"))
except ValueError:
    extra = 0
for i in range(max(0, min(extra, MAX_EXTRA))):
    st.caption(f"Static element {i + 1}")
