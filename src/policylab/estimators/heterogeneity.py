"""Subgroup heterogeneity: the DID in each group side by side, and tests that the
effects differ (interaction, SUEST-equivalent stacked model, Fisher permutation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import Panel, require_columns
from policylab.engine import fixed_effects as fx
from policylab.errors import SpecError
from policylab.estimators.design import build_design
from policylab.estimators.did import did
from policylab.estimators.feols import feols
from policylab.estimators.result import Result

__all__ = ["heterogeneity", "HeterogeneityResult"]


@dataclass
class HeterogeneityResult(Result):
    """Subgroup estimates (``tidy``), the difference tests (``tests``) and each subgroup's
    DIDResult (``subgroup_results[(by, level)]``) for tables."""

    estimates: pd.DataFrame = field(default_factory=pd.DataFrame)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    subgroup_results: dict[tuple[str, Any], Any] = field(default_factory=dict)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per (split, group): estimate, SE, p-value, N, treated units."""
        return self.estimates.copy()


def _within_coef(Z: np.ndarray, unit: np.ndarray, time: np.ndarray) -> float:
    fe = np.column_stack([fx.densify(unit)[0], fx.densify(time)[0]])
    keep = fx.drop_singletons(fe)
    Z, fe = Z[keep], np.column_stack([fx.densify(fe[keep, j])[0] for j in range(2)])
    Zd = fx.demean(Z, fe)
    X, y = Zd[:, 1:], Zd[:, 0]
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    return float(beta[0])


def heterogeneity(
    data: Any,
    y: str,
    by: Sequence[str],
    treat: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    controls: Sequence[str] = (),
    fe: Sequence[str] | None = None,
    cluster: str | None = None,
    *,
    cohort: str | None = None,
    roster: str | None = None,
    date: str = "announcement",
    assign: str | None = None,
    permutations: int = 1000,
    seed: int | None = None,
    min_treated: int = 5,
    weights: str | None = None,
) -> HeterogeneityResult:
    """Subgroup DIDs for every level of each ``by`` column, with difference tests.

    For each split: the *interaction* test (D x group dummies in one model with common
    controls and FE, Wald test that they are zero), the *SUEST* test (stacked model with
    group-specific slopes and time effects, cluster-robust covariance across groups:
    coefficients equal the separate regressions), and, for two-level splits, a Fisher
    *permutation* test of the coefficient difference (group labels permuted across
    units, ``permutations`` draws, seeded; Stata ``bdiff``).
    """
    panel = data if isinstance(data, Panel) else Panel(data, unit=unit, time=time)
    unit, time = panel.unit, panel.time
    design = build_design(panel, treat=treat, cohort=cohort, roster=roster, date=date,
                          assign=assign)
    df = design.df
    D = design.treat_col
    require_columns(df, [y, *by, *controls])
    clus = cluster or design.assign
    rows, tests, subs = [], [], {}
    res = HeterogeneityResult(nobs=len(df))
    for col in by:
        if (df.groupby(unit)[col].nunique(dropna=False) > 1).any():
            raise SpecError(f"by={col!r} must be constant within each {unit!r} (a pre-determined "
                            "unit characteristic)")
        levels = sorted(df[col].dropna().unique(), key=str)
        if len(levels) < 2:
            raise SpecError(f"by={col!r} has a single level")
        for lv in levels:
            sub = df[df[col] == lv]
            r = did(Panel(sub, unit=unit, time=time), y=y, treat=D, controls=list(controls),
                    fe=fe, cluster=clus, weights=weights, assign=design.assign)
            subs[(col, lv)] = r
            n_tr = r.meta["design"]["n_treated_units"]
            rows.append({"by": col, "group": lv, "term": f"{col}={lv}", "estimate": r.att,
                         "std_error": float(r.se()[D]), "statistic": float(r.tstat()[D]),
                         "p_value": float(r.pvalue()[D]),
                         "conf_low": float(r.confint().loc[D, "conf_low"]),
                         "conf_high": float(r.confint().loc[D, "conf_high"]),
                         "nobs": r.nobs, "n_treated_units": n_tr,
                         "n_treated_clusters": r.meta["design"]["n_treated_groups"]})
            if r.meta["design"]["n_treated_groups"] < min_treated:
                res.warn(f"subgroup {col}={lv} has only {r.meta['design']['n_treated_groups']} "
                         f"treated {design.assign} clusters; its estimate and the difference "
                         "tests rest on very few treated units")
        tests.extend(_split_tests(df, y, D, col, levels, list(controls), unit, time, clus,
                                  design.assign, subs, permutations, seed, fe))
    res.estimates = pd.DataFrame(rows)
    res.tests = pd.DataFrame(tests)
    res.subgroup_results = subs
    res.meta = {"depvar": y, "by": list(by), "treat_term": D, "cluster": [clus],
                "permutations": permutations, "seed": seed}
    return res


