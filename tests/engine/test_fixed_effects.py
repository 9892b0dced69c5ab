import numpy as np
import pytest

from policylab.engine import demean, drop_singletons


def _dummies_resid(X, fe_list, w=None):
    # Oracle: residuals from least squares on explicit dummy matrices.
    D = np.column_stack([np.eye(int(g.max()) + 1)[g] for g in fe_list])
    sw = np.ones(len(X)) if w is None else np.sqrt(w)
    coef, *_ = np.linalg.lstsq(D * sw[:, None], X * sw[:, None], rcond=None)
    return X - D @ coef


@pytest.mark.parametrize("weighted", [False, True])
def test_demean_matches_dummy_regression(weighted):
    rng = np.random.default_rng(3)
    n = 400
    g1, g2, g3 = rng.integers(0, 30, n), rng.integers(0, 8, n), rng.integers(0, 5, n)
    X = rng.normal(size=(n, 3))
    w = rng.uniform(0.5, 2, n) if weighted else None
    fe = np.column_stack([g1, g2, g3])
    got = demean(X, fe, w)
    np.testing.assert_allclose(got, _dummies_resid(X, [g1, g2, g3], w), atol=1e-9)


def test_balanced_closed_form_is_used_and_exact():
    rng = np.random.default_rng(4)
    g1, g2 = np.repeat(np.arange(20), 6), np.tile(np.arange(6), 20)
    X = rng.normal(size=(120, 2))
    got, info = demean(X, np.column_stack([g1, g2]), return_info=True)
    assert info.method == "balanced-two-way"
    np.testing.assert_allclose(got, _dummies_resid(X, [g1, g2]), atol=1e-12)


def test_drop_singletons_iterates():
    # unit 2 is alone; after it goes, year 9 becomes a singleton too
    g1 = np.array([0, 0, 1, 1, 2])
    g2 = np.array([0, 1, 0, 1, 9])
    keep = drop_singletons(np.column_stack([g1, g2]))
    assert keep.tolist() == [True, True, True, True, False]


def test_exact_unbalanced_two_way_matches_dummies_and_iterations():
    rng = np.random.default_rng(5)
    n = 700
    g1, g2 = rng.integers(0, 120, n), rng.integers(0, 9, n)
    g1 = np.unique(g1, return_inverse=True)[1]
    X = rng.normal(size=(n, 3))
    fe = np.column_stack([g1, g2])
    got, info = demean(X, fe, return_info=True)
    assert info.method == "two-way-exact"
    np.testing.assert_allclose(got, _dummies_resid(X, [g1, g2]), atol=1e-10)
    from policylab.engine.fixed_effects import _iterative

    it = X.copy()
    assert _iterative(it, np.ascontiguousarray(fe.T), None, 1e-13, 100_000).converged
    np.testing.assert_allclose(got, it, atol=1e-9)
