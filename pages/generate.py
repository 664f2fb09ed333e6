"""Generate: prior samples, latent sizes 2/5/10/20 side by side, interpolation, reconstructions
(PRODUCT.md A8). The view lives in explorer.ui.generate_view."""

from explorer.ui.common import require_model
from explorer.ui.generate_view import render

render(require_model())
