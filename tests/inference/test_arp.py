"""The ARP machinery: vertex enumeration against linear programming, the truncated-normal
quantile against scipy, the size and power of the conditional and hybrid tests by
simulation, and the relative-magnitudes identified set against its linear programs."""

import numpy as np
import pytest
from scipy import optimize, stats

from policylab.inference.arp import (
    TooManyBases,
    cone_rays,
    dual_vertices,
    hybrid_test,
    lf_critical_value,
    truncnorm_quantile,
)
from policylab.inference.pretrends import (
    _rm_identified_set,
    _rm_polyhedron,
    _rm_structure,
)


def _eta_lp(y, X, sd):
    # min eta s.t. y - X xi <= sd eta
    k = X.shape[1]
    res = optimize.linprog(np.r_[1.0, np.zeros(k)], A_ub=-np.column_stack([sd, X]),
                           b_ub=-y, bounds=[(None, None)] * (k + 1), method="highs")
    return res.fun if res.status == 0 else -np.inf


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_statistic_over_vertices_equals_the_linear_program(k):
    rng = np.random.default_rng(k)
    m = 8
    X = rng.normal(size=(m, k))
    if k:
        X[2] = 0.0          # a moment free of the nuisance parameters
        X[5] = -X[4]        # a +/- pair, as the relative-magnitudes moments come
    sd = rng.uniform(0.5, 2.0, m)
    V = dual_vertices(X, sd)
    assert len(V) and np.all(V >= 0)
    np.testing.assert_allclose(V @ sd, 1.0, rtol=1e-12)
    np.testing.assert_allclose(V @ X, 0.0, atol=1e-10)
    for _ in range(20):
        y = rng.normal(size=m)
        assert np.max(V @ y) == pytest.approx(_eta_lp(y, X, sd), abs=1e-7)


def test_empty_dual_means_the_moments_can_be_made_slack():
    # every moment loads positively on the nuisance parameter: X'g = 0 forces g = 0
    X = np.ones((4, 1))
    assert cone_rays(X).shape == (0, 4)
    assert hybrid_test(np.ones((3, 4)), np.zeros((0, 4)), np.eye(4), 0.05, 0.005,
                       np.inf).all()


def test_vertex_enumeration_refuses_huge_problems():
    with pytest.raises(TooManyBases):
        cone_rays(np.random.default_rng(0).normal(size=(40, 19)), max_bases=1000)


def test_truncated_normal_quantile():
    lo = np.array([-np.inf, -1.0, 0.5, -3.0, 2.0, -np.inf, -0.2])
    hi = np.array([np.inf, 2.0, np.inf, -1.0, 2.5, -2.0, 0.3])
    for p in (0.05, 0.5, 0.955):
        np.testing.assert_allclose(truncnorm_quantile(p, lo, hi),
                                   stats.truncnorm.ppf(p, lo, hi), rtol=1e-10, atol=1e-12)
    # far tails, where Phi(lo) rounds to 1: the quantile is just above lo, by about
    # -log(1 - p) / lo (exponential tail)
    q = truncnorm_quantile(0.95, np.array([12.0, 40.0]), np.array([np.inf, np.inf]))
    np.testing.assert_allclose(q - [12.0, 40.0], -np.log(0.05) / np.array([12.0, 40.0]),
                               rtol=2e-2)
    q = truncnorm_quantile(0.05, np.array([-np.inf]), np.array([-40.0]))
    assert -40.0 - 0.1 < q[0] < -40.0


def _moments(k, m, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, k))
    L = rng.normal(size=(m, m))
    S = L @ L.T / m + 0.2 * np.eye(m)
    return X, S


