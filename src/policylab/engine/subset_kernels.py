"""Placebo statistics of treatments that switch on a subset of basis columns (numba).

A random or enumerated assignment treats s of the m assignment groups, so its treatment
column is the sum of s partialled basis columns. Given the basis Gram matrix, the basis
cross-products with the outcome and the per-cluster Gram matrices, the coefficient and
its cluster-robust t statistic need only the s x s blocks of those matrices: about
s^2 (G + 1) operations per draw, whatever the number of rows, instead of dense
m x draws selection products.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from policylab.engine.threads import parallel_kernel


@parallel_kernel
def subset_coef_t(idx, gram, by, A, C, fac):  # pragma: no cover - compiled
    """Coefficients and t statistics of the treatments sum_{j in idx[d]} B[:, j].

    Parameters
    ----------
    idx : (draws, s) int64, the basis columns each draw switches on
    gram : (m, m) B'B;  by : (m,) B'y;  A : (G, m) per-cluster sums of B * y;
    C : (G, m, m) per-cluster Grams;  fac : the small-sample factor.
    """
    D, s = idx.shape
    Gc = A.shape[0]
    b_out = np.empty(D)
    t_out = np.empty(D)
    for d in prange(D):
        dd = 0.0
        num = 0.0
        for p in range(s):
            i = idx[d, p]
            num += by[i]
            for q in range(s):
                dd += gram[i, idx[d, q]]
        b = num / dd
        acc = 0.0
        for c in range(Gc):
            a = 0.0
            qf = 0.0
            for p in range(s):
                i = idx[d, p]
                a += A[c, i]
                for q in range(s):
                    qf += C[c, i, idx[d, q]]
            e = a - b * qf
            acc += e * e
        se = np.sqrt(fac * acc) / dd
        b_out[d] = b
        t_out[d] = b / se
    return b_out, t_out
