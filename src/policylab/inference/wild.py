"""Wild cluster bootstrap (Cameron, Gelbach and Miller 2008; Stata ``boottest``).

Works on the model's within-transformed design, so absorbed fixed effects are never
expanded into dummies. For the tested coefficient k with a = row k of (X'X)^{-1} X',
a bootstrap sample built from the restricted fit (null imposed) has

    b*_k - theta = c' v,    cluster score sums s(v) = (E - A H W) v,

with c_g = sum_{i in g} a_i u_i (restricted residuals u), A_g = sum a_i x_i, W_h = X_h' u_h
and E_gh = sum_{i in g} a_i [u 1(h)]~_i, where ~ removes the fixed effects not nested in
the clusters (E = diag(c) when all are nested); each draw costs O(G^2) (Roodman,
MacKinnon, Nielsen and Webb 2019).
Everything is linear in the hypothesised value theta: with n0 = c0'V, n1 = c1'V and the
score sums S0 = M0 V, S1 = M1 V of one set of draws V, draw b's statistic is

    t*_b(theta) = (n0_b - theta n1_b) / sqrt(q00_b - 2 theta q01_b + theta^2 q11_b),

so the confidence interval is found by inverting the test on those few coefficients: a
p-value at a new theta costs O(draws), not a new bootstrap (as boottest does).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from policylab.engine import bootstrap_kernels as bk
from policylab.engine import fixed_effects as fx
from policylab.engine import vcov as vc
from policylab.engine.batched import cluster_matrix
from policylab.engine.threads import one_blas_thread
from policylab.errors import PolicyLabDeprecationWarning, SpecError
from policylab.estimators.feols import FeolsResult
from policylab.estimators.fit import Fit
from policylab.estimators.result import Result
from policylab.messages import Message
from policylab.validation import RenamedKeys

__all__ = ["wild_bootstrap", "WildBootstrapResult", "bootstrap_weights", "refuse_iv",
           "weights_type_arg"]

WEIGHTS_TYPES = ("rademacher", "webb", "mammen")
# meta keys renamed in this release (old -> new), readable under the old name for one
# release: "weights" is the observation weights everywhere else
RENAMED_META = {"weights": "weights_type"}


def weights_type_arg(weights_type: str | None, weights: str | None, default: str,
                     where: str) -> str:
    """The bootstrap weight distribution from ``weights_type=`` or its old name
    ``weights=`` (accepted for one release with a deprecation warning)."""
    if weights is not None:
        if weights_type is not None:
            raise SpecError(f"{where}: give weights_type= only (weights= is its old name)")
        warnings.warn(f"{where}(weights=...) is deprecated: the bootstrap weight "
                      f"distribution is now weights_type= (as in pyfixest), e.g. "
                      f"{where}(..., weights_type={weights!r}); weights= will be removed in "
                      "the next release", PolicyLabDeprecationWarning, stacklevel=3)
        weights_type = weights
    return default if weights_type is None else weights_type


def refuse_iv(result: object, what: str) -> None:
    """Resampling on a 2SLS fit would treat the fitted first-stage regressors as data."""
    fit = getattr(result, "fit", None)
    if fit is not None and fit.iv:
        raise SpecError(f"{what} is not available for instrumental-variable (2SLS) results: "
                        "it would resample the fitted first-stage regressors as if they were "
                        "data; use the analytic standard errors of the 2SLS fit")


@dataclass
class WildBootstrapResult(Result):
    """Bootstrap p-value and confidence interval for one coefficient."""

    estimate: float = np.nan
    tstat: float = np.nan
    p_value: float = np.nan
    conf_low: float = np.nan
    conf_high: float = np.nan
    tstats: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row: estimate, the analytic SE's t, bootstrap p-value and CI."""
        return pd.DataFrame([{
            "term": self.meta["param"], "estimate": self.estimate,
            "std_error": self.estimate / self.tstat if self.tstat else np.nan,
            "statistic": self.tstat, "p_value": self.p_value, "conf_low": self.conf_low,
            "conf_high": self.conf_high, "draws": self.meta["draws"],
            "weights_type": self.meta["weights_type"], "enumerated": self.meta["enumerated"],
            "clusters": self.meta["clusters"],
        }])


