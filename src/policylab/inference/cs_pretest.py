"""Callaway-Sant'Anna pre-test by randomization inference: a size that holds with few
treated clusters.

``att_gt``'s pre-test is a Wald test of the pre-treatment ATT(g,t) on their
cluster-robust (influence-function) covariance. With few treated clusters that
covariance is estimated from a handful of cluster sums and is often singular (on the
staggered carbon design, 6 treated provinces, the 25 pre-treatment cells have a
covariance of rank 17), and the chi-square reference then rejects a true null almost
always. Here the same kind of statistic is referred to its randomization distribution
instead: adoption dates (cohorts) are reassigned across assignment groups and the
statistic recomputed, which gives an exact test whenever the groups are exchangeable
under the null, whatever the number of treated clusters (Fisher 1935; MacKinnon and
Webb 2020).

As in :func:`policylab.inference.pretrend_ri.pretrend_ri_test`, only the periods before
the first adoption enter: a draw that labels a really treated unit as a comparison
unit would otherwise carry its post-adoption effect into the test. The cells are the
pre-treatment ATT(g,t) of R did's default design (never-treated comparison units,
varying base period): without covariates ``mean over cohort g of (Y_t - Y_t-1)`` minus
the same mean over never-treated units, for every cohort and every period t before the
first adoption; with covariates (or sampling weights) ``att_gt``'s outcome-regression,
IPW or doubly robust estimate of the same cells, propensity score and outcome
regression refitted on every reassignment (:mod:`policylab.inference.cs_pretest_dr`).
These are exactly ``att_gt``'s cells for those (g, t) (the tests check it on real and
reassigned cohorts) and their covariance is the clustered influence-function
covariance att_gt uses. The statistic is the rank-aware Wald statistic ``a' V^+ a``,
computed in one batch per chunk of draws; the chunks run on the execution layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc

from policylab.data.panel import Panel, as_pandas, require_columns
from policylab.errors import DataError, SpecError
from policylab.estimators.cohort_tables import first_period_covariates, unit_weights
from policylab.estimators.result import Result
from policylab.inference.cs_pretest_batch import Runs, make_runs
from policylab.inference.cs_pretest_dr import covariate_cells, standardised_covariates
from policylab.inference.randomization import draw_statistics, p_values, permutation_chunks
from policylab.messages import Message

__all__ = ["CSPretestResult", "cs_pretest_ri", "cs_pretest_size"]

_CHUNK = 128  # draws computed together
_CHUNK_BYTES = 256 * 2**20  # bound on a chunk's per-draw run and cluster sums
_RTOL = 1e-8  # eigenvalues of the correlation matrix below this share count as zero


@dataclass
class CSPretestResult(Result):
    """Randomization p-value of the joint test that every pre-treatment ATT(g,t) is 0."""

    statistic: float = np.nan
    p_value: float = np.nan
    wald_p: float = np.nan
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    stats: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Two rows: the randomization test (recommended) and the chi-square reference
        of the same statistic, with the statistic, its rank (df) and the draws."""
        m = self.meta
        return pd.DataFrame([
            {"test": "randomization", "statistic": self.statistic, "df": m["rank"],
             "p_value": self.p_value, "draws": m["draws"]},
            {"test": "wald (chi-square)", "statistic": self.statistic, "df": m["rank"],
             "p_value": self.wald_p, "draws": 0}])

    def summary(self) -> str:
        m = self.meta
        cov = (f", covariates {', '.join(m['covariates'])} ({m['method']})"
               if m.get("covariates") else "")
        return (f"Callaway-Sant'Anna pre-test, {len(self.cells)} pre-treatment ATT(g,t) "
                f"before {m['first_adoption']} ({m['treated_groups']} treated of "
                f"{m['groups']} {m['assign']} groups{cov})\n"
                f"  Wald = {self.statistic:.4g} (rank {m['rank']}); randomization p = "
                f"{self.p_value:.4f} ({m['draws']} draws"
                + (f", {m['degenerate']} not estimable" if m.get("degenerate") else "")
                + f"); chi-square p = {self.wald_p:.4g}")


