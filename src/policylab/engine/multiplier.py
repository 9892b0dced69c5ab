"""Multiplier bootstrap of estimates given by their influence functions.

An estimator whose estimation error is the mean of unit influence functions (the
Callaway-Sant'Anna ATT(g,t) and their aggregations) is bootstrapped by perturbing
those functions, summed within clusters, with i.i.d. two-valued multipliers (Mammen
or Rademacher), as R ``did::mboot``. Here: the cluster sums, the analytic covariance
they give, the draws (compiled Mammen product from :mod:`policylab.engine.cs_kernels`,
float32 block products), the robust bootstrap SEs and the sup-t critical value of the
uniform band.

Numbers only: nothing here imports pandas or any other policylab layer. Callers check
the user's settings (draws, multiplier law, memory) before calling.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.special import ndtri

from policylab.engine.threads import one_blas_thread

__all__ = ["MULTIPLIERS", "influence_sums", "influence_vcov", "multiplier_draws",
           "random_bytes", "bool_product", "robust_se", "sup_t_crit",
           "multiplier_bootstrap"]

#: the multiplier laws: each takes two values
MULTIPLIERS = ("mammen", "rademacher")


def influence_sums(F: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Influence functions summed within clusters (rows = clusters); units if None."""
    if clusters is None:
        return F
    nc = int(clusters.max()) + 1
    # one bincount per column: np.add.at over rows is an unbuffered scatter, ~20x slower
    return np.column_stack([np.bincount(clusters, weights=F[:, j], minlength=nc)
                            for j in range(F.shape[1])]).reshape(nc, F.shape[1])


