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
from dataclasses import dataclass

import numpy as np

from policylab.engine.fixed_effects import demean

__all__ = ["cluster_weights", "weighted_grams", "balanced_grams", "balanced_block_sums",
           "block_grams", "label_sums", "sums_grams", "solve_stack", "partial_gram",
           "purged_cluster_cross", "purge_system", "PurgeSystem"]


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
    if len(Z) == n_u * n_t and np.array_equal(unit * n_t + time, np.arange(len(Z))):
        # rows already in unit-then-period order (a sorted panel): one copy, no scatter
        Z3 = np.array(Z, dtype=np.float64, order="C").reshape(n_u, n_t, k)
    else:
        Z3 = np.zeros((n_u, n_t, k))
        Z3[unit, time] = Z
    Z3 -= Z3.mean(axis=1, keepdims=True)
    unit_is_block = n_blocks == n_u and np.array_equal(unit_block, np.arange(n_u))
    if not unit_is_block and n_blocks <= _FEW_BLOCKS:
        return _few_block_sums(Z3, unit_block, n_blocks)
    Q = np.einsum("itk,itl->ikl", Z3, Z3).reshape(n_u, k * k)
    S = Z3.reshape(n_u, n_t * k)
    if unit_is_block:
        # each unit its own block (a unit-level permutation): the sums are the units'
        return Q.reshape(n_u, k, k), S.reshape(n_u, n_t, k), np.ones(n_u)

    def per_block(X: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(unit_block, weights=X[:, j], minlength=n_blocks)
                         for j in range(X.shape[1])], axis=1)

    Nb = np.bincount(unit_block, minlength=n_blocks).astype(np.float64)
    return (per_block(Q).reshape(n_blocks, k, k), per_block(S).reshape(n_blocks, n_t, k),
            Nb)


#: up to this many blocks, :func:`balanced_block_sums` sums each block's rows with one
#: matrix product (BLAS) instead of every unit's k x k product (einsum's loops)
_FEW_BLOCKS = 4096


def _few_block_sums(Z3: np.ndarray, unit_block: np.ndarray, n_blocks: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`balanced_block_sums` for a few blocks: the units of a block gathered at a
    time, its sums of ``z z'`` over all its unit-periods as one product (the same sums
    as per unit then per block, added in another order)."""
    n_t, k = Z3.shape[1], Z3.shape[2]
    order = np.argsort(unit_block, kind="stable")
    Nb = np.bincount(unit_block, minlength=n_blocks).astype(np.float64)
    bounds = np.r_[0, np.cumsum(Nb.astype(np.int64))]
    Qb, Sb = np.empty((n_blocks, k, k)), np.empty((n_blocks, n_t, k))
    for b in range(n_blocks):
        rows = Z3[order[bounds[b]:bounds[b + 1]]]
        flat = rows.reshape(-1, k)
        np.matmul(flat.T, flat, out=Qb[b])
        Sb[b] = rows.sum(axis=0)
    return Qb, Sb, Nb


def block_grams(Qb: np.ndarray, Sb: np.ndarray, Nb: np.ndarray,
                block_w: np.ndarray) -> np.ndarray:
    """:func:`balanced_grams` from :func:`balanced_block_sums` for ``block_w`` (draws x
    blocks) weights: the same Gram matrices, summed per block first."""
    B, (nb, n_t, k) = block_w.shape[0], Sb.shape
    # plain matrix products (BLAS), not einsum's loops: blocks may be many (units)
    return sums_grams((block_w @ Qb.reshape(nb, k * k)).reshape(B, k, k),
                      (block_w @ Sb.reshape(nb, n_t * k)).reshape(B, n_t, k),
                      block_w @ Nb)


def sums_grams(Q: np.ndarray, S: np.ndarray, N: np.ndarray) -> np.ndarray:
    """Gram matrices (... x k x k) of two-way demeaned columns from the weighted sums of
    :func:`balanced_block_sums`: ``Q`` (... x k x k), ``S`` (... x T x k) and the
    number of units ``N`` (...): Q - N M'M with M = S / N."""
    M = S / N[..., None, None]
    return Q - N[..., None, None] * (np.swapaxes(M, -1, -2) @ M)


