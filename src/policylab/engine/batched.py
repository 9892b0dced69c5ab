"""Batched least squares for many treatment columns at once (numbers only).

After the fixed effects and controls are partialled out (Frisch-Waugh-Lovell), the
coefficient of a treatment column d on the outcome y is d'y / d'd and its one-way
cluster-robust variance is fac x sum_g (sum_{i in g} d_i (y_i - b d_i))^2 / (d'd)^2.
When every candidate treatment is a 0/1 combination of basis columns (one per
assignment group and treatment path), D = B S for a selection matrix S, so all draws
are matrix products of precomputed pieces.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["partial_out", "cluster_matrix", "batched_coef_t", "BasisStats"]


def partial_out(A: np.ndarray, C: np.ndarray | None) -> np.ndarray:
    """Residuals of each column of A on the columns of C (A itself when C is empty)."""
    if C is None or C.shape[1] == 0:
        return A
    coef, *_ = np.linalg.lstsq(C, A, rcond=None)
    return A - C @ coef


def cluster_matrix(cl: np.ndarray) -> sparse.csr_matrix:
    """G x n indicator matrix of dense cluster codes (row g sums cluster g)."""
    n = cl.shape[0]
    G = int(cl.max()) + 1
    return sparse.csr_matrix((np.ones(n), (cl, np.arange(n))), shape=(G, n))


def batched_coef_t(D: np.ndarray, y: np.ndarray, S: sparse.csr_matrix | None,
                   fac: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and cluster-robust t statistics of y on each column of D.

    D and y must already be partialled (fixed effects and controls). ``S`` is the
    cluster indicator matrix (None: heteroskedasticity-robust, each row its own
    cluster); ``fac`` the small-sample factor of the original regression.
    """
    dd = np.einsum("ij,ij->j", D, D)
    b = (D.T @ y) / dd
    U = D * (y[:, None] - D * b)
    sums = U if S is None else S @ U
    se = np.sqrt(fac * np.einsum("ij,ij->j", sums, sums)) / dd
    return b, b / se


class BasisStats:
    """Precomputed pieces for treatments D = B s (B: partialled basis, s: 0/1 selection).

    With Gram = B'B, by = B'y, A = S (B * y) and the per-cluster Grams C_c = B_c'B_c,
    a draw costs O(G_c m^2) instead of O(n m): b = by.s / s'Gram s and the cluster
    score sums are A s - b (s' C_c s).
    """

    def __init__(self, B: np.ndarray, y: np.ndarray, cl: np.ndarray | None, fac: float) -> None:
        self.fac = fac
        self.gram = B.T @ B
        self.by = B.T @ y
        if cl is None:
            cl = np.arange(B.shape[0])
        G = int(cl.max()) + 1
        S = cluster_matrix(cl)
        self.A = S @ (B * y[:, None])
        order = np.argsort(cl, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(cl, minlength=G))]
        Bs = B[order]
        self.C = np.stack([Bs[bounds[g]:bounds[g + 1]].T @ Bs[bounds[g]:bounds[g + 1]]
                           for g in range(G)])

    @staticmethod
    def fits(n_clusters: int, m: int, max_bytes: float = 4e8) -> bool:
        """Whether the per-cluster Grams fit in memory."""
        return n_clusters * m * m * 8 <= max_bytes

    def coef_t_subsets(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and t statistics of treatments switching on the basis columns
        ``idx[d]`` (draws x s), by a compiled kernel over the s x s blocks."""
        from policylab.engine.subset_kernels import subset_coef_t

        return subset_coef_t(np.ascontiguousarray(idx, dtype=np.int64), self.gram,
                             self.by, np.ascontiguousarray(self.A), self.C, float(self.fac))

    def coef_t(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and t statistics of every selection column."""
        dd = np.einsum("md,md->d", sel, self.gram @ sel)
        b = (self.by @ sel) / dd
        Gc, m, _ = self.C.shape
        CS = (self.C.reshape(Gc * m, m) @ sel).reshape(Gc, m, -1)  # one BLAS call
        q = (CS * sel[None]).sum(axis=1)
        sums = self.A @ sel - b * q
        se = np.sqrt(self.fac * np.einsum("cd,cd->d", sums, sums)) / dd
        return b, b / se