@dataclass
class _Inputs:
    dy: np.ndarray  # units x periods: Y_t - Y_{t-1} for the tested periods
    periods: list[int]  # the tested t
    cohort_g: np.ndarray  # cohort of each assignment group (0 never)
    group: np.ndarray  # assignment group of each unit
    cl_of_unit: np.ndarray  # cluster code of each unit
    n_cl: int
    cohorts: list[int]  # the treated cohorts (the same in every draw)
    first: int
    # [1, first-period covariates] standardised, the unit weights and att_gt's
    # estimator; without covariates or weights a constant, unit weights and "reg" (the
    # outcome regression on a constant is the difference of means)
    X: np.ndarray | None = None
    w: np.ndarray | None = None
    method: str = "dr"
    runs: Runs | None = None  # the units in runs of one cluster and group, with their sums


def _wide(df: pd.DataFrame, y: str, unit: str, time: str) -> pd.DataFrame:
    if df.duplicated([unit, time]).any():
        raise DataError(f"cs_pretest_ri: more than one row per {unit!r} and {time!r}")
    W = df.pivot(index=unit, columns=time, values=y).sort_index(axis=1)
    if W.isna().to_numpy().any():
        bad = W.index[W.isna().any(axis=1)][:5].tolist()
        raise DataError(Message("cs_pretest.unbalanced", y=y, units=bad))
    return W


def _per_unit(df: pd.DataFrame, unit: str, col: str, units: pd.Index) -> np.ndarray:
    """The value of ``col`` for each unit, refusing one that varies within a unit."""
    first = df.groupby(unit, sort=True)[col].agg(["first", "nunique"])
    if (first["nunique"] > 1).any():
        bad = first.index[first["nunique"] > 1][:5].tolist()
        raise DataError(f"{col!r} must be constant within each {unit!r}; it varies for "
                        f"{bad}")
    return first["first"].reindex(units).to_numpy()