def label_sums(X: np.ndarray, labels: np.ndarray, n_groups: int, skip: int = -1,
               total: np.ndarray | None = None) -> np.ndarray:
    """(draws x groups x m) sums of the rows of ``X`` (blocks x m) by label: group g of
    draw r sums the rows i with ``labels[r, i] == g`` (labels: draws x blocks).

    Group ``skip`` (-1: none) is taken as ``total`` (the column sums of ``X``) minus
    the other groups, which saves its share of the products (the largest group is the
    one to skip). Each other group is one BLAS product of its 0/1 weights.
    """
    B = labels.shape[0]
    out = np.empty((B, n_groups, X.shape[1]))
    W = np.empty(labels.shape)
    for g in range(n_groups):
        if g != skip:
            np.equal(labels, g, out=W, casting="unsafe")  # 0/1 weights, one buffer
            out[:, g] = W @ X
    if skip >= 0:
        others = [g for g in range(n_groups) if g != skip]
        tot = X.sum(axis=0) if total is None else total
        out[:, skip] = tot[None, :] - out[:, others].sum(axis=1)
    return out


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


#: largest number of levels of the fixed effects not nested in the clusters for which
#: :func:`purged_cluster_cross` solves their small system (dense, levels^2 floats)
PURGE_MAX_LEVELS = 2000


def purged_cluster_cross(A: np.ndarray, u: np.ndarray, cl: np.ndarray, G: int,
                         fe: np.ndarray, w: np.ndarray | None,
                         system: PurgeSystem | None = None) -> np.ndarray | None:
    """(G x q x G) sums over cluster g of A_i [M(u 1_h)]_i, from cluster sums only.

    ``A`` (n x q) and ``u`` (n,) are columns of a within-transformed regression on the
    sqrt(w) scale (orthogonal to the fixed effects); M removes the fixed effects ``fe``
    (weighted by ``w``) on that scale. The wild cluster bootstrap needs these for the
    effects not nested in the clusters (its bootstrap residuals u v are purged again).

    With D = [D_N, D_O] the dummies of the effects nested in the clusters (at most one)
    and of the others, sqrt(w)-scaled: D_N'(u 1_h) = 0 (each nested level lies in one
    cluster and u is orthogonal to it), so the projection of u 1_h on the effects is
    D theta_h with C theta_O = s_h, where s_h are the sums of sqrt(w) u over cluster h
    per level of the other effects and C = D_O'W D_O - D_O'W D_N (D_N'W D_N)^-1 D_N'W D_O
    (levels x levels). Hence

        out[g, :, h] = 1(g = h) sum_g A_i u_i - r_g' theta_h,

    with r_g the per-level sums of sqrt(w) A over cluster g: O(n q) once and a solve of
    the size of the other effects' levels, never the n x G matrix M(u 1_h). Returns
    None where this does not apply (several nested effects, too many other levels, a
    system not solved to 1e-8): then purge the columns directly. ``system``: the
    :func:`purge_system` of ``(cl, G, fe, w)`` when the caller purges several ``u``.
    """
    sy = purge_system(cl, G, fe, w) if system is None else system
    if sy is None:
        return None
    q = A.shape[1]

    def by_level(v: np.ndarray) -> np.ndarray:  # G x L
        return np.concatenate([np.bincount(k, weights=v, minlength=G * s).reshape(G, s)
                               for k, s in zip(sy.key, sy.sizes)], axis=1)

    # per (cluster, level of the other effects) sums of sqrt(w) u and of sqrt(w) A
    s = by_level(u if sy.sw is None else sy.sw * u)
    r = np.stack([by_level(A[:, j] if sy.sw is None else sy.sw * A[:, j])
                  for j in range(q)], axis=2)  # G x L x q
    # C is singular (the effects share the constant): solved on its range, then checked
    theta = (s @ sy.vec) / sy.lam @ sy.vec.T  # G x L, row h = theta_h
    if np.linalg.norm(theta @ sy.C - s) > 1e-8 * max(np.linalg.norm(s), 1e-300):
        return None
    out = -np.einsum("glq,hl->gqh", r, theta)
    diag = np.stack([np.bincount(cl, weights=A[:, j] * u, minlength=G) for j in range(q)],
                    axis=1)  # G x q
    out[np.arange(G), :, np.arange(G)] += diag
    return out


@dataclass
class PurgeSystem:
    """What :func:`purged_cluster_cross` needs of the clusters and fixed effects, taken
    once for several residual vectors: the (cluster, level) keys of the effects not
    nested in the clusters, their sizes, sqrt(w), the system C and its range."""

    key: list[np.ndarray]
    sizes: list[int]
    sw: np.ndarray | None  # None: no weights
    C: np.ndarray
    lam: np.ndarray  # C's positive eigenvalues ...
    vec: np.ndarray  # ... and their eigenvectors


