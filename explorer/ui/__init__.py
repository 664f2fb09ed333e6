"""Streamlit glue shared by the pages: the model registry and picker, cached loading, the
current z in session state, the live latent pad component. Pages stay thin and call in here."""