def bootstrap_weights(weights_type: str, G: int, draws: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, bool]:
    """(G x B) bootstrap weights of the distribution ``weights_type`` and whether they are
    the full enumeration.

    Rademacher (+-1) and Webb (six points) are enumerated when all their combinations
    are no more than ``draws``; Mammen draws are always sampled.
    """
    if weights_type == "rademacher":
        pts = np.array([-1.0, 1.0])
    elif weights_type == "webb":
        pts = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
    elif weights_type == "mammen":
        s5 = np.sqrt(5.0)
        v = rng.random((G, draws))
        p = (s5 + 1) / (2 * s5)
        return np.where(v < p, -(s5 - 1) / 2, (s5 + 1) / 2), False
    else:
        raise SpecError("weights_type must be 'rademacher', 'webb' or 'mammen', got "
                        f"{weights_type!r}")
    if len(pts) ** G <= draws:
        grid = np.array(list(itertools.product(pts, repeat=G))).T
        return grid, True
    return np.take(pts, rng.integers(0, len(pts), (G, draws))), False


def wild_bootstrap(
    result: FeolsResult,
    param: str | None = None,
    cluster: str | None = None,
    draws: int = 9999,
    weights_type: str | None = None,
    seed: int | None = None,
    *,
    impose_null: bool = True,
    null: float = 0.0,
    level: float = 0.95,
    ci: bool = True,
    weights: str | None = None,
) -> WildBootstrapResult:
    """Wild cluster bootstrap test of one coefficient, with a CI by test inversion.

    Parameters
    ----------
    result : DIDResult or FeolsResult
    param : str
        Coefficient to test (default: the DID treatment term).
    cluster : str, optional
        Bootstrap cluster column (default: the model's one-way cluster). Coarser than the
        model's clusters is allowed, e.g. provinces for a city-clustered model.
    draws : int
        Bootstrap replications (all sign vectors are enumerated when they are fewer).
    weights_type : {"rademacher", "webb", "mammen"}
        The bootstrap weight distribution (default Rademacher; pyfixest's name). Webb's
        six-point weights are recommended with fewer than about 12 clusters.
    impose_null : bool
        WCR (restricted, default and recommended) or WCU.
    null : float
        Hypothesised value of the coefficient.
    level : float
        Confidence level of the test-inversion interval.
    weights : str, optional
        Deprecated name of ``weights_type`` (accepted for one release).
    """
    from policylab.validation import check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    weights = weights_type_arg(weights_type, weights, "rademacher", "wild_bootstrap")
    if not 0 < level < 1:
        raise SpecError(f"level={level!r}: the confidence level must be between 0 and 1, "
                        "e.g. level=0.95")
    refuse_iv(result, "wild_bootstrap")
    param = param or result.meta.get("treat_term")
    if param not in result.terms:
        raise SpecError(f"param={param!r} is not a term of the model ({result.terms})")
    fit = result.fit
    if fit is None:
        raise SpecError("wild_bootstrap needs a result of feols() (or of an estimator built "
                        "on it) that keeps its fit")
    cl, cname = _bootstrap_clusters(result, cluster)
    G = int(cl.max()) + 1
    if G < 2:
        from policylab.errors import EstimationError

        raise EstimationError(Message("wild.single_cluster", cluster=cname))
    from policylab.validation import check_memory

    # the weights, their products and the bootstrap t's: a few G x draws float arrays
    check_memory(4.0 * G * draws * 8, f"{draws:,} draws x {G} clusters",
                 "use fewer draws")
    rng = np.random.default_rng(seed)
    V, enumerated = bootstrap_weights(weights, G, draws, rng)
    k = fit.terms.index(param)
    with one_blas_thread():
        boot = _WildDraws(fit, k, cl, V, impose_null)
    t_star = boot.t(null)[1]
    p = boot.p_value(null)
    # the analytic t: the model's CRV1 by the bootstrap clusters (the engine's variance)
    var = vc.variance("CRV1", vc.variance_pieces("CRV1", fit, (cl,)),
                      result.meta.get("ssc", vc.SSC()), names=[cname])
    se = float(np.sqrt(var.V[k, k]))
    lo = hi = np.nan
    if ci:
        lo, hi = _invert(boot, 1 - level, se)
    res = WildBootstrapResult(
        nobs=result.nobs, estimate=boot.b_hat, tstat=float((boot.b_hat - null) / se),
        p_value=p,
        conf_low=float(lo), conf_high=float(hi), tstats=t_star,
        meta=RenamedKeys(
            {"param": param, "cluster": cname, "clusters": G, "draws": V.shape[1],
             "weights_type": weights, "enumerated": enumerated, "impose_null": impose_null,
             "null": null, "seed": None if enumerated else seed, "level": level,
             "depvar": result.meta.get("depvar")},
            renamed=RENAMED_META, where="WildBootstrapResult.meta"),
    )
    if G < 6 and weights == "rademacher":
        res.warn(Message("wild.few_clusters_rademacher", n=G, distinct=2 ** G))
    return res


