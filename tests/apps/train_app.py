"""The Train page behind the app's real sidebar picker, for AppTest (tests/test_app_train.py).

AppTest only runs the app's main script when it starts on the default page, and the default
page of streamlit_app.py is Explore; here Train is the default and Explore a stub that names
the model the picker opened. `streamlit run tests/apps/train_app.py` works too.
"""

import streamlit as st

from explorer.ui.common import model_picker
from explorer.ui.train_view import render


def explore_stub() -> None:
    loaded = st.session_state.get("_loaded")
    st.title("Explore (stub)")
    st.markdown(f"model: `{loaded.key if loaded else None}`")


explore = st.Page(explore_stub, title="Explore", url_path="explore")
navigation = st.navigation([st.Page(lambda: render(explore_page=explore), title="Train", default=True), explore])
st.set_page_config(layout="wide")
st.session_state["_loaded"] = model_picker()
navigation.run()
