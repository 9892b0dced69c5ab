"""Cluster score sums of many randomization draws from cell-level sums.

The pre-trend randomization test (``policylab.inference.pretrend_ri``) computes each
draw's cluster-robust Wald statistic from sums at the (assignment group x period) cell
level: with Ã the cells' indicators purged of the fixed effects and controls, cluster
g's Gram matrix Ã_g'Ã_g (cells x cells) and cross product Ã_g'ỹ_g. A draw puts ``m``
cells under its dummies (cell ``s[i]`` under dummy ``col[i]``, a 0/1 cells x dummies map
P) and, given its coefficients b, cluster g's score is

    P'(Ã_g'ỹ_g) - P'(Ã_g'Ã_g) P b.

Three routes give the same numbers up to the order of the additions:

* ``"gather"`` (the reference): gather each draw's m x m block of every cluster's Gram
  matrix and multiply it by the one-hot P twice. The gather (draws x clusters x m²
  numbers, one at a time) is most of the work: about 7 ns a number, 90% of the test's
  time on the bundled studies.
* ``"gemm"``: P b is the draw's coefficient on each of its cells, a vector w over all
  C cells (zero on the others); every cluster's Gram matrix times the w of all draws
  is one matrix product (clusters x C² x draws multiply-adds, about 0.1 ns each with
  BLAS), of which each draw keeps the rows of its own cells. Cheaper than the gather
  while C is below about nine times m.
* ``"compiled"``: the sums over the draw's cells added up in one numba pass,
  draws x clusters x m² multiply-adds with nothing gathered (about 2 ns each), cluster
  by cluster so that its Gram matrix stays in cache.

``"auto"`` takes the compiled pass when numba's machinery is already set up in the
process (:func:`policylab.engine.threads.compiled_ready`: a first compiled call costs
about 0.3 s, more than the whole test on a small panel) or the problem is large enough
to pay for it, else the cheaper of the two numpy routes.

Numbers only: nothing here imports pandas or any other policylab layer.
"""

from __future__ import annotations

import numpy as np

from policylab.engine.threads import compiled_ready

__all__ = ["cluster_cell_scores", "cell_route", "CELL_ROUTES"]

CELL_ROUTES = ("auto", "compiled", "gemm", "gather")
#: from this many multiply-adds (draws x clusters x m²) on, the compiled pass pays for
#: setting numba up (about 0.3 s) within one call
COMPILED_WORK = 50_000_000


def cell_route(n_draws: int, n_clusters: int, n_cells: int, m: int) -> str:
    """The route ``"auto"`` takes for ``n_draws`` draws (all the draws a caller will
    compute, if it splits them into batches) of ``m`` cells out of ``n_cells``."""
    if compiled_ready() or n_draws * n_clusters * m * m >= COMPILED_WORK:
        return "compiled"
    return "gemm" if n_cells <= 9 * m else "gather"


def cluster_cell_scores(gram_g: np.ndarray, ay_g: np.ndarray, s: np.ndarray,
                        col: np.ndarray, b: np.ndarray, method: str = "auto") -> np.ndarray:
    """Each draw's cluster score sums from cell-level sums.

    Parameters
    ----------
    gram_g : ndarray (clusters x cells x cells)
        Per cluster g, Ã_g'Ã_g.
    ay_g : ndarray (clusters x cells)
        Per cluster g, Ã_g'ỹ_g.
    s : integer ndarray (draws x m)
        The cells each draw puts under a dummy.
    col : integer ndarray (draws x m)
        The dummy (0 .. k - 1) of each of those cells.
    b : ndarray (draws x k)
        Each draw's coefficients on its k dummies.
    method : {"auto", "compiled", "gemm", "gather"}
        The route (see the module's notes); all give the same numbers up to rounding.
        A caller that splits many draws into batches picks it once with
        :func:`cell_route` for all of them.

    Returns
    -------
    ndarray (draws x clusters x k)
        P'(Ã_g'ỹ_g) - P'(Ã_g'Ã_g) P b for every draw and cluster g.
    """
    if method not in CELL_ROUTES:
        raise ValueError(f"method={method!r}: use one of {CELL_ROUTES}")
    n_draws, m = s.shape
    n_cl, n_cells = gram_g.shape[:2]
    k = b.shape[1]
    if n_draws == 0 or n_cl == 0 or m == 0:
        return np.zeros((n_draws, n_cl, k))
    if method == "auto":
        method = cell_route(n_draws, n_cl, n_cells, m)
    if method == "compiled":
        from policylab.engine._cell_kernels import cell_scores

        out = np.empty((n_draws, n_cl, k))
        cell_scores(np.ascontiguousarray(gram_g, dtype=np.float64),
                    np.ascontiguousarray(ay_g, dtype=np.float64),
                    np.ascontiguousarray(s, dtype=np.int64),
                    np.ascontiguousarray(col, dtype=np.int64),
                    np.ascontiguousarray(b, dtype=np.float64), out)
        return out
    P = (col[:, :, None] == np.arange(k)).astype(float)  # draws x m x k, one-hot
    if method == "gemm":
        W = np.zeros((n_draws, n_cells))
        np.put_along_axis(W, s, np.take_along_axis(b, col, axis=1), axis=1)
        V = gram_g @ W.T  # clusters x cells x draws: (Ã_g'Ã_g) w for every draw
        gw = V[:, s, np.arange(n_draws)[:, None]].transpose(1, 0, 2)  # draws x G x m
        return ay_g[:, s].transpose(1, 0, 2) @ P - gw @ P
    gs = gram_g[:, s[:, :, None], s[:, None, :]].transpose(1, 0, 2, 3)  # B x G x m x m
    PGP = P.transpose(0, 2, 1)[:, None] @ gs @ P[:, None]  # B x G x k x k
    return ay_g[:, s].transpose(1, 0, 2) @ P - (PGP @ b[:, None, :, None])[..., 0]
