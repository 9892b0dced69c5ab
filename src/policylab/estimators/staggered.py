"""Heterogeneity-robust DID for staggered adoption.

``att_gt``: Callaway and Sant'Anna (2021) group-time average treatment effects with
never- or not-yet-treated controls, without covariates or with covariates by outcome
regression, inverse probability weighting or the doubly robust estimator of Sant'Anna
and Zhao (2020); analytic standard errors from influence functions (clustered by unit),
aggregations (simple, dynamic, group, calendar) with the influence of the estimated
weights included, the pre-test of parallel trends, and multiplier-bootstrap uniform
bands; optional sampling weights (constant within units) in all of these. Follows the
R ``did`` package's conventions.

``sun_abraham``: Sun and Abraham (2021) interaction-weighted event study, with any
absorbed fixed effects (``fe=``, as did_imputation) and observation weights (which
also weight the cohort shares, as fixest's ``sunab`` aggregation).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve
from scipy.special import chdtrc, expit, ndtr, ndtri

from policylab.data.panel import require_columns
from policylab.errors import DataError, EstimationError, SpecError
from policylab.estimators.design import (
    DesignNotHonoured,
    cohort_inputs,
    design_record,
    model_fe_terms,
    require_fe_columns,
)
from policylab.estimators.formula import _factorize
from policylab.estimators.result import CoefResult, Result

__all__ = ["att_gt", "AttGtResult", "AggregateResult", "sun_abraham"]


# ------------------------------------------------------------------ 2x2 estimators
# R DRDID's trim.level: comparison units with a propensity score at or above it are
# dropped from the ipw and dr estimates (treated units never are)
_PS_TRIM = 0.995


def _cholesky(A: np.ndarray, what: str) -> tuple[np.ndarray, bool]:
    """Cholesky factor (for ``cho_solve``) of a small Gram matrix, after a rank check.

    Rank as R's ``lm``/``glm`` (pivoted QR, tolerance 1e-7): a column whose part not
    explained by the columns before it is below 1e-7 of its norm makes the design
    singular. In Gram terms that is a pivot of the unit-diagonal rescaled Cholesky
    factor below 1e-7. Without this check rounding lets Cholesky "succeed" on an exactly
    collinear design and return meaningless coefficients.

    Raises
    ------
    EstimationError
        Naming ``what`` (the outcome regression or the propensity model).
    """
    dg = np.diag(A)
    if (dg > 0).all():
        s = 1 / np.sqrt(dg)
        try:
            L = np.linalg.cholesky(A * np.outer(s, s))
            if np.diag(L).min() >= 1e-7:
                return cho_factor(A)
        except np.linalg.LinAlgError:
            pass
    raise EstimationError(f"{what} failed: singular design (covariates collinear, or "
                          "constant, among the units of a cell); drop or combine covariates")


def _logit(X: np.ndarray, d: np.ndarray, w: np.ndarray, tol: float = 1e-10,
           max_iter: int = 100) -> np.ndarray:
    """Fitted probabilities of the weighted logit of ``d`` on ``X`` (maximum likelihood).

    Newton-Raphson (for the canonical logit link the same iterations as IRLS, which is
    what R ``glm`` and statsmodels ``GLM`` run) on the small design: k + 1 parameters,
    one weighted Gram matrix per step. Starts at the weighted share of ``d`` (X's first
    column is the constant). Converged when every component of the score is below
    ``tol`` times the total weight (a mean score of 1e-10); the step computed at that
    point is still taken, which costs one product and, Newton converging
    quadratically, leaves the coefficients at rounding level from the optimum rather
    than ~1e-10 from it. A step that lowers the likelihood is halved (Newton can
    overshoot when the fit is near separation).

    Under complete separation the score still vanishes as the coefficients diverge, so
    the fit "converges" with every probability at ~0 or ~1; that raises (R ``glm``
    only warns, and R did then reports noise).

    Raises
    ------
    EstimationError
        Singular design (covariates collinear in the subsample), complete separation
        or no convergence in ``max_iter`` steps.
    """
    sw = w.sum()
    beta = np.zeros(X.shape[1])
    pbar = float(w @ d) / sw
    if not 0 < pbar < 1:
        raise EstimationError("propensity model failed: the subsample has no treated or "
                              "no comparison units with positive weight")
    beta[0] = np.log(pbar / (1 - pbar))
    eta = X @ beta
    ll = float(w @ (d * eta - np.logaddexp(0.0, eta)))
    for it in range(max_iter):
        mu = expit(eta)
        score = X.T @ (w * (d - mu))
        info = (X * (w * mu * (1 - mu))[:, None]).T @ X
        if it == 0:
            # rank of the design (the weights are all positive at the start)
            fac = _cholesky(info, "propensity model")
        else:
            try:
                fac = cho_factor(info)
            except np.linalg.LinAlgError:
                raise EstimationError("propensity model failed: singular information "
                                      "matrix (near separation)") from None
        step = cho_solve(fac, score)
        if np.max(np.abs(score)) <= tol * sw:
            mu = expit(X @ (beta + step))
            if np.max(np.abs(d - mu)[w > 0]) < 1e-6:
                # complete separation: the coefficients ran off to infinity and every
                # comparison unit has a propensity score of ~0 (R glm only warns and
                # the ATT is then noise)
                raise EstimationError("no overlap: the covariates separate a cohort from "
                                      "its comparison group perfectly; drop or coarsen them")
            return mu
        for _ in range(60):
            new = beta + step
            eta_new = X @ new
            ll_new = float(w @ (d * eta_new - np.logaddexp(0.0, eta_new)))
            # rounding of the log-likelihood near the optimum: accept ties
            if ll_new >= ll - 1e-12 * max(1.0, abs(ll)):
                break
            step = step / 2
        beta, eta, ll = new, eta_new, ll_new
    raise EstimationError(f"propensity model failed: no convergence in {max_iter} Newton "
                          "steps; check the covariates for near-separation or extreme "
                          "scales")


def _att_2x2_cells(DY: np.ndarray, d: np.ndarray, X: np.ndarray, method: str,
                   w: np.ndarray, gram: np.ndarray, xdy: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """ATTs and influence functions of several 2x2 cells that share their units.

    Parameters
    ----------
    DY : ndarray (n, m)
        Long differences of the m cells over the n units of their common subsample
        (treated cohort and comparison units).
    d : ndarray (n,)
        1 for the treated cohort, 0 for comparison units.
    X : ndarray (n, p)
        Unit covariates with the constant first.
    method : {"reg", "ipw", "dr"}
        Outcome regression, standardised IPW (R DRDID ``std_ipw_did_panel``) or the
        traditional doubly robust estimator (``drdid_panel``), as R did calls them,
        with their propensity-score rules: scores capped at 1 - 1e-6, comparison units
        at or above 0.995 trimmed.
    w : ndarray (n,)
        Sampling weights (ones when unweighted).
    gram, xdy : ndarray (p, p), (p, m)
        ``X' W X`` and ``X' W DY`` over the comparison units (W = diag(w)): the outcome
        regression's normal equations, summed from per-cohort sufficient statistics.

    Returns
    -------
    att : ndarray (m,)
    inf : ndarray (n, m)
        Influence functions per unit of the subsample (scaled by the subsample size).

    Notes
    -----
    The cells share the comparison units, hence the outcome regression's Gram matrix
    and the propensity score (which does not depend on the outcome); only the long
    difference differs. So one Cholesky factor solves every cell's regression, one
    logit serves all, and every estimation effect ``lin @ M`` of the single-cell
    formulas becomes a matrix product over the m columns. Every piece is homogeneous
    of degree zero in ``w``.
    """
    n = len(d)
    wt = w * d
    mt = wt.mean()
    if method in ("reg", "dr"):
        wols = w * (1 - d)
        fac = _cholesky(gram, "outcome regression")
        R = DY - X @ cho_solve(fac, xdy)  # dy minus the fitted comparison trend

        def lin_ols(v: np.ndarray) -> np.ndarray:
            # (influence of the regression coefficients) @ v, for all cells at once:
            # wols (dy - out) x' (X'WX / n)^-1 v
            return (wols[:, None] * R) * (X @ (n * cho_solve(fac, v)))[:, None]
    if method in ("ipw", "dr"):
        # R DRDID: pmin(ps, 1 - 1e-6) keeps the comparison weights finite
        ps = np.minimum(_logit(X, d, w), 1 - 1e-6)
        Wp = ps * (1 - ps) * w
        try:
            hess = n * np.linalg.inv((X * Wp[:, None]).T @ X)
        except np.linalg.LinAlgError:
            raise EstimationError("propensity model failed: singular information matrix") from None
        lin_ps = ((w * (d - ps))[:, None] * X) @ hess
        # R DRDID (drdid_panel, std_ipw_did_panel; did::att_gt never overrides its
        # trim.level): comparison units with a score of 0.995 or more get weight 0 in
        # the ATT and its influence function; the logit's Hessian keeps them
        wc = w * ps * (1 - d) / (1 - ps) * (ps < _PS_TRIM)
        mc = wc.mean()
        if not mc > 0:
            raise EstimationError("no overlap: every comparison unit of a cell has a "
                                  "propensity score of 0 or of at least 0.995 (trimmed, as "
                                  "R did); drop or coarsen the covariates")
    if method == "reg":
        out = DY - R
        eta_t = (wt @ DY) / n / mt
        eta_c = (wt @ out) / n / mt
        inf_t = wt[:, None] * (DY - eta_t) / mt
        inf_c = (wt[:, None] * (out - eta_c) + lin_ols((wt[:, None] * X).mean(axis=0))) / mt
        return eta_t - eta_c, inf_t - inf_c
    if method == "ipw":
        eta_t = (wt @ DY) / n / mt
        eta_c = (wc @ DY) / n / mc
        inf_t = wt[:, None] * (DY - eta_t) / mt
        Rc = wc[:, None] * (DY - eta_c)
        inf_c = (Rc + lin_ps @ (X.T @ Rc / n)) / mc
        return eta_t - eta_c, inf_t - inf_c
    if method != "dr":
        raise SpecError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    eta_t = (wt @ R) / n / mt
    eta_c = (wc @ R) / n / mc
    inf_t = (wt[:, None] * (R - eta_t) - lin_ols((wt[:, None] * X).mean(axis=0))) / mt
    Rc = wc[:, None] * (R - eta_c)
    inf_c = (Rc + lin_ps @ (X.T @ Rc / n) - lin_ols((wc[:, None] * X).mean(axis=0))) / mc
    return eta_t - eta_c, inf_t - inf_c


# ------------------------------------------------------------------ inference helpers
def _cluster_sums(F: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Influence functions summed within clusters (rows = clusters); units if None."""
    if clusters is None:
        return F
    nc = int(clusters.max()) + 1
    # one bincount per column: np.add.at over rows is an unbuffered scatter, ~20x slower
    return np.column_stack([np.bincount(clusters, weights=F[:, j], minlength=nc)
                            for j in range(F.shape[1])]).reshape(nc, F.shape[1])


