"""The compiled pass of :func:`policylab.engine.cell_scores.cluster_cell_scores` (numba,
cached on disk)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def cell_scores(gram_g, ay_g, s, col, b, out):  # pragma: no cover - compiled
    """out[d, g, c] = sum over the draw's cells i under dummy c of
    ay_g[g, s_i] - sum_j gram_g[g, s_i, s_j] b[d, col_j]."""
    n_draws, m = s.shape
    n_cl = gram_g.shape[0]
    k = out.shape[2]
    w = np.empty((n_draws, m))
    for d in range(n_draws):
        for j in range(m):
            w[d, j] = b[d, col[d, j]]
    ay = np.empty(k)
    gw = np.empty(k)
    # cluster by cluster, so that its Gram matrix stays in cache over all the draws
    for g in range(n_cl):
        gram = gram_g[g]
        for d in range(n_draws):
            # the cross products and the Gram part are summed apart and subtracted at
            # the end, as P'(Ã_g'ỹ_g) - (P'Ã_g'Ã_g P) b are in the gather route
            ay[:] = 0.0
            gw[:] = 0.0
            for i in range(m):
                si = s[d, i]
                acc = 0.0
                for j in range(m):
                    acc += gram[si, s[d, j]] * w[d, j]
                ay[col[d, i]] += ay_g[g, si]
                gw[col[d, i]] += acc
            for c in range(k):
                out[d, g, c] = ay[c] - gw[c]
