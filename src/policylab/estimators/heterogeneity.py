"""Subgroup heterogeneity: the DID in each group side by side, and tests that the
effects differ (interaction, SUEST-equivalent stacked model, Fisher permutation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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
    permutation_chunks,
    stratified_permutation_chunks,
)
from policylab.inference.resampling import GramDraws, closed_form_twoway
from policylab.messages import Message, reason_of

__all__ = ["heterogeneity", "HeterogeneityResult"]


@dataclass
class HeterogeneityResult(Result):
    """Subgroup estimates (``tidy``), the difference tests (``tests``), each subgroup's
    DIDResult (``subgroup_results[(by, level)]``) for tables, and the pooled models behind
    the tests (``test_results[(by, "interaction" | "suest")]``)."""

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
    # the permutation's per-unit sums of [y, D, controls] serve every split
    sums_cache: dict[tuple[str, ...], Any] = {}
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
            n_cl = r.meta["design"]["n_treated_groups"]
            if n_tr < min_treated:
                res.warn(Message("heterogeneity.few_treated_units", col=col, value=lv,
                                 n=n_tr, plural="" if n_tr == 1 else "s"))
            elif n_cl < min_treated:
                res.warn(Message("heterogeneity.few_treated_clusters", col=col, value=lv,
                                 n=n_cl, level=clus))
        draws = _Draws(permutations, bootstrap, seed, min_treated, progress, executor,
                       sums_cache)
        tests.extend(_split_tests(df, y, D, col, levels, list(controls), unit, time, clus,
                                  design.assign, subs, draws, fe, weights, res.test_results))
    res.estimates = pd.DataFrame(rows)
    res.tests = pd.DataFrame(tests)
    for t in tests:
        if t["test"] == "permutation" and t["draws"] < t["draws_requested"]:
            res.warn(Message("heterogeneity.permutations_discarded", by=t["by"],
                             n=t["draws_requested"] - t["draws"], draws=t["draws_requested"]))
        if t.get("error"):
            res.warn(Message("heterogeneity.wild_not_run", by=t["by"], why=t["error"]))
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


@dataclass
class _Draws:
    """The resampling settings of the difference tests."""

    permutations: int
    bootstrap: int
    seed: int | None
    min_treated: int
    progress: bool
    executor: Any
    sums_cache: dict[tuple[str, ...], Any] = field(default_factory=dict)


def _split_tests(df: pd.DataFrame, y: str, D: str, col: str, levels: list[Any],
                 controls: list[str], unit: str, time: str, clus: str, assign: str,
                 subs: dict, draws: _Draws, fe: Sequence[str] | None,
                 weights: str | None,
                 models: dict[tuple[str, str], Any]) -> list[dict[str, Any]]:
    out = []
    g = pd.Categorical(df[col], categories=levels)
    work = df.assign(_grp=g.codes)
    names = []
    for j in range(1, len(levels)):
        n = f"_Dx{j}"
        work[n] = work[D] * (work["_grp"] == j)
        names.append(n)
    from policylab.estimators.formula import fe_label, fe_terms, model_formula

    inter = feols(model_formula(work.columns, [y], [D, *names, *controls],
                                fe_terms(fe or None, unit, time)), work, vcov={"CRV1": clus},
                  weights=weights)
    models[(col, "interaction")] = inter
    wt = inter.wald_test(names)
    out.append({"by": col, "test": "interaction", "statistic": wt["statistic"],
                "p_value": wt["p_value"], "difference": float(inter.coef()[names[0]])
                if len(names) == 1 else np.nan})
    # SUEST-equivalent: group-specific slopes and time effects, joint clustered vcov
    terms, group_controls = [], []
    for j in range(len(levels)):
        work[f"_D{j}"] = work[D] * (work["_grp"] == j)
        terms.append(f"_D{j}")
        for c in controls:
            work[f"_{c}{j}"] = work[c] * (work["_grp"] == j)
            terms.append(f"_{c}{j}")
            group_controls.append(f"_{c}{j}")
    # group-specific time effects, and every finer fixed effect of the design per group
    extra = [f"{t}^_grp" for t in (fe or []) if fe_label(t) not in (unit, time)]
    fe_grp = [quote_name(unit), f"{quote_name(time)}^_grp", *extra]
    stacked = feols(model_formula(work.columns, [y], terms, fe_terms(fe_grp, unit, time)),
                    work, vcov={"CRV1": clus}, weights=weights)
    models[(col, "suest")] = stacked
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
    n_min = min(subs[(col, lv)].meta["design"]["n_treated_groups"] for lv in levels)
    if draws.bootstrap:
        out.append(_wild_difference(work, y, D, names, group_controls,
                                    fe_terms(fe_grp, unit, time), clus, weights, col, n_min,
                                    draws, models))
    if draws.permutations:
        level = permutation_level(work, "_grp", unit, (clus, assign))
        out.append(_permutation(work, y, D, controls, unit, time, col, levels, subs,
                                draws.permutations, draws.seed, fe, weights, draws.progress,
                                draws.executor, level, draws.sums_cache))
    coarse = any(t["test"] == "permutation" and t["level"] != unit for t in out)
    best = _recommended(n_min, draws.min_treated,
                        {t["test"] for t in out if np.isfinite(t["p_value"])}, coarse)
    for t in out:
        t["recommended"] = t["test"] == best
    return out


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


def _wild_difference(work: pd.DataFrame, y: str, D: str, names: list[str],
                     group_controls: list[str], fe: list[str], clus: str,
                     weights: str | None, col: str, n_min: int, draws: _Draws,
                     models: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """Restricted wild cluster bootstrap of the SUEST differences b_j - b_0.

    The stacked model with D and D x 1[group j] (j >= 1) in place of one D per group
    spans the same columns, so its ``_Dxj`` coefficients are the differences and its
    cluster-robust covariance is the SUEST one.
    """
    from policylab.estimators.formula import model_formula
    from policylab.inference.joint_wild import joint_wild_test
    from policylab.inference.wild import wild_bootstrap

    diff_model = feols(model_formula(work.columns, [y], [D, *names, *group_controls], fe),
                       work, vcov={"CRV1": clus}, weights=weights)
    models[(col, "wild_bootstrap")] = diff_model
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
        if (df.groupby(unit)[c].nunique(dropna=False) > 1).any():
            continue  # not a level of whole units
        if (df.groupby(c)[label].nunique(dropna=False) > 1).any():
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
class _PermutationShared:
    """What each permutation task needs (sent to each worker once): the balanced
    closed form's per-unit sums, or the rows for weighted demeaning per draw."""

    n_levels: int
    regs: list[int]
    top_of_unit: np.ndarray | None  # unit -> level entity, None when units are permuted
    sums: tuple[np.ndarray, ...] | None = None  # (Qb, Sb, Nb) per unit
    gram: GramDraws | None = None


