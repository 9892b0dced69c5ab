"""att_gt with covariates: the batched estimator (one Newton logit and one Cholesky
factor per subsample of cells) against the plain per-cell route it replaced (a
statsmodels GLM logit and a least-squares outcome regression for each ATT(g,t)), the
Newton logit against statsmodels, and input errors. The oracle comparison with
moderndid (R did's port) is in tests/validation/test_cs_oracle.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import policylab as pl
from policylab.errors import DataError, EstimationError
from policylab.estimators.staggered import _logit

KW = dict(y="y", unit="id", time="year", cohort="g")


def _panel(units: int = 1500, years: int = 7, seed: int = 11) -> pd.DataFrame:
    """Staggered panel whose cohorts depend on two unit covariates (so the propensity
    score and outcome model both matter) and whose trends depend on x1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(units, 2)) * [1.0, 3.0] + [0.0, 10.0]  # a shifted, wide x2
    lin = 0.6 * x[:, 0] - 0.1 * (x[:, 1] - 10)
    p = np.exp(np.c_[np.zeros(units), lin, 0.5 * lin, -lin])
    p /= p.sum(axis=1, keepdims=True)
    g = np.array([0, 2003, 2004, 2006])[(p.cumsum(axis=1) > rng.random(units)[:, None])
                                         .argmax(axis=1)]
    d = pd.DataFrame({"id": np.repeat(np.arange(units), years),
                      "year": np.tile(np.arange(2000, 2000 + years), units)})
    i = d["id"].to_numpy()
    d["g"] = g[i]
    d["x1"], d["x2"] = x[i, 0], x[i, 1]
    d["w"] = rng.uniform(0.3, 3.0, units)[i]
    rel = np.where(g[i] > 0, d["year"] - g[i], -99)
    d["y"] = (rng.normal(size=units)[i] + (0.05 + 0.1 * x[i, 0]) * (d["year"] - 2000)
              + np.where(rel >= 0, 0.3 + 0.05 * rel, 0.0) + rng.normal(size=len(d)))
    return d


def _att_2x2_reference(dy, d, X, method, w):
    """One cell the way att_gt computed it before batching (statsmodels logit,
    least-squares regression): ATT and influence function over the cell's units."""
    n = len(dy)
    if method in ("reg", "dr"):
        c = d == 0
        sw = np.sqrt(w[c])
        beta = np.linalg.lstsq(X[c] * sw[:, None], dy[c] * sw, rcond=None)[0]
        out = X @ beta
        wols = w * (1 - d)
        lin_ols = (wols * (dy - out))[:, None] * X @ np.linalg.inv(
            (wols[:, None] * X).T @ X / n)
    if method in ("ipw", "dr"):
        fit = sm.GLM(d, X, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-13)
        ps = np.minimum(fit.fittedvalues, 1 - 1e-6)
        lin_ps = ((w * (d - ps))[:, None] * X) @ np.linalg.inv(
            (X * (ps * (1 - ps) * w)[:, None]).T @ X / n)
        wc = w * ps * (1 - d) / (1 - ps) * (ps < 0.995)  # R DRDID's trim.level
    wt = w * d
    if method == "reg":
        et, ec = np.mean(wt * dy) / wt.mean(), np.mean(wt * out) / wt.mean()
        inf_c = (wt * out - wt * ec + lin_ols @ (wt[:, None] * X).mean(axis=0)) / wt.mean()
        return et - ec, (wt * dy - wt * et) / wt.mean() - inf_c
    if method == "ipw":
        et, ec = np.mean(wt * dy) / wt.mean(), np.mean(wc * dy) / wc.mean()
        M2 = ((wc * (dy - ec))[:, None] * X).mean(axis=0)
        inf_c = (wc * dy - wc * ec + lin_ps @ M2) / wc.mean()
        return et - ec, (wt * dy - wt * et) / wt.mean() - inf_c
    r = dy - out
    et, ec = np.mean(wt * r) / wt.mean(), np.mean(wc * r) / wc.mean()
    inf_t = (wt * r - wt * et - lin_ols @ (wt[:, None] * X).mean(axis=0)) / wt.mean()
    M2 = ((wc * (r - ec))[:, None] * X).mean(axis=0)
    M3 = (wc[:, None] * X).mean(axis=0)
    inf_c = (wc * r - wc * ec + lin_ps @ M2 - lin_ols @ M3) / wc.mean()
    return et - ec, inf_t - inf_c