def _if_vcov(F: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Covariance of the estimates from unit influence functions, clustered if asked."""
    S = _cluster_sums(F, clusters)
    return S.T @ S / F.shape[0] ** 2


def _one_blas_thread() -> Any:
    """BLAS held to one thread while in the block. The products here are tall and thin
    (units x a few dozen columns): waking BLAS's thread pool costs more than the
    product itself (measured ~35 ms a call against ~3 ms on a busy 2-core machine)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


# sum of at most this many float32 products per BLAS call: bounds the float32 copy of
# the 0/1 multiplier block to 32 MB whatever the number of clusters
_BLOCK = 1 << 23


def _bootstrap_draws(S: np.ndarray, n: int, draws: int, seed: int | None, weights: str,
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
    """
    if weights not in ("mammen", "rademacher"):
        raise SpecError(f"bootstrap weights must be 'mammen' or 'rademacher', got {weights!r}")
    if draws < 2:
        raise SpecError("draws must be at least 2")
    from policylab.engine.cs_kernels import mammen_lo_product

    nc, k = S.shape
    from policylab.validation import check_memory

    check_memory(8.0 * draws * k, f"{draws:,} bootstrap draws x {k} ATT(g,t)",
                 "use fewer draws")
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
    with _one_blas_thread():
        for start in range(0, draws, chunk):
            m = min(chunk, draws - start)
            if weights == "mammen":
                u = _random_bytes(rng, m, nc)
                # V = hi + (lo - hi) * 1[V = lo]
                bS = mammen_lo_product(u, cut, frac, rng, Sd)
                out[start:start + m] = (hi * tot + (lo - hi) * bS) / n
            else:
                b = rng.integers(0, 2, size=(m, nc), dtype=np.int8).view(np.bool_)
                out[start:start + m] = (2 * _bool_product(b, Sd) - tot) / n
    return out


def _random_bytes(rng: np.random.Generator, m: int, nc: int) -> np.ndarray:
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


def _bool_product(b: np.ndarray, S: np.ndarray) -> np.ndarray:
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


def _boot_se(out: np.ndarray) -> np.ndarray:
    """Robust bootstrap SEs (interquartile range over 1.349, as R did); NaN where the
    draws do not vary."""
    q75, q25 = np.quantile(out, [0.75, 0.25], axis=0, method="inverted_cdf")
    se = (q75 - q25) / (ndtri(0.75) - ndtri(0.25))
    return np.where(se > np.sqrt(np.finfo(float).eps) * 10, se, np.nan)


def _multiplier_bootstrap(F: np.ndarray, clusters: np.ndarray | None, draws: int,
                          seed: int | None, weights: str, level: float,
                          chunk: int = 128, single: bool = True
                          ) -> tuple[np.ndarray, float, np.ndarray]:
    """Multiplier bootstrap of the estimates' sampling error, as R ``did::mboot``.

    Each draw perturbs the (cluster-summed) influence functions ``F`` (units x columns)
    with i.i.d. Mammen or Rademacher weights (see :func:`_bootstrap_draws`). Returns the
    robust bootstrap SEs (interquartile range over 1.349, as R did), the critical value
    of the sup-t uniform band (max over the columns of |draw| / SE) and the draws.
    """
    out = _bootstrap_draws(_cluster_sums(F, clusters), F.shape[0], draws, seed, weights,
                           single, chunk)
    se = _boot_se(out)
    return se, _sup_t_crit(out, se, level), out


def _pretest_cells(cells: pd.DataFrame, G: np.ndarray, clusters: np.ndarray | None,
                   anticipation: int) -> tuple[np.ndarray, list[int]]:
    """Pre-treatment cells the pre-tests use, and the cohorts left out.

    A cohort whose treated units sit in a single cluster has no estimable sampling
    variance of its own (its part of the cluster-summed influence function is one
    number, centred to zero), so its pre-treatment ATT(g,t) would enter a Wald or
    sup-t statistic with only the comparison units' variance and look like a strong
    violation (castle doctrine: one-state cohorts, |t| up to 20). Those cells are left
    out and the cohorts named; R did keeps them and then reports no statistic.
    """
    g = cells["group"].to_numpy()
    pre = (cells["time"] < g - anticipation).to_numpy()
    thin = []
    for gg in np.unique(g[pre]):
        members = G == gg
        n_cl = (len(np.unique(clusters[members])) if clusters is not None
                else int(members.sum()))
        if n_cl < 2:
            thin.append(int(gg))
    return pre & ~np.isin(g, thin), thin


# eigenvalues of the pre-period correlation matrix below this share of the largest are
# treated as zero (rounding of an exactly singular matrix sits near 1e-15; directions
# the data identify sit many orders above)
_RANK_RTOL = 1e-8


def _rank_wald(a: np.ndarray, V: np.ndarray, rtol: float = _RANK_RTOL) -> dict[str, Any]:
    """Wald test that ``a = 0`` with covariance ``V``, rank-aware.

    R did (``att_gt``) returns no statistic when ``rcond(preV) <= eps``; a plain
    ``solve`` on such a matrix gives absurd numbers (1e16) instead. Here the test runs
    on the directions the covariance identifies: ``a' V^+ a`` with the pseudo-inverse
    from the eigen-decomposition of the correlation matrix (scale-free), and df = its
    rank. With a full-rank V this is R did's statistic and p-value. A cell whose
    estimate has no estimated variance (a cohort of one unit has no variance of its
    own: its treated part of the influence function is zero) contributes through the
    directions it shares with other cells only. Returns statistic, df (the rank),
    p_value, n_cells, rank and, when nothing is testable, statistic/p_value None and a
    ``reason``.
    """
    k = len(a)
    out: dict[str, Any] = {"test": "Wald (rank-aware)", "n_cells": int(k)}
    sd = np.sqrt(np.clip(np.diag(V), 0, None))
    ok = np.isfinite(sd) & (sd > 0) & np.isfinite(a)
    if not ok.any():
        return {**out, "statistic": None, "p_value": None, "df": 0, "rank": 0,
                "reason": "no pre-treatment ATT(g,t) has a positive variance"}
    z = a[ok] / sd[ok]
    R = V[np.ix_(ok, ok)] / np.outer(sd[ok], sd[ok])
    ev, U = np.linalg.eigh((R + R.T) / 2)
    keep = ev > rtol * max(ev.max(), 0.0) * len(z)
    rank = int(keep.sum())
    proj = U[:, keep].T @ z
    W = float(proj @ (proj / ev[keep]))
    out.update({"statistic": W, "df": rank, "rank": rank,
                "p_value": float(chdtrc(rank, W))})
    if rank < k:
        out["note"] = (f"covariance of the {k} pre-treatment ATT(g,t) has rank {rank}; "
                       f"tested on the {rank} identified directions (R did reports no "
                       "statistic for a singular covariance)")
    return out


def _sup_t_crit(out: np.ndarray, se: np.ndarray, level: float) -> float:
    """Critical value of the sup-t uniform band from bootstrap draws (draws x columns):
    the ``level`` quantile of max over columns of |draw| / SE (columns with a missing
    or zero SE left out; NaN when none is left)."""
    ok = np.isfinite(se)
    if not ok.any():
        return float("nan")
    tmax = np.max(np.abs(out[:, ok]) / se[ok], axis=1)
    return float(np.quantile(tmax, level, method="inverted_cdf"))


@dataclass
class AggregateResult(CoefResult):
    """An aggregation of ATT(g,t): the overall effect first, then by event time, group or
    period (``meta["type"]``). With the bootstrap, ``band_low``/``band_high`` give the
    simultaneous (sup-t) band over the by-values. ``inf`` holds the unit influence
    functions of the estimates (units x terms, scaled like ``AttGtResult.inf``)."""

    inf: np.ndarray | None = field(default=None, repr=False)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """term, by, estimate, std_error, ..., and the uniform band when bootstrapped."""
        t = super().tidy(level)
        t.insert(1, "by", self.meta["by_values"])
        if self.meta.get("band_crit") is not None:
            se = t["std_error"]
            t["band_low"] = t["estimate"] - self.meta["band_crit"] * se
            t["band_high"] = t["estimate"] + self.meta["band_crit"] * se
            t.loc[0, ["band_low", "band_high"]] = np.nan
        return t

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Event-study style plot of the dynamic aggregation."""
        from policylab.report.figures.staggered import aggregate_figure

        return aggregate_figure(self.tidy(), kind=self.meta["type"], lang=lang, **kw)


@dataclass
class AttGtResult(Result):
    """Group-time ATTs with their influence functions (one column per cell).

    ``inf`` holds the unit-level influence functions scaled so that the estimation
    error of cell k is approximately ``inf[:, k].mean()``; ``clusters`` maps each unit
    to its cluster (None: the unit itself); ``unit_weights`` holds the sampling weights
    (mean 1; None: unweighted). ``boot`` caches multiplier-bootstrap draws
    (draws x (cells + cohorts)) of the cell influence functions followed by the
    centred cohort indicators ``1[G = g] - P(G = g)``; every aggregation's influence
    function is a linear combination of these columns, so its draws are ``boot`` times
    a small matrix. ``boot_key`` = (draws, seed, weights) says which draws they are.
    """

    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    inf: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    unit_group: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pretest: dict[str, float] = field(default_factory=dict)
    clusters: np.ndarray | None = None
    unit_weights: np.ndarray | None = None
    boot: np.ndarray | None = field(default=None, repr=False)
    boot_key: tuple[int, int | None, str] | None = None

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """term "ATT(g,t)", group, time, estimate, std_error, statistic, p_value,
        conf_low, conf_high (pointwise) and, when bootstrapped, band_low/band_high (the
        simultaneous band R did reports)."""
        t = self.cells.copy()
        z = ndtri(0.5 + level / 2)
        t["statistic"] = t["estimate"] / t["std_error"]
        t["p_value"] = 2 * ndtr(-np.abs(t["statistic"]))
        t["conf_low"] = t["estimate"] - z * t["std_error"]
        t["conf_high"] = t["estimate"] + z * t["std_error"]
        crit = self.meta.get("band_crit")
        if crit is not None and level == self.meta.get("level"):
            t["band_low"] = t["estimate"] - crit * t["std_error"]
            t["band_high"] = t["estimate"] + crit * t["std_error"]
        t.insert(0, "term", [f"ATT({g},{tt})" for g, tt in zip(t["group"], t["time"])])
        return t

    def summary(self) -> str:
        """The ATT(g,t) table, the pre-test and the inference settings."""
        lines = [super().summary()]
        m = self.meta
        lines.append(f"  control group: {m['control_group']}; method: {m['method']}; "
                     f"base period: {m['base_period']}; anticipation: {m['anticipation']}")
        lines.append(f"  standard errors: {m['se_label']}")
        if self.pretest.get("statistic") is not None:
            lines.append(f"  pre-test of parallel trends (Wald, {self.pretest['df']} df): "
                         f"chi2 = {self.pretest['statistic']:.4g}, "
                         f"p = {self.pretest['p_value']:.5f}")
            if self.pretest.get("note"):
                lines.append(f"    {self.pretest['note']}")
        elif self.pretest:
            lines.append(f"  pre-test of parallel trends: not computable "
                         f"({self.pretest['reason']})")
        return "\n".join(lines)

    def pretest_bootstrap(self, draws: int | None = None, seed: int | None = None,
                          bootstrap_weights: str | None = None) -> dict[str, Any]:
        """Pre-test of parallel trends by the multiplier bootstrap (sup-t).

        The statistic is the largest |ATT(g,t)| / SE over the pre-treatment cells, its
        null distribution the same maximum over the multiplier-bootstrap draws of the
        cells (R did's ``mboot``, one multiplier per cluster, the draws ``att_gt``'s
        uniform band uses): the p-value is the share of draws at or above the
        statistic, so p < 1 - level exactly when the uniform band over the
        pre-treatment cells excludes zero somewhere. It needs no inverse of the
        covariance, so it exists where the Wald test's covariance is singular, and its
        critical value comes from the cluster-level draws rather than a chi-square.
        SEs are the bootstrap's (interquartile range / 1.349, as R did); cells with no
        bootstrap variation, and cohorts with a single treated cluster (as in
        ``pretest``), are left out.

        Parameters
        ----------
        draws, seed, bootstrap_weights : int, int, {"mammen", "rademacher"}, optional
            Default to those given to ``att_gt`` (999, None, "mammen"); the draws are
            shared with ``.aggregate()``'s bootstrap for the same settings.

        Returns
        -------
        dict
            test, statistic, p_value, n_cells (tested), draws, seed, weights; statistic
            and p_value None with a ``reason`` when no pre-treatment cell varies.
        """
        draws = int(draws or self.meta.get("draws", 999))
        seed = self.meta.get("seed") if seed is None else seed
        bw = bootstrap_weights or self.meta.get("bootstrap_weights", "mammen")
        c = self.cells
        pre, thin = _pretest_cells(c, self.unit_group, self.clusters,
                                   self.meta.get("anticipation", 0))
        out: dict[str, Any] = {"test": "sup-t (multiplier bootstrap)", "draws": draws,
                               "seed": seed, "weights": bw, "n_cells": 0}
        if thin:
            out["excluded_cohorts"] = thin
        if not pre.any():
            return {**out, "statistic": None, "p_value": None,
                    "reason": "no pre-treatment ATT(g,t) in a cohort with two or more "
                    "treated clusters"}
        boot = self._draws(draws, seed, bw)[:, :self.inf.shape[1]][:, pre]
        se = _boot_se(boot)
        ok = np.isfinite(se)
        if not ok.any():
            return {**out, "statistic": None, "p_value": None,
                    "reason": "no pre-treatment ATT(g,t) varies over the bootstrap draws"}
        a = c.loc[pre, "estimate"].to_numpy()[ok]
        stat = float(np.max(np.abs(a) / se[ok]))
        tmax = np.max(np.abs(boot[:, ok]) / se[ok], axis=1)
        return {**out, "statistic": stat, "p_value": float(np.mean(tmax >= stat)),
                "n_cells": int(ok.sum())}

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """ATT(g,t) by period, one panel per cohort (pre-periods in grey)."""
        from policylab.report.figures.staggered import att_gt_figure

        return att_gt_figure(self.tidy(), lang=lang, **kw)

    # -------------------------------------------------------------- bootstrap reuse
    def _cohorts(self) -> tuple[np.ndarray, np.ndarray]:
        """Cohorts with at least one cell and their shares P(G = g) among all units;
        with sampling weights w (mean 1) the weighted shares ``mean(w 1[G = g])``, as
        R did's ``pg``."""
        groups = np.unique(self.cells["group"].to_numpy())
        if self.unit_weights is None:
            share = np.array([np.mean(self.unit_group == gg) for gg in groups])
        else:
            share = np.array([np.mean(self.unit_weights * (self.unit_group == gg))
                              for gg in groups])
        return groups, share

    def _cohort_inf(self) -> np.ndarray:
        """Centred cohort indicators ``w 1[G = g] - P(G = g)`` (units x cohorts; w = 1
        unweighted): the influence functions of the cohort shares."""
        groups, share = self._cohorts()
        ind = self.unit_group[:, None] == groups[None, :]
        if self.unit_weights is None:
            return ind - share[None, :]
        return ind * self.unit_weights[:, None] - share[None, :]

    def _extended_inf(self) -> np.ndarray:
        """[cell influence functions, centred cohort indicators] (units x (cells +
        cohorts)): the basis every aggregation's influence function lives in."""
        return np.hstack([self.inf, self._cohort_inf()])

    def _draws(self, draws: int, seed: int | None, weights: str) -> np.ndarray:
        """Bootstrap draws of the extended basis; computed once per (draws, seed,
        weights) and kept, so ATT(g,t) and every aggregation share the same draws."""
        key = (int(draws), seed, weights)
        if self.boot is None or self.boot_key != key:
            E = self._extended_inf()
            self.boot = _bootstrap_draws(_cluster_sums(E, self.clusters), E.shape[0],
                                         draws, seed, weights)
            self.boot_key = key
        return self.boot

    def aggregate(self, type: str = "dynamic", *, bootstrap: bool | None = None,
                  draws: int | None = None, seed: int | None = None,
                  bootstrap_weights: str | None = None, level: float = 0.95,
                  min_e: float = -np.inf, max_e: float = np.inf) -> AggregateResult:
        """Aggregate to "simple", "dynamic" (event time), "group" or "calendar" effects.

        Standard errors come from the influence functions, including the estimation of
        the group-share weights (as R ``did::aggte``), clustered like ``att_gt``. The
        bootstrap settings default to those given to ``att_gt``; with the bootstrap
        the SEs are the bootstrap's and ``band_low/band_high`` form the uniform band.
        The bootstrap reuses the multipliers ``att_gt`` drew when draws, seed and
        weights match (with ``seed=None`` too: then the aggregation shares att_gt's
        unseeded draws): an aggregation is linear in the cell influence functions and
        the cohort indicators, so its draws are those draws times a fixed matrix,
        identical to bootstrapping its own influence function with the same seed.
        ``min_e``/``max_e`` restrict the event times of the dynamic aggregation.
        """
        bootstrap = self.meta.get("bootstrap", False) if bootstrap is None else bootstrap
        draws = draws or self.meta.get("draws", 999)
        seed = self.meta.get("seed") if seed is None else seed
        bw = bootstrap_weights or self.meta.get("bootstrap_weights", "mammen")
        labels, ests, A, C = self._targets(type, min_e, max_e)
        H = self._cohort_inf()
        with _one_blas_thread():
            F = self.inf @ A + H @ C
            V = _if_vcov(F, self.clusters)
        crit = None
        if bootstrap:
            D = self._draws(draws, seed, bw)
            with _one_blas_thread():
                out = D @ np.vstack([A, C])
            se_b = _boot_se(out)
            if len(ests) > 1:
                # the band covers the by-values; the overall effect is not part of it
                crit = _sup_t_crit(out[:, 1:], se_b[1:], level)
            sd = np.sqrt(np.diag(V))
            scale = np.divide(se_b, sd, out=np.ones_like(sd), where=sd > 0)
            V = V * np.outer(scale, scale)
        terms = [f"{type}:{lab}" for lab in labels]
        return AggregateResult(
            nobs=self.nobs, terms=terms, beta=np.array(ests), vcov_matrix=V, df_t=None,
            inf=F,
            meta={**self.meta, "type": type, "by_values": labels, "band_crit": crit,
                  "bootstrap": bool(bootstrap), "draws": draws, "seed": seed,
                  "bootstrap_weights": bw, "level": level,
                  "rel_times": [lab for lab in labels[1:]] if type == "dynamic" else None,
                  "estimator": "Callaway-Sant'Anna", "ref": None})

    def _targets(self, type: str, min_e: float, max_e: float
                 ) -> tuple[list[Any], list[float], np.ndarray, np.ndarray]:
        """Labels, estimates and the linear maps of an aggregation.

        Returns ``(labels, estimates, A, C)``: the influence function of target j is
        ``inf @ A[:, j] + H @ C[:, j]`` with ``H`` the centred cohort indicators. The
        C part is R did's ``wif`` (estimating the weights P(G = g)): for weights
        ``p_k / s`` (s = sum of p over the cells used) and estimate theta it is
        ``sum_k (1[G = g_k] - p_k) (att_k - theta) / s``.
        """
        c = self.cells
        g, t = c["group"].to_numpy(), c["time"].to_numpy()
        att = c["estimate"].to_numpy()
        groups, pg_grp = self._cohorts()
        gidx = np.searchsorted(groups, g)
        pg = pg_grp[gidx]
        post = t >= g - self.meta.get("anticipation", 0)
        ncell, ngrp = len(att), len(groups)

        def combine(keep: np.ndarray, weights: np.ndarray, with_wif: bool
                    ) -> tuple[float, np.ndarray, np.ndarray]:
            idx = np.flatnonzero(keep)
            s = weights[idx].sum()
            a = np.zeros(ncell)
            a[idx] = weights[idx] / s
            est = float(att[idx] @ a[idx])
            cg = np.zeros(ngrp)
            if with_wif:
                np.add.at(cg, gidx[idx], (att[idx] - est) / s)
            return est, a, cg

        labels: list[Any] = []
        ests: list[float] = []
        As: list[np.ndarray] = []
        Cs: list[np.ndarray] = []

        def add(label: Any, est: float, a: np.ndarray, cg: np.ndarray) -> None:
            labels.append(label)
            ests.append(est)
            As.append(a)
            Cs.append(cg)

        if type == "simple":
            add("ATT", *combine(post, pg, True))
        elif type == "dynamic":
            et = t - g
            es = np.array([e for e in sorted(set(et)) if min_e <= e <= max_e])
            if not len(es):
                raise SpecError(f"no event times between min_e={min_e} and max_e={max_e}")
            for e in es:
                add(int(e), *combine(et == e, pg, True))
            nonneg = np.array(labels) >= 0
            if not nonneg.any():
                raise SpecError("the dynamic aggregation needs at least one event time >= 0")
            # overall: the plain mean of the non-negative event-time effects
            ov = float(np.mean(np.array(ests)[nonneg]))
            a = np.mean(np.array(As)[nonneg], axis=0)
            cg = np.mean(np.array(Cs)[nonneg], axis=0)
            labels, ests = ["ATT", *labels], [ov, *ests]
            As, Cs = [a, *As], [cg, *Cs]
        elif type == "group":
            for gg in groups:
                add(int(gg), *combine((g == gg) & post, np.ones_like(att), False))
            w = pg_grp / pg_grp.sum()
            ge = np.array(ests)
            ov = float(ge @ w)
            a = np.array(As).T @ w
            # weights over cohorts estimated: wif over the cohort columns directly
            cg = (ge - ov) / pg_grp.sum()
            labels, ests = ["ATT", *labels], [ov, *ests]
            As, Cs = [a, *As], [cg, *Cs]
        elif type == "calendar":
            periods = [tt for tt in sorted(set(t)) if tt >= groups.min()]
            for tt in periods:
                add(int(tt), *combine((t == tt) & post, pg, True))
            ov = float(np.mean(ests))
            a = np.mean(np.array(As), axis=0)
            cg = np.mean(np.array(Cs), axis=0)
            labels, ests = ["ATT", *labels], [ov, *ests]
            As, Cs = [a, *As], [cg, *Cs]
        else:
            raise SpecError(f"type must be simple, dynamic, group or calendar, got {type!r}")
        return labels, ests, np.column_stack(As), np.column_stack(Cs)


def _sorted_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..L-1 in sorted order of the values (-1 for missing) and the
    levels; integer columns take the compiled single pass of ``_factorize``."""
    codes, levels = _factorize(s)
    if len(levels) > 1 and not (levels[1:] > levels[:-1]).all():
        order = np.argsort(levels, kind="stable")
        rank = np.empty(len(levels), dtype=np.int64)
        rank[order] = np.arange(len(levels))
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
        levels = levels[order]
    return codes, levels


def _per_unit(values: np.ndarray, cell: np.ndarray, n_units: int, n_periods: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """A unit-level column from a balanced long one: the first period's value per unit
    and a mask of units where the column varies over periods."""
    w = np.empty(n_units * n_periods, dtype=values.dtype)
    w[cell] = values
    w = w.reshape(n_units, n_periods)
    return w[:, 0], (w != w[:, :1]).any(axis=1)


def _check_att_gt_options(control_group: str, base_period: str, method: str,
                          bootstrap_weights: str) -> None:
    if control_group not in ("never", "notyet"):
        raise SpecError("control_group must be 'never' or 'notyet'")
    if base_period not in ("varying", "universal"):
        raise SpecError("base_period must be 'varying' or 'universal'")
    if method not in ("dr", "ipw", "reg"):
        raise SpecError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    if bootstrap_weights not in ("mammen", "rademacher"):
        raise SpecError("bootstrap weights must be 'mammen' or 'rademacher', got "
                        f"{bootstrap_weights!r}")


def _att_gt_inputs(data: Any, y: str, unit: str | None, time: str | None,
                   cohort: str | None, cluster: str | None, weights: str | None,
                   covariates: Sequence[str] | None) -> tuple:
    """att_gt's frame, keys, cohort, cluster, weights, covariates (a Design's controls
    unless given) and Design; a Design with finer fixed effects is refused."""
    df, unit, time, cohort, m, design = cohort_inputs(data, "att_gt", y, unit, time, cohort,
                                                      cluster=cluster, weights=weights)
    if design is not None:
        design.refuse("att_gt (Callaway-Sant'Anna)", fe=True)
        if covariates is None and design.controls:
            covariates = list(design.controls)
    return df, unit, time, cohort, m["cluster"], m["weights"], covariates, design


def _unit_weights(df: pd.DataFrame, weights: str, cell: np.ndarray, units: np.ndarray,
                  n_units: int, n_periods: int, from_design: bool = False) -> np.ndarray:
    """One sampling weight per unit (sorted units) from a long column, checked: present,
    finite, non-negative and constant within units (panel sampling weights). Weights of
    a Design that vary within units are refused as not honoured."""
    require_columns(df, [weights], "weights column")
    wl = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(wl)
    if bad.any():
        raise DataError(f"weights column {weights!r} is missing or not a number on "
                        f"{int(bad.sum())} rows; fill it or drop those units")
    if (wl < 0).any():
        raise DataError(f"weights column {weights!r} has {int((wl < 0).sum())} negative "
                        "values; sampling weights must be non-negative")
    wu, varies = _per_unit(wl, cell, n_units, n_periods)
    if varies.any():
        bad_units = units[varies][:5].tolist()
        raise (DesignNotHonoured if from_design else DataError)(f"weights column {weights!r} varies within units (e.g. {bad_units}, "
                        f"{int(varies.sum())} units); att_gt takes sampling weights constant "
                        "within units (as R did's weightsname): give each unit one weight, "
                        "e.g. its first-period value")
    if not wu.sum() > 0:
        raise DataError(f"weights column {weights!r} is zero for every unit")
    return wu


def _wide(df: pd.DataFrame, y: str, unit: str, time: str
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outcome matrix (units x periods, column-major) of a balanced panel in one scatter.

    Returns ``(Y, unit_levels, periods, cell)`` with units and periods sorted and
    ``cell`` each row's flat position ``unit_code * T + period_code``; raises on missing
    ids, duplicate (unit, period) rows, gaps and missing outcomes.
    """
    uc, units = _sorted_codes(df[unit])
    tc, periods = _sorted_codes(df[time])
    for name, codes in ((unit, uc), (time, tc)):
        if (codes < 0).any():
            raise DataError(f"{int((codes < 0).sum())} rows have a missing {name!r}; drop "
                            "them or fill the ids")
    N, T = len(units), len(periods)
    cell = uc * T + tc
    count = np.bincount(cell, minlength=N * T)
    if (count > 1).any():
        raise DataError(f"duplicate ({unit}, {time}) rows: att_gt needs one row per unit "
                        "and period")
    # scattered in row order (long panels usually come sorted by unit, then period),
    # then stored period by period so that each period's column of the returned
    # (units x periods) view is contiguous: the long differences are row operations
    Y = np.full(N * T, np.nan)
    Y[cell] = df[y].to_numpy(dtype=float, na_value=np.nan)
    if (count == 0).any() or np.isnan(Y).any():
        raise DataError("att_gt needs a balanced panel without missing outcomes; drop units "
                        "with gaps or use did_imputation(), which handles unbalanced panels")
    return np.asfortranarray(Y.reshape(N, T)), units, periods, cell


def _cell_specs(groups: list[float], periods: np.ndarray, control_group: str,
                anticipation: int, base_period: str
                ) -> list[tuple[float, Any, int, int, int, np.ndarray]]:
    """The ATT(g,t) cells R did estimates: (g, t, column of t, column of the base
    period, cohort code k of g, control mask over cohort codes), cohort codes 0 for
    never treated and k for ``groups[k - 1]``."""
    pos = {p: j for j, p in enumerate(periods.tolist())}
    coh_g = np.array([0.0, *groups])
    specs = []
    for k, g in enumerate(groups, start=1):
        for j, tt in enumerate(periods.tolist()):
            if base_period == "varying" and tt < g - anticipation:
                if j == 0:
                    continue
                base = periods[j - 1]
            else:
                base = g - 1 - anticipation
            if base not in pos or base == tt:
                continue
            ctrl = coh_g == 0
            if control_group == "notyet":
                # not yet treated at t or the base period (nor anticipating), not g itself
                ctrl = ctrl | (coh_g > max(tt, base) + anticipation)
                ctrl[k] = False
            specs.append((g, tt, j, pos[base], k, ctrl))
    return specs


def _cells_unconditional(Y: np.ndarray, coh: np.ndarray,
                         specs: list[tuple[float, Any, int, int, int, np.ndarray]],
                         w: np.ndarray | None = None
                         ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """All ATT(g,t) without covariates and their influence functions (units x cells)
    from column arithmetic on the outcome matrix.

    Cell (g,t) is the 2x2 DID of the long difference dy = Y[:, t] - Y[:, base]: treated
    mean minus control mean, with influence function
    ``n w (1[treated] (dy - mean_t) / n_t - 1[control] (dy - mean_c) / n_c)`` (the
    outcome-regression estimator with only an intercept, which is what "dr", "ipw" and
    "reg" all reduce to). Treated and control sets are unions of cohorts, so one
    product of cohort indicators with all long differences gives every mean, and each
    influence function is ``(dy - centre[cohort]) * scale[cohort] * w``. With sampling
    weights ``w`` (one per unit) the means are weighted and n_t, n_c are the groups'
    weight totals; without, w = 1 and n_t, n_c are counts.
    """
    n = len(coh)
    ncoh = len(specs[0][5]) if specs else 1
    size = np.bincount(coh, weights=w, minlength=ncoh).astype(float)
    ctrl = np.array([s[5] for s in specs], dtype=bool).reshape(len(specs), ncoh)
    ctrl_n = ctrl @ size
    specs = [s for s, m in zip(specs, ctrl_n) if m > 0]
    ctrl, ctrl_n = ctrl[ctrl_n > 0], ctrl_n[ctrl_n > 0]
    if not specs:
        return [], np.zeros((n, 0))
    # cells x units, each row contiguous (Y is column-major)
    Yt = Y.T
    DY = Yt[[s[2] for s in specs]] - Yt[[s[3] for s in specs]]
    # cells x cohorts (weighted) sums of the long differences
    sums = np.array([np.bincount(coh, weights=row if w is None else row * w,
                                 minlength=ncoh) for row in DY])
    tcode = np.array([s[4] for s in specs])
    rows = np.arange(len(specs))
    mean_t = sums[rows, tcode] / size[tcode]
    mean_c = (ctrl * sums).sum(axis=1) / ctrl_n
    centre = np.where(ctrl, mean_c[:, None], 0.0)
    scale = np.where(ctrl, (-n / ctrl_n)[:, None], 0.0)
    centre[rows, tcode] = mean_t
    scale[rows, tcode] = n / size[tcode]
    DY -= np.take(centre, coh, axis=1)
    S = np.take(scale, coh, axis=1)
    if w is not None:
        # the unit's weight: one more pass over the cells x units block
        S *= w
    DY *= S
    cells = [{"group": int(s[0]), "time": int(s[1]), "estimate": float(a)}
             for s, a in zip(specs, mean_t - mean_c)]
    return cells, DY.T


def _cells_covariates(Y: np.ndarray, coh: np.ndarray,
                      specs: list[tuple[float, Any, int, int, int, np.ndarray]],
                      Xall: np.ndarray, method: str, w: np.ndarray | None = None
                      ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """ATT(g,t) with covariates (reg / ipw / dr on each 2x2 subsample, weighted by the
    unit weights ``w`` if given) and their influence functions over all units (zero
    outside the subsample).

    A cell's subsample is its treated cohort plus its comparison cohorts, so cells
    with the same (cohort, comparison cohorts) share their units, propensity score and
    outcome-regression Gram matrix: with never-treated controls every cell of a cohort
    does. The cells are estimated a subsample at a time (:func:`_att_2x2_cells`), one
    logit per subsample. The regression's normal equations come from per-cohort
    sufficient statistics ``X_c' W X_c`` and ``X_c' W Y_c`` (periods as columns)
    computed in one pass over the units: a cell's are sums over its comparison
    cohorts, differenced between its two periods.
    """
    n, T = Y.shape
    ncoh = len(specs[0][5]) if specs else 1
    wv = np.ones(n) if w is None else w
    # estimates and influence functions do not change under X -> X A (A invertible,
    # fixing the constant): centring and scaling the covariates keeps the Gram matrices
    # well conditioned for Cholesky and the logit's Newton steps
    X = Xall.copy()
    if X.shape[1] > 1:
        mu = X[:, 1:].mean(axis=0)
        sd = X[:, 1:].std(axis=0)
        X[:, 1:] = (X[:, 1:] - mu) / np.where(sd > 0, sd, 1.0)
    p = X.shape[1]
    order = np.argsort(coh, kind="stable")
    bounds = np.searchsorted(coh[order], np.arange(ncoh + 1))
    gram = np.zeros((ncoh, p, p))
    xy = np.zeros((ncoh, p, T))
    size = np.zeros(ncoh)
    for c in range(ncoh):
        idx = order[bounds[c]:bounds[c + 1]]
        Xw = X[idx] * wv[idx, None]
        gram[c] = Xw.T @ X[idx]
        xy[c] = Xw.T @ Y[idx]
        size[c] = wv[idx].sum()
    # cells with comparison units (of positive total weight), in spec order; those
    # sharing (cohort, comparison cohorts) form one subsample
    valid = [s for s in specs if s[5] @ size > 0]
    subsamples: dict[tuple[int, bytes], list[int]] = {}
    for i, s in enumerate(valid):
        subsamples.setdefault((s[4], s[5].tobytes()), []).append(i)
    F = np.zeros((n, len(valid)))
    att = np.zeros(len(valid))
    for (k, _), cols in subsamples.items():
        group = [valid[i] for i in cols]
        ctrl = group[0][5]
        member = ctrl.copy()
        member[k] = True
        keep = np.flatnonzero(member[coh])
        js = [s[2] for s in group]
        jbs = [s[3] for s in group]
        Yk = Y[keep]
        DY = Yk[:, js] - Yk[:, jbs]
        G = np.tensordot(ctrl.astype(float), gram, axes=1)
        XY = np.tensordot(ctrl.astype(float), xy, axes=1)
        a, inf = _att_2x2_cells(DY, (coh[keep] == k).astype(float), X[keep], method,
                                wv[keep], G, XY[:, js] - XY[:, jbs])
        att[cols] = a
        F[np.ix_(keep, cols)] = inf * (n / len(keep))
    cells = [{"group": int(s[0]), "time": int(s[1]), "estimate": float(a)}
             for s, a in zip(valid, att)]
    return cells, F


def att_gt(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str | None = None,
    *,
    control_group: str = "never",
    covariates: Sequence[str] | None = None,
    method: str = "dr",
    anticipation: int = 0,
    base_period: str = "varying",
    cluster: str | None = None,
    bootstrap: bool = False,
    draws: int = 999,
    seed: int | None = None,
    bootstrap_weights: str = "mammen",
    level: float = 0.95,
    weights: str | None = None,
) -> AttGtResult:
    """Callaway-Sant'Anna group-time average treatment effects on a balanced panel.

    Parameters
    ----------
    data : Design, DataFrame or Panel
        Long panel, one row per unit and period. A
        :class:`~policylab.estimators.design.Design` gives the cohort, cluster, weights
        and (as ``covariates`` unless given) controls; a Design with fixed effects
        other than unit and time is refused with a SpecError (att_gt's long
        differences remove only unit and period effects).
    y, unit, time : str
        Outcome, unit id and period columns (unit/time default to the Panel's).
    cohort : str
        First treated period (default column "cohort"); never-treated coded 0,
        missing or inf. Units treated in or before the first period are dropped (no
        pre-period); units first treated after the last period count as never
        treated.
    control_group : {"never", "notyet"}
        Never-treated units, or never and not-yet-treated units.
    covariates : list of str, optional
        Time-invariant (first-period) covariates; ``method`` chooses outcome regression
        ("reg"), IPW ("ipw") or doubly robust ("dr", default: Sant'Anna and Zhao's
        traditional DR estimator, which is what R ``did`` calls). Without covariates
        all three are the unconditional DID. As R DRDID, ipw and dr cap propensity
        scores at 1 - 1e-6 and give comparison units with a score of 0.995 or more no
        weight.
    anticipation : int
        Periods of anticipation.
    base_period : {"varying", "universal"}
        Pre-treatment cells compare t with t-1 ("varying", the R default) or every cell
        uses g - 1 - anticipation.
    cluster : str, optional
        Column constant within units (e.g. province) to cluster on; default: units.
        Analytic SEs sum influence functions within clusters; the bootstrap draws one
        weight per cluster.
    bootstrap : bool
        Multiplier bootstrap (R did's ``mboot``): bootstrap SEs and the uniform
        (sup-t) band in ``band_low``/``band_high``. The draws are kept with the result
        and ``.aggregate()`` reuses them (no second bootstrap).
    draws, seed, bootstrap_weights : int, int, {"mammen", "rademacher"}
        Bootstrap draws, seed and multiplier distribution.
    level : float
        Coverage of the uniform band.
    weights : str, optional
        Sampling weights, as R did's ``weightsname``: a column constant within units
        (a DataError names it otherwise), non-negative, not missing. Every 2x2
        estimate is weighted (weighted means; weighted least squares and a weighted
        logit with covariates), the influence functions carry the weights, and the
        aggregations weight cohorts by their weighted shares ``mean(w 1[G = g])``
        (the influence of those shares included), so analytic SEs, aggregations and
        the bootstrap are all weighted. The weights are normalised to mean 1 over the
        estimation units, as R did (no estimate depends on their scale).

    Returns
    -------
    AttGtResult
        ``.tidy()`` (one row per ATT(g,t)), ``.aggregate(kind)``, ``.pretest``
        (Wald test that all pre-treatment ATT(g,t) are zero), ``.plot()``.
    """
    from policylab.validation import check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    _check_att_gt_options(control_group, base_period, method, bootstrap_weights)
    df, unit, time, cohort, cluster, weights, covariates, design = _att_gt_inputs(
        data, y, unit, time, cohort, cluster, weights, covariates)
    # the panel as arrays once: (units x periods) outcomes, one value per unit for the
    # cohort, cluster and covariates (no pivot, no groupby over the long rows)
    Y, units, periods, cell = _wide(df, y, unit, time)
    N, T = Y.shape
    gv = pd.to_numeric(df[cohort], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    gv = np.where(np.isfinite(gv), gv, 0.0)
    G, varies = _per_unit(gv, cell, N, T)
    if varies.any():
        bad = units[varies][:5].tolist()
        raise DataError(f"cohort column {cohort!r} varies within units (e.g. {bad}); it must "
                        "hold the unit's first treated period on every row")
    notes: list[str] = []
    late = G > periods[-1]
    if late.any():
        notes.append(f"{int(late.sum())} units first treated after the last period "
                     f"({periods[-1]}) are treated as never treated")
        G = np.where(late, 0.0, G)
    keep_units = np.ones(N, dtype=bool)
    early = (G > 0) & (G <= periods[0] + anticipation)
    if early.any():
        notes.append(f"dropped {int(early.sum())} units already treated in the first period "
                     "(no pre-treatment period to compare with)")
        keep_units = ~early
        Y, G = Y[keep_units], G[keep_units]
    cl_codes = None
    if cluster is not None and cluster != unit:
        require_columns(df, [cluster])
        raw, _ = pd.factorize(df[cluster])
        if (raw < 0).any():
            raise DataError(f"cluster column {cluster!r} is missing on {int((raw < 0).sum())} "
                            "rows; fill it or drop those units")
        cl_unit, cl_varies = _per_unit(raw.astype(np.int64), cell, N, T)
        if cl_varies.any():
            raise DataError(f"cluster column {cluster!r} varies within units; att_gt "
                            "clusters at a level that contains whole units")
        # dense codes in order of first appearance over the sorted units
        cl_codes = pd.factorize(cl_unit[keep_units])[0].astype(np.int64)
    wu = None if weights is None else _unit_weights(df, weights, cell, units, N, T,
                                                    design is not None)[keep_units]
    Xall = None
    if covariates:
        require_columns(df, list(covariates), "covariate")
        # unit x covariate matrix from the outcome's scatter: the first-period rows
        # (R did's panel convention), one column at a time, converting only those rows
        first = np.empty((N, len(covariates)))
        rows = np.flatnonzero(cell % T == 0)
        dest = cell[rows] // T
        for j, cv in enumerate(covariates):
            try:
                first[dest, j] = pd.to_numeric(df[cv].iloc[rows]).to_numpy(
                    dtype=float, na_value=np.nan)
            except (TypeError, ValueError):
                raise DataError(f"covariate {cv!r} is not numeric; code it as numbers "
                                "(e.g. dummies for a categorical)") from None
        Xall = np.column_stack([np.ones(int(keep_units.sum())), first[keep_units]])
        if np.isnan(Xall).any():
            raise DataError("covariates are missing in the first period for some units")
    groups = sorted(g for g in set(G.tolist()) if g > 0)
    if not groups:
        raise EstimationError("no treated cohort with a pre-period")
    n = len(G)
    # cohort code per unit: 0 never treated, 1.. the cohorts in order; every cell's
    # treated and control sets are unions of cohorts
    coh = np.searchsorted(np.array([0.0, *groups]), G)
    if wu is not None:
        tot = np.bincount(coh, weights=wu, minlength=len(groups) + 1)
        zero = [int(g) for g, t in zip(groups, tot[1:]) if not t > 0]
        if zero:
            raise DataError(f"weights column {weights!r} is zero for every unit of cohorts "
                            f"{zero}; give them positive weights or drop those units")
        wu = wu / wu.mean()
    specs = _cell_specs(groups, periods, control_group, anticipation, base_period)
    with _one_blas_thread():
        if Xall is None:
            cells, F = _cells_unconditional(Y, coh, specs, wu)
        else:
            cells, F = _cells_covariates(Y, coh, specs, Xall, method, wu)
        if not cells:
            raise EstimationError("no ATT(g,t) has a control group: no never-treated or "
                                  "not-yet-treated units to compare with")
        V = _if_vcov(F, cl_codes)
    c = pd.DataFrame(cells)
    c["std_error"] = np.sqrt(np.diag(V))
    pre, thin = _pretest_cells(c, G, cl_codes, anticipation)
    pretest: dict[str, Any] = {}
    if pre.any():
        pretest = _rank_wald(c.loc[pre, "estimate"].to_numpy(), V[np.ix_(pre, pre)])
    elif thin:
        pretest = {"test": "Wald (rank-aware)", "statistic": None, "p_value": None,
                   "df": 0, "rank": 0, "n_cells": 0, "reason": "every cohort with "
                   "pre-treatment cells has a single treated cluster"}
    if thin and pretest:
        pretest["excluded_cohorts"] = thin
        notes.append(f"the pre-tests leave out cohorts {thin}: a single treated cluster "
                     "has no estimable variance of its own")
    if pretest and pretest["statistic"] is None:
        notes.append(f"the pre-test is not computable: {pretest['reason']}")
    se_label = ("multiplier bootstrap, " if bootstrap else "influence function, ") + (
        f"clustered by {cluster}" if cl_codes is not None else f"clustered by {unit}") + (
        f"; weighted by {weights}" if weights else "")
    res = AttGtResult(
        nobs=int(Y.size), cells=c, inf=F, unit_group=G, pretest=pretest, clusters=cl_codes,
        unit_weights=wu,
        meta={"depvar": y, "estimator": "Callaway-Sant'Anna",
              "control_group": control_group,
              "method": method if covariates else "unconditional",
              "covariates": list(covariates or []), "weights": weights,
              "anticipation": anticipation,
              "base_period": base_period, "unit": unit, "time": time,
              "cluster": [cluster or unit], "n_units": n,
              "n_clusters": int(cl_codes.max()) + 1 if cl_codes is not None else n,
              "bootstrap": bootstrap, "draws": draws, "seed": seed,
              "bootstrap_weights": bootstrap_weights, "level": level, "band_crit": None,
              "se_label": se_label, "design": design_record(
                  unit=unit, time=time, treatment=f"cohort {cohort}", nobs=int(Y.size),
                  fe=[unit, time], cluster=cluster, weights=weights,
                  controls=covariates or (), design=design)})
    if bootstrap:
        # one bootstrap of [cell IFs, cohort indicators]: the cells' SEs and band now,
        # every aggregation later from the same draws
        out = res._draws(draws, seed, bootstrap_weights)[:, :F.shape[1]]
        se_b = _boot_se(out)
        c["std_error"] = se_b
        res.meta["band_crit"] = _sup_t_crit(out, se_b, level)
    for note in notes:
        res.warn(note)
    return res


def sun_abraham(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str | None = None,
    *,
    controls: Sequence[str] = (),
    fe: str | Sequence[str] | None = None,
    ref: int = -1,
    cluster: str | None = None,
    weights: str | None = None,
    control_cohort: str = "never",
) -> CoefResult:
    """Sun-Abraham interaction-weighted event study.

    Regresses y on cohort x relative-time dummies (reference period ``ref`` and the
    control cohort excluded) with absorbed fixed effects, then averages each event
    time's cohort-specific effects with the cohorts' shares among treated observations
    at that event time; the covariance follows by the delta method (shares treated as
    fixed, as fixest's ``sunab`` aggregation).

    Parameters
    ----------
    data : Design, DataFrame or Panel
        Long panel (unbalanced allowed); a
        :class:`~policylab.estimators.design.Design` gives the cohort, controls, fixed
        effects, cluster and weights.
    y, unit, time : str
        Outcome, unit id and period columns (unit/time default to the Panel's).
    cohort : str
        First treated period (default column "cohort"); never-treated coded 0,
        missing or inf.
    controls : list of str
        Covariates of the regression.
    fe : str or list of str, optional
        Absorbed fixed effects: default ``unit + time``; e.g. ``"unit + year"``,
        ``"unit + region^year"`` (interactions with ``^``, the syntax
        :func:`policylab.feols` uses after ``|``) or ``["unit", "region^year"]``;
        parsed as :func:`policylab.did_imputation`'s ``fe=``.
    ref : int
        Omitted relative period (default -1).
    cluster : str, optional
        Cluster column of the CRV1 covariance (default: unit).
    weights : str, optional
        Observation weights of the regression (weighted least squares, as feols'
        ``weights=``). The aggregation shares are then weighted too: a cohort's share
        at event time e is the sum of the weights of its observations at e over that of
        all cohorts at e, as fixest's ``aggregate(..., use_weights = TRUE)`` (the
        default for a weighted ``sunab`` estimation: ``colSums(w * sign(X))`` over the
        interaction columns). Shares are taken over the rows the regression used.
    control_cohort : {"never", "last"}
        Control units: never treated, or also the last-treated cohort (whose periods
        from its adoption on are dropped).

    Returns
    -------
    CoefResult
        Terms ``rel::e`` (one per event time); ``meta["cohort_effects"]`` holds the
        cohort x relative-time coefficients' terms, cohort, event time, observation
        count ``n`` and share mass ``weight`` (the summed weights; ``n`` unweighted).
    """
    from policylab.estimators.feols import feols
    df, unit, time, cohort, m, design = cohort_inputs(
        data, "sun_abraham", y, unit, time, cohort, controls=controls, fe=fe,
        cluster=cluster, weights=weights)
    controls, fe, cluster, weights = m["controls"], m["fe"], m["cluster"], m["weights"]
    fe_list = model_fe_terms(fe, unit, time, what="sun_abraham")
    require_fe_columns(df, fe_list)
    if weights is not None:
        require_columns(df, [weights], "weights column")
    # a new frame (the dummies are added to it, never to the caller's) with unique
    # labels: the regression's used rows are looked up by label below
    d = df.reset_index(drop=True)
    G = pd.to_numeric(d[cohort], errors="coerce").replace([np.inf], np.nan).fillna(0)
    if control_cohort == "never":
        ctrl = G == 0
        if not ctrl.any():
            raise EstimationError("no never-treated units; use control_cohort='last'")
    else:
        last = G[G > 0].max()
        ctrl = (G == 0) | (G == last)
        d = d[(G == 0) | (d[time] < last) | (G != last)].copy()
        G = G.loc[d.index]
        ctrl = ctrl.loc[d.index]
    rel = (d[time] - G).where(~ctrl)
    names, meta_rows, dummies = [], [], {}
    for g in sorted(G[~ctrl].unique()):
        for e in sorted(rel[G == g].dropna().unique()):
            if e == ref:
                continue
            nm = f"sa_{int(g)}_{'m' if e < 0 else 'p'}{abs(int(e))}"
            dummies[nm] = ((G == g) & (rel == e)).astype(float)
            names.append(nm)
            meta_rows.append((nm, int(g), int(e)))
    # one concat, not one insert per dummy: inserting dozens of columns into a frame
    # read from a CSV (one block per column) made pandas print a PerformanceWarning each
    d = pd.concat([d.drop(columns=[c for c in dummies if c in d.columns]),
                   pd.DataFrame(dummies, index=d.index)], axis=1)
    from policylab.estimators.formula import model_formula

    fml = model_formula(d.columns, [y], names + list(controls), fe_list)
    reg = feols(fml, d, vcov={"CRV1": cluster or unit}, weights=weights)
    info = pd.DataFrame(meta_rows, columns=["term", "cohort", "rel"])
    info = info[info["term"].isin(reg.terms)].reset_index(drop=True)
    if info.empty:
        raise EstimationError(
            f"every cohort x event-time interaction was dropped by the regression "
            f"(fixed effects {' + '.join(fe_list)}): {reg.warnings[:3]}; absorb less, "
            "e.g. fe='unit + year', or check that treatment varies within the fixed effects"
        )
    # share mass of each cohort x event-time cell over the estimation sample: counts,
    # or the summed observation weights (fixest: colSums(w * sign(X)))
    used = d.loc[reg.model["rows"], list(info["term"])].to_numpy()
    info["n"] = used.sum(axis=0).astype(int)
    if weights is None:
        info["weight"] = info["n"].astype(float)
    else:
        wu = pd.to_numeric(d.loc[reg.model["rows"], weights]).to_numpy(float)
        info["weight"] = wu @ used
    rel_times = sorted(info["rel"].unique())
    b = reg.coef()
    V = reg.vcov()
    W = np.zeros((len(rel_times), len(info)))
    for i, e in enumerate(rel_times):
        m = (info["rel"] == e).to_numpy()
        W[i, m] = info.loc[m, "weight"] / info.loc[m, "weight"].sum()
    bt = b[info["term"]].to_numpy()
    Vt = V.loc[info["term"], info["term"]].to_numpy()
    res = CoefResult(nobs=reg.nobs, terms=[f"rel::{e}" for e in rel_times], beta=W @ bt,
                     vcov_matrix=W @ Vt @ W.T, df_t=reg.df_t,
                     meta={"depvar": y, "rel_times": rel_times, "ref": ref,
                           "estimator": "Sun-Abraham", "cohort_effects": info,
                           "fe": fe_list, "weights": weights,
                           "cluster": [cluster or unit],
                           "design": design_record(
                               unit=unit, time=time, treatment=f"cohort {cohort}",
                               nobs=reg.nobs, fe=fe_list, cluster=cluster or unit,
                               weights=weights, controls=controls, design=design)})
    for msg in reg.warnings:  # few clusters, dropped interactions: the user should see them
        res.warn(msg)
    return res
