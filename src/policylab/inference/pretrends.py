"""Credibility of parallel trends: power of the pre-test (Roth 2022) and sensitivity
of the post-period effects to bounded violations (Rambachan and Roth 2023 restrictions).

``pretrend_power``: the linear pre-trend slope that the conventional pre-test (no lead
individually significant) would detect with 50% and 80% power, given the event study's
covariance, and the bias such a trend implies for the post-period estimates.

``honest_did``: confidence intervals for a post-period effect that stay valid when the
parallel-trend violation delta is only known to satisfy

* smoothness, Delta^SD(M): the slope of delta changes by at most M per period;
* relative magnitudes, Delta^RM(Mbar): post-period changes of delta are at most Mbar
  times the largest pre-period change.

Smoothness intervals are Rambachan and Roth's optimal fixed-length confidence intervals
(FLCI): the affine estimator of the effect with the shortest worst-case-bias-adjusted
interval (Armstrong and Kolesar 2018), found by convex optimisation; they equal the
HonestDiD package's (checked on its README example). Relative-magnitude intervals are a
valid but conservative Bonferroni construction (an upper confidence bound on the
largest pre-period change combined with the identified set's width), not HonestDiD's
conditional/hybrid ARP test ("C-LF"); they are wider than HonestDiD's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import ndtr

from policylab.errors import EstimationError, SpecError
from policylab.estimators.result import Result

__all__ = ["pretrend_power", "honest_did", "PretrendPowerResult", "HonestDidResult",
           "event_study_inputs"]


def event_study_inputs(result: Any = None, *, betahat: Any = None, sigma: Any = None,
                       rel_times: Any = None, ref: int = -1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(beta, Sigma, event times, ref) from an event-study Result or explicit arrays."""
    if result is not None:
        beta = np.asarray(result.beta, float)
        Sigma = np.asarray(result.vcov_matrix, float)
        e = np.asarray(result.meta["rel_times"], int)
        ref = int(result.meta.get("ref", -1))
    else:
        if betahat is None or sigma is None or rel_times is None:
            raise SpecError("give an event-study result, or betahat=, sigma= and rel_times=")
        beta, Sigma, e = (np.asarray(betahat, float), np.asarray(sigma, float),
                          np.asarray(rel_times, int))
    if Sigma.shape != (len(beta), len(beta)) or len(e) != len(beta):
        raise SpecError("betahat, sigma and rel_times do not have matching sizes")
    order = np.argsort(e)
    return beta[order], Sigma[np.ix_(order, order)], e[order], ref


