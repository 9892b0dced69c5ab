"""The propensity score's logit/probit (engine Newton-Raphson) against statsmodels:
``Logit``/``Probit`` without weights, the binomial ``GLM`` with prior weights
(``var_weights``, R glm's ``weights=``) with them; coefficients, standard errors, log
likelihood and fitted probabilities to 1e-8. Separation is flagged where statsmodels
flags perfect prediction."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.discrete.discrete_model import Logit, Probit
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

import policylab as pl
from policylab.engine.binary_choice import binary_fit
from policylab.errors import EstimationError, PolicyLabWarning

SM = {"logit": Logit, "probit": Probit}
LINK = {"logit": families.links.Logit, "probit": families.links.Probit}


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # covariates on different scales and a skewed one, a treated share near 0.3
    X = np.column_stack([np.ones(n), rng.normal(0, 2, n), rng.normal(1, 0.5, n),
                         rng.lognormal(0, 1, n), rng.integers(0, 2, n)])
    eta = X @ np.array([-1.5, 0.4, 0.6, -0.3, 0.8])
    d = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return X, d, rng.uniform(0.2, 3.0, n)


@pytest.mark.parametrize("link", ["logit", "probit"])
@pytest.mark.parametrize("seed,n", [(1, 120), (2, 2_000), (3, 50_000)])
def test_unweighted_matches_statsmodels(link: str, seed: int, n: int) -> None:
    X, d, _ = _data(seed, n)
    f = binary_fit(X, d, link)
    ref = SM[link](d, X).fit(disp=0, maxiter=200)
    assert f.status == "ok"
    np.testing.assert_allclose(f.params, ref.params, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(f.cov)), ref.bse, rtol=1e-8)
    np.testing.assert_allclose(f.prob, ref.predict(X), rtol=1e-8, atol=1e-14)
    assert f.llf == pytest.approx(ref.llf, rel=1e-10)


@pytest.mark.parametrize("link", ["logit", "probit"])
@pytest.mark.parametrize("seed,n", [(4, 150), (5, 5_000)])
def test_weighted_matches_the_binomial_glm(link: str, seed: int, n: int) -> None:
    X, d, w = _data(seed, n)
    f = binary_fit(X, d, link, weights=w)
    # IRLS to its own limit: with the default tolerance the probit's GLM stops ~1e-8
    # short of the optimum (its standard errors come from the last-but-one iterate)
    ref = GLM(d, X, family=families.Binomial(link=LINK[link]()), var_weights=w).fit(
        maxiter=1000, tol=1e-14)
    np.testing.assert_allclose(f.params, ref.params, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(f.cov)), ref.bse, rtol=1e-8)
    np.testing.assert_allclose(f.prob, ref.predict(X), rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_propensity_table_matches_statsmodels(link: str) -> None:
    X, d, _ = _data(6, 800)
    df = pd.DataFrame(X[:, 1:], columns=["x1", "x2", "x3", "x4"]).assign(d=d)
    ps = pl.propensity_score(df, "d", ["x1", "x2", "x3", "x4"], link)
    ref = SM[link](d, X).fit(disp=0, maxiter=200)
    t = ps.tidy()
    np.testing.assert_allclose(t["estimate"], ref.params, rtol=1e-8)
    np.testing.assert_allclose(t["std_error"], ref.bse, rtol=1e-8)
    np.testing.assert_allclose(t["statistic"], ref.tvalues, rtol=1e-8)
    np.testing.assert_allclose(t["p_value"], ref.pvalues, rtol=1e-7)
    np.testing.assert_allclose(t[["conf_low", "conf_high"]], ref.conf_int(), rtol=1e-8)
    np.testing.assert_allclose(ps.score, ref.predict(X), rtol=1e-8)
    np.testing.assert_allclose(ps.index, X @ ref.params, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_complete_separation_is_refused_where_statsmodels_flags_it(link: str) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=200)
    d = (x > 0.3).astype(float)
    X = np.column_stack([np.ones_like(x), x])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SM[link](d, X).fit(disp=0, maxiter=200)
    # statsmodels: perfect prediction (probit) or a likelihood that never converges
    # (logit: the coefficients run off until the iterations run out)
    assert {PerfectSeparationWarning, ConvergenceWarning} & {c.category for c in caught}
    assert binary_fit(X, d, link).status == "separation"
    df = pd.DataFrame({"d": d, "x": x})
    with pytest.raises(EstimationError, match="complete separation"):
        pl.propensity_score(df, "d", ["x"], link)


def test_quasi_separation_warns() -> None:
    # a binary covariate with no treated unit at 1: its coefficient runs to -infinity
    # (statsmodels does not converge and warns), the other rows fit normally
    rng = np.random.default_rng(8)
    n = 400
    z = (rng.random(n) < 0.2).astype(float)
    x = rng.normal(size=n)
    d = np.where(z == 1, 0.0, (rng.random(n) < 1 / (1 + np.exp(-x))).astype(float))
    X = np.column_stack([np.ones(n), x, z])
    f = binary_fit(X, d)
    assert f.status == "quasi_separation" and f.n_perfect == int(z.sum())
    df = pd.DataFrame({"d": d, "x": x, "z": z})
    with pytest.warns(PolicyLabWarning, match="quasi-complete separation"):
        ps = pl.propensity_score(df, "d", ["x", "z"])
    assert ps.warnings[0].key == "psm.score_quasi_separation"
    # the regular coefficient still agrees with statsmodels' (not converged) fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Logit(d, X).fit(disp=0, maxiter=200)
    assert f.params[1] == pytest.approx(ref.params[1], rel=1e-6)


def test_collinear_covariates_are_refused() -> None:
    X, d, _ = _data(9, 300)
    df = pd.DataFrame({"d": d, "x1": X[:, 1], "x2": 2 * X[:, 1] + 1})
    assert binary_fit(np.column_stack([X[:, :2], 2 * X[:, 1] + 1]), d).status == "singular"
    with pytest.raises(EstimationError, match="collinear"):
        pl.propensity_score(df, "d", ["x1", "x2"])
