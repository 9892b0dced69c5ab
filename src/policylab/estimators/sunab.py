"""Sun and Abraham (2021) interaction-weighted event study for staggered adoption.

Cohort x relative-time interactions in one regression (any absorbed fixed effects,
``fe=`` as did_imputation, and observation weights, which also weight the cohort
shares as fixest's ``sunab`` aggregation), averaged per event time with the cohorts'
shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import require_columns
from policylab.errors import EstimationError
from policylab.estimators.design import (
    cohort_inputs,
    design_record,
    model_fe_terms,
    require_fe_columns,
)
from policylab.estimators.result import CoefResult
from policylab.messages import Message

__all__ = ["sun_abraham"]


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
            raise EstimationError(Message("sunab.no_never_treated"))
    else:
        last = G[G > 0].max()
        ctrl = (G == 0) | (G == last)
        d = d[(G == 0) | (d[time] < last) | (G != last)].copy()
        G = G.loc[d.index]
        ctrl = ctrl.loc[d.index]
    rel = (d[time] - G).where(~ctrl)
    cell, names, meta_rows, dummies = _cell_dummies(G, rel, ctrl, ref)
    clash = [c for c in dummies if c in d.columns]
    if clash:  # the data's own columns of these names are not the dummies
        d = d.drop(columns=clash)
    from policylab.estimators.formula import model_formula

    fml = model_formula(d.columns, [y], names + list(controls), fe_list)
    reg = feols(fml, d, vcov={"CRV1": cluster or unit}, weights=weights, _columns=dummies)
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
    cu = cell[reg.fit.positions()]
    # the 0/1 columns of the used cells, column-major as the frame's block was
    used = np.asfortranarray(np.column_stack(
        [cu == names.index(t) for t in info["term"]]).astype(float))
    info["n"] = used.sum(axis=0).astype(int)
    if weights is None:
        info["weight"] = info["n"].astype(float)
    else:
        wu = pd.to_numeric(d.loc[reg.fit.rows, weights]).to_numpy(float)
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


def _cell_dummies(G: pd.Series, rel: pd.Series, ctrl: pd.Series, ref: int
                  ) -> tuple[np.ndarray, list[str], list[tuple[str, int, int]], dict[str, Any]]:
    """Each row's cohort x event-time cell (its position in the names; NaN: none), the
    dummies' names, (name, cohort, event time) rows and fillers that write each dummy
    from the cell codes straight into feols' design matrix (no n x cells frame at
    firm scale)."""
    from policylab.engine.passes import fill_indicator

    cell = np.full(len(G), np.nan)
    gv, rv = G.to_numpy(float), rel.to_numpy(float)
    names: list[str] = []
    meta_rows: list[tuple[str, int, int]] = []
    dummies: dict[str, Any] = {}
    for g in sorted(G[~ctrl].unique()):
        for e in sorted(rel[G == g].dropna().unique()):
            if e == ref:
                continue
            nm = f"sa_{int(g)}_{'m' if e < 0 else 'p'}{abs(int(e))}"
            cell[(gv == g) & (rv == e)] = len(names)
            dummies[nm] = lambda out, c=float(len(names)): fill_indicator(cell, c, out)
            names.append(nm)
            meta_rows.append((nm, int(g), int(e)))
    return cell, names, meta_rows, dummies
