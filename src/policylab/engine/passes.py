"""Single passes over columns that estimators need at their edge, compiled or numpy.

Each function here chooses its own path: from :data:`~policylab.engine.threads.COMPILED_ROWS`
rows on it runs the compiled kernel of :mod:`policylab.engine._passes`, below that
plain numpy (no compilation or cache loading on a small first call). Both paths give
the same answer. Callers outside the engine use these, never the kernels.

Numbers only: nothing here imports pandas or any other policylab layer.
"""

from __future__ import annotations

import numpy as np

from policylab.engine.threads import COMPILED_ROWS

__all__ = ["column_moments", "compact_codes", "fill_indicator", "nonfinite_rows",
           "varies_within"]


def nonfinite_rows(Z: np.ndarray) -> np.ndarray:
    """Per row of ``Z`` (n x k): does any column hold NaN or +-inf?"""
    if Z.shape[0] >= COMPILED_ROWS:
        from policylab.engine import _passes

        return _passes.nonfinite_rows(Z)
    return ~np.isfinite(Z).all(axis=1)


def column_moments(Z: np.ndarray, w: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(Weighted) mean and centred sum of squares of every column of ``Z``.

    Parameters
    ----------
    Z : ndarray (n, k)
    w : ndarray (n,), optional
        Observation weights; None for unweighted.

    Returns
    -------
    mean, css : ndarray (k,)
    """
    if Z.shape[0] >= COMPILED_ROWS:
        from policylab.engine import _passes

        return _passes.column_moments(Z, np.empty(0) if w is None else w, w is not None)
    wv = np.ones(Z.shape[0]) if w is None else w
    mean = (wv @ Z) / wv.sum()
    return mean, wv @ (Z - mean) ** 2


def compact_codes(v: np.ndarray, lo: int, hi: int, out: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes 0..G-1 (in sorted order) and the levels of integers in ``[lo, hi]``.

    Meant for compact ranges (``hi - lo`` of the order of ``len(v)``): no hashing, no
    sort. On the compiled path the codes are written into ``out`` when given (an int64
    vector of ``v``'s length), which is then returned; the numpy path returns a new
    array.
    """
    if v.size >= COMPILED_ROWS:
        from policylab.engine import _passes

        codes = np.empty(v.size, dtype=np.int64) if out is None else out
        levels = _passes.compact_int_codes(v.astype(np.int64, copy=False), lo,
                                           hi - lo + 1, codes)
        return codes, levels
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[v - lo] = True
    remap = np.cumsum(present) - 1
    return remap[v - lo].astype(np.int64), np.flatnonzero(present) + lo


def varies_within(codes: np.ndarray, values: np.ndarray) -> bool:
    """Whether ``values`` take more than one value inside any group of ``codes``.

    ``codes`` are group ids 0..G-1; ``values`` are numbers (float or integer; code
    anything else first). NaN counts as one value (NaN equals NaN).
    """
    if codes.size == 0:
        return False
    if codes.size >= COMPILED_ROWS:
        from policylab.engine import _passes

        v = values.astype(np.float64 if values.dtype.kind == "f" else np.int64, copy=False)
        return bool(_passes.varies_within(codes.astype(np.int64, copy=False), v,
                                          int(codes.max()) + 1))
    order = np.argsort(codes, kind="stable")
    c, x = codes[order], values[order]
    differ = x[1:] != x[:-1]
    if x.dtype.kind == "f":
        differ &= ~(np.isnan(x[1:]) & np.isnan(x[:-1]))
    return bool((differ & (c[1:] == c[:-1])).any())


def fill_indicator(rel: np.ndarray, value: float, out: np.ndarray) -> None:
    """``out[i] = 1.0`` where ``rel[i] == value``, else 0.0 (NaN never matches)."""
    if rel.shape[0] >= COMPILED_ROWS:
        from policylab.engine import _passes

        _passes.fill_indicator(rel, value, out)
        return
    out[:] = rel == value