def influence_vcov(F: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Covariance of the estimates from unit influence functions, clustered if asked."""
    S = influence_sums(F, clusters)
    return S.T @ S / F.shape[0] ** 2


# sum of at most this many float32 products per BLAS call: bounds the float32 copy of
# the 0/1 multiplier block to 32 MB whatever the number of clusters
_BLOCK = 1 << 23


def multiplier_draws(S: np.ndarray, n: int, draws: int, seed: int | None, weights: str,
                     single: bool = True, chunk: int = 128) -> np.ndarray:
    """Multiplier-bootstrap draws (draws x columns) of ``S.sum(axis=0) / n`` perturbed.

    ``S`` holds the cluster-summed influence functions (clusters x columns). Draw b of
    column k is ``sum_c V_bc S_ck / n`` with i.i.d. Mammen or Rademacher multipliers V,
    as R ``did::mboot``. The draws are linear in the columns of ``S`` and the random
    stream depends only on (draws, number of clusters, seed, weights, chunk): columns
    bootstrapped together or apart get the same multipliers for the same seed, which
    is what lets aggregations reuse the draws of ATT(g,t).

    Both multiplier laws take two values, so ``V S = a tot + c (B S)`` with a 0/1
    matrix B: BLAS products, a block of clusters at a time (Mammen:
    :func:`policylab.engine.cs_kernels.mammen_lo_product`). ``single=True`` runs them
    in float32 (B is exact in float32; the rounding of the block sums is ~1e-6 of the
    draws' spread, far below Monte Carlo error) at half the memory traffic of float64.
    The caller checks ``draws`` (at least 2) and the memory of the draws x columns
    result.
    """
    if weights not in MULTIPLIERS:
        raise ValueError(f"multipliers must be one of {MULTIPLIERS}, got {weights!r}")
    from policylab.engine.cs_kernels import mammen_lo_product

    nc, k = S.shape
    dt = np.float32 if single else np.float64
    Sd = np.ascontiguousarray(S, dtype=dt)
    tot = S.sum(axis=0)
    rng = np.random.default_rng(seed)
    out = np.empty((draws, k))
    s5 = np.sqrt(5.0)
    lo, hi, p_lo = -(s5 - 1) / 2, (s5 + 1) / 2, (s5 + 1) / (2 * s5)
    # Mammen: P(lo) = p_lo exactly from one random byte per weight: bytes below
    # floor(256 p_lo) give lo, above it hi, and the 1-in-256 ties are settled by a
    # uniform against the remaining fraction (a quarter of the cost of a float per weight)
    cut = int(np.floor(256 * p_lo))
    frac = 256 * p_lo - cut
    # the products run a block of clusters per thread; BLAS's own threads would only
    # compete with them (and one BLAS thread per block keeps the sums reproducible)
    with one_blas_thread():
        for start in range(0, draws, chunk):
            m = min(chunk, draws - start)
            if weights == "mammen":
                u = random_bytes(rng, m, nc)
                # V = hi + (lo - hi) * 1[V = lo]
                bS = mammen_lo_product(u, cut, frac, rng, Sd)
                out[start:start + m] = (hi * tot + (lo - hi) * bS) / n
            else:
                b = rng.integers(0, 2, size=(m, nc), dtype=np.int8).view(np.bool_)
                out[start:start + m] = (2 * bool_product(b, Sd) - tot) / n
    return out


def random_bytes(rng: np.random.Generator, m: int, nc: int) -> np.ndarray:
    """``rng.integers(0, 256, size=(m, nc), dtype=np.uint8)``, the same bytes, faster.

    numpy fills full-range uint8 from successive 32-bit outputs (low byte first), and
    PCG64 serves 32-bit outputs as the low then the high half of one 64-bit output. So
    when no half is buffered and the count is a multiple of 8, the bytes are exactly
    the little-endian bytes of ``random_raw(count // 8)`` and the generator ends in the
    same state, at a quarter of the cost. Otherwise: ``integers`` itself.
    """
    bg = rng.bit_generator
    if (m * nc) % 8 == 0 and sys.byteorder == "little" and type(bg).__name__ == "PCG64" \
            and not bg.state["has_uint32"]:
        return bg.random_raw((m * nc) // 8).view(np.uint8).reshape(m, nc)
    return rng.integers(0, 256, size=(m, nc), dtype=np.uint8)


def bool_product(b: np.ndarray, S: np.ndarray) -> np.ndarray:
    """``b @ S`` for a 0/1 matrix ``b`` (draws x clusters), in blocks of clusters so the
    floating copy of ``b`` stays small; float64 result."""
    m, nc = b.shape
    step = max(1, _BLOCK // max(m, 1))
    if step >= nc:
        return (b.astype(S.dtype) @ S).astype(np.float64)
    acc = np.zeros((m, S.shape[1]), dtype=np.float64)
    for j in range(0, nc, step):
        acc += b[:, j:j + step].astype(S.dtype) @ S[j:j + step]
    return acc


def robust_se(out: np.ndarray) -> np.ndarray:
    """Robust bootstrap SEs (interquartile range over 1.349, as R did); NaN where the
    draws do not vary."""
    q75, q25 = np.quantile(out, [0.75, 0.25], axis=0, method="inverted_cdf")
    se = (q75 - q25) / (ndtri(0.75) - ndtri(0.25))
    return np.where(se > np.sqrt(np.finfo(float).eps) * 10, se, np.nan)


def sup_t_crit(out: np.ndarray, se: np.ndarray, level: float) -> float:
    """Critical value of the sup-t uniform band from bootstrap draws (draws x columns):
    the ``level`` quantile of max over columns of |draw| / SE (columns with a missing
    or zero SE left out; NaN when none is left)."""
    ok = np.isfinite(se)
    if not ok.any():
        return float("nan")
    tmax = np.max(np.abs(out[:, ok]) / se[ok], axis=1)
    return float(np.quantile(tmax, level, method="inverted_cdf"))


def multiplier_bootstrap(F: np.ndarray, clusters: np.ndarray | None, draws: int,
                         seed: int | None, weights: str, level: float,
                         chunk: int = 128, single: bool = True
                         ) -> tuple[np.ndarray, float, np.ndarray]:
    """Multiplier bootstrap of the estimates' sampling error, as R ``did::mboot``.

    Each draw perturbs the (cluster-summed) influence functions ``F`` (units x columns)
    with i.i.d. Mammen or Rademacher weights (see :func:`multiplier_draws`). Returns the
    robust bootstrap SEs (interquartile range over 1.349, as R did), the critical value
    of the sup-t uniform band (max over the columns of |draw| / SE) and the draws.
    """
    out = multiplier_draws(influence_sums(F, clusters), F.shape[0], draws, seed, weights,
                           single, chunk)
    se = robust_se(out)
    return se, sup_t_crit(out, se, level), out
