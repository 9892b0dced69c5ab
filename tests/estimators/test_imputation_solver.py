"""The direct (Schur-complement) solve of the imputation model's normal equations
against a dense pseudo-inverse, and did_imputation / did2s on its fast path against the
conjugate-gradient path it replaces (unbalanced panels, weights, controls, clusters,
several fixed-effect structures)."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.estimators import imputation


def _codes(rng, n, sizes):
    """Random FE codes (n x len(sizes)) using every level of every term."""
    cols = []
    for s in sizes:
        c = rng.integers(0, s, n)
        c[:s] = np.arange(s)
        cols.append(c)
    return np.column_stack(cols)


def _dense(codes, om, sizes):
    F = np.zeros((len(codes), int(sum(sizes))))
    off = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for j in range(codes.shape[1]):
        F[np.arange(len(codes)), off[j] + codes[:, j]] = 1.0
    return F, F.T @ (om[:, None] * F)


@pytest.mark.parametrize("sizes", [(40, 7), (7, 40), (40,), (30, 6, 12), (50, 8, 3, 4)])
@pytest.mark.parametrize("weighted", [False, True])
def test_schur_solve_equals_dense_pseudo_inverse(sizes, weighted):
    rng = np.random.default_rng(sum(sizes) + weighted)
    n = 400
    codes = _codes(rng, n, sizes)
    om = rng.uniform(0.2, 3.0, n) if weighted else np.ones(n)
    F, A = _dense(codes, om, sizes)
    solve = imputation._schur_solver(codes, om, np.array(sizes))
    assert solve is not None
    # right-hand sides in the range of A: F' W g for several g, as the estimator's
    B = F.T @ (om[:, None] * rng.normal(size=(n, 5)))
    X, res = solve(B)
    X_dense = np.linalg.pinv(A) @ B
    # F X (the fitted fixed-effect part) is unique; the coefficients are not
    np.testing.assert_allclose(F @ X, F @ X_dense, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(A @ X, B, rtol=0, atol=1e-9 * np.abs(B).max())
    assert (res < 1e-12).all()


def test_schur_solve_flags_right_hand_sides_outside_the_range():
    # two disconnected blocks of (unit, period) levels: A has a second null direction,
    # and a right-hand side with a component along it has no solution
    rng = np.random.default_rng(3)
    u = rng.integers(0, 20, 300)
    t = np.where(u < 10, rng.integers(0, 3, 300), rng.integers(3, 6, 300))
    u[:20], t[:20] = np.arange(20), np.where(np.arange(20) < 10, 0, 3)
    t[20:26] = np.array([0, 1, 2, 3, 4, 5])
    u[20:26] = np.array([0, 0, 0, 10, 10, 10])
    codes = np.column_stack([u, t])
    om = np.ones(300)
    solve = imputation._schur_solver(codes, om, np.array([20, 6]))
    F, A = _dense(codes, om, (20, 6))
    ok = F.T @ rng.normal(size=300)
    bad = np.zeros(26)
    bad[0], bad[10] = 1.0, -1.0  # unit 0 minus unit 10: not in the range
    _, res = solve(np.column_stack([ok, bad]))
    assert res[0] < 1e-12
    assert res[1] > 1e-3


def test_schur_solver_declines_many_levels():
    # the smaller fixed effect has more levels than a dense solve should take
    codes = np.column_stack([np.arange(6000) % 2100, np.arange(6000) % 2500])
    assert imputation._schur_solver(codes, np.ones(6000), np.array([2100, 2500])) is None


def _staggered(seed=11, units=90, years=9, drop=0.25):
    """Unbalanced staggered panel: cohorts 0 / 2014 / 2016 / 2017, three regions,
    random rows dropped, weights, two controls, a cluster coarser than the unit."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), years)
    year = np.tile(np.arange(2011, 2011 + years), units)
    cohort_u = rng.choice([0, 2014, 2016, 2017], units, p=[0.4, 0.2, 0.2, 0.2])
    region_u = rng.integers(0, 3, units)
    d = pd.DataFrame({"unit": unit, "year": year, "cohort": cohort_u[unit],
                      "region": region_u[unit], "group": unit % 13})
    d["x1"] = rng.normal(size=len(d)) + 0.1 * d.year.sub(2011)
    d["x2"] = rng.normal(size=len(d))
    treated = (d.cohort > 0) & (d.year >= d.cohort)
    d["y"] = (rng.normal(size=units)[unit] + 0.1 * (d.year - 2011) + 0.3 * d.x1
              - 0.2 * d.x2 + treated * (0.5 + 0.1 * (d.year - d.cohort))
              + rng.normal(size=len(d)))
    d["w"] = rng.uniform(0.3, 2.5, len(d))
    keep = rng.random(len(d)) > drop
    keep[year == 2011] = True  # every unit keeps an untreated year
    return d[keep].reset_index(drop=True)


