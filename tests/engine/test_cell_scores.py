"""Cluster score sums of randomization draws from cell-level sums: every route."""

import numpy as np
import pytest

from policylab.engine import cell_scores as cs


def _problem(seed: int, clusters: int = 7, cells: int = 24, draws: int = 9, m: int = 6,
             k: int = 4):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(clusters, 40, cells))
    gram_g = A.transpose(0, 2, 1) @ A  # symmetric, like Ã_g'Ã_g
    ay_g = rng.normal(size=(clusters, cells))
    s = np.sort(np.array([rng.choice(cells, m, replace=False) for _ in range(draws)]), axis=1)
    col = rng.integers(0, k, size=(draws, m))  # several cells under one dummy
    b = rng.normal(size=(draws, k))
    return gram_g, ay_g, s, col, b


def _by_definition(gram_g, ay_g, s, col, b):
    """P'(Ã_g'ỹ_g) - P'(Ã_g'Ã_g)P b with an explicit cells x dummies matrix P."""
    draws, k = b.shape
    out = np.empty((draws, gram_g.shape[0], k))
    for d in range(draws):
        P = np.zeros((gram_g.shape[1], k))
        P[s[d], col[d]] = 1.0
        for g in range(gram_g.shape[0]):
            out[d, g] = P.T @ ay_g[g] - P.T @ gram_g[g] @ P @ b[d]
    return out


@pytest.mark.parametrize("method", ["gather", "gemm", "compiled", "auto"])
@pytest.mark.parametrize("seed", [0, 1])
def test_each_route_equals_the_definition(method, seed):
    args = _problem(seed)
    want = _by_definition(*args)
    got = cs.cluster_cell_scores(*args, method=method)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_a_dummy_no_cell_reaches_scores_zero_and_empty_inputs():
    gram_g, ay_g, s, _, b = _problem(2, k=5)
    col = np.zeros_like(s)  # every cell under dummy 0: dummies 1..4 reach nothing
    for method in ("gather", "gemm", "compiled"):
        got = cs.cluster_cell_scores(gram_g, ay_g, s, col, b, method=method)
        assert np.all(got[:, :, 1:] == 0.0)
        np.testing.assert_allclose(got, _by_definition(gram_g, ay_g, s, col, b),
                                   rtol=1e-12, atol=1e-9)
        assert cs.cluster_cell_scores(gram_g, ay_g, s[:0], col[:0], b[:0],
                                      method=method).shape == (0, len(gram_g), 5)


def test_the_route_follows_the_problem_and_the_compiled_machinery(monkeypatch):
    monkeypatch.setattr(cs, "compiled_ready", lambda: False)
    assert cs.cell_route(100, 30, 150, 20) == "gemm"  # cells few against m: one product
    assert cs.cell_route(100, 30, 400, 20) == "gather"  # many cells: the product wastes
    assert cs.cell_route(10**6, 30, 150, 20) == "compiled"  # pays numba's set-up
    monkeypatch.setattr(cs, "compiled_ready", lambda: True)
    assert cs.cell_route(100, 30, 150, 20) == "compiled"
    with pytest.raises(ValueError, match="method="):
        cs.cluster_cell_scores(*_problem(0), method="fast")


def test_prepare_compiled_sets_numba_up():
    from policylab.engine.threads import compiled_ready, prepare_compiled

    prepare_compiled()
    assert compiled_ready()
