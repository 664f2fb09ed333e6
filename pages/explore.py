"""Placeholder: replaced by the page's own implementation."""

import streamlit as st

from explorer.ui.common import require_model

loaded = require_model()
st.title("explore")
st.write(loaded.ckpt.model_config.describe())
