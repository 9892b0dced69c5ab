"""The wild bootstrap's purge of fixed effects not nested in the clusters from cluster x
level sums (``purged_cluster_cross``) against the n x G demeaning it replaces and against
a dense projection written out here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.engine import bootstrap_kernels as bk
from policylab.inference import joint_wild as jw
from policylab.inference import wild


def _panel(seed: int, unbalanced: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units, years = 60, 8
    df = pd.DataFrame({"u": np.repeat(np.arange(units), years),
                       "t": np.tile(np.arange(years), units)})
    df["g"] = df["u"] % 9  # 9 clusters holding whole units
    df["ind"] = df["u"] % 4  # an industry that cuts across the clusters
    df["d"] = ((df["g"] < 3) & (df["t"] >= 4)).astype(float)
    df["d2"] = df["d"] * (df["u"] % 2)
    df["x"] = rng.normal(size=len(df))
    df["w"] = rng.uniform(0.5, 2.0, units)[df["u"]]
    shock = rng.normal(0, 0.3, (9, years))[df["g"], df["t"]]
    df["y"] = (0.5 * df["d"] + 0.3 * df["x"] + rng.normal(size=units)[df["u"]]
               + 0.1 * df["t"] + shock + rng.normal(size=len(df)))
    if unbalanced:
        df = df.drop(index=rng.choice(len(df), 70, replace=False))
    return df.reset_index(drop=True)


def _direct(monkeypatch) -> None:
    monkeypatch.setattr(bk, "purged_cluster_cross", lambda *a, **k: None)


def _dense_cross(A, u, cl, fe, w):
    """sum over cluster g of A_i [M(u 1_h)]_i with M = I - Ds pinv(Ds), Ds the sqrt(w)
    scaled dummies of every fixed effect (the textbook projection)."""
    n = len(u)
    sw = np.sqrt(np.ones(n) if w is None else w)
    D = np.column_stack([(fe[:, [j]] == np.unique(fe[:, j])[None, :]).astype(float)
                         for j in range(fe.shape[1])]) * sw[:, None]
    M = np.eye(n) - D @ np.linalg.pinv(D)
    G = int(cl.max()) + 1
    Uh = np.zeros((n, G))
    Uh[np.arange(n), cl] = u
    Ud = M @ Uh
    return np.stack([np.stack([(A[cl == g, j][:, None] * Ud[cl == g]).sum(axis=0)
                               for j in range(A.shape[1])]) for g in range(G)])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fes", [["u", "t"], ["u", "t", "ind^t"], ["t"]])
def test_cluster_sum_purge_equals_the_dense_projection(fes, weighted):
    df = _panel(1, unbalanced=True)
    m = pl.feols(f"y ~ d + x | {' + '.join(fes)}", df, vcov={"CRV1": "g"},
                 weights="w" if weighted else None)
    fit = m.fit
    sw = np.ones(fit.nobs) if fit.weights is None else np.sqrt(fit.weights)
    X, y = fit.X * sw[:, None], fit.y * sw
    H = np.linalg.inv(X.T @ X)
    A = X @ H  # n x k, orthogonal to the fixed effects
    u = y - X[:, 1:] @ np.linalg.lstsq(X[:, 1:], y, rcond=None)[0]
    cl = fit.cluster_codes[0]
    got = bk.purged_cluster_cross(A, u, cl, int(cl.max()) + 1, fit.fe_codes, fit.weights)
    assert got is not None
    want = _dense_cross(A, u, cl, fit.fe_codes, fit.weights)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10 * np.abs(want).max())
    # the purge matters here: the plain diagonal would be wrong
    assert np.abs(got - np.einsum("gqh,gh->gqh", got, np.eye(len(got)))).max() > 1e-3


def test_several_nested_effects_fall_back_to_demeaning():
    df = _panel(2)
    # a second effect nested in the clusters (two halves of each cluster)
    df["ug"] = df["g"] * 2 + (df["u"] // 9) % 2
    m = pl.feols("y ~ d + x | u + ug + t", df, vcov={"CRV1": "g"})
    fit = m.fit
    A, u = fit.X, fit.y - fit.X @ np.linalg.lstsq(fit.X, fit.y, rcond=None)[0]
    cl = fit.cluster_codes[0]
    assert bk.purged_cluster_cross(A, u, cl, 9, fit.fe_codes, None) is None
    np.testing.assert_allclose(wild.purged_cross(A, u, cl, fit.fe_codes, None),
                               _dense_cross(A, u, cl, fit.fe_codes, None),
                               rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("unbalanced", [False, True])
def test_wild_bootstrap_equals_the_demeaning_path(monkeypatch, weighted, unbalanced):
    df = _panel(3, unbalanced)
    m = pl.feols("y ~ d + x | u + t", df, vcov={"CRV1": "g"},
                 weights="w" if weighted else None)
    kw = dict(param="d", draws=299, weights_type="webb", seed=4)
    fast = wild.wild_bootstrap(m, **kw)
    _direct(monkeypatch)
    slow = wild.wild_bootstrap(m, **kw)
    assert fast.p_value == slow.p_value
    assert fast.conf_low == pytest.approx(slow.conf_low, rel=1e-9)
    assert fast.conf_high == pytest.approx(slow.conf_high, rel=1e-9)
    np.testing.assert_allclose(fast.tstats, slow.tstats, rtol=1e-10, atol=1e-12)
    assert len(np.unique(np.round(fast.tstats, 8))) > 100


@pytest.mark.parametrize("weighted", [False, True])
def test_joint_wild_test_equals_the_demeaning_path(monkeypatch, weighted):
    df = _panel(5, unbalanced=True)
    m = pl.feols("y ~ d + d2 + x | u + t", df, vcov={"CRV1": "g"},
                 weights="w" if weighted else None)
    fast = jw.joint_wild_test(m, ["d", "d2"], draws=199, seed=6)
    _direct(monkeypatch)
    slow = jw.joint_wild_test(m, ["d", "d2"], draws=199, seed=6)
    assert fast.statistic == pytest.approx(slow.statistic, rel=1e-12)
    np.testing.assert_allclose(fast.stats, slow.stats, rtol=1e-10)
    assert fast.p_value == slow.p_value


@pytest.mark.parametrize("rows", [1, 3, 17, 1 << 16])
@pytest.mark.parametrize("shuffled", [False, True])
def test_nested_part_of_the_purge_system_equals_the_dense_algebra(monkeypatch, rows, shuffled):
    """D_O'W D_N (D_N'W D_N)^-1 D_N'W D_O: by blocks of whole units (rows sorted by
    unit, any block size) or by one sparse product (unsorted rows), against dense
    dummy matrices; two other effects, unbalanced, weighted."""
    rng = np.random.default_rng(0)
    T = rng.integers(1, 9, 60)
    nc = np.repeat(np.arange(60), T)
    o1, o2 = rng.integers(0, 7, len(nc)), rng.integers(0, 4, len(nc))
    w = rng.uniform(0.5, 2, len(nc))
    if shuffled:
        p = rng.permutation(len(nc))
        nc, o1, o2, w = nc[p], o1[p], o2[p], w[p]
    DN = np.eye(60)[nc]
    DO = np.hstack([np.eye(7)[o1], np.eye(4)[o2]])
    want = DO.T @ (w[:, None] * DN) @ np.linalg.inv(DN.T @ (w[:, None] * DN)) \
        @ DN.T @ (w[:, None] * DO)
    monkeypatch.setattr(bk, "_NESTED_ROWS", rows)
    got = bk._nested_part(nc, [o1, o2], np.array([0, 7]), 11, w, np.bincount(nc, weights=w))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
