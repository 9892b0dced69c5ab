"""Conditional and hybrid tests of linear moment inequalities with linear nuisance
parameters (Andrews, Roth and Pakes 2023, "ARP"), as Rambachan and Roth (2023) use them
for honest DiD confidence sets.

The testing problem: ``Y ~ N(mu, Sigma)`` with ``m`` moments, and the null hypothesis
that some nuisance vector ``xi`` makes ``mu - X xi <= 0``. The statistic is

    eta = min_{eta, xi} eta   s.t.   Y - X xi <= sd * eta,   sd = sqrt(diag(Sigma)),

a linear program whose dual is ``max g'Y`` over the polytope
``P = {g >= 0 : X'g = 0, sd'g = 1}``. ``P`` does not depend on ``Y``, so ``eta`` is the
largest of ``g'Y`` over the finitely many vertices of ``P``. Here the vertices are found
once per problem (every basis of the dual equality system is tried, in one batched
solve), after which ``eta`` for every point of a grid of hypothesised values and every
draw of the least-favourable simulation is a matrix product: no linear program is solved
per grid point or per draw.

Conditional test: given the optimal vertex ``g*`` and the part of ``Y`` independent of
``g*'Y`` (``S = Y - c g*'Y`` with ``c = Sigma g* / g*'Sigma g*``), ``eta = g*'Y`` is
normal with variance ``g*'Sigma g*``, truncated to the interval ``[v_lo, v_up]`` on which
``g*`` stays the maximising vertex (ARP section 3). The test rejects when ``eta`` exceeds
the ``1 - alpha`` quantile of that truncated normal under mean zero (floored at 0).

Hybrid ("conditional least favourable", C-LF): a first stage rejects when ``eta`` exceeds
the ``1 - kappa`` quantile ``c_LF`` of ``max_g g'Z``, ``Z ~ N(0, Sigma)`` (simulated); the
second stage is the conditional test of size ``(alpha - kappa) / (1 - kappa)``, also
conditioning on ``eta <= c_LF`` (``v_up`` replaced by ``min(v_up, c_LF)``).
"""

from __future__ import annotations

from itertools import combinations, islice
from math import comb

import numpy as np
from scipy import linalg
from scipy.special import log_ndtr, ndtr, ndtri, ndtri_exp

from policylab.errors import EstimationError

__all__ = ["cone_rays", "dual_vertices", "lf_critical_value", "truncnorm_quantile", "hybrid_test",
           "arp_accept", "TooManyBases"]


class TooManyBases(EstimationError):
    """Vertex enumeration of the dual polytope would try too many bases."""


def cone_rays(X: np.ndarray, *, max_bases: int = 60_000) -> np.ndarray:
    """Extreme rays of the cone ``{g >= 0 : X'g = 0}``.

    The dual polytope of the ARP statistic is this cone cut by ``sd'g = 1``, so its
    vertices are these rays rescaled (``dual_vertices``); the rays depend on ``X`` only,
    not on the moments' variances, and can be shared by problems with the same ``X``.
    A ray's support has one column more than the rank of ``X'`` restricted to it; every
    set of ``rank(X) + 1`` rows whose restriction has a one-dimensional null space is
    tried, in batches.

    Parameters
    ----------
    X : ndarray, shape (m, k)
        Coefficients of the nuisance parameters in the moments (``k`` may be 0).
    max_bases : int
        Refuse (``TooManyBases``) when ``comb(m, rank(X) + 1)`` exceeds this.

    Returns
    -------
    ndarray, shape (n_rays, m)
        One ray per row (largest entry 1), without duplicates; no rows when the cone is
        ``{0}``.
    """
    X = np.asarray(X, float)
    m = X.shape[0]
    X = X.reshape(m, -1)
    if X.shape[1] == 0 or not np.any(X):
        return np.eye(m)
    _, sx, Vt = np.linalg.svd(X.T, full_matrices=False)
    q = int(np.sum(sx > 1e-10 * sx[0]))
    R = Vt[:q]  # X'g = 0  <=>  R g = 0, with R of full row rank q
    n_bases = comb(m, q + 1)
    if n_bases > max_bases:
        raise TooManyBases(f"the ARP dual has {n_bases} candidate bases (more than "
                           f"{max_bases}): too many moments for vertex enumeration")
    found = []
    combos = combinations(range(m), q + 1)
    while True:
        idx = np.array(list(islice(combos, 10_000)), dtype=np.intp)
        if len(idx) == 0:
            break
        B = np.moveaxis(R[:, idx], 1, 0)  # (n, q, q + 1)
        _, sv, vt = np.linalg.svd(B, full_matrices=True)
        null = vt[:, -1, :]  # spans the null space when rank(B) = q
        ok = sv[:, -1] > 1e-10 * sv[:, 0] if q > 0 else np.ones(len(B), bool)
        scale = np.max(np.abs(null), axis=1, keepdims=True)
        small = np.abs(null) <= 1e-10 * scale
        pos = np.all((null > 0) | small, axis=1)
        neg = np.all((null < 0) | small, axis=1)
        ok &= pos | neg
        if ok.any():
            g = np.where(small, 0.0, np.abs(null))[ok]
            G = np.zeros((len(g), m))
            np.put_along_axis(G, idx[ok], g, axis=1)
            found.append(G / np.max(G, axis=1, keepdims=True))
    if not found:
        return np.zeros((0, m))
    G = np.vstack(found)
    # a ray with a small support comes out of several bases: keep one copy
    G = G[np.lexsort(np.round(G, 8).T[::-1])]
    dup = np.r_[False, np.all(np.abs(np.diff(G, axis=0)) <= 1e-8, axis=1)]
    return G[~dup]


