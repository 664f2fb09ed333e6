"""ELBO lab: every term of the bound for one test image — the derivation, q(z|x) and its samples,
KL closed form against Monte Carlo, ELBO against the importance-weighted log p(x), the aggregate
posterior (PRODUCT.md A9, J3). The view lives in explorer.ui.elbo_lab_view."""

from explorer.ui.common import require_model
from explorer.ui.elbo_lab_view import render

render(require_model())