def _bootstrap_clusters(result: FeolsResult, cluster: str | None) -> tuple[np.ndarray, str]:
    fit = result.fit
    if cluster is None:
        if len(fit.cluster_codes) != 1:
            raise SpecError("wild_bootstrap needs one clustering variable: pass cluster=")
        return fit.cluster_codes[0], result.meta["cluster"][0]
    df = fit.sample()
    if cluster not in df.columns:
        raise SpecError(f"cluster={cluster!r} is not a column of the model's data")
    codes = pd.factorize(df[cluster])[0]
    if (codes < 0).any():
        raise SpecError(f"cluster={cluster!r} is missing in {int((codes < 0).sum())} rows of "
                        "the estimation sample; fill it or cluster by another column")
    return codes, cluster


class _WildDraws:
    """One set of bootstrap draws, reduced to the coefficients of each draw's t statistic
    as a function of the hypothesised value (see the module docstring)."""

    def __init__(self, fit: Fit, k: int, cl: np.ndarray, V: np.ndarray,
                 impose_null: bool) -> None:
        X, y, w = fit.X, fit.y, fit.weights
        sw = None if w is None else np.sqrt(w)
        if sw is not None:
            X, y = X * sw[:, None], y * sw
        self.G = G = int(cl.max()) + 1
        XtX = X.T @ X
        H = np.linalg.inv(XtX)
        a = X @ H[:, k]  # b_k = a'y
        others = np.delete(np.arange(X.shape[1]), k)

        def resid(v: np.ndarray) -> np.ndarray:
            # restricted residuals are linear in theta: u(theta) = u0 - theta * r; the
            # restricted fit from the Gram matrix (no n x k copy or factorisation)
            if others.size == 0:
                return v
            coef = np.zeros(X.shape[1])
            coef[others] = np.linalg.solve(XtX[np.ix_(others, others)], (X.T @ v)[others])
            return v - X @ coef

        def csum(vec: np.ndarray) -> np.ndarray:
            return np.bincount(cl, weights=vec, minlength=G)

        u_full = y - X @ (H @ (X.T @ y))
        self.b_hat = float(a @ y)
        s_obs = csum(a * u_full)
        self.se_obs = float(np.sqrt(s_obs @ s_obs))  # FWL: full residuals are FE-free
        A = np.stack([csum(a * X[:, j]) for j in range(X.shape[1])], axis=1)  # G x K
        AH = A @ H
        fe = fit.fe_codes
        purge = fe is not None and not all(vc.nested_in(fe[:, j], cl)
                                           for j in range(fe.shape[1]))
        # the purge's system of clusters and fixed effects, once for both residuals
        system = bk.purge_system(cl, self.G, fe, w) if purge else None

        def pieces(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            c = csum(a * u)
            W = np.stack([csum(X[:, j] * u) for j in range(X.shape[1])], axis=0)  # K x G
            E = np.diag(c)
            if purge:
                # a bootstrap residual u * v must also be purged of the fixed effects
                # not nested in the bootstrap clusters: from cluster x level sums when
                # the engine can, else demean u * 1[cluster h] per h
                E = purged_cross(a[:, None], u, cl, fe, w, system)[:, 0, :]
            return c, E - AH @ W

        self.impose_null = impose_null
        if impose_null:
            (c0, M0), (c1, M1) = pieces(resid(y)), pieces(resid(X[:, k]))
            self.n0, self.n1 = c0 @ V, c1 @ V
            self.q00, self.q01, self.q11 = _score_norms(np.concatenate([c0, c1]),
                                                        np.vstack([M0, M1]), V)
        else:
            # WCU resamples the unrestricted residuals: its bootstrap t is centred on
            # the estimate (c'v has mean zero) and does not depend on theta
            cu, Mu = pieces(u_full)
            self.t_wcu = (cu @ V) / np.sqrt(_score_norms(cu, Mu, V)[0])

    def t(self, theta: float) -> tuple[float, np.ndarray]:
        """The sample's (unscaled) t statistic and every draw's, at ``theta``."""
        t_obs = (self.b_hat - theta) / self.se_obs
        if not self.impose_null:
            return t_obs, self.t_wcu
        den = self.q00 - 2 * theta * self.q01 + theta * theta * self.q11
        return t_obs, (self.n0 - theta * self.n1) / np.sqrt(np.maximum(den, 0.0))

    def p_value(self, theta: float) -> float:
        """Share of draws at least as extreme as the sample at ``theta``."""
        t_obs, t_star = self.t(theta)
        # sign vectors that reproduce the sample (v = +-1) tie with it exactly in theory;
        # count them as extreme whatever the rounding
        return float(np.mean(np.abs(t_star) >= abs(t_obs) * (1 - 1e-9)))


def purged_cross(A: np.ndarray, u: np.ndarray, cl: np.ndarray, fe: np.ndarray,
                 w: np.ndarray | None, system: bk.PurgeSystem | None = None) -> np.ndarray:
    """(G x q x G) sums over cluster g of A_i [M(u 1_h)]_i, M the (weighted) purge of
    the fixed effects on the sqrt(w) scale of ``A`` and ``u``: by the engine's cluster-sum
    algebra where it applies, else by demeaning the n x G columns u 1_h directly.
    ``system``: the engine's :func:`~policylab.engine.bootstrap_kernels.purge_system`
    of the clusters and fixed effects, when the caller purges several ``u``."""
    G = int(cl.max()) + 1
    out = bk.purged_cluster_cross(A, u, cl, G, fe, w, system)
    if out is None:
        out = purged_cross_direct(A, u, cl, fe, w)
    return out


def purged_cross_direct(A: np.ndarray, u: np.ndarray, cl: np.ndarray, fe: np.ndarray,
                        w: np.ndarray | None) -> np.ndarray:
    """:func:`purged_cross` by demeaning the columns u 1_h, a block of clusters at a time
    (128 MB of them), never the whole n x G matrix."""
    G = int(cl.max()) + 1
    n, q = A.shape
    sw = None if w is None else np.sqrt(w)
    to_cl = cluster_matrix(cl)
    out = np.empty((G, q, G))
    size = int(max(1, min(G, _PURGE_BYTES // (8 * max(n, 1)))))
    for h0 in range(0, G, size):
        hs = range(h0, min(G, h0 + size))
        Uh = np.zeros((n, len(hs)))
        rows = np.flatnonzero((cl >= hs.start) & (cl < hs.stop))
        Uh[rows, cl[rows] - hs.start] = u[rows]
        Ud = fx.demean(Uh, fe) if sw is None else \
            sw[:, None] * fx.demean(Uh / sw[:, None], fe, w)
        for j in range(q):
            out[:, j, hs.start:hs.stop] = np.asarray(to_cl @ (A[:, [j]] * Ud))
    return out


#: bytes of purged columns M(u 1_h) held at a time (n x a block of clusters)
_PURGE_BYTES = 128 * 2**20


def _score_norms(c: np.ndarray, M: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-draw products of the bootstrap score sums S_j = M_j V of one or two stacked
    G x G score maps M_j = diag(c_j) + (low-rank part): (|S_0|^2,) or (|S_0|^2,
    S_0.S_1, |S_1|^2), computed in blocks of draws (no 2G x draws temporary).

    Apart from the diagonal, M = diag(c) - A H W + (fixed-effect purge) is a product of
    G x (regressors + levels of the fixed effects not nested in the clusters) factors.
    With many clusters that part is factored as Q B (Q orthonormal, found from a few
    random products and kept only when Q B reproduces it to 1e-12), which turns the
    G^2 x draws product into (G x rank) x draws: 500 counties with year effects have
    rank 8, not 500.
    """
    R, G = M.shape
    factors = None
    if G >= 64:
        L = M.copy()
        for j in range(0, R, G):  # each stacked map without its diagonal
            L[j:j + G] -= np.diag(c[j:j + G])
        factors = _low_rank(L, G // 4)
    B = V.shape[1]
    out = np.empty((3 if R > G else 1, B))
    step = max(1, 4_000_000 // (R + 1))
    for lo in range(0, B, step):
        Vb = V[:, lo:lo + step]
        if factors is None:
            S = M @ Vb
        else:
            S = factors[0] @ (factors[1] @ Vb)
            for j in range(0, R, G):
                S[j:j + G] += c[j:j + G, None] * Vb
        S0 = S[:G]
        out[0, lo:lo + step] = np.einsum("gb,gb->b", S0, S0)
        if R > G:
            S1 = S[G:]
            out[1, lo:lo + step] = np.einsum("gb,gb->b", S0, S1)
            out[2, lo:lo + step] = np.einsum("gb,gb->b", S1, S1)
    return tuple(out)


def _low_rank(L: np.ndarray, max_rank: int) -> tuple[np.ndarray, np.ndarray] | None:
    """L = Q B with Q orthonormal and at most ``max_rank`` columns, or None."""
    norm = float(np.linalg.norm(L))
    if norm == 0.0:
        return np.zeros((L.shape[0], 0)), np.zeros((0, L.shape[1]))
    # fixed test vectors: they only find the range; the check below makes it exact
    rng = np.random.default_rng(0)
    p = 16
    while p <= max_rank:
        Q = np.linalg.qr(L @ rng.standard_normal((L.shape[1], p)))[0]
        B = Q.T @ L
        if np.linalg.norm(L - Q @ B) <= 1e-12 * norm:
            return Q, B
        p *= 2
    return None


def _invert(boot: _WildDraws, alpha: float, se_a: float) -> tuple[float, float]:
    """End points of {theta : p(theta) >= alpha} by bracketing and root search."""
    b_hat = boot.b_hat
    f = lambda th: boot.p_value(th) - alpha  # noqa: E731
    try:
        step = 2 * se_a
        hi_b = b_hat + step
        while f(hi_b) > 0 and hi_b - b_hat < 200 * se_a:
            hi_b += step
        lo_b = b_hat - step
        while f(lo_b) > 0 and b_hat - lo_b < 200 * se_a:
            lo_b -= step
        hi = optimize.brentq(f, b_hat, hi_b, xtol=1e-10 * max(se_a, 1e-12))
        lo = optimize.brentq(f, lo_b, b_hat, xtol=1e-10 * max(se_a, 1e-12))
    except ValueError:
        return np.nan, np.nan
    return lo, hi