def _unit_covariates(df: pd.DataFrame, unit: str, time: str, W: pd.DataFrame,
                     keep: np.ndarray, covariates: list[str], weights: str | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """att_gt's first-period covariates (constant first, standardised) and unit
    weights (ones without) of the kept units, by att_gt's own readers and checks."""
    N, T = W.shape
    cell = (W.index.get_indexer(df[unit]) * T
            + np.searchsorted(np.asarray(W.columns), df[time].to_numpy()))
    X = standardised_covariates(first_period_covariates(df, covariates, cell, N, T, keep))
    if weights is None:
        return X, np.ones(len(X))
    wu = unit_weights(df, weights, cell, np.asarray(W.index), N, T)[keep]
    return X, wu / wu.mean()


def _inputs(data: Any, y: str, unit: str, time: str, cohort: str, assign: str,
            cluster: str, covariates: list[str] | None = None, weights: str | None = None,
            method: str = "dr") -> _Inputs:
    df = as_pandas(data)
    require_columns(df, [y, unit, time, cohort, assign, cluster, *(covariates or []),
                         *([weights] if weights else [])])
    W = _wide(df, y, unit, time)
    periods = np.asarray(W.columns, dtype=np.int64)
    c = pd.to_numeric(pd.Series(_per_unit(df, unit, cohort, W.index)), errors="coerce")
    c = c.where(np.isfinite(c) & (c > 0), 0).to_numpy()
    c = np.where(c > periods.max(), 0, c).astype(np.int64)  # adopting after the panel
    keep = ~((c > 0) & (c <= periods.min()))  # treated from the start: no pre-period
    X = wu = None
    if covariates or weights:
        X, wu = _unit_covariates(df, unit, time, W, keep, list(covariates or []), weights)
    W, c = W[keep], c[keep]
    treated = c[c > 0]
    if treated.size == 0 or (c == 0).sum() < 2:
        raise DataError(Message("cs_pretest.no_comparison", cohort=cohort))
    first = int(treated.min())
    tested = [int(t) for t in periods[1:] if t < first]
    if len(tested) < 2:
        raise SpecError(Message("cs_pretest.few_pre_periods", first=first))
    Y = W.to_numpy(float)
    pos = {int(t): k for k, t in enumerate(periods)}
    dy = np.column_stack([Y[:, pos[t]] - Y[:, pos[t] - 1] for t in tested])
    grp, groups = pd.factorize(pd.Series(_per_unit(df, unit, assign, W.index)))
    cohort_g = np.zeros(len(groups), dtype=np.int64)
    cohort_g[grp] = c
    if (cohort_g[grp] != c).any():
        raise DataError(Message("cs_pretest.mixed_dates", assign=assign))
    cl, _ = pd.factorize(pd.Series(_per_unit(df, unit, cluster, W.index)))
    if X is None:
        X, wu, method = np.ones((len(dy), 1)), np.ones(len(dy)), "reg"
    n_cl = int(cl.max()) + 1
    return _Inputs(dy=dy, periods=tested, cohort_g=cohort_g, group=grp, cl_of_unit=cl,
                   n_cl=n_cl, cohorts=sorted(set(treated.tolist())), first=first, X=X,
                   w=wu, method=method, runs=make_runs(dy, X, wu, grp, cl, n_cl))


def _wald(a: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank-aware Wald ``a' V^+ a`` per draw, V = S'S (B x cells, B x clusters x cells);
    the pseudo-inverse is taken of the correlation matrix (scale-free). Returns the
    statistics and the ranks."""
    V = np.einsum("bci,bcj->bij", S, S)
    sd = np.sqrt(np.clip(np.einsum("bii->bi", V), 0, None))
    ok = sd > 0
    sd_safe = np.where(ok, sd, 1.0)
    z = np.where(ok, a / sd_safe, 0.0)
    R = V / (sd_safe[:, :, None] * sd_safe[:, None, :]) * (ok[:, :, None] & ok[:, None, :])
    ev, U = np.linalg.eigh(R)
    keep = ev > _RTOL * np.maximum(ev.max(axis=1, keepdims=True), 0) * a.shape[1]
    proj = np.einsum("bki,bk->bi", U, z)
    W = np.sum(np.where(keep, proj**2 / np.where(keep, ev, 1.0), 0.0), axis=1)
    return W, keep.sum(axis=1)


def _cells(inp: _Inputs, group_cohort: np.ndarray, strict: bool = False
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells, cluster scores and which assignments were estimable, for a batch of
    assignments (B x assignment groups: the cohort of each group), by att_gt's
    estimator (``strict``: its error raised)."""
    return covariate_cells(inp, group_cohort, strict=strict)


def _chunk_size(inp: _Inputs) -> int:
    """Draws per chunk: at most ``_CHUNK``, fewer when the per-draw run and cluster sums
    (draws x runs x sums, a few times) would pass ``_CHUNK_BYTES``."""
    rs = inp.runs
    per_draw = 8.0 * rs.stats.shape[1] * (len(rs.group) + rs.n_cl) * 3
    return int(max(1, min(_CHUNK, _CHUNK_BYTES // per_draw)))


def _reassigned_cohorts(cohort_g: np.ndarray, draws: int, seed: int | None) -> np.ndarray:
    """The cohorts of the groups under each reassignment (draws x groups): the rows of
    :func:`~policylab.inference.randomization.permutations`, drawn a chunk at a time
    and kept in the smallest integer type that holds the cohorts (with unit-level
    assignment of 200,000 firms the int64 permutations alone would take 1.6 GB)."""
    dtype = np.int16 if cohort_g.max() <= np.iinfo(np.int16).max else np.int64
    return np.concatenate([cohort_g[rows].astype(dtype) for rows in
                           permutation_chunks(len(cohort_g), draws, seed, 64)])


def _chunk_stats(block: np.ndarray, inp: _Inputs) -> np.ndarray:
    """The Wald statistic of each reassignment in a chunk (rows: cohort per assignment
    group); NaN where the covariate estimator failed. An executor task."""
    a, S, ok = _cells(inp, block)
    out = np.full(len(block), np.nan)
    if ok.any():
        out[ok] = _wald(a[ok], S[ok])[0]
    return out


def cs_pretest_ri(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str = "cohort",
    *,
    assign: str | None = None,
    cluster: str | None = None,
    draws: int = 999,
    seed: int | None = None,
    covariates: Sequence[str] | None = None,
    method: str = "dr",
    weights: str | None = None,
    executor: Any = None,
    progress: bool = False,
) -> CSPretestResult:
    """Randomization-inference pre-test of parallel trends for Callaway-Sant'Anna.

    Parameters
    ----------
    data : DataFrame or Panel
        Balanced long panel, one row per unit and period.
    y, unit, time : str
        Outcome and panel keys (unit/time default to the Panel's).
    cohort : str
        First treated period (never treated: 0, missing or inf), as for ``att_gt``.
    assign : str, optional
        Level at which adoption dates are set (provinces for cities); the draws
        reassign cohorts across these groups. Default: the unit.
    cluster : str, optional
        Cluster of the influence-function covariance in the statistic. Default: the
        assignment level.
    draws : int
        Random reassignments.
    seed : int, optional
        Seed of the reassignments.
    covariates : list of str, optional
        ``att_gt``'s covariates (first-period values): the cells are then ``att_gt``'s
        outcome-regression, IPW or doubly robust estimates (``method``), recomputed on
        every reassignment (propensity score and outcome regression included).
    method : {"dr", "ipw", "reg"}
        ``att_gt``'s estimator with covariates (default "dr", as ``att_gt``).
    weights : str, optional
        Sampling weights constant within units, as ``att_gt``'s ``weights``.
    executor : optional
        Where the draws run (None/"serial", "processes", a Dask address or Client; see
        :mod:`policylab.execution`); the reassignments are drawn from ``seed`` here, so
        the numbers do not depend on it.
    progress : bool
        Progress bar over the chunks of draws.

    Returns
    -------
    CSPretestResult
        ``p_value`` (randomization: (1 + #draws at least as large) / (1 + draws), draws
        on which the covariate estimator fails left out and counted in
        ``meta["degenerate"]``), ``statistic``, ``wald_p`` (the chi-square reference of
        the same statistic, for comparison), ``cells`` (the tested ATT(g,t) with their
        clustered SEs), ``stats``.
    """
    from policylab.validation import check_count, check_seed

    draws, seed = check_count(draws, "draws"), check_seed(seed)
    if isinstance(data, Panel):
        unit, time = unit or data.unit, time or data.time
    if unit is None or time is None:
        raise SpecError("unit= and time= are required unless data is a policylab.Panel")
    if method not in ("dr", "ipw", "reg"):
        raise SpecError(f"method must be 'dr', 'ipw' or 'reg' (att_gt's estimators), got "
                        f"{method!r}")
    assign = assign or unit
    covariates = list(covariates or [])
    inp = _inputs(data, y, unit, time, cohort, assign, cluster or assign, covariates,
                  weights, method)
    a, S, _ = _cells(inp, inp.cohort_g[None, :], strict=True)
    obs, rank = _wald(a, S)
    perms = _reassigned_cohorts(inp.cohort_g, draws, seed)
    stats = draw_statistics(_chunk_stats, perms, shared=inp, chunk_size=_chunk_size(inp),
                            executor=executor,
                            progress="CS pre-test draws" if progress else None)
    pv = p_values(float(obs[0]), stats, exact=False)
    p = pv.right
    se = np.sqrt(np.einsum("ci,ci->i", S[0], S[0]))
    cells = pd.DataFrame({"group": np.repeat(inp.cohorts, len(inp.periods)),
                          "time": np.tile(inp.periods, len(inp.cohorts)),
                          "estimate": a[0], "std_error": se})
    return CSPretestResult(
        nobs=int(inp.dy.shape[0]), statistic=float(obs[0]), p_value=float(p),
        wald_p=float(chdtrc(int(rank[0]), obs[0])), cells=cells, stats=stats,
        meta={"draws": int(draws), "seed": seed, "rank": int(rank[0]), "assign": assign,
              "cluster": cluster or assign, "groups": len(inp.cohort_g),
              "treated_groups": int((inp.cohort_g > 0).sum()), "first_adoption": inp.first,
              "depvar": y, "covariates": covariates,
              "method": method if covariates else "unconditional", "weights": weights,
              "degenerate": pv.degenerate},
    )


@dataclass
class _SizeSetup:
    dgp: Any
    kw: dict[str, Any]
    draws: int
    covariates: list[str] = field(default_factory=list)


def _with_covariates(data: Any, s: _SizeSetup, rep_seed: int) -> dict[str, float]:
    """att_gt's pre-tests and cs_pretest_ri with covariates (doubly robust) on one data
    set; NaN p-values where att_gt cannot estimate the cells (no overlap)."""
    from policylab.errors import PolicyLabError
    from policylab.estimators.staggered import att_gt

    kw = s.kw
    try:
        res = att_gt(data, y=kw["y"], unit=kw["unit"], time=kw["time"],
                     cohort=kw["cohort"], cluster=kw.get("cluster"),
                     covariates=s.covariates)
        boot = res.pretest_bootstrap(draws=s.draws, seed=rep_seed)
        ri = cs_pretest_ri(data, draws=s.draws, seed=rep_seed, covariates=s.covariates,
                           **kw)
    except PolicyLabError:
        return {"cov_wald_p": np.nan, "cov_sup_t_p": np.nan, "cov_ri_p": np.nan}
    return {"cov_wald_p": res.pretest.get("p_value"), "cov_sup_t_p": boot.get("p_value"),
            "cov_ri_p": ri.p_value}


def _size_chunk(task: tuple[int, int, Any], s: _SizeSetup) -> list[dict[str, float]]:
    import warnings

    from policylab.errors import PolicyLabWarning
    from policylab.estimators.staggered import att_gt

    start, size, ss = task
    rng = np.random.default_rng(ss)
    kw = s.kw
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolicyLabWarning)
        for i in range(size):
            rep_seed = int(rng.integers(0, 2**31 - 1))
            data = s.dgp(rep_seed)
            res = att_gt(data, y=kw["y"], unit=kw["unit"], time=kw["time"],
                         cohort=kw["cohort"], cluster=kw.get("cluster"))
            boot = res.pretest_bootstrap(draws=s.draws, seed=rep_seed)
            ri = cs_pretest_ri(data, draws=s.draws, seed=rep_seed, **kw)
            out.append({"rep": start + i, "seed": rep_seed,
                        "wald_p": res.pretest.get("p_value"),
                        "sup_t_p": boot.get("p_value"), "ri_p": ri.p_value,
                        "ri_chi2_p": ri.wald_p,
                        **(_with_covariates(data, s, rep_seed) if s.covariates else {})})
    return out


_SIZE_LABELS = {"wald_p": "att_gt pre-test: Wald (chi-square), all pre-treatment cells",
                "sup_t_p": "att_gt pre-test: multiplier bootstrap sup-t (Mammen)",
                "ri_chi2_p": "Wald on the cells before the first adoption, chi-square",
                "ri_p": "Same statistic, randomization inference (cs_pretest_ri)"}
_SIZE_LABELS_COV = {
    "cov_wald_p": "With covariates {covs} (doubly robust): att_gt Wald (chi-square)",
    "cov_sup_t_p": "With covariates {covs} (doubly robust): att_gt sup-t bootstrap",
    "cov_ri_p": "With covariates {covs} (doubly robust): randomization inference "
                "(cs_pretest_ri)"}


def cs_pretest_size(dgp: Any, *, y: str, unit: str, time: str, cohort: str = "cohort",
                    assign: str | None = None, cluster: str | None = None,
                    simulation_draws: int | None = None,
                    draws: int = 199, seed: int = 0, alpha: float = 0.05,
                    covariates: Sequence[str] | None = None,
                    executor: Any = None, progress: bool = True,
                    reps: int | None = None) -> pd.DataFrame:
    """Monte Carlo size of the Callaway-Sant'Anna pre-tests on a generator.

    ``dgp(seed)`` returns one data set without a pre-trend; ``simulation_draws`` of them
    (default 200) are drawn, each tested with ``draws`` bootstrap / randomization draws
    (``reps`` is the deprecated name of ``simulation_draws``, accepted for one release
    with a :class:`~policylab.errors.PolicyLabDeprecationWarning`). Each replication runs
    ``att_gt``'s Wald pre-test and its multiplier-bootstrap (sup-t) pre-test, and
    :func:`cs_pretest_ri` with its chi-square reference; with ``covariates`` also the
    three with those covariates (doubly robust; data sets on which att_gt cannot
    estimate the cells are left out of those rows, whose ``reps`` counts the others).
    Returns one row per test: label, reps, rejection_rate at ``alpha``, mc_se;
    ``attrs["records"]`` holds the p-values of every replication.
    """
    from policylab.execution import run_chunks
    from policylab.validation import check_count, renamed_arg

    reps = check_count(renamed_arg(simulation_draws, reps, "simulation_draws", "reps",
                                   "cs_pretest_size", default=200), "simulation_draws")
    kw = {"y": y, "unit": unit, "time": time, "cohort": cohort, "assign": assign,
          "cluster": cluster}
    covs = list(covariates or [])
    chunks = run_chunks(_size_chunk, reps, shared=_SizeSetup(dgp, kw, int(draws), covs),
                        seed=seed, chunk_size=10, executor=executor,
                        progress="CS pre-test size" if progress else None)
    rec = pd.DataFrame([r for c in chunks for r in c])
    rows = []
    labels = {**_SIZE_LABELS, **({k: v.format(covs=", ".join(covs))
                                  for k, v in _SIZE_LABELS_COV.items()} if covs else {})}
    for col, label in labels.items():
        p = pd.to_numeric(rec[col], errors="coerce").dropna()
        rej = float((p <= alpha).mean()) if len(p) else np.nan
        rows.append({"test": col[:-2], "label": label, "reps": len(p),
                     "rejection_rate": rej,
                     "mc_se": float(np.sqrt(rej * (1 - rej) / max(len(p), 1)))})
    out = pd.DataFrame(rows)
    out.attrs["records"] = rec
    return out