def _split_tests(df: pd.DataFrame, y: str, D: str, col: str, levels: list[Any],
                 controls: list[str], unit: str, time: str, clus: str, assign: str,
                 subs: dict, permutations: int, seed: int | None,
                 fe: Sequence[str] | None) -> list[dict[str, Any]]:
    out = []
    g = pd.Categorical(df[col], categories=levels)
    work = df.assign(_grp=g.codes)
    names = []
    for j in range(1, len(levels)):
        n = f"_Dx{j}"
        work[n] = work[D] * (work["_grp"] == j)
        names.append(n)
    base_fe = " + ".join(fe) if fe else f"{unit} + {time}"
    rhs = " + ".join([D, *names, *controls])
    inter = feols(f"{y} ~ {rhs} | {base_fe}", work, vcov={"CRV1": clus})
    wt = inter.wald_test(names)
    out.append({"by": col, "test": "interaction", "statistic": wt["statistic"],
                "p_value": wt["p_value"], "difference": float(inter.coef()[names[0]])
                if len(names) == 1 else np.nan})
    # SUEST-equivalent: group-specific slopes and time effects, joint clustered vcov
    terms = []
    for j in range(len(levels)):
        work[f"_D{j}"] = work[D] * (work["_grp"] == j)
        terms.append(f"_D{j}")
        for c in controls:
            work[f"_{c}{j}"] = work[c] * (work["_grp"] == j)
            terms.append(f"_{c}{j}")
    stacked = feols(f"{y} ~ {' + '.join(terms)} | {unit} + {time}^_grp", work,
                    vcov={"CRV1": clus})
    b = stacked.coef()
    V = stacked.vcov()
    R = np.zeros((len(levels) - 1, len(stacked.terms)))
    for j in range(1, len(levels)):
        R[j - 1, stacked.terms.index("_D0")] = -1
        R[j - 1, stacked.terms.index(f"_D{j}")] = 1
    diff = R @ b.to_numpy()
    W = float(diff @ np.linalg.solve(R @ V.to_numpy() @ R.T, diff))
    from scipy import stats

    q = len(levels) - 1
    out.append({"by": col, "test": "suest", "statistic": W / q,
                "p_value": float(stats.f.sf(W / q, q, stacked.df_t)) if stacked.df_t else
                float(stats.chi2.sf(W, q)), "difference": float(diff[0]) if q == 1 else np.nan})
    if len(levels) == 2 and permutations:
        out.append(_permutation(work, y, D, controls, unit, time, col, levels, subs,
                                permutations, seed))
    return out


def _permutation(work: pd.DataFrame, y: str, D: str, controls: list[str], unit: str,
                 time: str, col: str, levels: list[Any], subs: dict, reps: int,
                 seed: int | None) -> dict[str, Any]:
    """Fisher permutation of group labels across units (bdiff), same group sizes."""
    real = subs[(col, levels[1])].att - subs[(col, levels[0])].att
    units = pd.Index(work[unit].unique())
    grp_of_unit = work.groupby(unit)["_grp"].first().reindex(units).to_numpy()
    uc = units.get_indexer(work[unit])
    tc = pd.factorize(work[time])[0]
    Z = work[[y, D, *controls]].to_numpy(float)
    rng = np.random.default_rng(seed)
    diffs = np.empty(reps)
    for r in range(reps):
        perm = rng.permutation(grp_of_unit)[uc]
        b = [_within_coef(Z[perm == j], uc[perm == j], tc[perm == j]) for j in (0, 1)]
        diffs[r] = b[1] - b[0]
    p = (1 + np.sum(np.abs(diffs) >= abs(real) * (1 - 1e-10))) / (1 + reps)
    return {"by": col, "test": "permutation", "statistic": real, "p_value": float(p),
            "difference": real, "draws": reps}
