"""Numeric core: fixed-effect demeaning, OLS with collinearity handling, variance.

Numbers only: float64 arrays and integer-coded groups in, arrays out. Nothing here
imports pandas or any other policylab layer.
"""

from policylab.engine.fixed_effects import (
    demean,
    demean_inplace,
    drop_singletons,
    fe_dof,
    is_balanced_twoway,
)
from policylab.engine.ols import OLSFit, ols
from policylab.engine.vcov import (
    SSC,
    FitArrays,
    Variance,
    VariancePieces,
    small_sample_factor,
    variance,
    variance_pieces,
    vcov_crv1,
    vcov_hc1,
    vcov_iid,
)

__all__ = [
    "demean",
    "demean_inplace",
    "drop_singletons",
    "fe_dof",
    "is_balanced_twoway",
    "OLSFit",
    "ols",
    "SSC",
    "FitArrays",
    "Variance",
    "VariancePieces",
    "variance",
    "variance_pieces",
    "small_sample_factor",
    "vcov_crv1",
    "vcov_hc1",
    "vcov_iid",
]