def purge_system(cl: np.ndarray, G: int, fe: np.ndarray,
                 w: np.ndarray | None) -> PurgeSystem | None:
    """The :class:`PurgeSystem` of clusters ``cl`` (G of them) and fixed effects ``fe``
    (weights ``w``), or None where :func:`purged_cluster_cross` does not apply."""
    from policylab.engine.vcov import nested_in

    codes = [_dense_codes(fe[:, j]) for j in range(fe.shape[1])]
    nested = [c for c in codes if nested_in(c, cl)]
    other = [c for c in codes if not nested_in(c, cl)]
    sizes = [int(c.max()) + 1 for c in other]
    L = sum(sizes)
    if len(nested) > 1 or not other or L > PURGE_MAX_LEVELS:
        return None
    ww = None if w is None else np.asarray(w, float)
    offs = np.cumsum([0, *sizes[:-1]])
    # C = D_O'W D_O from weighted counts per pair of levels (n-vectors, no n x L matrix)
    C = np.zeros((L, L))
    for a, (ca, sa, oa) in enumerate(zip(other, sizes, offs)):
        C[oa:oa + sa, oa:oa + sa] = np.diag(_wcount(ca, ww, sa))
        for cb, sb, ob in list(zip(other, sizes, offs))[a + 1:]:
            block = _wcount(ca * sb + cb, ww, sa * sb).reshape(sa, sb)
            C[oa:oa + sa, ob:ob + sb], C[ob:ob + sb, oa:oa + sa] = block, block.T
    if nested:
        Wf = _wcount(nested[0], ww, int(nested[0].max()) + 1)
        if not (Wf > 0).all():  # a level without weight: leave it to the demeaning
            return None
        C -= _nested_part(nested[0], other, offs, L, ww, Wf)
    lam, vec = np.linalg.eigh(C)
    keep = lam > 1e-11 * max(lam.max(), 1e-300)
    key = [cl * s + c for c, s in zip(other, sizes)]
    return PurgeSystem(key, sizes, None if ww is None else np.sqrt(ww), C, lam[keep],
                       vec[:, keep])


def _dense_codes(c: np.ndarray) -> np.ndarray:
    """Codes 0..G-1 with every level present: ``c`` itself when it is (no copy)."""
    from policylab.engine.fixed_effects import densify

    if c.dtype.kind in "iu" and (np.bincount(c) > 0).all():
        return c
    return densify(c)[0]


def _wcount(codes: np.ndarray, w: np.ndarray | None, size: int) -> np.ndarray:
    """Weighted counts per code (float)."""
    return np.bincount(codes, weights=w, minlength=size).astype(np.float64)


#: rows per block of the nested effect's part of the purge system
_NESTED_ROWS = 1 << 16


def _nested_part(nc: np.ndarray, other: list[np.ndarray], offs: np.ndarray, L: int,
                 w: np.ndarray | None, Wf: np.ndarray) -> np.ndarray:
    """D_O'W D_N (D_N'W D_N)^-1 D_N'W D_O (L x L): sum over the nested levels f of
    N_f N_f' / W_f, N_f the weighted counts of f's rows per level of the other effects.
    Rows sorted by the nested level (a panel sorted by unit) go a block of levels at a
    time (small dense N blocks); otherwise one sparse product."""
    from scipy import sparse

    n = len(nc)
    if n > 1 and not (nc[1:] >= nc[:-1]).all():
        cols = np.concatenate([c + off for c, off in zip(other, offs)])
        m = len(other)
        data = np.ones(n * m) if w is None else np.tile(w, m)
        N = sparse.csr_matrix((data, (np.tile(nc, m), cols)), shape=(len(Wf), L))
        return (N.T @ sparse.diags(1.0 / Wf) @ N).toarray()
    out = np.zeros((L, L))
    start = 0
    while start < n:
        # a block ends at a level boundary, so each level's counts are whole
        stop = min(start + _NESTED_ROWS, n)
        if stop < n:
            first = int(np.searchsorted(nc, nc[stop], side="left"))
            stop = first if first > start else int(np.searchsorted(nc, nc[start], "right"))
        f0, f1 = int(nc[start]), int(nc[stop - 1]) + 1
        Nb = np.zeros((f1 - f0, L))
        wb = None if w is None else w[start:stop]
        for c, off in zip(other, offs):
            Nb += np.bincount((nc[start:stop] - f0) * L + c[start:stop] + off, weights=wb,
                              minlength=(f1 - f0) * L).reshape(f1 - f0, L)
        out += Nb.T @ (Nb / Wf[f0:f1, None])
        start = stop
    return out