def _permutation_shared(work: pd.DataFrame, cols: list[str], unit: str, time: str,
                        units: pd.Index, fe: Sequence[str] | None, weights: str | None,
                        top_of_unit: np.ndarray | None, n_levels: int,
                        cache: dict[tuple[str, ...], Any]) -> _PermutationShared:
    from policylab.estimators.formula import fe_label

    uc = units.get_indexer(work[unit])
    tc = pd.factorize(work[time])[0]
    # fixed effects as the data spell them (design.fe writes odd names in backticks)
    fe_cols = [fe_label(t) for t in fe] if fe else [unit, time]
    w = None if weights is None else work[weights].to_numpy(float)
    Z = work[cols].to_numpy(float)
    out = _PermutationShared(n_levels, list(range(1, len(cols))), top_of_unit)
    if (sorted(fe_cols) == sorted([unit, time]) and len(np.unique(uc)) == len(units)
            and closed_form_twoway(uc, tc, uc, w) is not None):
        # balanced two-way: sums per unit once (for every split: the same rows and
        # columns), then O(units) per draw
        key = tuple(cols)
        if key not in cache:
            cache[key] = bk.balanced_block_sums(Z, uc, tc, np.arange(len(units)),
                                                len(units))
        out.sums = cache[key]
    else:
        out.gram = GramDraws(Z, uc, fe_codes_of(work, fe_cols)[0], w, None)
    return out


