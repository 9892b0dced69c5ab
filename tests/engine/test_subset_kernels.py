"""The subset kernel of placebo draws against dense selection products and against
statsmodels' cluster-robust OLS on the summed basis columns."""

import numpy as np
import statsmodels.api as sm

from policylab.engine import batched


def test_subset_statistics_match_dense_products_and_statsmodels():
    rng = np.random.default_rng(3)
    n, m, G, s = 400, 12, 20, 4
    B = rng.normal(size=(n, m))
    y = B[:, :3].sum(axis=1) * 0.2 + rng.normal(size=n)
    cl = rng.integers(0, G, n)
    fac = 1.3
    st = batched.BasisStats(B, y, cl, fac)
    idx = np.array([rng.choice(m, s, replace=False) for _ in range(50)])
    b, t = st.coef_t_subsets(idx)
    sel = np.zeros((m, len(idx)))
    sel[idx, np.arange(len(idx))[:, None]] = 1
    b2, t2 = st.coef_t(sel)
    np.testing.assert_allclose(b, b2, rtol=1e-12)
    np.testing.assert_allclose(t, t2, rtol=1e-10)
    # one draw by statsmodels: no intercept (the basis is already partialled), CRV1
    # sandwich scaled by fac instead of statsmodels' own small-sample factor
    d = B[:, idx[0]].sum(axis=1)
    fit = sm.OLS(y, d).fit(cov_type="cluster", cov_kwds={"groups": cl, "use_correction": False})
    assert abs(b[0] / fit.params[0] - 1) < 1e-12
    assert abs(t[0] / (fit.params[0] / (np.sqrt(fac) * fit.bse[0])) - 1) < 1e-10
