"""The floor for benchmarks/classroom_load.py: the smallest Streamlit app with two sliders.

Each slider change is a full script run whose only output is the text below, so its latency is
Streamlit's own cost (websocket round trip, rerun, one message) under the same load.

    streamlit run benchmarks/apps/two_sliders.py
"""

import streamlit as st

x = st.slider("x", min_value=-5.0, max_value=5.0, value=0.0, step=0.05)
y = st.slider("y", min_value=-5.0, max_value=5.0, value=0.0, step=0.05)
st.markdown(f'<span data-testid="two-sliders-value">x = {x:+.2f}, y = {y:+.2f}</span>', unsafe_allow_html=True)
