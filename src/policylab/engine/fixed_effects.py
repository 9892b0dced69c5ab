"""Absorb fixed effects by demeaning (within transformation).

Balanced two-way panels use the exact one-pass closed form; a single fixed effect is
exact as well; anything else (unbalanced, three or more FE, weights with two-way FE)
uses alternating projections with Irons-Tuck acceleration in compiled kernels. Many
columns (y, regressors, placebo treatments) are demeaned in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policylab.engine.threads import COMPILED_ROWS

__all__ = [
    "DemeanInfo",
    "demean",
    "densify",
    "demean_inplace",
    "drop_singletons",
    "fe_dof",
    "is_balanced_twoway",
    "nested_in_check",
]


@dataclass(frozen=True)
class DemeanInfo:
    """How a demeaning call was carried out."""

    method: str  # "none", "one-way", "balanced-two-way", "alternating-projections"
    iterations: int = 0
    converged: bool = True


def densify(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Map non-negative integer codes to 0..G-1 (in order of the original codes)."""
    codes = np.asarray(codes)
    if codes.size == 0:
        return codes.astype(np.int64), 0
    present = np.bincount(codes) > 0
    remap = np.cumsum(present) - 1
    return remap[codes].astype(np.int64), int(present.sum())


def _as_codes(fe: np.ndarray | None, n: int) -> np.ndarray:
    if fe is None:
        return np.empty((0, n), dtype=np.int64)
    fe = np.asarray(fe)
    if fe.ndim == 1:
        fe = fe[:, None]
    if fe.shape[0] != n:
        raise ValueError(f"fixed-effect codes have {fe.shape[0]} rows, data have {n}")
    return np.ascontiguousarray(fe.T, dtype=np.int64)


def is_balanced_twoway(g1: np.ndarray, g2: np.ndarray) -> bool:
    """True when every (g1, g2) pair occurs exactly once (a balanced two-way panel)."""
    n1, n2 = int(g1.max()) + 1, int(g2.max()) + 1
    if n1 * n2 != g1.shape[0]:
        return False
    if g1.shape[0] >= COMPILED_ROWS:
        from policylab.engine._passes import all_pairs_once

        return bool(all_pairs_once(g1, g2, n1, n2))
    counts = np.bincount(g1.astype(np.int64) * n2 + g2, minlength=n1 * n2)
    return bool((counts == 1).all())


def nested_in_check(inner: np.ndarray, outer: np.ndarray) -> bool:
    """True when every level of ``inner`` lies inside one level of ``outer``."""
    first = np.full(int(inner.max()) + 1, -1, dtype=np.int64)
    first[inner[::-1]] = outer[::-1]
    return bool((first[inner] == outer).all())


def drop_singletons(fe: np.ndarray) -> np.ndarray:
    """Keep-mask after iteratively dropping observations alone in a fixed-effect group.

    A singleton is fitted perfectly by its own fixed effect and carries no information
    about the slopes, but inflates N (fixest and reghdfe drop them too).
    """
    codes = _as_codes(fe, np.asarray(fe).shape[0])
    n = codes.shape[1]
    keep = np.ones(n, dtype=bool)
    if n >= COMPILED_ROWS:
        from policylab.engine._passes import has_singleton

        if not has_singleton(codes.T, keep):  # the usual case: one compiled check
            return keep
    changed = True
    while changed:
        changed = False
        for j in range(codes.shape[0]):
            cnt = np.bincount(codes[j][keep], minlength=int(codes[j].max()) + 1)
            single = keep & (cnt[codes[j]] == 1)
            if single.any():
                keep &= ~single
                changed = True
    return keep


def fe_dof(fe: np.ndarray | None) -> np.ndarray:
    """Number of levels of each fixed effect (columns of ``fe``)."""
    if fe is None:
        return np.zeros(0, dtype=np.int64)
    codes = _as_codes(fe, np.asarray(fe).shape[0])
    return np.array([int(c.max()) + 1 if c.size else 0 for c in codes], dtype=np.int64)


