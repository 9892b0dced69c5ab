"""The propensity-score passes of :mod:`policylab.engine.dr_passes` as matrix products.

Both passes sum, per assignment, weights that depend on the unit and the assignment
(``w mu``, ``w mu (1 - mu)``, the doubly robust comparison weight ...) times feature
rows that depend on the unit only (``x``, ``x x'``, ``DY``, ``x DY'``). For a block of
units the weights of all assignments form a (assignments x units) matrix, computed by
the compiled kernels of ``dr_passes`` with the same arithmetic, and the sums are its
product with the block's (units x features) rows: one BLAS call instead of a dot
product per assignment and feature row. With long runs of units (a run: one cluster
and one assignment group, e.g. the firms of a province) this takes about half the CPU
time of the per-assignment kernels; the sums agree with them to rounding (the order of
the additions differs). Short runs (many small clusters) keep the kernels, where a
block would hold a handful of units.

Numbers only: nothing here imports pandas or any other policylab layer.
"""

from __future__ import annotations

import numpy as np

from policylab.engine import dr_passes as dp
from policylab.engine.threads import one_blas_thread

__all__ = ["logit_sums", "dr_sums", "BLOCK_RUNS"]

#: mean units per run from which the blocked products are used
BLOCK_RUNS = 512
_NB = 2048  # units per block: the weights of a chunk of assignments stay in cache


def _blocked(bounds: np.ndarray) -> bool:
    runs = len(bounds) - 1
    return runs > 0 and (bounds[-1] - bounds[0]) / runs >= BLOCK_RUNS


def _blocks(bounds: np.ndarray, run: int) -> range:
    return range(int(bounds[run]), int(bounds[run + 1]), _NB)


def logit_sums(F: np.ndarray, p: int, w: np.ndarray, bounds: np.ndarray,
               member: np.ndarray, beta: np.ndarray, live: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`policylab.engine.dr_passes.logit_sums` (same parameters and returns)."""
    if not _blocked(bounds):
        return dp.logit_sums(F, p, w, bounds, member, beta, live)
    B = beta.shape[0]
    P2 = p * (p + 1) // 2
    s = np.zeros((B, p))
    hp = np.zeros((B, P2))
    with one_blas_thread():
        for run in range(len(bounds) - 1):
            sel = live[member[live, run] != 0]
            if not len(sel):
                continue
            bt = np.ascontiguousarray(beta[sel])
            U = np.empty((len(sel), _NB))
            V = np.empty((len(sel), _NB))
            sr, hr = np.zeros((len(sel), p)), np.zeros((len(sel), P2))  # the run's sums
            for i0 in _blocks(bounds, run):
                nb = min(_NB, int(bounds[run + 1]) - i0)
                Fb = F[:p + P2, i0:i0 + nb]
                dp.logit_weights(bt @ Fb[:p], w, i0, U, V)
                sr += U[:, :nb] @ Fb[:p].T
                hr += V[:, :nb] @ Fb[p:].T
            s[sel] += sr
            hp[sel] += hr
    return s, _unpack(hp, p)


def dr_sums(F: np.ndarray, p: int, m: int, w: np.ndarray, bounds: np.ndarray,
            run_cluster: np.ndarray, n_cl: int, member: np.ndarray, treated: np.ndarray,
            beta: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`policylab.engine.dr_passes.dr_sums` (same parameters and returns)."""
    if not _blocked(bounds):
        return dp.dr_sums(F, p, m, w, bounds, run_cluster, n_cl, member, treated, beta,
                          live)
    B = beta.shape[0]
    P2 = p * (p + 1) // 2
    nf = p + P2 + m + p * m
    clus = np.zeros((B, n_cl, 1 + m + 2 * p))
    hp = np.zeros((B, P2))
    acc = np.zeros((B, nf))  # per assignment: sum wc x, x x', DY, x DY'
    sep_all = np.zeros(B)
    with one_blas_thread():
        for run in range(len(bounds) - 1):
            sel = live[member[live, run] != 0]
            if not len(sel):
                continue
            c = int(run_cluster[run])
            t = np.ascontiguousarray(treated[sel, run])
            bt = np.ascontiguousarray(beta[sel])
            W3 = np.empty((3, len(sel), _NB))
            sep = np.zeros(len(sel))
            # the run's sums, scattered once (treated assignments have WC = 0 throughout)
            hr, bx, ar = np.zeros((len(sel), P2)), np.zeros((len(sel), p)), 0.0
            wr = np.zeros(len(sel))
            for i0 in _blocks(bounds, run):
                nb = min(_NB, int(bounds[run + 1]) - i0)
                Fb = F[:nf, i0:i0 + nb]
                dp.dr_weights(F, p, w, i0, nb, bt, t, W3[0], W3[1], W3[2], sep)
                hr += W3[1, :, :nb] @ Fb[p:p + P2].T
                bx += W3[0, :, :nb] @ Fb[:p].T
                wr += W3[2, :, :nb].sum(axis=1)
                ar = ar + W3[2, :, :nb] @ Fb.T
            hp[sel] += hr
            clus[sel, c, 1 + m + p:] += bx
            clus[sel, c, 0] += wr
            clus[sel, c, 1:1 + m] += ar[:, p + P2:p + P2 + m]
            clus[sel, c, 1 + m:1 + m + p] += ar[:, :p]
            acc[sel] += ar
            sep_all[sel] = np.maximum(sep_all[sel], sep)
    cxy = acc[:, p + P2 + m:].reshape(B, p, m)
    return clus, _unpack(hp, p), cxy, _unpack(acc[:, p:p + P2], p), sep_all


def _unpack(packed: np.ndarray, p: int) -> np.ndarray:
    """Symmetric p x p matrices from their upper triangles (B x p(p+1)/2, rows in order)."""
    iu, ju = np.triu_indices(p)
    out = np.zeros((packed.shape[0], p, p))
    out[:, iu, ju] = packed
    out[:, ju, iu] = packed
    return out