@dataclass
class PretrendPowerResult(Result):
    """Slopes detectable with the requested powers and the biases they imply."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """power, slope, and the implied bias at each post period."""
        return self.table.copy()


def _pass_prob(mean: np.ndarray, cov: np.ndarray, crit: float, draws: int = 400_000,
               seed: int = 0) -> float:
    # P(|Z_j| <= crit for all j), Z ~ N(mean, cov) in t-statistic units; a fixed-seed
    # Monte Carlo keeps the answer reproducible (error about 1e-3)
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(cov)
    z = mean + rng.standard_normal((draws, len(mean))) @ L.T
    return float(np.mean(np.all(np.abs(z) <= crit, axis=1)))


def pretrend_power(result: Any = None, *, powers: tuple[float, ...] = (0.5, 0.8),
                   alpha: float = 0.05, **arrays: Any) -> PretrendPowerResult:
    """Roth (2022): the linear pre-trend (slope per period, zero at the reference period)
    that the pre-test rejects with the given probabilities.

    The pre-test rejects when any lead is individually significant at ``alpha`` (the
    usual eyeball test). Accepts an ``event_study`` result or ``betahat=``, ``sigma=``,
    ``rel_times=``.
    """
    beta, Sigma, e, ref = event_study_inputs(result, **arrays)
    pre = e < 0
    if not pre.any():
        raise EstimationError("no pre-period coefficients: the pre-test has no power")
    sd = np.sqrt(np.diag(Sigma))
    corr = Sigma[np.ix_(pre, pre)] / np.outer(sd[pre], sd[pre])
    crit = stats.norm.ppf(1 - alpha / 2)
    dist = (e - ref).astype(float)

    def power(slope: float) -> float:
        return 1 - _pass_prob(slope * dist[pre] / sd[pre], corr, crit)

    rows = []
    for p in powers:
        hi = 1.0 / max(np.abs(dist[pre] / sd[pre]).max(), 1e-12)
        while power(hi) < p:
            hi *= 2
        slope = optimize.brentq(lambda s, p=p: power(s) - p, 0.0, hi, xtol=1e-10 * hi)
        row = {"power": p, "slope": slope}
        for ee, d in zip(e[~pre], dist[~pre]):
            row[f"bias_post_{ee}"] = slope * d
        rows.append(row)
    return PretrendPowerResult(nobs=getattr(result, "nobs", 0), table=pd.DataFrame(rows),
                               meta={"alpha": alpha, "ref": ref, "rel_times": e.tolist(),
                                     "test": "any lead significant"})


@dataclass
class HonestDidResult(Result):
    """Robust CIs over a grid of M (smoothness) and Mbar (relative magnitudes)."""

    grid: pd.DataFrame = field(default_factory=pd.DataFrame)
    original: tuple[float, float, float] = (np.nan, np.nan, np.nan)
    breakdown: dict[str, float] = field(default_factory=dict)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """restriction, M, conf_low, conf_high, and whether 0 is excluded."""
        return self.grid.copy()

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """The sensitivity plot: robust CIs against M, next to the original CI."""
        from policylab.report.figures.honest_did import honest_did_figure

        return honest_did_figure(self.grid, self.original, lang=lang, **kw)


def _folded_cv(bias_over_sd: float, alpha: float) -> float:
    """1 - alpha quantile of |N(b, 1)|, the FLCI critical value (Armstrong-Kolesar)."""
    b = abs(bias_over_sd)
    if b > 40:  # the far tail of the folded normal is just the shifted normal
        return b + float(stats.norm.ppf(1 - alpha))
    f = lambda c: ndtr(c - b) - ndtr(-c - b) - (1 - alpha)  # noqa: E731
    return float(optimize.brentq(f, 0.0, b + 10.0, xtol=1e-14))


def _second_difference_basis(k: np.ndarray, ref_pos: int) -> np.ndarray:
    """B with delta = B @ d2 + (a linear trend) on the consecutive positions ``k``, where
    d2 are the second differences at the interior positions and delta_ref = 0."""
    m = len(k)
    A = np.zeros((m, m))
    A[0, ref_pos] = 1.0  # delta_ref = 0
    nxt = ref_pos + 1 if ref_pos + 1 < m else ref_pos - 1
    A[1, nxt], A[1, ref_pos] = 1.0, -1.0  # the slope next to ref: free, normalised to 0
    for r, j in enumerate(range(1, m - 1)):
        A[2 + r, j - 1], A[2 + r, j], A[2 + r, j + 1] = 1.0, -2.0, 1.0
    rhs = np.zeros((m, m - 2))
    rhs[2:, :] = np.eye(m - 2)
    return np.linalg.solve(A, rhs)


def _flci_sd(beta: np.ndarray, Sigma: np.ndarray, k: np.ndarray, l_post: np.ndarray,
             pre: np.ndarray, M: float, alpha: float) -> tuple[float, float, float]:
    """Optimal fixed-length CI for l'tau under Delta^SD(M) (Rambachan-Roth section 4.1).

    Affine estimators v'betahat with the post weights fixed at l; the worst-case bias
    over Delta^SD(M) is finite only if v is orthogonal to linear trends (v'k = 0) and is
    then M * ||B'v||_1; the half-length cv_alpha(bias / sd) * sd is jointly convex in v
    (Armstrong and Kolesar 2018), minimised here with the L1 norm split into slacks.
    Returns (estimate, conf_low, conf_high).
    """
    P = int(pre.sum())
    kk = k[k != 0]  # positions of the estimated coefficients (ref dropped)
    ref_pos = int(np.flatnonzero(k == 0)[0])
    Bfull = _second_difference_basis(k, ref_pos)
    Bc = np.delete(Bfull, ref_pos, axis=0)  # rows for the estimated coefficients
    npost = len(l_post)
    kpre, kpost = kk[pre], kk[~pre]
    target = -float(l_post @ kpost)

    def full_v(x: np.ndarray) -> np.ndarray:
        v = np.empty(len(kk))
        v[pre], v[~pre] = x, l_post
        return v

    def half_length(z: np.ndarray) -> float:
        x, tt = z[:P], z[P:]
        v = full_v(x)
        sd = float(np.sqrt(max(v @ Sigma @ v, 1e-300)))
        return _folded_cv(M * tt.sum() / sd, alpha) * sd

    def grad(z: np.ndarray) -> np.ndarray:
        # f = sd * cv(b / sd): df/db = cv'(r), df/dsd = cv(r) - r cv'(r), with cv'
        # from the implicit function theorem on P(|N(r, 1)| <= cv) = 1 - alpha
        v = full_v(z[:P])
        Sv = Sigma @ v
        sd = float(np.sqrt(max(v @ Sv, 1e-300)))
        r = M * z[P:].sum() / sd
        c = _folded_cv(r, alpha)
        pa, pb = np.exp(-0.5 * (c - r) ** 2), np.exp(-0.5 * (c + r) ** 2)
        dc = (pa - pb) / (pa + pb)
        return np.r_[(c - r * dc) * Sv[pre] / sd, np.full(len(z) - P, M * dc)]

    nd = Bc.shape[1]
    # starting point: the minimum-norm pre weights that remove linear trends
    x0 = kpre * target / float(kpre @ kpre)
    t0 = np.abs(Bc.T @ full_v(x0))
    cons = [{"type": "eq", "fun": lambda z: np.array([z[:P] @ kpre - target]),
             "jac": lambda z: np.r_[kpre, np.zeros(nd)][None, :]},
            {"type": "ineq", "fun": lambda z: z[P:] - Bc.T @ full_v(z[:P]),
             "jac": lambda z: np.hstack([-Bc[pre].T, np.eye(nd)])},
            {"type": "ineq", "fun": lambda z: z[P:] + Bc.T @ full_v(z[:P]),
             "jac": lambda z: np.hstack([Bc[pre].T, np.eye(nd)])}]
    best = None
    for start in (np.r_[x0, t0],):
        sol = optimize.minimize(half_length, start, jac=grad, method="SLSQP", constraints=cons,
                                options={"ftol": 1e-15, "maxiter": 2000})
        if best is None or sol.fun < best.fun:
            best = sol
    z = best.x
    v = full_v(z[:P])
    est = float(v @ beta)
    chi = half_length(np.r_[z[:P], np.abs(Bc.T @ v)])
    del npost
    return est, est - chi, est + chi


def honest_did(result: Any = None, *, e: int = 0, M: Any = None, Mbar: Any = None,
               alpha: float = 0.05, **arrays: Any) -> HonestDidResult:
    """Sensitivity of the effect at post period ``e`` to parallel-trend violations.

    Parameters
    ----------
    result : event-study Result, or ``betahat=``, ``sigma=``, ``rel_times=`` arrays
    e : int
        Post period of interest (0 = first treated period).
    M : array, optional
        Smoothness bounds (default: 0 to 2 x the SE of the effect, 9 values).
    Mbar : array, optional
        Relative-magnitude bounds (default 0, 0.25, ..., 2).
    alpha : float
        1 - confidence level.
    """
    beta, Sigma, et, ref = event_study_inputs(result, **arrays)
    if e not in set(et):
        raise SpecError(f"e={e} is not an estimated event time ({et.tolist()})")
    pre_all = np.r_[et[et < 0], ref]
    if len(np.unique(pre_all)) < 3:
        raise EstimationError("honest_did needs at least two leads besides the reference "
                              "period")
    # coefficients with the reference period (delta = 0) inserted
    full_e = np.sort(np.r_[et, ref])
    pos = {int(v): i for i, v in enumerate(full_e)}
    k = len(full_e)
    A = np.zeros((k, len(beta)))
    for j, v in enumerate(et):
        A[pos[int(v)], j] = 1.0
    bfull, Sfull = A @ beta, A @ Sigma @ A.T
    se_e = float(np.sqrt(Sfull[pos[e], pos[e]]))
    z = stats.norm.ppf(1 - alpha / 2)
    orig = (float(bfull[pos[e]]), float(bfull[pos[e]] - z * se_e),
            float(bfull[pos[e]] + z * se_e))
    rows = []
    # --- smoothness: the optimal fixed-length CI over affine estimators
    if not np.all(np.diff(full_e) == 1):
        raise EstimationError("honest_did needs consecutive event times (no gaps or bins)")
    kpos = full_e - ref
    pre = et < 0
    l_post = np.zeros(int((~pre).sum()))
    l_post[list(et[~pre]).index(e)] = 1.0
    Ms = np.linspace(0, 2 * se_e, 9) if M is None else np.asarray(M, float)

    def sd_ci(m: float) -> tuple[float, float, float]:
        return _flci_sd(beta, Sigma, kpos, l_post, pre, float(m), alpha)

    for m in Ms:
        est, lo, hi = sd_ci(m)
        rows.append({"restriction": "smoothness", "M": float(m), "estimate": est,
                     "conf_low": lo, "conf_high": hi, "excludes_zero": lo > 0 or hi < 0,
                     "method": "FLCI"})
    t0 = int(max(pre_all))
    # --- relative magnitudes: Bonferroni over the largest pre-period change
    kappa = alpha / 5
    diffs = []
    for v in range(int(min(pre_all)) + 1, t0 + 1):
        if v in pos and v - 1 in pos:
            d = np.zeros(k)
            d[pos[v]], d[pos[v - 1]] = 1.0, -1.0
            diffs.append(d)
    Dm = np.array(diffs)
    dhat = Dm @ bfull
    dsd = np.sqrt(np.einsum("ij,jk,ik->i", Dm, Sfull, Dm))
    zk = stats.norm.ppf(1 - kappa / (2 * len(dhat)))
    max_change = float(np.max(np.abs(dhat) + zk * dsd))
    za = stats.norm.ppf(1 - (alpha - kappa) / 2)
    Mbars = np.arange(0, 2.01, 0.25) if Mbar is None else np.asarray(Mbar, float)
    for mb in Mbars:
        width = mb * (e - t0) * max_change
        lo = orig[0] - width - za * se_e
        hi = orig[0] + width + za * se_e
        rows.append({"restriction": "relative magnitudes", "M": float(mb), "estimate": orig[0],
                     "conf_low": lo, "conf_high": hi, "excludes_zero": lo > 0 or hi < 0,
                     "method": "Bonferroni"})
    grid = pd.DataFrame(rows)
    breakdown = {}
    # smoothness: the CI widens continuously with M, so the breakdown value (the
    # largest M at which the CI still excludes zero) is a root
    _, lo0, hi0 = sd_ci(0.0)
    if lo0 > 0 or hi0 < 0:
        def margin(m: float) -> float:
            _, lo, hi = sd_ci(m)
            return max(lo, -hi)

        top = max(se_e, 1e-12)
        while margin(top) > 0:
            top *= 2
        breakdown["smoothness"] = float(optimize.brentq(margin, 0.0, top, xtol=1e-6 * top))
    else:
        breakdown["smoothness"] = 0.0
    for r_name in ("relative magnitudes",):
        g = grid[grid.restriction == r_name]
        ok = g[g.excludes_zero]["M"]
        breakdown[r_name] = float(ok.max()) if len(ok) and g.iloc[0]["excludes_zero"] else 0.0
    res = HonestDidResult(nobs=getattr(result, "nobs", 0), grid=grid, original=orig,
                          breakdown=breakdown,
                          meta={"e": e, "alpha": alpha, "ref": ref,
                                "method": "optimal FLCI (SD), Bonferroni (RM)"})
    return res