def demean(
    X: np.ndarray,
    fe: np.ndarray | None,
    weights: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    maxiter: int = 100_000,
    return_info: bool = False,
) -> np.ndarray | tuple[np.ndarray, DemeanInfo]:
    """Subtract fixed effects from every column of ``X``.

    Parameters
    ----------
    X : ndarray, shape (n,) or (n, k)
        Columns to demean (float64). Not modified.
    fe : ndarray, shape (n,) or (n, m), int
        Dense integer codes (0..G-1) of each fixed effect; None for no fixed effects.
    weights : ndarray, shape (n,), optional
        Observation weights (weighted group means).
    tol : float
        Convergence tolerance of the iterative path: the largest change of any
        element in one sweep, relative to the column's largest absolute value.
    maxiter : int
        Maximum sweeps per column.
    return_info : bool
        Also return a :class:`DemeanInfo`.

    Returns
    -------
    ndarray of the shape (and memory order) of ``X`` (and DemeanInfo when asked).
    """
    from policylab.engine.threads import threads_for

    out = np.array(X, dtype=np.float64, order="K", copy=True)
    with threads_for(out.shape[0] * (1 if out.ndim == 1 else max(1, out.shape[1] // 8))):
        info = demean_inplace(out[:, None] if out.ndim == 1 else out, fe, weights, tol=tol,
                              maxiter=maxiter)
    return (out, info) if return_info else out


def demean_inplace(
    Z: np.ndarray,
    fe: np.ndarray | None,
    weights: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    maxiter: int = 100_000,
) -> DemeanInfo:
    """:func:`demean` overwriting ``Z`` (n, k), for callers that own the matrix.

    Saves the n x k copy: at 10M rows and 7 columns that is half a gigabyte. ``Z`` may
    be C- or F-ordered, or a view with a row stride (e.g. the first rows of a larger
    F-ordered matrix).
    """
    n = Z.shape[0]
    codes = _as_codes(fe, n)
    m = codes.shape[0]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if m == 0 or n == 0:
        return DemeanInfo("none")
    if m > 1:
        codes = _drop_implied(codes)
        m = codes.shape[0]
    if m == 1:
        _oneway(Z, codes[0], w)
        return DemeanInfo("one-way")
    if m == 2 and w is None and is_balanced_twoway(codes[0], codes[1]):
        _balanced_twoway(Z, codes[0], codes[1])
        return DemeanInfo("balanced-two-way")
    if m == 2:
        n1, n2 = int(codes[0].max()) + 1, int(codes[1].max()) + 1
        # the exact form works on the dense n1 x n2 table of counts: worth it while the
        # small effect is small and the table is not much larger than the data
        if min(n1, n2) < 2000 and n1 * n2 <= 4 * n + 1_000_000:
            _twoway_exact(Z, codes[0], codes[1], w)
            return DemeanInfo("two-way-exact")
    return _iterative(Z, codes, w, tol, maxiter)


def _drop_implied(codes: np.ndarray) -> np.ndarray:
    """Drop fixed effects whose dummies are sums of another effect's dummies.

    ``city + year + province^year`` spans the same space as ``city + province^year``
    (each province-year lies in one year), and two effects leave the exact two-pass
    forms available instead of alternating projections. The projection, and so every
    estimate, is unchanged; only the demeaning gets cheaper.
    """
    from policylab.engine.vcov import nested_in

    keep = list(range(codes.shape[0]))
    for j in range(codes.shape[0]):
        if any(nested_in(codes[other], codes[j]) for other in keep if other != j):
            keep.remove(j)  # every level of another effect lies inside one level of j
    return codes if len(keep) == codes.shape[0] else codes[keep]


def _group_means(X: np.ndarray, g: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    G = int(g.max()) + 1
    k = X.shape[1]
    if w is None:
        cnt = np.bincount(g, minlength=G).astype(np.float64)
        sums = np.empty((G, k))
        for j in range(k):
            sums[:, j] = np.bincount(g, weights=X[:, j], minlength=G)
    else:
        cnt = np.bincount(g, weights=w, minlength=G)
        sums = np.empty((G, k))
        for j in range(k):
            sums[:, j] = np.bincount(g, weights=X[:, j] * w, minlength=G)
    return sums / cnt[:, None]


def _oneway(Z: np.ndarray, g: np.ndarray, w: np.ndarray | None) -> None:
    means = _group_means(Z, g, w)
    for j in range(Z.shape[1]):  # column by column: an n-vector temporary, not n x k
        Z[:, j] -= means[g, j]


def _balanced_twoway(Z: np.ndarray, g1: np.ndarray, g2: np.ndarray) -> None:
    # In a balanced panel the two projections commute: x - xbar_i - xbar_t + xbar.
    n = Z.shape[0]
    n1, n2 = int(g1.max()) + 1, int(g2.max()) + 1
    if n * Z.shape[1] < 200_000:
        mean = Z.mean(axis=0)
        Z -= _group_means(Z, g1, None)[g1] + _group_means(Z, g2, None)[g2] - mean
        return
    s1, s2 = _twoway_sums(Z, g1, g2, n1, n2, np.empty(0))
    # each g1 level has n / n1 rows in a balanced layout, each g2 level n / n2
    _subtract_two(Z, g1, g2, s1 * (n1 / n), s2 * (n2 / n), s2.sum(axis=1) / n)


def _row_major(Z: np.ndarray) -> bool:
    """Whether the compiled two-way passes should walk ``Z`` row by row (a C-ordered
    matrix of several columns: many placebo or cell columns are built that way)."""
    return Z.shape[1] > 1 and Z.flags.c_contiguous


def _twoway_sums(Z: np.ndarray, g1: np.ndarray, g2: np.ndarray, n1: int, n2: int,
                 w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compiled per-column sums of Z within g1 (k x n1) and g2 (k x n2), in the
    sweep that suits Z's memory order (the same sums either way)."""
    from policylab.engine import _passes

    if _row_major(Z):
        return _passes.twoway_sums_rows(Z, g1, g2, n1, n2, w)
    return _passes.twoway_sums(Z, g1, g2, n1, n2, w)


def _subtract_two(Z: np.ndarray, g1: np.ndarray, g2: np.ndarray, A: np.ndarray,
                  B: np.ndarray, const: np.ndarray) -> None:
    """Z[:, c] -= A[c, g1] + B[c, g2] - const[c] in place (compiled), in the sweep
    that suits Z's memory order."""
    from policylab.engine import _passes

    if _row_major(Z):
        _passes.subtract_two_rows(Z, g1, g2, np.ascontiguousarray(A.T),
                                  np.ascontiguousarray(B.T), const)
    else:
        _passes.subtract_two_inplace(Z, g1, g2, A, B, const)


def _twoway_exact(Z: np.ndarray, g1: np.ndarray, g2: np.ndarray,
                  w: np.ndarray | None = None) -> None:
    """Exact two-way demeaning (weighted or not) when one effect has few levels.

    Demean within the large effect a, then partial out the within-demeaned dummies of the
    small effect b through their Gram matrix, which the a x b table of (weighted) counts
    C gives directly: D~'WD~ = diag(W_b) - C' diag(1/W_a) C and D~'WX~ = (weighted
    b-sums of X) - C' diag(1/W_a) (weighted a-sums of X). Two passes over the data, no
    iterations, no n x T matrix; groups with zero total weight get no effect.
    """
    if g1.max() < g2.max():
        g1, g2 = g2, g1
    na, nb = int(g1.max()) + 1, int(g2.max()) + 1
    large = Z.shape[0] >= COMPILED_ROWS
    if large:
        # compiled sweeps, without na x k temporaries (imported here: a small panel
        # needs neither numba nor its cache)
        from policylab.engine import _passes

        wv = np.empty(0) if w is None else w
        C = _passes.pair_counts(g1, g2, na, nb, wv)
        s1, s2 = _twoway_sums(Z, g1, g2, na, nb, wv)  # (k, na), (k, nb)
    else:
        C = np.bincount(g1 * nb + g2, weights=w, minlength=na * nb).reshape(na, nb)
        C = C.astype(np.float64)
        Zw = Z if w is None else Z * w[:, None]
        s1 = np.stack([np.bincount(g1, weights=Zw[:, j], minlength=na)
                       for j in range(Z.shape[1])])
        s2 = np.stack([np.bincount(g2, weights=Zw[:, j], minlength=nb)
                       for j in range(Z.shape[1])])
    from policylab.engine.threads import one_blas_thread

    # products with a small side (nb columns): BLAS threads spin longer than they work
    with one_blas_thread():
        Wa = C.sum(axis=1)
        inv = np.divide(1.0, Wa, out=np.zeros_like(Wa), where=Wa > 0)
        Cs = C * np.sqrt(inv)[:, None]
        A = np.diag(C.sum(axis=0)) - Cs.T @ Cs  # syrk over the na x nb table
        del Cs
        B = s2.T - ((s1 * inv) @ C).T
        gamma = np.linalg.lstsq(A, B, rcond=None)[0]
        a_eff = (s1 - (C @ gamma).T) * inv  # a means net of the a means of gamma[b]
    if large:
        _subtract_two(Z, g1, g2, a_eff, np.ascontiguousarray(gamma.T), np.zeros(Z.shape[1]))
    else:
        Z -= a_eff.T[g1] + gamma[g2]


def _iterative(
    Z: np.ndarray, codes: np.ndarray, w: np.ndarray | None, tol: float, maxiter: int
) -> DemeanInfo:
    from policylab.engine._kernels import demean_columns

    n = Z.shape[0]
    sizes = codes.max(axis=1) + 1
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    wv = np.ones(n) if w is None else w
    wsum = np.concatenate(
        [np.bincount(codes[j], weights=wv, minlength=int(sizes[j])) for j in range(len(sizes))]
    )
    inv = np.divide(1.0, wsum, out=np.zeros_like(wsum), where=wsum > 0)
    from policylab.engine.threads import all_threads

    # dozens of sweeps per column: one column per thread pays off at any size
    with all_threads():
        iters, conv = demean_columns(Z, codes, offsets, inv, wv, float(tol), int(maxiter))
    return DemeanInfo(
        "alternating-projections", int(iters.max(initial=0)), bool(conv.all())
    )