@pytest.mark.parametrize("kappa", [0.0, 0.005])
def test_size_at_the_least_favourable_null_and_power(kappa):
    # mu = 0: every moment binds (the least favourable point of the null), where both
    # the conditional and the hybrid test have size alpha exactly
    X, S = _moments(2, 6, 1)
    sd = np.sqrt(np.diag(S))
    V = dual_vertices(X, sd)
    cv = lf_critical_value(V, S, kappa, seed=3)
    rng = np.random.default_rng(11)
    Z = rng.multivariate_normal(np.zeros(6), S, size=6000)
    rate = 1 - hybrid_test(Z, V, S, 0.05, kappa, cv).mean()
    assert abs(rate - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 6000)
    # interior of the null (moments slack): rejects less often
    slack = -1.0 * sd
    assert 1 - hybrid_test(Z + slack, V, S, 0.05, kappa, cv).mean() < 0.01
    # a violation no nuisance value can undo: rejects often
    g = V[0] / np.linalg.norm(V[0])
    bad = 3.0 * g / np.sqrt(g @ S @ g) * (g @ sd)
    assert 1 - hybrid_test(Z + bad, V, S, 0.05, kappa, cv).mean() > 0.5


def test_lf_critical_value_is_the_max_quantile():
    X, S = _moments(1, 4, 2)
    V = dual_vertices(X, np.sqrt(np.diag(S)))
    cv = lf_critical_value(V, S, 0.01, sims=200_000, seed=0)
    # independent check with a different seed and plain linear programs on a subsample
    Z = np.random.default_rng(5).multivariate_normal(np.zeros(4), S, size=3000)
    eta = np.array([_eta_lp(z, X, np.sqrt(np.diag(S))) for z in Z])
    assert np.mean(eta > cv) == pytest.approx(0.01, abs=0.006)
    assert lf_critical_value(V, S, 0.0) == np.inf


def test_rm_identified_set_matches_its_linear_programs():
    rng = np.random.default_rng(4)
    et = np.array([-5, -4, -3, -2, 0, 1, 2, 3])
    beta = rng.normal(scale=0.05, size=len(et))
    D, pre_rows, _, post = _rm_structure(et, -1)
    for l_post in (np.array([0.0, 0.0, 1.0, 0.0]), np.array([0.25, 0.25, 0.25, 0.25]),
                   np.array([1.0, -1.0, 0.0, 0.5])):
        for mb in (0.0, 0.7, 2.0):
            lo, hi = np.inf, -np.inf
            for s in np.flatnonzero(pre_rows):
                for sign in (1.0, -1.0):
                    A = _rm_polyhedron(D, pre_rows, int(s), sign, mb)
                    # delta_pre = beta_pre; min / max l'delta_post
                    Aeq = np.eye(len(et))[~post]
                    c = np.zeros(len(et))
                    c[post] = l_post
                    kw = dict(A_ub=A, b_ub=np.zeros(len(A)), A_eq=Aeq, b_eq=beta[~post],
                              bounds=[(None, None)] * len(et), method="highs")
                    r1, r2 = optimize.linprog(c, **kw), optimize.linprog(-c, **kw)
                    if r1.status == 0 and r2.status == 0:
                        th = l_post @ beta[post]
                        lo, hi = min(lo, th + r2.fun), max(hi, th - r1.fun)
            got = _rm_identified_set(beta, et, -1, l_post, mb)
            np.testing.assert_allclose(got, (lo, hi), atol=1e-9)


@pytest.mark.parametrize("kappa", [0.0, 0.005])
def test_one_moment_hybrid_has_exact_size(kappa):
    # one moment, no nuisance: reject when t > c_LF or, below it, when t exceeds the
    # 1 - (alpha - kappa) / (1 - kappa) quantile of N(0, 1) truncated above at c_LF;
    # then P(reject | mu = 0) = 1 - (1 - size) Phi(c_LF) = alpha exactly
    c = stats.norm.isf(kappa) if kappa else np.inf
    size = (0.05 - kappa) / (1 - kappa)
    q = stats.norm.ppf((1 - size) * stats.norm.cdf(c))
    assert stats.norm.sf(q) == pytest.approx(0.05, rel=1e-12)
    V, S = np.array([[0.5]]), np.array([[4.0]])  # sd 2: the statistic is y / 2
    y = 2 * np.array([q - 1e-7, q + 1e-7, 0.0, -5.0, 7.0])[:, None]
    np.testing.assert_array_equal(hybrid_test(y, V, S, 0.05, kappa, c),
                                  [True, False, True, True, False])
