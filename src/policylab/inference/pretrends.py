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
HonestDiD package's (checked on its README example). Relative-magnitude intervals are, as
HonestDiD's default (``method = "C-LF"``), the union over the location and sign of the
largest pre-period change of the conditional-least-favourable hybrid confidence sets of
Andrews, Roth and Pakes (``policylab.inference.arp``), inverted over a grid of 1000
values of the effect; ``rm_method="Bonferroni"`` keeps the older, faster and wider
Bonferroni interval.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from policylab.errors import EstimationError, SpecError
from policylab.estimators.result import Result
from policylab.inference.arp import TooManyBases, arp_accept
from policylab.messages import Message

__all__ = ["pretrend_power", "honest_did", "PretrendPowerResult", "HonestDidResult",
           "event_study_inputs", "cs_event_study_inputs"]


def event_study_inputs(result: Any = None, *, betahat: Any = None, sigma: Any = None,
                       rel_times: Any = None, ref: int = -1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(beta, Sigma, event times, ref) from an event-study Result, a Callaway-Sant'Anna
    dynamic aggregation (:func:`cs_event_study_inputs`) or explicit arrays."""
    if result is not None and "by_values" in (getattr(result, "meta", None) or {}):
        return cs_event_study_inputs(result)
    if result is not None:
        if "rel_times" not in getattr(result, "meta", {}):
            raise SpecError(f"give an event_study() result (leads and lags), not a "
                            f"{type(result).__name__}; or pass betahat=, sigma= and "
                            "rel_times=")
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


def cs_event_study_inputs(agg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(beta, Sigma, event times, -1) of a Callaway-Sant'Anna event study.

    ``agg`` is ``att_gt(...).aggregate("dynamic")``: its event-time estimates (the
    overall ATT in its first row dropped) and their covariance from the aggregation's
    influence functions, as HonestDiD's ``honest_did.AGGTEobj`` builds them from R
    did's ``aggte(type = "dynamic")`` (``V = IF'IF / n^2``; clustered like att_gt).
    Event time -1 is the reference: with ``base_period="universal"`` att_gt has no
    cell there; with the varying base period its estimate (a short difference) is
    dropped, as HonestDiD does, and HonestDiD's advice holds: use the universal base
    period, whose pre-period estimates are on the same footing as a TWFE event study's.
    """
    m = agg.meta
    if m.get("type") != "dynamic":
        raise SpecError(f"a Callaway-Sant'Anna {m.get('type')!r} aggregation is not an event "
                        "study; pass att_gt(...).aggregate('dynamic')")
    e = np.asarray(m["by_values"][1:], int)
    beta = np.asarray(agg.beta, float)[1:]
    Sigma = np.asarray(agg.vcov_matrix, float)[1:, 1:]
    keep = e != -1
    return beta[keep], Sigma[np.ix_(keep, keep)], e[keep], -1


def _cs_base_notes(result: Any) -> list[str]:
    """HonestDiD's warning for a CS event study with the varying base period."""
    meta = getattr(result, "meta", None) or {}
    if "by_values" in meta and meta.get("base_period") == "varying":
        return [Message("honest.varying_base")]
    return []


@dataclass
class PretrendPowerResult(Result):
    """Slopes detectable with the requested powers and the biases they imply."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """power, slope, and the implied bias at each post period."""
        return self.table.copy()


class _PassProbability:
    """P(|Z_j + s a_j| <= crit for all j), Z ~ N(0, corr), as a function of the slope s.

    One fixed-seed Monte Carlo sample (error about 1e-3; reproducible). For each draw
    the slopes that pass every lead form an interval [lo, hi], so the probability at any
    s is a count of intervals containing s: two binary searches per evaluation instead
    of a pass over the draws. The draws are made and turned into intervals a block at a
    time (the same normal stream, the same products row by row): whole-sample
    temporaries (a dozen arrays of 400,000 numbers, each freshly mapped memory) took
    several times as long as the arithmetic.
    """

    _BLOCK = 8192  # draws per block: the block's temporaries stay in cache

    def __init__(self, a: np.ndarray, corr: np.ndarray, crit: float,
                 draws: int = 400_000, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        L = np.linalg.cholesky(corr)
        lo = np.empty(draws)
        hi = np.empty(draws)
        ok = np.empty(draws, dtype=bool)
        for start in range(0, draws, self._BLOCK):
            n = min(self._BLOCK, draws - start)
            z = rng.standard_normal((n, len(a))) @ L.T
            _pass_intervals(z, a, crit, lo[start:start + n], hi[start:start + n],
                            ok[start:start + n])
        self.lo, self.hi = np.sort(lo[ok]), np.sort(hi[ok])
        self.draws = draws

    def __call__(self, slope: float) -> float:
        inside = (np.searchsorted(self.lo, slope, side="right")
                  - np.searchsorted(self.hi, slope, side="left"))
        return float(inside) / self.draws


def _pass_intervals(z: np.ndarray, a: np.ndarray, crit: float, lo: np.ndarray,
                    hi: np.ndarray, ok: np.ndarray) -> None:
    """For each row of ``z`` the slopes s with |z_j + s a_j| <= crit for every j: the
    interval [lo, hi], and ``ok`` where it is not empty (written into the outputs)."""
    lo[:] = -np.inf
    hi[:] = np.inf
    ok[:] = True
    e1 = np.empty(len(z))
    e2 = np.empty(len(z))
    for j, aj in enumerate(a):
        if aj == 0:
            ok &= np.abs(z[:, j]) <= crit
            continue
        np.subtract(-crit, z[:, j], out=e1)
        e1 /= aj
        np.subtract(crit, z[:, j], out=e2)
        e2 /= aj
        np.maximum(lo, np.minimum(e1, e2), out=lo)
        np.minimum(hi, np.maximum(e1, e2), out=hi)
    ok &= lo <= hi


def pretrend_power(result: Any = None, *, powers: tuple[float, ...] = (0.5, 0.8),
                   alpha: float = 0.05, **arrays: Any) -> PretrendPowerResult:
    """Roth (2022): the linear pre-trend (slope per period, zero at the reference period)
    that the pre-test rejects with the given probabilities.

    The pre-test rejects when any lead is individually significant at ``alpha`` (the
    usual eyeball test). Accepts an ``event_study`` result or ``betahat=``, ``sigma=``,
    ``rel_times=``.
    """
    from scipy import optimize  # here, not at import: slow to import

    beta, Sigma, e, ref = event_study_inputs(result, **arrays)
    if _cs_base_notes(result):
        raise SpecError("pretrend_power needs pre-period estimates relative to one "
                        "reference period; run att_gt(..., base_period='universal') before "
                        "aggregate('dynamic')")
    pre = e < 0
    if not pre.any():
        raise EstimationError(Message("pretrends.no_leads"))
    sd = np.sqrt(np.diag(Sigma))
    corr = Sigma[np.ix_(pre, pre)] / np.outer(sd[pre], sd[pre])
    crit = ndtri(1 - alpha / 2)
    dist = (e - ref).astype(float)

    pass_prob = _PassProbability(dist[pre] / sd[pre], corr, crit)

    def power(slope: float) -> float:
        return 1 - pass_prob(slope)

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


@functools.lru_cache(maxsize=4096)
def _folded_cv(bias_over_sd: float, alpha: float) -> float:
    """1 - alpha quantile of |N(b, 1)|, the FLCI critical value (Armstrong-Kolesar).

    Cached: SLSQP asks for the objective and its gradient at the same points, and the
    breakdown search repeats whole optimisations (about half the calls are repeats).
    """
    from scipy import optimize  # here, not at import: slow to import

    b = abs(bias_over_sd)
    if b > 40:  # the far tail of the folded normal is just the shifted normal
        return b + float(ndtri(1 - alpha))
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
    from scipy import optimize  # here, not at import: slow to import

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


def _rm_structure(et: np.ndarray, ref: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First differences of delta over consecutive periods (the reference, delta = 0,
    dropped from the columns): (D, pre-difference rows, post-difference rows, post
    columns). A difference is a pre-period one when its later period is negative."""
    full = np.sort(np.r_[et, ref])
    k = len(full)
    D = np.zeros((k - 1, k))
    D[np.arange(k - 1), np.arange(k - 1)] = -1.0
    D[np.arange(k - 1), np.arange(1, k)] = 1.0
    D = np.delete(D, int(np.flatnonzero(full == ref)[0]), axis=1)
    later = full[1:]
    return D, later < 0, later >= 0, et >= 0


def _rm_polyhedron(D: np.ndarray, pre_rows: np.ndarray, s: int, sign: float,
                   mbar: float) -> np.ndarray:
    """A with Delta^RM_{s,sign}(Mbar) = {delta : A delta <= 0}: every pre-period change
    at most sign * (change s), every post-period change at most Mbar times that."""
    v = sign * D[s]
    ub = np.where(pre_rows[:, None], v[None, :], mbar * v[None, :])
    A = np.vstack([D - ub, -D - ub])
    return A[~np.all(np.abs(A) <= 1e-10, axis=1)]


def _rm_identified_set(beta: np.ndarray, et: np.ndarray, ref: int, l_post: np.ndarray,
                       mbar: float) -> tuple[float, float]:
    """Identified set of l'tau_post under Delta^RM(Mbar) at betahat (closed form): delta
    fixed at beta over the pre periods, each post-period change within Mbar times the
    largest pre-period change in absolute value."""
    full = np.sort(np.r_[et, ref])
    b = np.zeros(len(full))
    b[np.searchsorted(full, et)] = beta
    pre_b = b[full < 0]
    max_pre = float(np.max(np.abs(np.diff(pre_b))))
    centre = float(l_post @ beta[et >= 0] - l_post.sum() * pre_b[-1])
    tail = np.cumsum(l_post[::-1])[::-1]  # weight of the change into post period j
    half = mbar * max_pre * float(np.abs(tail).sum())
    return centre - half, centre + half


def _rm_clf(beta: np.ndarray, Sigma: np.ndarray, et: np.ndarray, ref: int,
            l_post: np.ndarray, mbars: np.ndarray, alpha: float, *, kappa: float,
            seed: int = 0, grid_points: int = 1000,
            grid: tuple[float, float] | None = None
            ) -> list[tuple[float, float, bool, tuple[float, float]]]:
    """Relative-magnitudes confidence sets by ARP test inversion (HonestDiD's C-LF).

    For each Mbar: the union over the location s and sign of the largest pre-period
    change of the hybrid test's acceptance regions on a grid of theta values; the grid
    is the identified set at betahat widened by 20 standard errors of l'betahat_post on
    each side (moderndid's default; ``grid=(lo, hi)`` fixes it, e.g. HonestDiD's
    +-20 SE around 0). With more than one post period only the moments that involve
    post-period coefficients enter the test (HonestDiD's postPeriodMomentsOnly).
    Returns (conf_low, conf_high, open, (grid_lo, grid_hi)) per Mbar, where open flags
    an accepted grid end.
    """
    D, pre_rows, _post_rows, post = _rm_structure(et, ref)
    sd_theta = float(np.sqrt(l_post @ Sigma[np.ix_(post, post)] @ l_post))
    out = []
    rays: dict[bytes, np.ndarray] = {}  # the nuisance loadings are the same for all
    for mb in mbars:
        if grid is None:
            lo, hi = _rm_identified_set(beta, et, ref, l_post, float(mb))
            theta = np.linspace(lo - 20 * sd_theta, hi + 20 * sd_theta, grid_points)
        else:
            theta = np.linspace(grid[0], grid[1], grid_points)
        accept = np.zeros(grid_points, bool)
        seen: set[bytes] = set()
        for s in np.flatnonzero(pre_rows):
            for sign in (1.0, -1.0):
                A = _rm_polyhedron(D, pre_rows, int(s), sign, float(mb))
                rows = (np.flatnonzero(np.any(A[:, post] != 0, axis=1))
                        if post.sum() > 1 else None)
                key = ((A if rows is None else A[rows]) + 0.0).tobytes()  # no -0.0
                if key in seen:  # Mbar = 0: every (s, sign) gives the same moments
                    continue
                seen.add(key)
                accept |= arp_accept(beta, Sigma, A, np.zeros(len(A)), post, l_post,
                                     theta, rows=rows, alpha=alpha, kappa=kappa,
                                     seed=seed, rays=rays)
        span = (float(theta[0]), float(theta[-1]))
        if accept.any():
            out.append((float(theta[accept].min()), float(theta[accept].max()),
                        bool(accept[0] or accept[-1]), span))
        else:
            out.append((np.nan, np.nan, False, span))
    return out


def _post_weights(e: int, l_vec: Any, et: np.ndarray) -> np.ndarray:
    """Weights on the post-period effects (event-time order) of the target: the one at
    ``e``, their average (``l_vec="average"``) or the user's ``l_vec``, checked."""
    post_e = et[et >= 0]
    if l_vec is None:
        if e not in set(et) or e < 0:
            raise SpecError(f"e={e} is not an estimated post-period event time "
                            f"({post_e.tolist()})")
        return (post_e == e).astype(float)
    if isinstance(l_vec, str):
        if l_vec != "average":
            raise SpecError(f"l_vec={l_vec!r}: give 'average' or one weight per post "
                            f"period ({post_e.tolist()})")
        return np.full(len(post_e), 1.0 / len(post_e))
    l_post = np.asarray(l_vec, dtype=float).ravel()
    if l_post.shape != post_e.shape or not np.isfinite(l_post).all():
        raise SpecError(f"l_vec needs {len(post_e)} finite weights, one per post period "
                        f"{post_e.tolist()}; got {np.asarray(l_vec).tolist()}")
    return l_post


def _sd_breakdown(sd_ci: Any, se_e: float) -> float:
    """Smoothness breakdown value: the largest M at which the FLCI ``sd_ci(M)`` still
    excludes zero (0 when the CI at M = 0 does not)."""
    from scipy import optimize  # here, not at import: slow to import

    # the CI widens continuously with M, so the breakdown value is a root
    _, lo0, hi0 = sd_ci(0.0)
    if not (lo0 > 0 or hi0 < 0):
        return 0.0

    def margin(m: float) -> float:
        _, lo, hi = sd_ci(m)
        return max(lo, -hi)

    top = max(se_e, 1e-12)
    while margin(top) > 0:
        top *= 2
    return float(optimize.brentq(margin, 0.0, top, xtol=1e-6 * top))


def honest_did(result: Any = None, *, e: int = 0, l_vec: Any = None, M: Any = None,
               Mbar: Any = None, alpha: float = 0.05, rm_method: str = "C-LF",
               seed: int = 0, **arrays: Any) -> HonestDidResult:
    """Sensitivity of the effect at post period ``e`` (or of a combination of the
    post-period effects) to parallel-trend violations.

    Parameters
    ----------
    result : event-study Result, or ``betahat=``, ``sigma=``, ``rel_times=`` arrays
    e : int
        Post period of interest (0 = first treated period).
    l_vec : array or "average", optional
        Weights on the post-period effects in event-time order (HonestDiD's ``l_vec``),
        e.g. ``"average"`` for their mean, the usual single DID number; overrides ``e``.
    M : array, optional
        Smoothness bounds (default: 0 to 2 x the SE of the effect, 9 values).
    Mbar : array, optional
        Relative-magnitude bounds (default 0, 0.25, ..., 2).
    alpha : float
        1 - confidence level.
    rm_method : {"C-LF", "Conditional", "Bonferroni"}
        Relative-magnitude intervals: HonestDiD's default conditional-least-favourable
        hybrid ARP test (first-stage size alpha / 10), the plain conditional ARP test,
        or a fast conservative Bonferroni interval (an upper confidence bound on the
        largest pre-period change plus the identified set's width).
    seed : int
        Seed of the least-favourable critical value's simulation (1000 draws, as
        HonestDiD).

    Notes
    -----
    The C-LF and conditional intervals are found on a grid of 1000 values spanning the
    identified set at the estimates plus 20 standard errors on each side, so their ends
    are grid points (spacing about 0.04 SE plus the identified set's width / 1000; the
    grids are in ``meta["rm_grid"]`` as (Mbar, first, last, points)), and they move by
    about a grid step with ``seed`` (the Monte Carlo error of the critical value). The
    relative-magnitudes breakdown value is, as in HonestDiD, read off the Mbar grid: the
    largest Mbar up to which every interval excludes zero. An empty set (every grid value
    rejected: the data contradict Delta^RM(Mbar)) has NaN ends and a warning. With more
    than one post period only the moments involving post-period coefficients enter the
    test, as in HonestDiD; with a single post period all moments do, and the hybrid's
    second stage is capped at the first-stage critical value as in the ARP paper (and
    HonestDiD's multi-period code), where HonestDiD's single-period code leaves it
    uncapped (a slightly longer interval).
    """

    if rm_method not in ("C-LF", "Conditional", "Bonferroni"):
        raise SpecError(f"rm_method={rm_method!r}: use 'C-LF', 'Conditional' or "
                        "'Bonferroni'")
    beta, Sigma, et, ref = event_study_inputs(result, **arrays)
    post_e = et[et >= 0]
    l_post = _post_weights(e, l_vec, et)
    pre_all = np.r_[et[et < 0], ref]
    if len(np.unique(pre_all)) < 3:
        raise EstimationError(Message("pretrends.two_leads"))
    # coefficients with the reference period (delta = 0) inserted
    full_e = np.sort(np.r_[et, ref])
    pos = {int(v): i for i, v in enumerate(full_e)}
    k = len(full_e)
    A = np.zeros((k, len(beta)))
    for j, v in enumerate(et):
        A[pos[int(v)], j] = 1.0
    bfull, Sfull = A @ beta, A @ Sigma @ A.T
    post = et >= 0
    est_t = float(l_post @ beta[post])
    se_e = float(np.sqrt(l_post @ Sigma[np.ix_(post, post)] @ l_post))
    z = ndtri(1 - alpha / 2)
    orig = (est_t, est_t - z * se_e, est_t + z * se_e)
    rows = []
    # --- smoothness: the optimal fixed-length CI over affine estimators
    if not np.all(np.diff(full_e) == 1):
        raise EstimationError(Message("pretrends.gaps"))
    kpos = full_e - ref
    pre = et < 0
    Ms = np.linspace(0, 2 * se_e, 9) if M is None else np.asarray(M, float)

    flci: dict[float, tuple[float, float, float]] = {}

    def sd_ci(m: float) -> tuple[float, float, float]:
        # each is a whole optimisation; the breakdown search asks again for M = 0 and
        # for the top of its bracket
        m = float(m)
        if m not in flci:
            flci[m] = _flci_sd(beta, Sigma, kpos, l_post, pre, m, alpha)
        return flci[m]

    for m in Ms:
        est, lo, hi = sd_ci(m)
        rows.append({"restriction": "smoothness", "M": float(m), "estimate": est,
                     "conf_low": lo, "conf_high": hi, "excludes_zero": lo > 0 or hi < 0,
                     "method": "FLCI"})
    Mbars = np.arange(0, 2.01, 0.25) if Mbar is None else np.asarray(Mbar, float)
    notes = _cs_base_notes(result)
    method = rm_method
    rm_rows = None
    rm_grid: list[tuple[float, float, float, int]] = []
    if rm_method != "Bonferroni":
        try:
            ci = _rm_clf(beta, Sigma, et, ref, l_post, Mbars, alpha,
                         kappa=alpha / 10 if rm_method == "C-LF" else 0.0, seed=seed)
        except TooManyBases as err:
            notes.append(Message("honest.rm_bonferroni", why=str(err)))
            method = "Bonferroni"
        else:
            rm_rows = [(float(mb), c[0], c[1]) for mb, c in zip(Mbars, ci)]
            rm_grid = [(float(mb), *c[3], 1000) for mb, c in zip(Mbars, ci)]
            opened = [float(mb) for mb, c in zip(Mbars, ci) if c[2]]
            if opened:
                notes.append(Message("honest.rm_open", mbar=opened))
            empty = [float(mb) for mb, c in zip(Mbars, ci) if np.isnan(c[0])]
            if empty:
                notes.append(Message("honest.rm_empty", mbar=empty))
    if rm_rows is None:
        rm_rows = _rm_bonferroni(bfull, Sfull, pos, pre_all, post_e, l_post, orig[0], se_e,
                                 Mbars, alpha)
    for mb, lo, hi in rm_rows:
        rows.append({"restriction": "relative magnitudes", "M": mb, "estimate": orig[0],
                     "conf_low": lo, "conf_high": hi,
                     "excludes_zero": bool(lo > 0 or hi < 0 or np.isnan(lo)),
                     "method": method})
    grid = pd.DataFrame(rows)
    breakdown = {"smoothness": _sd_breakdown(sd_ci, se_e)}
    # relative magnitudes: the grid's largest Mbar up to which every CI excludes zero
    g = grid[grid.restriction == "relative magnitudes"].sort_values("M")
    ex = g["excludes_zero"].to_numpy()
    n_ok = len(ex) if ex.all() else int(np.argmin(ex))
    breakdown["relative magnitudes"] = float(g["M"].iloc[n_ok - 1]) if n_ok else 0.0
    rm_text = {"C-LF": "ARP conditional-least-favourable hybrid, kappa = alpha/10",
               "Conditional": "ARP conditional test",
               "Bonferroni": "Bonferroni"}[method]
    res = HonestDidResult(nobs=getattr(result, "nobs", 0), grid=grid, original=orig,
                          breakdown=breakdown,
                          meta={"e": e if l_vec is None else None,
                                "l_vec": l_post.tolist(), "alpha": alpha, "ref": ref,
                                "seed": seed,
                                "rm_method": method, "rm_grid": rm_grid,
                                "method": f"optimal FLCI (SD), {rm_text} (RM)"})
    for note in notes:
        res.warn(note)
    return res


def _rm_bonferroni(bfull: np.ndarray, Sfull: np.ndarray, pos: dict[int, int],
                   pre_all: np.ndarray, post_e: np.ndarray, l_post: np.ndarray, est: float,
                   se_e: float, Mbars: np.ndarray, alpha: float
                   ) -> list[tuple[float, float, float]]:
    """Conservative Delta^RM intervals: a Bonferroni upper bound (size alpha / 5) on the
    largest pre-period change, times Mbar and each post period's distance to the last
    pre period (weighted by |l|), added to the usual interval of size 4 alpha / 5."""

    k = len(bfull)
    t0 = int(max(pre_all))
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
    zk = ndtri(1 - kappa / (2 * len(dhat)))
    max_change = float(np.max(np.abs(dhat) + zk * dsd))
    za = ndtri(1 - (alpha - kappa) / 2)
    out = []
    for mb in Mbars:
        width = mb * float(np.abs(l_post) @ (post_e - t0)) * max_change
        out.append((float(mb), est - width - za * se_e, est + width + za * se_e))
    return out
