"""The compiled large-n paths (>= 50,000 rows) against independent computations:
pandas group means, sparse least squares on dummy variables, numpy reductions."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.sparse.linalg import lsqr

from policylab.engine import _passes
from policylab.engine import vcov as vc
from policylab.engine.fixed_effects import demean, drop_singletons, is_balanced_twoway
from policylab.engine.threads import COMPILED_ROWS

N_UNITS, N_T = 4_000, 15  # 60,000 rows: above the 50,000-row switch to compiled passes


def _panel(seed: int, drop: float = 0.0):
    rng = np.random.default_rng(seed)
    g1 = np.repeat(np.arange(N_UNITS), N_T)
    g2 = np.tile(np.arange(N_T), N_UNITS)
    keep = rng.random(g1.size) >= drop
    g1, g2 = g1[keep], g2[keep]
    g1 = np.unique(g1, return_inverse=True)[1].astype(np.int64)
    X = rng.normal(size=(g1.size, 4)) + 0.3 * g1[:, None] % 7 + g2[:, None]
    return X, g1, g2.astype(np.int64)


def _dummy_residuals(X: np.ndarray, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    n = X.shape[0]
    D = sparse.hstack([
        sparse.csr_matrix((np.ones(n), (np.arange(n), g1))),
        sparse.csr_matrix((np.ones(n), (np.arange(n), g2))),
    ]).tocsr()
    out = np.empty_like(X)
    for j in range(X.shape[1]):
        b = lsqr(D, X[:, j], atol=1e-14, btol=1e-14, iter_lim=20_000)[0]
        out[:, j] = X[:, j] - D @ b
    return out


def test_balanced_two_way_matches_group_means_and_keeps_layout():
    X, g1, g2 = _panel(1)
    assert X.shape[0] >= COMPILED_ROWS
    df = pd.DataFrame(X)
    ref = (X - df.groupby(g1).transform("mean").to_numpy()
           - df.groupby(g2).transform("mean").to_numpy() + X.mean(axis=0))
    for Xin in (X, np.asfortranarray(X)):
        got, info = demean(Xin, np.column_stack([g1, g2]), return_info=True)
        assert info.method == "balanced-two-way"
        assert got.flags.f_contiguous == Xin.flags.f_contiguous
        np.testing.assert_allclose(got, ref, atol=1e-10)
    np.testing.assert_array_equal(X, _panel(1)[0])  # input untouched


def test_unbalanced_two_way_exact_matches_dummy_regression():
    X, g1, g2 = _panel(2, drop=0.1)
    assert X.shape[0] >= COMPILED_ROWS
    got, info = demean(np.asfortranarray(X), np.column_stack([g1, g2]), return_info=True)
    assert info.method == "two-way-exact"
    np.testing.assert_allclose(got, _dummy_residuals(X, g1, g2), atol=1e-8)


def test_compact_int_codes_match_unique():
    rng = np.random.default_rng(3)
    v = rng.integers(-50, 10_000, 80_000)
    codes = np.empty(v.size, dtype=np.int64)
    levels = _passes.compact_int_codes(v, int(v.min()), int(v.max() - v.min()) + 1, codes)
    u, inv = np.unique(v, return_inverse=True)
    np.testing.assert_array_equal(levels, u)
    np.testing.assert_array_equal(codes, inv)


def test_singleton_and_balance_and_nesting_checks():
    X, g1, g2 = _panel(4)
    fe = np.column_stack([g1, g2])
    assert is_balanced_twoway(g1, g2)
    assert drop_singletons(fe).all()
    g1b = g1.copy()
    g1b[:N_T] = np.arange(N_T) + g1.max() + 1  # unit 0 split into 15 singletons
    keep = drop_singletons(np.column_stack([g1b, g2]))
    assert keep.sum() == g1.size - N_T and not keep[:N_T].any()
    assert not is_balanced_twoway(g1b, g2)
    region = g1 // 10
    assert vc.nested_in(g1, region) and not vc.nested_in(g2, region)
    assert not vc.nested_in(region, g1)


def test_moments_scores_residuals_and_missing_rows():
    rng = np.random.default_rng(5)
    n = 70_001
    Z = np.asfortranarray(rng.normal(size=(n, 3)) * [1.0, 1e3, 1e-3] + [0.0, 1e6, 5.0])
    w = rng.uniform(0.5, 2.0, n)
    for wt in (None, w):
        mean, css = _passes.column_moments(Z, np.empty(0) if wt is None else wt,
                                           wt is not None)
        wv = np.ones(n) if wt is None else wt
        m_ref = wv @ Z / wv.sum()
        np.testing.assert_allclose(mean, m_ref, rtol=1e-13)
        np.testing.assert_allclose(css, wv @ (Z - m_ref) ** 2, rtol=1e-10)
    cl = rng.integers(0, 300, n)
    uw = rng.normal(size=n)
    ref = np.column_stack([np.bincount(cl, weights=Z[:, j] * uw, minlength=300)
                           for j in range(3)])
    np.testing.assert_allclose(vc.score_sums(Z, uw, cl), ref, rtol=1e-10, atol=1e-9)
    beta = np.array([0.5, -2.0])
    np.testing.assert_allclose(_passes.residuals(Z[:, 1:], Z[:, 0], beta),
                               Z[:, 0] - Z[:, 1:] @ beta, rtol=1e-13)
    Z2 = Z.copy()
    Z2[[7, 70_000], [2, 0]] = [np.nan, np.inf]
    np.testing.assert_array_equal(np.flatnonzero(_passes.nonfinite_rows(Z2)), [7, 70_000])


@pytest.mark.parametrize("drop", [0.0, 0.1])
def test_feols_large_path_matches_lstsq_on_dummies(drop):
    import policylab as pl

    X, g1, g2 = _panel(6, drop=drop)
    rng = np.random.default_rng(7)
    y = X @ [0.5, -0.25, 0.0, 1.0] + rng.normal(size=X.shape[0])
    df = pd.DataFrame(X, columns=["x1", "x2", "x3", "x4"]).assign(y=y, unit=g1, t=g2 + 2000)
    df.loc[11, "x2"] = np.nan  # one missing value: exercises the in-place compaction
    r = pl.feols("y ~ x1 + x2 + x3 + x4 | unit + t", df, vcov={"CRV1": "unit"})
    ok = df.x2.notna().to_numpy()
    Zd = _dummy_residuals(np.column_stack([y, X])[ok], np.unique(g1[ok], return_inverse=True)[1],
                          g2[ok])
    beta = np.linalg.lstsq(Zd[:, 1:], Zd[:, 0], rcond=None)[0]
    np.testing.assert_allclose(r.coef().to_numpy(), beta, rtol=1e-7)
    assert r.nobs == ok.sum()
    # the input frame is not modified by the in-place work on feols' own copy
    assert np.isnan(df.loc[11, "x2"]) and df.shape == (X.shape[0], 7)
    u = Zd[:, 0] - Zd[:, 1:] @ beta
    assert r.r2_within == pytest.approx(1 - u @ u / (Zd[:, 0] @ Zd[:, 0]), rel=1e-7)


def test_feols_large_weighted_matches_weighted_dummy_regression():
    import policylab as pl

    X, g1, g2 = _panel(8, drop=0.05)
    rng = np.random.default_rng(9)
    w = rng.uniform(0.2, 3.0, X.shape[0])
    y = X @ [1.0, 0.5, -0.5, 0.0] + rng.normal(size=X.shape[0]) / np.sqrt(w)
    df = pd.DataFrame(X, columns=["x1", "x2", "x3", "x4"]).assign(y=y, unit=g1, t=g2, w=w)
    r = pl.feols("y ~ x1 + x2 + x3 + x4 | unit + t", df, vcov="hetero", weights="w")
    sw = np.sqrt(w)[:, None]
    n = X.shape[0]
    D = sparse.hstack([sparse.csr_matrix((np.ones(n), (np.arange(n), g1))),
                       sparse.csr_matrix((np.ones(n), (np.arange(n), g2)))]).tocsr()
    Dw = sparse.diags(sw[:, 0]) @ D
    Zw = np.column_stack([y, X]) * sw
    Zd = np.column_stack([Zw[:, j] - Dw @ lsqr(Dw, Zw[:, j], atol=1e-14, btol=1e-14,
                                                 iter_lim=20_000)[0] for j in range(5)])
    beta = np.linalg.lstsq(Zd[:, 1:], Zd[:, 0], rcond=None)[0]
    np.testing.assert_allclose(r.coef().to_numpy(), beta, rtol=1e-7)
    assert r.meta["demean"] == "two-way-exact"
