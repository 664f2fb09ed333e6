"""VAE Latent Explorer: `streamlit run streamlit_app.py`.

The entry only wires the pages and the sidebar model picker shared by all of them; each page in
pages/ renders one view and calls into the explorer package for everything else.
"""

import streamlit as st

from explorer.ui.common import model_picker
from explorer.ui.presenter import presenter_toggle

st.set_page_config(page_title="VAE Latent Explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/explore.py", title="Explore", icon=":material/explore:", default=True),
    st.Page("pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
    st.Page("pages/elbo_lab.py", title="ELBO lab", icon=":material/functions:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
]

navigation = st.navigation(PAGES)
st.session_state["_loaded"] = model_picker()
presenter_toggle()  # A12: ?present=1 or the sidebar switch
navigation.run()
