"""Subgroup heterogeneity: the DID in each group side by side, and tests that the
effects differ (interaction, SUEST-equivalent stacked model, Fisher permutation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.names import quote_name
from policylab.data.panel import Panel, require_columns
from policylab.engine import bootstrap_kernels as bk
from policylab.engine.threads import one_blas_thread
from policylab.errors import PolicyLabError, SpecError
from policylab.estimators.design import as_design
from policylab.estimators.did import did
from policylab.estimators.feols import feols
from policylab.estimators.formula import fe_codes as fe_codes_of
from policylab.estimators.result import Result
from policylab.inference.randomization import (
    draw_statistics,
    p_values,
    permuted_chunks,
    stratified_permutation_chunks,
)
from policylab.inference.resampling import GramDraws, closed_form_twoway
from policylab.messages import Message, reason_of

__all__ = ["heterogeneity", "HeterogeneityResult"]


@dataclass
class HeterogeneityResult(Result):
    """Subgroup estimates (``tidy``), the difference tests (``tests``), each subgroup's
    DIDResult (``subgroup_results[(by, level)]``) for tables, and the pooled models behind
    the tests (``test_results[(by, "interaction" | "suest" | "wild_bootstrap")]``).

    The subgroup and pooled results keep their numbers (coefficients, covariance,
    ``tidy()``, fit statistics) but not their fitted arrays (``.fit`` is None, as after
    a study run with ``keep_fits=False``): on a firm panel those arrays are several
    copies of the data. Re-studentising or bootstrapping one of them means refitting it
    (``pl.did`` on the subgroup, ``pl.feols`` on the stacked model)."""

    estimates: pd.DataFrame = field(default_factory=pd.DataFrame)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    subgroup_results: dict[tuple[str, Any], Any] = field(default_factory=dict)
    test_results: dict[tuple[str, str], Any] = field(default_factory=dict)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per (split, group): estimate, SE, p-value, N, treated units."""
        return self.estimates.copy()

    def summary(self) -> str:
        """Subgroup estimates side by side, then the difference tests per split."""
        lines = [f"HeterogeneityResult  (N = {self.nobs:,})"]
        cols = ["by", "group", "estimate", "std_error", "p_value", "nobs", "n_treated_units",
                "n_treated_clusters"]
        fmt = {"float_format": lambda v: f"{v:.4g}", "index": False}
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            lines.append(self.estimates[cols].to_string(**fmt))
            if len(self.tests):
                lines.append("difference tests:")
                tcols = [c for c in ("by", "test", "statistic", "p_value", "difference",
                                     "draws") if c in self.tests]
                lines.append(self.tests[tcols].to_string(**fmt))
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Subgroup estimates with CIs, one panel row per split."""
        from policylab.report.figures.mechanisms import subgroup_figure

        return subgroup_figure(self.estimates, lang=lang, **kw)


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
    permutation_draws: int | None = None,
    bootstrap_draws: int | None = None,
    seed: int | None = None,
    min_treated: int = 5,
    weights: str | None = None,
    progress: bool = False,
    executor: Any = None,
    permutations: int | None = None,
    bootstrap: int | None = None,
) -> HeterogeneityResult:
    """Subgroup DIDs for every level of each ``by`` column, with difference tests.

    For each split: the *interaction* test (D x group dummies in one model with common
    controls and FE, Wald test that they are zero), the *SUEST* test (stacked model with
    group-specific slopes and time effects, cluster-robust covariance across groups:
    coefficients equal the separate regressions), and a Fisher *permutation* test (group
    labels permuted across units with group sizes kept, ``permutation_draws`` draws, seeded,
    all draws batched): of the coefficient difference for two-level splits (Stata
    ``bdiff``), of the spread of the group estimates (sum of squared deviations from
    their mean) for more levels. Permutations that leave a group without treated or
    control units are discarded (with a warning) and ``draws`` counts those used.
    A label that is constant within clusters (or within the assignment level) is
    permuted across those, whole clusters at a time, between clusters of the same
    adoption date (never-treated ones among themselves), so the number of treated and
    untreated clusters per group is kept: permuting a province-level label across cities
    breaks up the provinces' common shocks and over-rejects. The ``level`` column of the permutation
    row (and ``meta["permutation_level"][by]``) names the level used.
    And the *wild_bootstrap* test: the SUEST model reparametrised so that its
    coefficients on ``D x 1[group j]`` (j > first level) are the differences from the
    first group, tested by the restricted wild cluster bootstrap (WCR; for two levels
    :func:`policylab.wild_bootstrap` of the difference, with its CI; for more the joint
    Wald test of :func:`policylab.inference.joint_wild.joint_wild_test`), with Webb
    weights when a group has fewer than ``min_treated`` treated clusters or there are
    fewer than 12 clusters, Rademacher otherwise.

    Each split's ``recommended`` test (a column of ``tests``, and
    ``meta["recommended_test"][by]``): ``"suest"`` when every group has at least
    ``min_treated`` treated clusters; with fewer, the cluster-robust tests over-reject
    and ``"permutation"`` is recommended when it permutes whole clusters (exact: every
    draw keeps each group's treated clusters) or a group has a single treated cluster
    (the wild bootstrap then fails too; MacKinnon and Webb 2017), ``"wild_bootstrap"``
    when the permutation is across units (conservative).

    Parameters
    ----------
    by : list of str
        Categorical unit characteristics (constant within unit), one split each.
    permutation_draws : int, optional
        Permutation draws per split (default 1000; 0 to skip).
    bootstrap_draws : int, optional
        Wild cluster bootstrap draws per split (default 999; 0 to skip; all sign vectors
        are enumerated when they are fewer).
    seed : int, optional
        Seed of the permutations and of the bootstrap.
    min_treated : int
        Warn for subgroups with fewer treated units, or treated clusters.
    progress : bool
        Progress bar over the permutation draws.
    executor : optional
        Where the permutation draws run (see :mod:`policylab.execution`); the
        permutations are drawn from ``seed`` in this process, so the numbers do not
        depend on it.
    permutations, bootstrap : int, optional
        Deprecated names of ``permutation_draws`` and ``bootstrap_draws`` (accepted for
        one release with a :class:`~policylab.errors.PolicyLabDeprecationWarning`).

    Other Parameters
    ----------------
    data, y, treat, unit, time, controls, fe, cluster, cohort, roster, date, assign, weights
        As in :func:`policylab.did`.
    """
    from policylab.validation import RenamedKeys, as_names, check_count, check_seed, renamed_arg

    # the resolved counts keep the short names the tests below use
    permutations = check_count(renamed_arg(
        permutation_draws, permutations, "permutation_draws", "permutations", "heterogeneity",
        default=1000), "permutation_draws", lo=0)
    bootstrap = check_count(renamed_arg(
        bootstrap_draws, bootstrap, "bootstrap_draws", "bootstrap", "heterogeneity",
        default=999), "bootstrap_draws", lo=0)
    by, controls = as_names(by, "by", allow_empty=False), as_names(controls, "controls")
    seed = check_seed(seed)
    design = as_design(data, "heterogeneity", unit=unit, time=time, treat=treat,
                       cohort=cohort, roster=roster, date=date, assign=assign,
                       controls=controls, fe=fe, cluster=cluster, weights=weights)
    unit, time = design.unit, design.time
    controls, fe, weights = list(design.controls), list(design.fe), design.weights
    df = design.df
    D = design.treat_col
    require_columns(df, [y, *by, *controls])
    clus = design.cluster_col
    rows, tests, subs = [], [], {}
    res = HeterogeneityResult(nobs=len(df))
    draws = _Draws(permutations, bootstrap, seed, min_treated, progress, executor)
    # the columns a subgroup regression reads: each subgroup is a copy of these only
    need = list(dict.fromkeys(c for c in (unit, time, y, D, *controls, clus, design.assign,
                                          weights, *_fe_columns(df, fe)) if c))
    jobs, splits = [], []
    for col in by:
        if _varies(df, unit, col):
            raise SpecError(f"by={col!r} must be constant within each {unit!r} (a pre-determined "
                            "unit characteristic)")
        levels = sorted(df[col].dropna().unique(), key=str)
        if len(levels) < 2:
            raise SpecError(f"by={col!r} has a single level")
        for lv in levels:
            r = did(Panel(df.loc[df[col] == lv, need], unit=unit, time=time),
                    y=y, treat=D, controls=list(controls), fe=fe, cluster=clus,
                    weights=weights, assign=design.assign)
            # the numbers stay; the fitted arrays (the subgroup's rows, X, residuals)
            # would hold a copy of the whole panel across the subgroups
            r.fit = None
            subs[(col, lv)] = r
            rows.append(_subgroup_row(r, col, lv, D))
            n_tr, n_cl = rows[-1]["n_treated_units"], rows[-1]["n_treated_clusters"]
            if n_tr < min_treated:
                res.warn(Message("heterogeneity.few_treated_units", col=col, value=lv,
                                 n=n_tr, plural="" if n_tr == 1 else "s"))
            elif n_cl < min_treated:
                res.warn(Message("heterogeneity.few_treated_clusters", col=col, value=lv,
                                 n=n_cl, level=clus))
        out, job = _split_tests(df, y, D, col, levels, list(controls), unit, time, clus,
                                design.assign, subs, draws, fe, weights, res.test_results)
        n_min = min(subs[(col, lv)].meta["design"]["n_treated_groups"] for lv in levels)
        splits.append((out, n_min))
        if job is not None:
            jobs.append(job)
            out.append(job.row)
        tests.extend(out)
    _run_permutations(jobs, draws)
    for out, n_min in splits:
        _mark_recommended(out, n_min, draws.min_treated, unit)
    res.estimates = pd.DataFrame(rows)
    res.tests = pd.DataFrame(tests)
    _warn_tests(res, tests)
    res.subgroup_results = subs
    res.meta = RenamedKeys(
        {"depvar": y, "by": list(by), "treat_term": D, "cluster": [clus],
         "permutation_draws": permutations, "bootstrap_draws": bootstrap, "seed": seed,
         "recommended_test": {t["by"]: t["test"] for t in tests if t.get("recommended")},
         "permutation_level": {t["by"]: t["level"] for t in tests
                               if t["test"] == "permutation"},
         "design": design.meta(nobs=len(df))},
        renamed={"permutations": "permutation_draws", "bootstrap": "bootstrap_draws"},
        where="HeterogeneityResult.meta")
    return res


def _warn_tests(res: HeterogeneityResult, tests: list[dict[str, Any]]) -> None:
    """Warnings on the difference tests: discarded permutations, a wild test not run."""
    for t in tests:
        if t["test"] == "permutation" and t["draws"] < t["draws_requested"]:
            res.warn(Message("heterogeneity.permutations_discarded", by=t["by"],
                             n=t["draws_requested"] - t["draws"], draws=t["draws_requested"]))
        if t.get("error"):
            res.warn(Message("heterogeneity.wild_not_run", by=t["by"], why=t["error"]))


def _fe_columns(df: pd.DataFrame, fe: Sequence[str] | None) -> list[str]:
    """The data columns the fixed-effect terms read (none: the default unit and time)."""
    from policylab.estimators.formula import fe_columns

    return [c for cols in fe_columns(df, list(fe)) for c in cols] if fe else []


def _subgroup_row(r: Any, col: str, lv: Any, D: str) -> dict[str, Any]:
    ci = r.confint()
    return {"by": col, "group": lv, "term": f"{col}={lv}", "estimate": r.att,
            "std_error": float(r.se()[D]), "statistic": float(r.tstat()[D]),
            "p_value": float(r.pvalue()[D]), "conf_low": float(ci.loc[D, "conf_low"]),
            "conf_high": float(ci.loc[D, "conf_high"]), "nobs": r.nobs,
            "n_treated_units": r.meta["design"]["n_treated_units"],
            "n_treated_clusters": r.meta["design"]["n_treated_groups"]}


def _mark_recommended(out: list[dict[str, Any]], n_min: int, min_treated: int,
                      unit: str) -> None:
    coarse = any(t["test"] == "permutation" and t["level"] != unit for t in out)
    best = _recommended(n_min, min_treated,
                        {t["test"] for t in out if np.isfinite(t["p_value"])}, coarse)
    for t in out:
        t["recommended"] = t["test"] == best


@dataclass
class _Draws:
    """The resampling settings of the difference tests, and the permutation's per-unit
    sums of [y, D, controls] (the same for every split)."""

    permutations: int
    bootstrap: int
    seed: int | None
    min_treated: int
    progress: bool
    executor: Any
    sums_cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)


def _split_tests(df: pd.DataFrame, y: str, D: str, col: str, levels: list[Any],
                 controls: list[str], unit: str, time: str, clus: str, assign: str,
                 subs: dict, draws: _Draws, fe: Sequence[str] | None,
                 weights: str | None, models: dict[tuple[str, str], Any]
                 ) -> tuple[list[dict[str, Any]], _PermutationJob | None]:
    """The interaction, SUEST and wild bootstrap tests of one split, and its permutation
    test to run (with the other splits' draws: :func:`_run_permutations`)."""
    from policylab.estimators.formula import fe_label, fe_terms, model_formula

    out = []
    grp = pd.Categorical(df[col], categories=levels).codes
    # one small column more; the rest of the frame is shared with ``df`` (copy on write)
    work = df.assign(_grp=grp)
    # the group-specific columns are filled straight into each model's matrix (feols'
    # estimator-built columns), not added to the frame: D x 1[group j], control x 1[j]
    made: dict[str, Any] = {}
    names = [f"_Dx{j}" for j in range(1, len(levels))]
    for j, n in enumerate(names, start=1):
        made[n] = _times_group(work[D], grp, j)
    terms, group_controls = [], []
    for j in range(len(levels)):
        made[f"_D{j}"] = _times_group(work[D], grp, j)
        terms.append(f"_D{j}")
        for c in controls:
            made[f"_{c}{j}"] = _times_group(work[c], grp, j)
            terms.append(f"_{c}{j}")
            group_controls.append(f"_{c}{j}")
    cols = [*work.columns, *made]

    def fit(rhs: list[str], fe_: list[str]) -> Any:
        return feols(model_formula(cols, [y], rhs, fe_), work, vcov={"CRV1": clus},
                     weights=weights, _columns=made)

    inter = fit([D, *names, *controls], fe_terms(fe or None, unit, time))
    wt = inter.wald_test(names)
    inter.fit = None  # the numbers stay, the n x k arrays go (the pooled models are many)
    models[(col, "interaction")] = inter
    out.append({"by": col, "test": "interaction", "statistic": wt["statistic"],
                "p_value": wt["p_value"], "difference": float(inter.coef()[names[0]])
                if len(names) == 1 else np.nan})
    # SUEST-equivalent: group-specific slopes and time effects, joint clustered vcov;
    # every finer fixed effect of the design per group too
    extra = [f"{t}^_grp" for t in (fe or []) if fe_label(t) not in (unit, time)]
    fe_grp = fe_terms([quote_name(unit), f"{quote_name(time)}^_grp", *extra], unit, time)
    diff_model = fit([D, *names, *group_controls], fe_grp) if draws.bootstrap else None
    # the stacked model is the difference model reparametrised (the same columns):
    # taken from it when it kept every term, else fitted
    stacked = (None if diff_model is None else
               _reparametrised(diff_model, len(levels), len(controls),
                               model_formula(cols, [y], terms, fe_grp), terms))
    stacked = fit(terms, fe_grp) if stacked is None else stacked
    stacked.fit = None
    models[(col, "suest")] = stacked
    out.append(_suest_row(stacked, col, len(levels)))
    n_min = min(subs[(col, lv)].meta["design"]["n_treated_groups"] for lv in levels)
    if diff_model is not None:
        models[(col, "wild_bootstrap")] = diff_model
        out.append(_wild_difference(diff_model, names, col, n_min, draws))
        diff_model.fit = None
    job = None
    if draws.permutations:
        level = permutation_level(work, "_grp", unit, (clus, assign))
        job = _permutation_job(work, y, D, controls, unit, time, col, levels, subs, draws,
                               fe, weights, level)
    return out, job


def _reparametrised(diff: Any, n_levels: int, n_controls: int, formula: str,
                    terms: list[str]) -> Any | None:
    """The stacked SUEST model (per group j: D x 1[j], then each control x 1[j]) from
    the difference model (D, D x 1[j] for j >= 1, then the controls by group), which
    spans the same columns: b_Dj = b_D + b_Dxj, V = T V_diff T'. None when the
    difference model dropped a term (then the stacked one is fitted)."""
    p = n_levels * (1 + n_controls)
    if len(diff.terms) != p:
        return None
    T = np.zeros((p, p))
    for j in range(n_levels):
        r = j * (1 + n_controls)
        T[r, 0] = 1.0  # b_D0 = b_D, b_Dj = b_D + b_Dxj
        if j:
            T[r, j] = 1.0
        for c in range(n_controls):
            T[r + 1 + c, n_levels + j * n_controls + c] = 1.0
    return replace(diff, terms=list(terms), beta=T @ diff.beta,
                   vcov_matrix=T @ diff.vcov_matrix @ T.T,
                   meta={**diff.meta, "formula": formula}, warnings=list(diff.warnings),
                   fit=None)


def _times_group(x: pd.Series, grp: np.ndarray, j: int) -> Any:
    """A function filling a column with x x 1[group j] (missing x stays missing)."""
    v = (x.to_numpy() if isinstance(x.dtype, np.dtype) and x.dtype.kind in "fiub"
         else pd.to_numeric(x).to_numpy(dtype=float, na_value=np.nan))

    def fill(out: np.ndarray) -> None:
        np.multiply(v, grp == j, out=out)

    return fill


def _suest_row(stacked: Any, col: str, n_levels: int) -> dict[str, Any]:
    """The SUEST Wald test that every group's D coefficient equals the first group's."""
    from scipy import special

    b = stacked.coef()
    V = stacked.vcov()
    R = np.zeros((n_levels - 1, len(stacked.terms)))
    for j in range(1, n_levels):
        R[j - 1, stacked.terms.index("_D0")] = -1
        R[j - 1, stacked.terms.index(f"_D{j}")] = 1
    diff = R @ b.to_numpy()
    W = float(diff @ np.linalg.solve(R @ V.to_numpy() @ R.T, diff))
    q = n_levels - 1
    return {"by": col, "test": "suest", "statistic": W / q,
            "p_value": float(special.fdtrc(q, stacked.df_t, W / q)) if stacked.df_t else
            float(special.chdtrc(q, W)), "difference": float(diff[0]) if q == 1 else np.nan}


def _recommended(n_min: int, min_treated: int, ran: set[str],
                 coarse_permutation: bool = False) -> str:
    """The difference test to read first, from the fewest treated clusters of a group.

    With few treated clusters the cluster-robust tests over-reject. The permutation
    leads when it moves the label between whole clusters of the same adoption date
    (``coarse_permutation``): every draw keeps each group's treated clusters, so under
    a common effect it is exact, while the wild bootstrap's size depends on how few the
    treated clusters are. A permutation across units (the label varies within
    clusters) is conservative (docs/battery.md), so the wild bootstrap leads there,
    unless a group has a single treated cluster (where the wild bootstrap fails;
    MacKinnon and Webb 2017)."""
    if n_min >= min_treated:
        return "suest"
    order = (["permutation", "wild_bootstrap"] if n_min <= 1 or coarse_permutation
             else ["wild_bootstrap", "permutation"])
    return next((t for t in order if t in ran), "suest")


def _wild_difference(diff_model: Any, names: list[str], col: str, n_min: int,
                     draws: _Draws) -> dict[str, Any]:
    """Restricted wild cluster bootstrap of the SUEST differences b_j - b_0.

    ``diff_model`` is the stacked model with D and D x 1[group j] (j >= 1) in place of
    one D per group: it spans the same columns, so its ``_Dxj`` coefficients are the
    differences and its cluster-robust covariance is the SUEST one.
    """
    from policylab.inference.joint_wild import joint_wild_test
    from policylab.inference.wild import wild_bootstrap

    G = min(diff_model.n_clusters.values())
    kind = "webb" if n_min < draws.min_treated or G < 12 else "rademacher"
    row: dict[str, Any] = {"by": col, "test": "wild_bootstrap", "weights_type": kind}
    try:
        if len(names) == 1:
            r = wild_bootstrap(diff_model, param=names[0], draws=draws.bootstrap,
                               weights_type=kind, seed=draws.seed)
            row.update(statistic=r.tstat, p_value=r.p_value, difference=r.estimate,
                       conf_low=r.conf_low, conf_high=r.conf_high, draws=r.meta["draws"])
        else:
            j = joint_wild_test(diff_model, names, draws=draws.bootstrap, weights_type=kind,
                                seed=draws.seed)
            row.update(statistic=j.wald_statistic, p_value=j.p_value, difference=np.nan,
                       draws=j.meta["draws"])
    except PolicyLabError as exc:  # e.g. a single cluster: reported, the others still run
        row.update(statistic=np.nan, p_value=np.nan, difference=np.nan, draws=0,
                   error=reason_of(exc))  # its message (key and params) when keyed
    return row


def _spread(coefs: np.ndarray) -> np.ndarray:
    """The permutation statistic per row: b_1 - b_0 for two groups (two-sided test on
    its absolute value), the sum of squared deviations of the group estimates from
    their mean for more."""
    if coefs.shape[1] == 2:
        return coefs[:, 1] - coefs[:, 0]
    return ((coefs - coefs.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)


def _varies(df: pd.DataFrame, group: str, col: str) -> bool:
    """Does ``col`` take more than one value (missing counts as one) within a group of
    ``group`` (rows with ``group`` missing left out, as groupby does)?"""
    from policylab.engine.passes import varies_within

    g = pd.factorize(df[group])[0]
    v = pd.factorize(df[col], use_na_sentinel=False)[0]
    keep = g >= 0
    return varies_within(g, v) if keep.all() else varies_within(
        pd.factorize(g[keep])[0], v[keep])


def permutation_level(df: pd.DataFrame, label: str, unit: str,
                      candidates: Sequence[str | None]) -> str:
    """The level at which a unit characteristic is permuted: the coarsest of
    ``candidates`` (cluster, assignment level) that holds whole units and within which
    ``label`` is constant, else ``unit``.

    A label that is constant within provinces was, in effect, drawn for provinces:
    permuting it across cities would break up provinces whose cities share shocks, and
    the permutation distribution would be too narrow (about 14% size at a nominal 5%
    with province-level shocks). Permuting whole provinces keeps that dependence.
    """
    best, n_best = unit, df[unit].nunique()
    for c in dict.fromkeys(c for c in candidates if c and c != unit and c in df.columns):
        if _varies(df, unit, c):
            continue  # not a level of whole units
        if _varies(df, c, label):
            continue  # the label varies within it
        n = df[c].nunique()
        if 2 <= n < n_best:
            best, n_best = c, n
    return best


#: bytes of block weights one permutation task holds (draws x units, or x rows)
PERMUTATION_CHUNK_BYTES = 64 * 2**20
#: at most this many draws per task: the balanced closed form costs O(units) per draw,
#: weighted demeaning per draw (any other design) O(rows) and more
_CHUNK_BALANCED, _CHUNK_DEMEAN = 2000, 64


def _chunk_draws(width: int, cap: int) -> int:
    """Draws per task so that its float weights (draws x width) stay in the budget."""
    return int(min(cap, max(1, PERMUTATION_CHUNK_BYTES // (8 * max(width, 1)))))


@dataclass
class _PermutationJob:
    """One split's permutation test: what its draws need, and its row of ``tests``
    (filled in by :func:`_run_permutations`)."""

    row: dict[str, Any]
    real: float
    n_levels: int
    level: str
    labels: np.ndarray  # group code per level entity (unit or coarser)
    strata: np.ndarray | None  # adoption-date stratum per entity (coarse levels)
    sums: tuple[Any, ...]  # key of the shared sums (balanced) or of the GramDraws
    regs: list[int]
    skip: int  # the group taken as the total minus the others (-1: none)
    top_of_unit: np.ndarray | None  # unit -> level entity (weighted demeaning only)
    n_codes: int  # label values: the groups, and one for a missing trait if any


@dataclass
class _PermutationShared:
    """What each permutation task needs (sent to each worker once): per job, how to read
    its labels off the task's codes, and the balanced closed form's sums per level
    entity ``[Q, S, N, treated]`` or the rows for weighted demeaning per draw."""

    jobs: list[tuple[int, int, int, tuple[Any, ...], list[int], int, np.ndarray | None]]
    data: dict[tuple[Any, ...], Any]


def _permutation_job(work: pd.DataFrame, y: str, D: str, controls: list[str], unit: str,
                     time: str, col: str, levels: list[Any], subs: dict, draws: _Draws,
                     fe: Sequence[str] | None, weights: str | None,
                     level: str) -> _PermutationJob:
    """Fisher permutation of group labels (bdiff), group sizes kept, across units or,
    when the label is constant within a coarser ``level`` (clusters, the assignment
    level: :func:`permutation_level`), across the groups of that level, every unit
    taking its group's label. At that level labels move only between clusters of the
    same adoption date (never-treated clusters among themselves): with a common effect
    those are exchangeable, so the test is exact, and every draw keeps the real
    split's treated clusters per group (moving labels between treated and untreated
    provinces gave draws with few treated clusters in a group, whose differences are
    wider than the real one's: size 2% at a nominal 5%).

    Every permuted subgroup regression comes from a weighted Gram matrix: a unit in
    group j gets weight 1 in group j's regression and 0 elsewhere, so all draws of a
    group are batched (closed form for balanced two-way panels: sums per level entity
    once, then O(entities) per draw; weighted demeaning per draw otherwise). The
    permutations are the randomization core's (one seeded stream; splits permuted
    across units share it) and so is the p-value: two-sided on the difference for two
    groups, right tail of the spread for more.
    """
    real = float(_spread(np.array([[subs[(col, lv)].att for lv in levels]]))[0])
    # controls absorbed by the fixed effects are not in the subgroup regressions
    controls = [c for c in controls if c in subs[(col, levels[0])].terms]
    cols = [y, D, *controls]
    units = pd.Index(work[unit].unique())
    lab = work.groupby(level)["_grp"].first()
    strata, top_of_unit = None, None
    if level == unit:
        tops, labels = units, lab.reindex(units).to_numpy()
    else:
        tops = pd.Index(work[level].unique())
        labels = lab.reindex(tops).to_numpy()
        top_of_unit = tops.get_indexer(work.groupby(unit)[level].first().reindex(units))
        # labels move only between clusters adopting at the same date (never: one
        # stratum): every draw keeps each group's treated clusters, as the real split
        adopt = work.loc[work[D] != 0].groupby(level)[time].min().reindex(tops)
        strata = pd.factorize(adopt, use_na_sentinel=False)[0]
    Z = work[cols].to_numpy(float)
    ok = np.isfinite(Z).all(axis=1)
    if not ok.all():  # a copy of the rows only when some are left out
        work, Z = work.loc[ok], Z[ok]
    key = _permutation_data(work, Z, cols, unit, time, units, fe, weights, top_of_unit,
                            level, len(tops), draws.sums_cache)
    balanced = key[0] == "sums"
    # entities without a group (the trait missing) carry the label len(levels), which
    # is permuted along and never summed; without them the largest group (most level
    # entities) is the total minus the others
    labels = labels.astype(np.int64)
    missing = labels < 0
    labels[missing] = len(levels)
    skip = (int(np.bincount(labels, minlength=len(levels)).argmax())
            if balanced and not missing.any() else -1)
    row = {"by": col, "test": "permutation", "statistic": real, "p_value": np.nan,
           "difference": real if len(levels) == 2 else np.nan, "draws": 0,
           "draws_requested": draws.permutations, "level": level}
    return _PermutationJob(row, real, len(levels), level, labels, strata, key,
                           list(range(1, len(cols))), skip,
                           None if balanced else top_of_unit, len(levels) + missing.any())


def _permutation_data(work: pd.DataFrame, Z: np.ndarray, cols: list[str], unit: str,
                      time: str,
                      units: pd.Index, fe: Sequence[str] | None, weights: str | None,
                      top_of_unit: np.ndarray | None, level: str, n_tops: int,
                      cache: dict[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    """The key in ``cache`` of the draws' data (``Z``: the columns ``cols`` of
    ``work``): for a balanced two-way panel the sums per level entity (taken once for
    every split with the same columns and level), else the rows for weighted demeaning
    per draw."""
    from policylab.estimators.formula import fe_label

    uc = units.get_indexer(work[unit])
    tc = pd.factorize(work[time])[0]
    # fixed effects as the data spell them (design.fe writes odd names in backticks)
    fe_cols = [fe_label(t) for t in fe] if fe else [unit, time]
    w = None if weights is None else work[weights].to_numpy(float)
    if (sorted(fe_cols) == sorted([unit, time]) and len(np.unique(uc)) == len(units)
            and closed_form_twoway(uc, tc, uc, w) is not None):
        key = ("sums", tuple(cols), level)
        if key not in cache:
            cache[key] = _entity_sums(Z, uc, tc, len(units), top_of_unit, n_tops)
        return key
    key = ("gram", tuple(cols), len(cache))  # one per split: its rows differ
    cache[key] = GramDraws(Z, uc, fe_codes_of(work, fe_cols)[0], w, None)
    return key


def _entity_sums(Z: np.ndarray, uc: np.ndarray, tc: np.ndarray, n_units: int,
                 top_of_unit: np.ndarray | None, n_tops: int) -> tuple[np.ndarray, ...]:
    """Per level entity (unit, or the coarser level's groups) one row of the balanced
    closed form's sums ``[Q, S (T x k), N]`` and the number of its units whose
    treatment varies (column 1 of Z), C-ordered for the products of every draw; and the
    column totals. Q is k x k symmetric and its outcome x outcome entry is never read:
    only the other entries of its upper triangle are kept (:func:`_gram_pairs`)."""
    Q, S, N = bk.balanced_block_sums(Z, uc, tc, np.arange(n_units), n_units)
    k = Q.shape[1]
    a, b = _gram_pairs(k)
    varies = (Q[:, 1, 1] > 0).astype(np.float64)
    X = np.empty((n_units, len(a) + S.shape[1] * k + 2))
    X[:, :len(a)], X[:, len(a):-2] = Q[:, a, b], S.reshape(n_units, -1)
    X[:, -2], X[:, -1] = N, varies
    del Q, S
    if top_of_unit is not None:  # a label per coarser entity: sum its units once
        X = np.stack([np.bincount(top_of_unit, weights=X[:, j], minlength=n_tops)
                      for j in range(X.shape[1])], axis=1)
    return X, X.sum(axis=0), k


def _gram_pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the Gram entries a draw needs: the upper triangle of the k x k
    matrix of [y, D, controls] without y x y."""
    a, b = np.triu_indices(k)
    return a[1:], b[1:]


def _permutation_coefs(codes: np.ndarray, sh: _PermutationShared) -> tuple[np.ndarray, ...]:
    """Each job's group D coefficients (draws x groups) for a chunk of permuted codes
    (draws x level entities; job j's label is ``codes // div_j % groups_j``): a unit in
    group j weighs 1 in group j's regression and 0 in the others (an executor task)."""
    out = []
    # wide, short products (draws x units times units x sums): BLAS's thread pool on a
    # shared machine costs many times the product itself (benchmarks/RESULTS.md)
    with one_blas_thread():
        for div, n_codes, n_levels, key, regs, skip, top_of_unit in sh.jobs:
            labels = codes if len(sh.jobs) == 1 else codes // div % n_codes
            data = sh.data[key]
            if key[0] == "sums":
                X, total, k = data
                sums = bk.label_sums(X, labels, n_levels, skip, total)
                B, (a, b) = len(labels), _gram_pairs(k)
                Q = np.zeros((B, n_levels, k, k))
                Q[:, :, a, b] = Q[:, :, b, a] = sums[:, :, :len(a)]
                grams = bk.sums_grams(Q, sums[:, :, len(a):-2].reshape(B, n_levels, -1, k),
                                      sums[:, :, -2])
                coefs = bk.solve_stack(grams.reshape(B * n_levels, k, k), 0,
                                       regs)[:, 0].reshape(B, n_levels)
                # a group without a unit whose treatment varies: no D coefficient
                # (exactly singular, also for the group taken as the remainder)
                coefs[sums[:, :, -1] < 0.5] = np.nan
            else:
                coefs = _demeaned_coefs(labels, data, n_levels, regs, top_of_unit)
            out.append(coefs)
    return tuple(out)


def _demeaned_coefs(labels: np.ndarray, g: GramDraws, n_levels: int, regs: list[int],
                    top_of_unit: np.ndarray | None) -> np.ndarray:
    """Group D coefficients by weighted demeaning per draw (any design)."""
    if top_of_unit is not None:
        labels = labels[:, top_of_unit]
    out = np.empty((len(labels), n_levels))
    W = np.empty(labels.shape)
    for j in range(n_levels):
        np.equal(labels, j, out=W, casting="unsafe")
        row_w = W[:, g.block] * (1.0 if g.weights is None else g.weights[None, :])
        out[:, j] = bk.solve_stack(bk.weighted_grams(g.Z, g.fe, row_w), 0, regs)[:, 0]
    return out


def _run_permutations(jobs: list[_PermutationJob], draws: _Draws) -> None:
    """Run the permutation tests: the splits permuted across units on one stream of
    unit permutations (their labels packed into one code per unit), each coarser one on
    its own stratified stream; fill in each job's row."""
    unit_jobs = [j for j in jobs if j.strata is None]
    batches = ([unit_jobs] if unit_jobs else []) + [[j] for j in jobs if j.strata is not None]
    for batch in batches:
        div, codes, specs = 1, np.zeros(len(batch[0].labels), dtype=np.int64), []
        for j in batch:
            codes += j.labels * div
            specs.append((div, j.n_codes, j.n_levels, j.sums, j.regs, j.skip,
                          j.top_of_unit))
            div *= j.n_codes
        codes = codes.astype(np.min_scalar_type(max(div - 1, 0)))
        shared = _PermutationShared(specs, {j.sums: draws.sums_cache[j.sums] for j in batch})
        balanced = all(j.sums[0] == "sums" for j in batch)
        width = len(codes) if balanced else max(len(draws.sums_cache[j.sums].Z) for j in batch)
        size = _chunk_draws(width, _CHUNK_BALANCED if balanced else _CHUNK_DEMEAN)
        reps = draws.permutations
        # the draws come a chunk at a time from the one seeded stream (the same rows as
        # drawing them all at once); each task gets its chunk's codes per level entity
        tasks = (list(permuted_chunks(codes, reps, draws.seed, size))
                 if batch[0].strata is None
                 else [codes[chunk] for chunk in stratified_permutation_chunks(
                     batch[0].strata, reps, draws.seed, size)])
        what = ", ".join(str(j.row["by"]) for j in batch)
        coefs = draw_statistics(_permutation_coefs, tasks, shared=shared, chunk_size=size,
                                executor=draws.executor,
                                progress=f"permutations {what}" if draws.progress else None)
        for j, c in zip(batch, coefs):
            pv = p_values(j.real, _spread(c), exact=False)
            j.row.update(p_value=pv.two_sided if j.n_levels == 2 else pv.right,
                         draws=pv.draws)
