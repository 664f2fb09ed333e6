"""Train: a VAE trained in the background with live curves and a latent time-lapse, and the
autoencoder-vs-VAE comparison (PRODUCT.md A7, A10, J2). The view lives in explorer.ui.train_view."""

from explorer.ui.train_view import render

render()