def _permutation_coefs(labels: np.ndarray, sh: _PermutationShared) -> np.ndarray:
    """Each group's D coefficient (draws x groups) for a chunk of permuted labels
    (draws x level entities): a unit in group j weighs 1 in group j's regression and 0
    in the others (an executor task)."""
    if sh.top_of_unit is not None:
        labels = labels[:, sh.top_of_unit]
    out = np.empty((len(labels), sh.n_levels))
    W = np.empty(labels.shape)
    # wide, short products (draws x units times units x sums): BLAS's thread pool on a
    # shared machine costs many times the product itself (benchmarks/RESULTS.md)
    with one_blas_thread():
        for j in range(sh.n_levels):
            np.equal(labels, j, out=W, casting="unsafe")  # 0/1 weights, one buffer
            if sh.sums is not None:
                grams = bk.block_grams(*sh.sums, W)
            else:
                g = sh.gram
                row_w = W[:, g.block] * (1.0 if g.weights is None else g.weights[None, :])
                grams = bk.weighted_grams(g.Z, g.fe, row_w)
            out[:, j] = bk.solve_stack(grams, 0, sh.regs)[:, 0]
    return out


def _permutation(work: pd.DataFrame, y: str, D: str, controls: list[str], unit: str,
                 time: str, col: str, levels: list[Any], subs: dict, reps: int,
                 seed: int | None, fe: Sequence[str] | None,
                 weights: str | None, progress: bool = False,
                 executor: Any = None, level: str | None = None,
                 sums_cache: dict | None = None) -> dict[str, Any]:
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
    group are batched (closed form for balanced two-way panels, weighted demeaning per
    draw otherwise) and run in chunks on ``executor``. The permutations are the
    randomization core's (one seeded stream) and so is the p-value: two-sided on the
    difference for two groups, right tail of the spread for more.
    """
    real = float(_spread(np.array([[subs[(col, lv)].att for lv in levels]]))[0])
    # controls absorbed by the fixed effects are not in the subgroup regressions
    controls = [c for c in controls if c in subs[(col, levels[0])].terms]
    cols = [y, D, *controls]
    units = pd.Index(work[unit].unique())
    level = level or unit
    labels = work.groupby(level)["_grp"].first()
    # group labels in the smallest integer type: a chunk of draws is (draws x units)
    code = np.min_scalar_type(max(len(levels) - 1, 0))
    if level == unit:
        grp_of_top, top_of_unit = labels.reindex(units).to_numpy().astype(code), None
    else:
        tops = pd.Index(work[level].unique())
        grp_of_top = labels.reindex(tops).to_numpy().astype(code)
        top_of_unit = tops.get_indexer(work.groupby(unit)[level].first().reindex(units))
        # labels move only between clusters adopting at the same date (never: one
        # stratum): every draw keeps each group's treated clusters, as the real split
        adopt = (work.loc[work[D] != 0].groupby(level)[time].min().reindex(tops))
        strata = pd.factorize(adopt, use_na_sentinel=False)[0]
    work = work[np.isfinite(work[cols].to_numpy(float)).all(axis=1)]
    shared = _permutation_shared(work, cols, unit, time, units, fe, weights, top_of_unit,
                                 len(levels), {} if sums_cache is None else sums_cache)
    size = _chunk_draws(len(units) if shared.sums is not None else len(work),
                        _CHUNK_BALANCED if shared.sums is not None else _CHUNK_DEMEAN)
    # the draws come a chunk at a time from the one seeded stream (the same rows as
    # drawing them all at once); each task gets its chunk's labels per level entity
    draws_ = (permutation_chunks(len(units), reps, seed, size) if level == unit
              else stratified_permutation_chunks(strata, reps, seed, size))
    tasks = [grp_of_top[chunk] for chunk in draws_]
    coefs = (draw_statistics(_permutation_coefs, tasks, shared=shared, chunk_size=size,
                             executor=executor,
                             progress=f"permutations {col}" if progress else None)
             if reps else np.empty((0, len(levels))))
    pv = p_values(real, _spread(coefs), exact=False)
    return {"by": col, "test": "permutation", "statistic": real,
            "p_value": pv.two_sided if len(levels) == 2 else pv.right,
            "difference": real if len(levels) == 2 else np.nan, "draws": pv.draws,
            "draws_requested": reps, "level": level}