def dual_vertices(X: np.ndarray, sd: np.ndarray, *, rays: np.ndarray | None = None,
                  max_bases: int = 60_000) -> np.ndarray:
    """Vertices of the dual polytope ``{g >= 0 : X'g = 0, sd'g = 1}``.

    Parameters
    ----------
    X : ndarray, shape (m, k)
        Coefficients of the nuisance parameters in the moments (``k`` may be 0).
    sd : ndarray, shape (m,)
        Standard deviations of the moments (positive).
    rays : ndarray, optional
        ``cone_rays(X)`` when already computed.
    max_bases : int
        Passed to ``cone_rays``.

    Returns
    -------
    ndarray, shape (n_vertices, m)
        One vertex per row. Empty (0 rows) when the polytope is empty, in which case the
        primal statistic is minus infinity.
    """
    if rays is None:
        rays = cone_rays(X, max_bases=max_bases)
    return rays / (rays @ np.asarray(sd, float))[:, None]


def lf_critical_value(V: np.ndarray, sigma: np.ndarray, kappa: float, *, sims: int = 1000,
                      seed: int = 0) -> float:
    """The least-favourable critical value: the ``1 - kappa`` quantile of
    ``max_g g'Z`` over the vertices ``V``, ``Z ~ N(0, sigma)``, by simulation.

    Parameters
    ----------
    V : ndarray, shape (n_vertices, m)
        Vertices of the dual polytope (``dual_vertices``).
    sigma : ndarray, shape (m, m)
        Covariance of the moments.
    kappa : float
        Size of the first stage; ``kappa <= 0`` returns ``inf`` (no first stage).
    sims : int
        Number of draws (HonestDiD: 1000).
    seed : int
        Seed of ``numpy.random.default_rng``; the draws are
        ``rng.multivariate_normal(0, sigma, size=sims)``.

    Returns
    -------
    float
        The critical value (``inf`` without vertices or first stage).
    """
    if kappa <= 0 or len(V) == 0:
        return float("inf")
    rng = np.random.default_rng(seed)
    Z = rng.multivariate_normal(np.zeros(sigma.shape[0]), sigma, size=sims,
                                check_valid="ignore")
    eta = np.max(Z @ V.T, axis=1)
    return float(np.quantile(eta, 1 - kappa))