CASES = {
    "plain": {},
    "weights_controls_cluster": dict(weights="w", controls=["x1", "x2"], cluster="group"),
    "region_year": dict(fe="unit + region^year", weights="w", controls=["x1"],
                        cluster="region"),
    "redundant_fe": dict(fe="unit + year + region^year", controls=["x2"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_equals_conjugate_gradients(monkeypatch, case):
    d = _staggered()
    kw = dict(y="y", unit="unit", time="year", cohort="cohort", **CASES[case])
    calls = []
    pcg = imputation._pcg

    def counting_pcg(*a, **k):
        calls.append(1)
        return pcg(*a, **k)

    monkeypatch.setattr(imputation, "_pcg", counting_pcg)
    fast = pl.did_imputation(d, **kw)
    fast2s = pl.did2s(d, **kw, event_study=True)
    assert not calls  # the direct solve was taken
    monkeypatch.setattr(imputation, "_schur_solver", lambda *a, **k: None)
    slow = pl.did_imputation(d, **kw)
    slow2s = pl.did2s(d, **kw, event_study=True)
    assert calls  # and this time conjugate gradients
    assert fast.terms == slow.terms and len(fast.terms) > 4
    np.testing.assert_allclose(fast.beta, slow.beta, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(fast.se(), slow.se(), rtol=1e-8)
    np.testing.assert_allclose(fast2s.beta, slow2s.beta, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(fast2s.se(), slow2s.se(), rtol=1e-8)


def test_fast_path_points_equal_dense_least_squares():
    # the imputed untreated outcomes from a dense WLS on dummies (numpy lstsq)
    d = _staggered(seed=5)
    r = pl.did_imputation(d, y="y", unit="unit", time="year", cohort="cohort",
                          weights="w", controls=["x1", "x2"], cluster="group")
    D = ((d.cohort > 0) & (d.year >= d.cohort)).to_numpy()
    Z = np.column_stack([pd.get_dummies(d.unit).to_numpy(float),
                         pd.get_dummies(d.year).to_numpy(float), d[["x1", "x2"]]])
    sw = np.sqrt(d.w.to_numpy()[~D])
    b = np.linalg.lstsq(Z[~D] * sw[:, None], d.y.to_numpy()[~D] * sw, rcond=None)[0]
    tau = d.y.to_numpy()[D] - Z[D] @ b
    w1 = d.w.to_numpy()[D]
    assert r.coef()["ATT"] == pytest.approx(w1 @ tau / w1.sum(), rel=1e-9)
    h = (d.year - d.cohort).to_numpy()[D]
    for k in (0, 2, 5):
        m = h == k
        assert r.coef()[f"tau::{k}"] == pytest.approx(w1[m] @ tau[m] / w1[m].sum(),
                                                       rel=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_conjugate_gradients_keep_the_best_iterate_when_rtol_is_out_of_reach(weighted):
    # rtol=0 cannot be reached in floating point (as 1e-13 cannot at millions of rows):
    # the solver must stop on its own and return its best iterate, not one that has
    # drifted along the null space of the singular system
    rng = np.random.default_rng(8)
    sizes = (60, 9)
    codes = _codes(rng, 500, sizes)
    om = rng.uniform(0.2, 3.0, 500) if weighted else np.ones(500)
    F, A = _dense(codes, om, sizes)
    B = F.T @ (om[:, None] * rng.normal(size=(500, 3)))
    calls = []

    def matvec(P):
        calls.append(1)
        return A @ P

    X, res = imputation._pcg(matvec, B, 1.0 / np.diag(A), rtol=0.0)
    assert len(calls) < 1000
    assert (res < 1e-12).all()
    np.testing.assert_allclose(F @ X, F @ (np.linalg.pinv(A) @ B), rtol=1e-9, atol=1e-9)