def _reference(d, control_group, method, weights):
    """Every ATT(g,t) cell by cell (varying base period, no anticipation) and the
    unit-clustered influence-function SEs."""
    wide = d.pivot(index="id", columns="year", values="y")
    info = d.groupby("id")[["g", "x1", "x2", "w"]].first()
    G = info["g"].to_numpy()
    X = np.c_[np.ones(len(info)), info[["x1", "x2"]].to_numpy()]
    w = info["w"].to_numpy() / info["w"].mean() if weights else np.ones(len(info))
    years = wide.columns.to_numpy()
    rows, infs = [], []
    for g in sorted(set(G) - {0}):
        for j, t in enumerate(years):
            base = years[j - 1] if t < g else g - 1
            if j == 0 and t < g:
                continue
            ctrl = (G == 0) | ((G > max(t, base)) & (G != g)) if control_group == "notyet" \
                else G == 0
            keep = ctrl | (G == g)
            dy = (wide[t] - wide[base]).to_numpy()[keep]
            att, inf = _att_2x2_reference(dy, (G[keep] == g).astype(float), X[keep],
                                          method, w[keep])
            full = np.zeros(len(G))
            full[keep] = inf * len(G) / keep.sum()
            rows.append((g, t, att))
            infs.append(full)
    F = np.column_stack(infs)
    return np.array([r[2] for r in rows]), np.sqrt((F ** 2).sum(axis=0)) / len(G), F


@pytest.fixture(scope="module")
def panel():
    return _panel()


@pytest.mark.parametrize("control_group", ["never", "notyet"])
@pytest.mark.parametrize("method", ["reg", "ipw", "dr"])
@pytest.mark.parametrize("weights", [None, "w"])
def test_batched_cells_equal_per_cell_statsmodels(panel, control_group, method, weights):
    r = pl.att_gt(panel, **KW, covariates=["x1", "x2"], method=method,
                  control_group=control_group, weights=weights)
    att, se, F = _reference(panel, control_group, method, weights)
    np.testing.assert_allclose(r.cells["estimate"], att, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(r.cells["std_error"], se, rtol=1e-9)
    np.testing.assert_allclose(r.inf, F, rtol=0, atol=1e-9 * np.abs(F).max())


@pytest.mark.parametrize("weighted", [False, True])
def test_newton_logit_matches_statsmodels(weighted):
    rng = np.random.default_rng(3)
    n = 4000
    X = np.c_[np.ones(n), rng.normal(size=n), rng.normal(5, 20, size=n)]
    d = (X @ [-0.5, 1.0, 0.03] + rng.logistic(size=n) > 0).astype(float)
    w = rng.uniform(0.2, 4, n) if weighted else np.ones(n)
    mu = _logit(X, d, w)
    fit = sm.GLM(d, X, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-14)
    np.testing.assert_allclose(mu, fit.fittedvalues, rtol=1e-10, atol=1e-13)
    # the optimum: the score vanishes to the stated tolerance (1e-10 of the weight)
    assert np.abs(X.T @ (w * (d - mu))).max() <= 1e-10 * w.sum()
    # and the coefficients agree to ~1e-8 with statsmodels' (recovered from the fit)
    beta = np.linalg.lstsq(X, np.log(mu / (1 - mu)), rcond=None)[0]
    np.testing.assert_allclose(beta, fit.params, rtol=1e-8, atol=1e-10)


def test_covariate_errors(panel):
    with pytest.raises(EstimationError, match="collinear"):
        pl.att_gt(panel.assign(x3=2 * panel["x1"] + 1), **KW,
                  covariates=["x1", "x3"], method="reg")
    with pytest.raises(EstimationError, match="collinear"):
        pl.att_gt(panel.assign(c=1.0), **KW, covariates=["c"], method="ipw")
    with pytest.raises(DataError, match="'lab' is not numeric"):
        pl.att_gt(panel.assign(lab="a"), **KW, covariates=["lab"])
    # a covariate that separates the never treated from the rest: no overlap
    sep = panel.assign(s=(panel["g"] > 0).astype(float) + 0.01 * panel["x1"] ** 2)
    with pytest.raises(EstimationError, match="overlap"):
        pl.att_gt(sep, **KW, covariates=["s"], method="dr")
