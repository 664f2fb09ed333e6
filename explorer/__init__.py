"""VAE Latent Explorer: variational autoencoders you can see into.

The package holds the models, losses, training loop, metrics, data sets and checkpoint format;
the Streamlit pages in pages/ only call into it. Importing it runs nothing.
"""

__version__ = "0.1.0"
