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


def test_weighted_two_way_exact_equals_weighted_alternating_projections():
    from policylab.engine.fixed_effects import _iterative

    rng = np.random.default_rng(11)
    n = 900
    g1 = np.unique(rng.integers(0, 150, n), return_inverse=True)[1]
    g2 = rng.integers(0, 7, n)
    w = rng.uniform(0.1, 4.0, n)
    X = rng.normal(size=(n, 3)) + g2[:, None]
    fe = np.column_stack([g1, g2])
    got, info = demean(X, fe, w, return_info=True)
    assert info.method == "two-way-exact"
    it = X.copy()
    assert _iterative(it, np.ascontiguousarray(fe.T), w, 1e-14, 100_000).converged
    np.testing.assert_allclose(got, it, atol=1e-9)
    # the weighted residuals are orthogonal to every dummy of both effects
    for g in (g1, g2):
        sums = np.stack([np.bincount(g, weights=w * got[:, j]) for j in range(3)])
        np.testing.assert_allclose(sums, 0, atol=1e-9)


def test_implied_fixed_effect_is_dropped_and_the_projection_unchanged():
    from policylab.engine.fixed_effects import _iterative

    rng = np.random.default_rng(12)
    n = 1_500
    unit = np.unique(rng.integers(0, 200, n), return_inverse=True)[1]
    region = unit % 7
    year = rng.integers(0, 9, n)
    region_year = np.unique(region * 9 + year, return_inverse=True)[1]
    X = rng.normal(size=(n, 2)) + year[:, None]
    fe = np.column_stack([unit, year, region_year])
    got, info = demean(X, fe, return_info=True)
    assert info.method == "two-way-exact"  # year is implied by region^year
    it = X.copy()
    assert _iterative(it, np.ascontiguousarray(fe.T), None, 1e-14, 100_000).converged
    np.testing.assert_allclose(got, it, atol=1e-9)
    # identical partitions: one of the two is enough
    relabelled = (unit + 5) % (unit.max() + 1)  # the same partition, other codes
    got2, info2 = demean(X, np.column_stack([unit, relabelled]), return_info=True)
    assert info2.method == "one-way"
    np.testing.assert_allclose(got2, demean(X, unit), atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_row_major_two_way_passes_equal_the_column_passes_bitwise(weighted):
    # compiled size (>= COMPILED_ROWS): a C-ordered matrix takes the row-by-row sweeps,
    # an F-ordered one the column sweeps; the sums run over the rows in the same order,
    # so the demeaned columns must agree to the last bit, and with the dummy oracle
    from policylab.engine.threads import COMPILED_ROWS

    rng = np.random.default_rng(19)
    n2 = 7
    n1 = COMPILED_ROWS // n2 + 3
    g1, g2 = np.repeat(np.arange(n1), n2), np.tile(np.arange(n2), n1)
    keep = rng.random(n1 * n2) > (0.1 if weighted else 0.0)  # exact form when weighted
    g1, g2 = g1[keep], g2[keep]
    X = rng.normal(size=(len(g1), 11))
    w = rng.uniform(0.5, 2, len(g1)) if weighted else None
    fe = np.column_stack([g1, g2])
    by_row, info = demean(np.ascontiguousarray(X), fe, w, return_info=True)
    by_col = demean(np.asfortranarray(X), fe, w)
    assert info.method == ("two-way-exact" if weighted else "balanced-two-way")
    assert by_row.flags.c_contiguous and by_col.flags.f_contiguous
    assert np.array_equal(by_row, by_col)
    # the same projection as the small-size numpy path on a slice of the columns
    sw = np.ones(len(g1)) if w is None else np.sqrt(w)
    resid = by_row[:, :2] * sw[:, None]
    # residuals are orthogonal to every dummy (weighted): group sums vanish
    for g in (g1, g2):
        sums = np.stack([np.bincount(g, weights=resid[:, j] * sw) for j in range(2)])
        assert np.abs(sums).max() < 1e-9