def truncnorm_quantile(p: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The ``p`` quantile of the standard normal truncated to ``[lo, hi]``.

    Accurate in both tails: intervals above zero are inverted through the log survival
    function, intervals below zero by symmetry.

    Parameters
    ----------
    p : float
        Probability in (0, 1).
    lo, hi : ndarray
        Truncation bounds (``-inf`` / ``inf`` allowed), ``lo <= hi``.

    Returns
    -------
    ndarray
        Quantiles, clipped to ``[lo, hi]``.
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    q = np.empty(lo.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        up = lo >= 0  # upper tail: P(Z > q) = S(lo) - p (S(lo) - S(hi))
        if up.any():
            ls_lo, ls_hi = log_ndtr(-lo[up]), log_ndtr(-hi[up])
            q[up] = -ndtri_exp(ls_lo + np.log1p(-p * -np.expm1(ls_hi - ls_lo)))
        down = hi <= 0  # lower tail: by symmetry, minus the 1 - p quantile on [-hi, -lo]
        down &= ~up
        if down.any():
            ls_lo, ls_hi = log_ndtr(hi[down]), log_ndtr(lo[down])
            q[down] = ndtri_exp(ls_lo + np.log1p(-(1 - p) * -np.expm1(ls_hi - ls_lo)))
        mid = ~(up | down)
        if mid.any():
            a, b = ndtr(lo[mid]), ndtr(hi[mid])
            q[mid] = ndtri(a + p * (b - a))
    return np.clip(q, lo, hi)


def hybrid_test(Y: np.ndarray, V: np.ndarray, sigma: np.ndarray, alpha: float,
                kappa: float, lf_cv: float) -> np.ndarray:
    """ARP conditional (``kappa = 0``) or conditional-least-favourable hybrid test.

    Parameters
    ----------
    Y : ndarray, shape (n, m)
        Moments, one hypothesis per row (e.g. one per grid value of the target).
    V : ndarray, shape (n_vertices, m)
        Vertices of the dual polytope.
    sigma : ndarray, shape (m, m)
        Covariance of the moments.
    alpha : float
        Size of the test.
    kappa : float
        Size of the least-favourable first stage (0: the plain conditional test).
    lf_cv : float
        First-stage critical value (``lf_critical_value``); ``inf`` without one.

    Returns
    -------
    ndarray of bool, shape (n,)
        True where the hypothesis is not rejected.
    """
    n = Y.shape[0]
    if len(V) == 0:
        return np.ones(n, bool)  # the moments can be made arbitrarily slack
    vals = Y @ V.T
    j = np.argmax(vals, axis=1)
    rows = np.arange(n)
    eta = vals[rows, j]
    Q = V @ sigma @ V.T
    s2 = Q[j, j]
    first = eta > lf_cv
    tiny = s2 <= np.finfo(float).eps
    s2s = np.where(tiny, 1.0, s2)
    # g'Y = g'S + (g'c) eta for every vertex g; g* stays optimal while
    # eta (1 - g'c) >= g'S for all g
    gc = Q[:, j].T / s2s[:, None]
    den = 1.0 - gc
    num = vals - gc * eta[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    vlo = np.max(np.where(den > 1e-12, ratio, -np.inf), axis=1)
    vup = np.min(np.where(den < -1e-12, ratio, np.inf), axis=1)
    sb = np.sqrt(s2s)
    size = (alpha - kappa) / (1 - kappa) if kappa > 0 else alpha
    zlo, zup, stat = vlo / sb, np.minimum(vup, lf_cv) / sb, eta / sb
    inside = (zlo <= stat) & (stat <= zup)  # fails only by rounding: then accept
    cval = np.zeros(n)
    if inside.any():
        cval[inside] = np.maximum(0.0, truncnorm_quantile(1 - size, zlo[inside],
                                                          zup[inside]))
    reject = np.where(tiny, eta > 0, inside & (stat > cval))
    return ~(first | reject)


def arp_accept(betahat: np.ndarray, sigma: np.ndarray, A: np.ndarray, d: np.ndarray,
               post: np.ndarray, l_vec: np.ndarray, theta: np.ndarray, *,
               rows: np.ndarray | None = None, alpha: float = 0.05,
               kappa: float | None = None, sims: int = 1000, seed: int = 0,
               rays: dict[bytes, np.ndarray] | None = None,
               max_bases: int = 60_000) -> np.ndarray:
    """Test ``theta = l'tau_post`` for each value of a grid when the bias
    ``delta = beta - tau`` lies in ``{delta : A delta <= d}``.

    ``betahat ~ N(beta, sigma)``; the pre-period ``tau`` are zero and the post-period
    ``tau`` are free apart from ``l'tau_post = theta``, which makes ``T_post - 1``
    nuisance parameters (Rambachan and Roth 2023, eqs. 12-13).

    Parameters
    ----------
    betahat, sigma : ndarray
        Event-study coefficients and their covariance.
    A, d : ndarray
        The polyhedral restriction on delta.
    post : ndarray of bool
        Which coefficients are post-period ones.
    l_vec : ndarray
        Weights of the target over the post-period coefficients.
    theta : ndarray
        Hypothesised values of the target.
    rows : ndarray of int, optional
        Moments (rows of ``A``) used by the test; all by default.
    alpha : float
        Size.
    kappa : float, optional
        First-stage size of the hybrid (default ``alpha / 10``; 0 for the plain
        conditional test).
    sims, seed : int
        Draws and seed of the least-favourable simulation.
    rays : dict, optional
        Cache of ``cone_rays`` keyed by the nuisance matrix's bytes, shared between calls
        whose moments load on the nuisance parameters in the same way.
    max_bases : int
        Limit passed to ``cone_rays``.

    Returns
    -------
    ndarray of bool
        True where ``theta`` is not rejected.
    """
    if kappa is None:
        kappa = alpha / 10
    l_vec = np.asarray(l_vec, float)
    Ap = A[:, post]
    u = l_vec / float(l_vec @ l_vec)  # tau_post = theta u + N xi
    N = linalg.null_space(l_vec[None, :])
    a1, X = Ap @ u, Ap @ N
    y = A @ betahat - d
    S = A @ sigma @ A.T
    if rows is not None:
        y, a1, X, S = y[rows], a1[rows], X[rows], S[np.ix_(rows, rows)]
    sd = np.sqrt(np.maximum(np.diag(S), 0.0))
    key = X.tobytes() + bytes(str(X.shape), "ascii")
    cache = {} if rays is None else rays
    if key not in cache:
        cache[key] = cone_rays(X, max_bases=max_bases)
    V = dual_vertices(X, sd, rays=cache[key])
    cv = lf_critical_value(V, S, kappa, sims=sims, seed=seed)
    Y = y[None, :] - np.asarray(theta, float)[:, None] * a1[None, :]
    return hybrid_test(Y, V, S, alpha, kappa, cv)
