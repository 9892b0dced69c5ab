"""Heterogeneity-robust DID for staggered adoption: Callaway and Sant'Anna's att_gt.

``att_gt``: Callaway and Sant'Anna (2021) group-time average treatment effects with
never- or not-yet-treated controls, without covariates or with covariates by outcome
regression, inverse probability weighting or the doubly robust estimator of Sant'Anna
and Zhao (2020); analytic standard errors from influence functions (clustered by unit),
aggregations (simple, dynamic, group, calendar) with the influence of the estimated
weights included, the pre-test of parallel trends, and multiplier-bootstrap uniform
bands; optional sampling weights (constant within units) in all of these. Follows the
R ``did`` package's conventions.

Where the pieces live:

- :mod:`policylab.estimators.cohort_tables`: the panel as unit x period tables (the
  inputs, checked) and the ATT(g,t) cells to estimate;
- :mod:`policylab.estimators.drdid`: the 2x2 estimators with covariates (reg, ipw, dr)
  and the propensity logit;
- :mod:`policylab.estimators.cs_results`: ``AttGtResult`` and ``AggregateResult`` (the
  aggregations, their bootstrap and the bootstrap pre-test);
- :mod:`policylab.engine.multiplier`: the multiplier bootstrap (numbers only);
- this module: ``att_gt`` itself, the cell estimates and the Wald pre-test.

``sun_abraham`` (:mod:`policylab.estimators.sunab`) and the result classes are
importable from here too, as before the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc

from policylab.engine.multiplier import (
    influence_vcov,
    multiplier_bootstrap,
    random_bytes,
    robust_se,
    sup_t_crit,
)
from policylab.engine.threads import one_blas_thread
from policylab.errors import EstimationError, SpecError
from policylab.estimators.cohort_tables import (
    balanced_rows,
    cell_specs,
    cohort_codes,
    first_period_covariates,
    unit_clusters,
    unit_cohorts,
    unit_weights,
    wide_outcomes,
)
from policylab.estimators.cs_results import (
    AggregateResult,
    AttGtResult,
    bootstrap_draws,
    check_bootstrap,
    pretest_cells,
)
from policylab.estimators.design import cohort_inputs, design_record
from policylab.estimators.drdid import att_2x2_cells, logit
from policylab.estimators.sunab import sun_abraham
from policylab.messages import Message

__all__ = ["att_gt", "AttGtResult", "AggregateResult", "sun_abraham"]

# names that tests import from here, from before the split
_bootstrap_draws = bootstrap_draws
_random_bytes = random_bytes
_logit = logit


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
                "reason": Message("cs.pretest_no_variance")}
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


def _check_att_gt_options(control_group: str, base_period: str, method: str,
                          weights_type: str) -> None:
    if control_group not in ("never", "notyet"):
        raise SpecError("control_group must be 'never' or 'notyet'")
    if base_period not in ("varying", "universal"):
        raise SpecError("base_period must be 'varying' or 'universal'")
    if method not in ("dr", "ipw", "reg"):
        raise SpecError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    if weights_type not in ("mammen", "rademacher"):
        raise SpecError("weights_type (the multiplier bootstrap's weights) must be 'mammen' "
                        f"or 'rademacher', got {weights_type!r}")


def _att_gt_inputs(data: Any, y: str, unit: str | None, time: str | None,
                   cohort: str | None, cluster: str | None, weights: str | None,
                   covariates: Sequence[str] | None) -> tuple:
    """att_gt's frame, keys, cohort, cluster, weights, covariates (a Design's controls
    unless given) and Design; a Design with finer fixed effects is refused."""
    df, unit, time, cohort, m, design = cohort_inputs(data, "att_gt", y, unit, time, cohort,
                                                      cluster=cluster, weights=weights)
    if design is not None:
        design.refuse(Message("name.att_gt"), fe=True)
        if covariates is None and design.controls:
            covariates = list(design.controls)
    return df, unit, time, cohort, m["cluster"], m["weights"], covariates, design


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
    does. The cells are estimated a subsample at a time (:func:`~policylab.estimators.drdid.att_2x2_cells`), one
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
        a, inf = att_2x2_cells(DY, (coh[keep] == k).astype(float), X[keep], method,
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
    weights_type: str | None = None,
    level: float = 0.95,
    weights: str | None = None,
    bootstrap_weights: str | None = None,
) -> AttGtResult:
    """Callaway-Sant'Anna group-time average treatment effects on a balanced panel.

    Parameters
    ----------
    data : Design, DataFrame or Panel
        Long panel, one row per unit and period. Units with a gap, or with a row
        missing the outcome or a covariate, are dropped with a warning (R did's
        default ``allow_unbalanced_panel = FALSE``); did_imputation keeps them. A
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
    draws, seed : int, int
        Bootstrap draws and seed.
    weights_type : {"mammen", "rademacher"}
        The multiplier distribution of the bootstrap (default "mammen", as R did); the
        name :func:`policylab.wild_bootstrap` uses for its weight distribution.
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
    bootstrap_weights : {"mammen", "rademacher"}, optional
        Deprecated name of ``weights_type`` (accepted for one release).

    Returns
    -------
    AttGtResult
        ``.tidy()`` (one row per ATT(g,t)), ``.aggregate(kind)``, ``.pretest``
        (Wald test that all pre-treatment ATT(g,t) are zero), ``.plot()``.
    """
    from policylab.validation import check_count, check_seed, renamed_arg

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    weights_type = renamed_arg(weights_type, bootstrap_weights, "weights_type",
                               "bootstrap_weights", "att_gt", "mammen")
    _check_att_gt_options(control_group, base_period, method, weights_type)
    df, unit, time, cohort, cluster, weights, covariates, design = _att_gt_inputs(
        data, y, unit, time, cohort, cluster, weights, covariates)
    # the panel as arrays once: (units x periods) outcomes, one value per unit for the
    # cohort, cluster and covariates (no pivot, no groupby over the long rows)
    # a missing weight stays an error (unit_weights names it): a Design refuses it too
    df, balanced, codes = balanced_rows(df, y, unit, time, list(covariates or []))
    Y, units, periods, cell = wide_outcomes(df, y, unit, time, codes)
    N, T = Y.shape
    G, keep_units, notes = unit_cohorts(df, cohort, cell, units, periods, anticipation)
    notes = [balanced, *notes] if balanced is not None else notes
    if not keep_units.all():
        Y, G = Y[keep_units], G[keep_units]
    cl_codes = None
    if cluster is not None and cluster != unit:
        cl_codes = unit_clusters(df, cluster, cell, N, T, keep_units)
    wu = None if weights is None else unit_weights(df, weights, cell, units, N, T,
                                                   design is not None)[keep_units]
    Xall = None
    if covariates:
        Xall = first_period_covariates(df, covariates, cell, N, T, keep_units)
    groups, coh, wu = cohort_codes(G, wu, weights)
    n = len(G)
    specs = cell_specs(groups, periods, control_group, anticipation, base_period)
    with one_blas_thread():
        if Xall is None:
            cells, F = _cells_unconditional(Y, coh, specs, wu)
        else:
            cells, F = _cells_covariates(Y, coh, specs, Xall, method, wu)
        if not cells:
            raise EstimationError(Message("cs.no_control_group"))
        V = influence_vcov(F, cl_codes)
    c = pd.DataFrame(cells)
    c["std_error"] = np.sqrt(np.diag(V))
    pretest = _wald_pretest(c, V, G, cl_codes, anticipation, notes)
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
              "weights_type": weights_type, "level": level, "band_crit": None,
              "se_label": se_label, "design": design_record(
                  unit=unit, time=time, treatment=f"cohort {cohort}", nobs=int(Y.size),
                  fe=[unit, time], cluster=cluster, weights=weights,
                  controls=covariates or (), design=design)})
    if bootstrap:
        # one bootstrap of [cell IFs, cohort indicators]: the cells' SEs and band now,
        # every aggregation later from the same draws
        out = res._draws(draws, seed, weights_type)[:, :F.shape[1]]
        se_b = robust_se(out)
        c["std_error"] = se_b
        res.meta["band_crit"] = sup_t_crit(out, se_b, level)
    for note in notes:
        res.warn(note)
    return res


def _wald_pretest(c: pd.DataFrame, V: np.ndarray, G: np.ndarray,
                  clusters: np.ndarray | None, anticipation: int, notes: list[str]
                  ) -> dict[str, Any]:
    """The rank-aware Wald pre-test that every pre-treatment ATT(g,t) is zero, over the
    cells of cohorts with two or more treated clusters; adds to ``notes`` which cohorts
    it leaves out and why it cannot be computed, if so."""
    pre, thin = pretest_cells(c, G, clusters, anticipation)
    pretest: dict[str, Any] = {}
    if pre.any():
        pretest = _rank_wald(c.loc[pre, "estimate"].to_numpy(), V[np.ix_(pre, pre)])
    elif thin:
        pretest = {"test": "Wald (rank-aware)", "statistic": None, "p_value": None,
                   "df": 0, "rank": 0, "n_cells": 0,
                   "reason": Message("cs.pretest_single_clusters")}
    if thin and pretest:
        pretest["excluded_cohorts"] = thin
        notes.append(Message("cs.pretest_excludes", cohorts=thin))
    if pretest and pretest["statistic"] is None:
        notes.append(Message("cs.pretest_not_computable", why=pretest["reason"]))
    return pretest


def _multiplier_bootstrap(F: np.ndarray, clusters: np.ndarray | None, draws: int,
                          seed: int | None, weights: str, level: float,
                          chunk: int = 128, single: bool = True
                          ) -> tuple[np.ndarray, float, np.ndarray]:
    """:func:`policylab.engine.multiplier.multiplier_bootstrap` after the settings are
    checked (:func:`~policylab.estimators.cs_results.check_bootstrap`)."""
    check_bootstrap(draws, weights, F.shape[1])
    return multiplier_bootstrap(F, clusters, draws, seed, weights, level, chunk, single)
