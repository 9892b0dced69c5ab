"""CoefResult's inference columns: tidy() against the distributions and the accessors."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from policylab.estimators.result import CoefResult


def _result(df_t, seed=0, k=6):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, k))
    return CoefResult(nobs=50, beta=rng.normal(size=k), vcov_matrix=A @ A.T,
                      terms=[f"x{i}" for i in range(k)], df_t=df_t)


@pytest.mark.parametrize("df_t", [None, 29, 4.5])
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_tidy_equals_the_distributions_and_the_accessors(df_t, level):
    res = _result(df_t)
    tab = res.tidy(level)
    se = np.sqrt(np.diag(res.vcov_matrix))
    t = res.beta / se
    dist = stats.norm if df_t is None else stats.t(df_t)
    q = dist.ppf(0.5 + level / 2)
    np.testing.assert_allclose(tab["std_error"], se, rtol=1e-15)
    np.testing.assert_allclose(tab["statistic"], t, rtol=1e-15)
    np.testing.assert_allclose(tab["p_value"], 2 * dist.sf(np.abs(t)), rtol=1e-12)
    np.testing.assert_allclose(tab["conf_low"], res.beta - q * se, rtol=1e-12)
    np.testing.assert_allclose(tab["conf_high"], res.beta + q * se, rtol=1e-12)
    # the Series accessors give the same numbers, labelled by term
    ci = res.confint(level)
    assert list(ci.index) == res.terms and list(res.tstat().index) == res.terms
    np.testing.assert_array_equal(ci["conf_low"], tab["conf_low"])
    np.testing.assert_array_equal(res.tstat(), tab["statistic"])
    np.testing.assert_array_equal(res.pvalue(), tab["p_value"])
    np.testing.assert_array_equal(res.se(), tab["std_error"])
    assert list(tab.columns) == ["term", "estimate", "std_error", "statistic", "p_value",
                                 "conf_low", "conf_high"]


def test_a_zero_standard_error_gives_infinite_t_quietly_and_bad_levels_refuse():
    res = CoefResult(nobs=3, beta=np.array([1.0, 0.0]), vcov_matrix=np.zeros((2, 2)),
                     terms=["a", "b"], df_t=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tab = res.tidy()
    assert np.isinf(tab["statistic"][0]) and np.isnan(tab["statistic"][1])
    assert isinstance(res.tstat(), pd.Series)
    with pytest.raises(Exception, match="level"):
        res.tidy(1.5)
