"""Cluster (pairs) bootstrap of linear systems with fixed effects, batched over draws.

A draw resamples whole clusters with replacement; a cluster drawn k times enters with
weight k, which is exactly the regression on the resampled data (duplicated units have
identical fixed effects). Every coefficient of every equation is a function of the
weighted Gram matrix of the demeaned columns, so one Gram per draw serves all equations.

For a balanced two-way panel (unit and time effects, weights constant within unit) the
weighted within transformation has a closed form: with x. = x - unit mean (weight-free)
and m_t(w) = sum_i w_i x._it / sum_i w_i, the demeaned column is x. - m_t(w), and

    Gram(w) = sum_i w_i Q_i - (sum_i w_i) sum_t m_t m_t',   Q_i = sum_t x._it x._it'.

All draws then come from a few tensor products.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from policylab.engine.fixed_effects import demean

__all__ = ["cluster_weights", "weighted_grams", "balanced_grams", "balanced_block_sums",
           "block_grams", "solve_stack", "partial_gram"]


def cluster_weights(n_clusters: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws x G) multiplicities of a pairs-cluster bootstrap."""
    idx = rng.integers(0, n_clusters, (draws, n_clusters))
    out = np.zeros((draws, n_clusters))
    np.add.at(out, (np.repeat(np.arange(draws), n_clusters), idx.ravel()), 1.0)
    return out


def balanced_grams(Z: np.ndarray, unit: np.ndarray, time: np.ndarray,
                   unit_w: np.ndarray) -> np.ndarray:
    """Weighted Gram matrices (draws x k x k) of two-way demeaned columns.

    ``Z`` (n x k) raw columns of a balanced panel, ``unit``/``time`` dense codes,
    ``unit_w`` (draws x units) weights constant within unit.
    """
    n_u, n_t = int(unit.max()) + 1, int(time.max()) + 1
    k = Z.shape[1]
    Z3 = np.zeros((n_u, n_t, k))
    Z3[unit, time] = Z
    Zd = Z3 - Z3.mean(axis=1, keepdims=True)
    Q = np.einsum("itk,itl->ikl", Zd, Zd)
    tot = unit_w.sum(axis=1)
    M = np.einsum("bi,itk->btk", unit_w, Zd) / tot[:, None, None]
    return (np.einsum("bi,ikl->bkl", unit_w, Q)
            - tot[:, None, None] * np.einsum("btk,btl->bkl", M, M))


def balanced_block_sums(Z: np.ndarray, unit: np.ndarray, time: np.ndarray,
                        unit_block: np.ndarray, n_blocks: int) -> tuple[np.ndarray, ...]:
    """:func:`balanced_grams`'s sums taken once per block of units (weights constant
    within a block, e.g. a resampled cluster): per block the units' summed ``Q_i``
    (blocks x k x k), the summed unit-demeaned columns per period (blocks x T x k) and
    the number of units (blocks). Each draw then costs O(blocks x T x k), not O(n x k).
    """
    n_u, n_t = int(unit.max()) + 1, int(time.max()) + 1
    k = Z.shape[1]
    Z3 = np.zeros((n_u, n_t, k))
    Z3[unit, time] = Z
    Z3 -= Z3.mean(axis=1, keepdims=True)
    Q = np.einsum("itk,itl->ikl", Z3, Z3).reshape(n_u, k * k)
    S = Z3.reshape(n_u, n_t * k)

    def per_block(X: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(unit_block, weights=X[:, j], minlength=n_blocks)
                         for j in range(X.shape[1])], axis=1)

    Nb = np.bincount(unit_block, minlength=n_blocks).astype(np.float64)
    return (per_block(Q).reshape(n_blocks, k, k), per_block(S).reshape(n_blocks, n_t, k),
            Nb)


def block_grams(Qb: np.ndarray, Sb: np.ndarray, Nb: np.ndarray,
                block_w: np.ndarray) -> np.ndarray:
    """:func:`balanced_grams` from :func:`balanced_block_sums` for ``block_w`` (draws x
    blocks) weights: the same Gram matrices, summed per block first."""
    B, (nb, n_t, k) = block_w.shape[0], Sb.shape
    tot = block_w @ Nb
    # plain matrix products (BLAS), not einsum's loops: blocks may be many (units)
    M = (block_w @ Sb.reshape(nb, n_t * k)).reshape(B, n_t, k) / tot[:, None, None]
    return ((block_w @ Qb.reshape(nb, k * k)).reshape(B, k, k)
            - tot[:, None, None] * (M.transpose(0, 2, 1) @ M))


def weighted_grams(Z: np.ndarray, fe: np.ndarray | None, row_w: np.ndarray,
                   callback: Callable[[], None] | None = None) -> np.ndarray:
    """Weighted Gram matrices (draws x k x k) by weighted demeaning per draw (any FE;
    ``fe=None`` is a model with only an intercept, partialled out as the weighted mean).
    ``callback`` is called after each draw (progress reporting)."""
    if fe is None:
        fe = np.zeros((Z.shape[0], 1), dtype=np.int64)
    out = np.empty((row_w.shape[0], Z.shape[1], Z.shape[1]))
    for b, w in enumerate(row_w):
        keep = w > 0
        Zd = demean(Z[keep], _dense(fe[keep]), w[keep])
        out[b] = (Zd * w[keep][:, None]).T @ Zd
        if callback is not None:
            callback()
    return out


def _dense(fe: np.ndarray) -> np.ndarray:
    from policylab.engine.fixed_effects import densify

    fe = fe if fe.ndim == 2 else fe[:, None]
    return np.column_stack([densify(fe[:, j])[0] for j in range(fe.shape[1])])


def _regressor_block(grams: np.ndarray, regs: list[int], cond_max: float) -> tuple:
    A = grams[:, regs][:, :, regs]
    # a draw without any treated cluster leaves the treatment without variation
    bad = np.linalg.cond(A) > cond_max
    if bad.any():
        A = A.copy()
        A[bad] = np.eye(len(regs))
    return A, bad


def solve_stack(grams: np.ndarray, dep: int, regs: list[int],
                cond_max: float = 1e12) -> np.ndarray:
    """Least-squares coefficients (draws x len(regs)) of column ``dep`` on ``regs`` from
    a stack of Gram matrices; NaN rows where the regressors are (near) collinear."""
    A, bad = _regressor_block(grams, regs, cond_max)
    out = np.linalg.solve(A, grams[:, regs, dep][:, :, None])[:, :, 0]
    out[bad] = np.nan
    return out


def partial_gram(grams: np.ndarray, keep: list[int], regs: list[int],
                 cond_max: float = 1e12) -> np.ndarray:
    """Cross-products of the residuals of ``keep`` after partialling out ``regs``
    (draws x len(keep) x len(keep)): the Schur complement G_kk - G_kr G_rr^-1 G_rk."""
    A, bad = _regressor_block(grams, regs, cond_max)
    B = grams[:, regs][:, :, keep]
    out = grams[:, keep][:, :, keep] - np.einsum("brk,brl->bkl", B, np.linalg.solve(A, B))
    out[bad] = np.nan
    return out
