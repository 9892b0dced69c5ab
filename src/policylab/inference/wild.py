"""Wild cluster bootstrap (Cameron, Gelbach and Miller 2008; Stata ``boottest``).

Works on the model's within-transformed design, so absorbed fixed effects are never
expanded into dummies. For the tested coefficient k with a = row k of (X'X)^{-1} X',
a bootstrap sample built from the restricted fit (null imposed) has

    b*_k - theta = c' v,    cluster score sums s(v) = (E - A H W) v,

with c_g = sum_{i in g} a_i u_i (restricted residuals u), A_g = sum a_i x_i, W_h = X_h' u_h
and E_gh = sum_{i in g} a_i [u 1(h)]~_i, where ~ removes the fixed effects not nested in
the clusters (E = diag(c) when all are nested); each draw costs O(G^2) (Roodman,
MacKinnon, Nielsen and Webb 2019).
Everything is linear in the hypothesised value theta, so the confidence interval is found
by inverting the test on the same draws.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from policylab.engine import fixed_effects as fx
from policylab.engine import vcov as vc
from policylab.errors import SpecError
from policylab.estimators.feols import FeolsResult
from policylab.estimators.result import Result

__all__ = ["wild_bootstrap", "WildBootstrapResult", "bootstrap_weights"]


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
            "weights": self.meta["weights"], "enumerated": self.meta["enumerated"],
            "clusters": self.meta["clusters"],
        }])


def bootstrap_weights(kind: str, G: int, draws: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, bool]:
    """(G x B) weights and whether they are the full enumeration.

    Rademacher (+-1) and Webb (six points) are enumerated when all their combinations
    are no more than ``draws``; Mammen draws are always sampled.
    """
    if kind == "rademacher":
        pts = np.array([-1.0, 1.0])
    elif kind == "webb":
        pts = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
    elif kind == "mammen":
        s5 = np.sqrt(5.0)
        v = rng.random((G, draws))
        p = (s5 + 1) / (2 * s5)
        return np.where(v < p, -(s5 - 1) / 2, (s5 + 1) / 2), False
    else:
        raise SpecError(f"weights must be 'rademacher', 'webb' or 'mammen', got {kind!r}")
    if len(pts) ** G <= draws:
        grid = np.array(list(itertools.product(pts, repeat=G))).T
        return grid, True
    return pts[rng.integers(0, len(pts), (G, draws))], False


def wild_bootstrap(
    result: FeolsResult,
    param: str | None = None,
    cluster: str | None = None,
    draws: int = 9999,
    weights: str = "rademacher",
    seed: int | None = None,
    *,
    impose_null: bool = True,
    null: float = 0.0,
    level: float = 0.95,
    ci: bool = True,
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
    weights : {"rademacher", "webb", "mammen"}
        Webb's six-point weights are recommended with fewer than about 12 clusters.
    impose_null : bool
        WCR (restricted, default and recommended) or WCU.
    null : float
        Hypothesised value of the coefficient.
    level : float
        Confidence level of the test-inversion interval.
    """
    from policylab.validation import check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    if not 0 < level < 1:
        raise SpecError(f"level={level!r}: the confidence level must be between 0 and 1, "
                        "e.g. level=0.95")
    param = param or result.meta.get("treat_term")
    if param not in result.terms:
        raise SpecError(f"param={param!r} is not a term of the model ({result.terms})")
    m = result.model
    X, y, w = m["X"], m["y"], m["weights"]
    if w is not None:
        sw = np.sqrt(w)
        X, y = X * sw[:, None], y * sw
    if cluster is None:
        if len(m["cluster_codes"]) != 1:
            raise SpecError("wild_bootstrap needs one clustering variable: pass cluster=")
        cl = m["cluster_codes"][0]
        cname = result.meta["cluster"][0]
    else:
        df = m["data"].loc[m["rows"]]
        if cluster not in df.columns:
            raise SpecError(f"cluster={cluster!r} is not a column of the model's data")
        cl = pd.factorize(df[cluster])[0]
        cname = cluster
    G = int(cl.max()) + 1
    if G < 2:
        from policylab.errors import EstimationError

        raise EstimationError(f"bootstrap cluster {cname!r} has a single value: the wild "
                              "cluster bootstrap needs at least two clusters")
    from policylab.validation import check_memory

    # the weights, their products and the bootstrap t's: a few G x draws float arrays
    check_memory(4.0 * G * draws * 8, f"{draws:,} draws x {G} clusters",
                 "use fewer draws")
    k = result.terms.index(param)
    H = np.linalg.inv(X.T @ X)
    a = X @ H[:, k]  # b_k = a'y
    others = np.delete(np.arange(X.shape[1]), k)
    Xo = X[:, others]
    # restricted residuals are linear in theta: u(theta) = u0 - theta * r
    def resid(v: np.ndarray) -> np.ndarray:
        if Xo.shape[1] == 0:
            return v
        return v - Xo @ np.linalg.lstsq(Xo, v, rcond=None)[0]

    u0 = resid(y)
    r = resid(X[:, k])
    u_full = y - X @ (H @ (X.T @ y))
    rng = np.random.default_rng(seed)
    V, enumerated = bootstrap_weights(weights, G, draws, rng)

    def csum(vec: np.ndarray) -> np.ndarray:
        return np.bincount(cl, weights=vec, minlength=G)

    A = np.stack([csum(a * X[:, j]) for j in range(X.shape[1])], axis=1)  # G x K
    AH = A @ H

    fe = m["fe_codes"]
    sw = None if w is None else np.sqrt(w)

    def pieces(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = csum(a * u)
        W = np.stack([csum(X[:, j] * u) for j in range(X.shape[1])], axis=0)  # K x G
        E = np.diag(c)
        if fe is not None and not all(vc.nested_in(fe[:, j], cl) for j in range(fe.shape[1])):
            # a bootstrap residual u * v must also be purged of the fixed effects that
            # are not nested in the bootstrap clusters: demean u * 1[cluster h] once per h
            Uh = np.zeros((len(u), G))
            Uh[np.arange(len(u)), cl] = u
            if sw is None:
                Ud = fx.demean(Uh, fe)
            else:
                Ud = sw[:, None] * fx.demean(Uh / sw[:, None], fe, w)
            E = np.stack([csum(a * Ud[:, h]) for h in range(G)], axis=1)
        return c, E - AH @ W

    c0, M0 = pieces(u0)
    c1, M1 = pieces(r)
    cu, Mu = pieces(u_full)
    b_hat = float(a @ y)
    s_obs = csum(a * u_full)
    se_obs = np.sqrt(s_obs @ s_obs)  # FWL: the full residuals are already FE-free

    def boot_t(theta: float) -> tuple[float, np.ndarray]:
        # WCR imposes b_k = theta in the bootstrap DGP; WCU resamples the unrestricted
        # residuals, so its bootstrap t is centred on the estimate (c'v has mean zero)
        c, M = (c0 - theta * c1, M0 - theta * M1) if impose_null else (cu, Mu)
        num = c @ V
        S = M @ V
        t_star = num / np.sqrt(np.einsum("gb,gb->b", S, S))
        return (b_hat - theta) / se_obs, t_star

    def pval(theta: float) -> float:
        t_obs, t_star = boot_t(theta)
        # sign vectors that reproduce the sample (v = +-1) tie with it exactly in theory;
        # count them as extreme whatever the rounding
        return float(np.mean(np.abs(t_star) >= abs(t_obs) * (1 - 1e-9)))

    t_obs, t_star = boot_t(null)
    p = pval(null)
    lo = hi = np.nan
    if ci:
        alpha = 1 - level
        fac = vc.small_sample_factor("CRV", result.nobs, m["df_k"], G,
                                     result.meta.get("ssc", vc.SSC()))
        se_a = float(np.sqrt(fac) * se_obs)
        f = lambda th: pval(th) - alpha  # noqa: E731
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
            lo = hi = np.nan
    fac = vc.small_sample_factor("CRV", result.nobs, m["df_k"], G,
                                 result.meta.get("ssc", vc.SSC()))
    res = WildBootstrapResult(
        nobs=result.nobs, estimate=b_hat, tstat=float(t_obs / np.sqrt(fac)), p_value=p,
        conf_low=float(lo), conf_high=float(hi), tstats=t_star,
        meta={"param": param, "cluster": cname, "clusters": G, "draws": V.shape[1],
              "weights": weights, "enumerated": enumerated, "impose_null": impose_null,
              "null": null, "seed": None if enumerated else seed, "level": level,
              "depvar": result.meta.get("depvar")},
    )
    if G < 6 and weights == "rademacher":
        res.warn(f"only {G} clusters: Rademacher weights allow just {2 ** G} distinct draws; "
                 "use weights='webb'")
    return res
