"""Explore: the chosen model's latent space — scatter, manifold, sliders, the live pad, the current z
and its nearest test images, exports (PRODUCT.md A2–A6, A11). The view lives in explorer.ui.explore_view."""

from explorer.ui.common import require_model
from explorer.ui.explore_view import render

render(require_model())
