"""Coverage you can show: Monte Carlo of a study's own design.

``simulate`` answers the referee's question "does your interval cover, and does your
pre-trend test hold its size, in a design like yours?" by replication:

- *design-based* (the default, given a data set): the baseline DID is fitted once; each
  replication keeps the real regressors, fixed effects, treatment and clusters, sets the
  effect to ``truth`` and draws new errors from the fitted residuals — whole residual
  series of units handed to other units at random (``errors="permute_units"``, the
  default on a balanced panel: serial correlation and the spread of residuals are kept,
  no unit keeps its own), or residuals multiplied by a random sign per cluster
  (``errors="signflip"``: keeps within-cluster dependence exactly; note that this is the
  wild bootstrap's own resampling scheme, which flatters it);
- *generator-based*: any function ``seed -> data`` (the bundled generators, or your
  own), with the true effect given, or ``seed -> (data, truth)`` when the estimand
  varies with the draws.

A :class:`~policylab.estimators.design.Design` (given as data or returned by a
generator) is carried into every replication whole: its weights, extra fixed effects,
cluster and sample apply to every fit.

Each replication fits the DID and records whether each inference method's interval
covers the truth (equivalently, whether the test of H0: effect = truth does not reject):
the cluster-robust t interval (CRV1), the restricted wild cluster bootstrap (Webb
weights) and randomization inference over assignments (the outcome shifted by the
hypothesised effect). With ``pretrend_window`` it also records how often each joint
pre-trend test rejects when there is no pre-trend: the CRV1 Wald test, its wild
bootstrap and its randomization version. Replications run in chunks through the
execution layer (``executor="processes"`` or a Dask scheduler), with per-chunk seeds, so
every executor returns the same numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import PolicyLabWarning, SpecError
from policylab.estimators.result import Result

__all__ = ["simulate", "SimulationResult"]

_METHODS = ("crv1", "wild", "ri")


@dataclass
class SimulationResult(Result):
    """Replications (``records``, one row each) and their summary (``tidy()``)."""

    records: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Bias, RMSE and coverage of each interval; size of each pre-trend test.

        Columns: target ("effect" or "pretrend"), method, reps, bias, rmse, coverage
        (share of replications whose interval covers the truth), rejection_rate (share
        rejecting a true null at the nominal level), mc_se (Monte Carlo standard error of
        the rejection rate).
        """
        r = self.records
        rows = []
        err = r["estimate"] - r["truth"]
        for m in self.meta["methods"]:
            rej = ~r[f"{m}_covers"].astype(bool)
            rows.append({"target": "effect", "method": m, "reps": len(r),
                         "bias": float(err.mean()), "rmse": float(np.sqrt((err**2).mean())),
                         "coverage": float(1 - rej.mean()), "rejection_rate": float(rej.mean()),
                         "mc_se": float(np.sqrt(rej.mean() * (1 - rej.mean()) / len(r)))})
        for m in ("wald", "wild", "ri"):
            col = f"pretrend_{m}_p"
            if col in r:
                rej = r[col] <= self.meta["alpha"]
                rows.append({"target": "pretrend", "method": m, "reps": len(r),
                             "bias": np.nan, "rmse": np.nan, "coverage": np.nan,
                             "rejection_rate": float(rej.mean()),
                             "mc_se": float(np.sqrt(rej.mean() * (1 - rej.mean()) / len(r)))})
        return pd.DataFrame(rows)


@dataclass
class _Setup:
    """What every replication needs (shipped once to each worker)."""

    df: pd.DataFrame  # the estimation rows of the real data (design-based mode)
    dgp: Callable[[int], Any] | None
    y: str
    model: dict[str, Any]  # did()/event_study() keywords: treatment, controls, fe, ...
    truth: float | None  # None: the generator returns each replication's truth
    methods: tuple[str, ...]
    draws: int
    alpha: float
    pretrend_window: tuple[int, int] | None
    base: np.ndarray | None = None  # y without the effect and the residual
    d: np.ndarray | None = None  # treatment 0/1 of each row
    resid: np.ndarray | None = None
    errors: str = "permute_units"
    blocks: np.ndarray | None = None  # unit x period row positions (permute_units)
    clusters: np.ndarray | None = None  # cluster code of each row (signflip)
    design: Any = None  # the user's Design (weights, extra FE, cluster, sample kept)
    pos: np.ndarray | None = None  # positions of the estimation rows in design.df


def _design_setup(data: Any, y: str, model: dict[str, Any], errors: str | None,
                  **common: Any) -> _Setup:
    """Fit the baseline once; split y into its fitted part without the effect and e."""
    from policylab.estimators.design import Design
    from policylab.estimators.did import did

    res = did(data, y=y, **model)
    m = res.fit
    df = m.sample().reset_index(drop=True)
    u = np.asarray(m.resid, dtype=float)
    d = df[res.meta["treat_term"]].to_numpy(float)
    base = df[y].to_numpy(float) - u - res.coef()[res.meta["treat_term"]] * d
    unit, time = res.meta["unit"], res.meta["time"]
    uc, units = pd.factorize(df[unit])
    tc, periods = pd.factorize(df[time])
    balanced = len(df) == len(units) * len(periods) and not pd.Series(
        uc * len(periods) + tc).duplicated().any()
    if errors is None:
        errors = "permute_units" if balanced else "signflip"
    if errors not in ("permute_units", "signflip"):
        raise SpecError(f"errors={errors!r}: use 'permute_units' or 'signflip'")
    if errors == "permute_units" and not balanced:
        raise SpecError("errors='permute_units' needs a balanced panel (every unit in every "
                        "period); use errors='signflip'")
    blocks = np.full((len(units), len(periods)), -1, dtype=np.int64)
    blocks[uc, tc] = np.arange(len(df))
    clusters = np.asarray(m.cluster_codes[0]) if m.cluster_codes else uc
    extra: dict[str, Any] = {}
    if isinstance(data, Design):
        # every replication is the same Design with a new outcome column, so its
        # weights, extra fixed effects, cluster and sample carry over unchanged
        extra = {"design": data, "pos": data.df.index.get_indexer(m.rows)}
    else:
        model = {**model, "unit": unit, "time": time}
    return _Setup(df=df, dgp=None, y=y, model=model, base=base, d=d, resid=u, errors=errors,
                  blocks=blocks, clusters=clusters, **extra, **common)


def _with_y(data: Any, y: str, values: np.ndarray) -> Any:
    """``data`` (DataFrame or Design) with the outcome column replaced."""
    from policylab.estimators.design import Design

    if isinstance(data, Design):
        return data.replace(df=data.df.assign(**{y: values}))
    return data.assign(**{y: values})


def _frame(data: Any) -> pd.DataFrame:
    from policylab.estimators.design import Design

    return data.df if isinstance(data, Design) else data


def _draw_data(s: _Setup, rng: np.random.Generator, rep_seed: int) -> tuple[Any, float]:
    """One replication's data (a DataFrame, or a Design when the user gave one) and its
    true effect."""
    from policylab.estimators.design import Design

    if s.dgp is not None:
        data = s.dgp(rep_seed)
        truth = s.truth
        if isinstance(data, tuple):
            # (data, truth): a generator whose estimand varies with its draws
            data, truth = data
        if truth is None:
            raise SpecError("the generator returned data without its true effect: give "
                            "simulate(..., truth=) or return (data, truth) from it")
        if not (isinstance(data, Design) or not hasattr(data, "df")):
            data = data.df
        return data, float(truth)
    if s.errors == "permute_units":
        perm = rng.permutation(s.blocks.shape[0])
        e = np.empty_like(s.resid)
        e[s.blocks.ravel()] = s.resid[s.blocks[perm].ravel()]
    else:
        v = rng.choice([-1.0, 1.0], size=int(s.clusters.max()) + 1)
        e = s.resid * v[s.clusters]
    y = s.base + s.truth * s.d + e
    if s.design is not None:
        full = s.design.df[s.y].to_numpy(dtype=float, copy=True)
        full[s.pos] = y
        return _with_y(s.design, s.y, full), s.truth
    return s.df.assign(**{s.y: y}), s.truth


def _one(s: _Setup, data: Any, seed: int, truth: float) -> dict[str, float]:
    from policylab.estimators.did import did
    from policylab.inference.placebo import placebo_test
    from policylab.inference.wild import wild_bootstrap

    res = did(data, y=s.y, **s.model)
    term = res.meta["treat_term"]
    est, se = float(res.coef()[term]), float(res.se()[term])
    ci = res.confint(1 - s.alpha).loc[term]
    rec = {"truth": truth, "estimate": est, "std_error": se,
           "crv1_covers": bool(ci["conf_low"] <= truth <= ci["conf_high"])}
    if "wild" in s.methods:
        w = wild_bootstrap(res, param=term, null=truth, draws=s.draws, weights_type="webb",
                           seed=seed, ci=False)
        rec["wild_p"] = w.p_value
        rec["wild_covers"] = w.p_value > s.alpha
    if "ri" in s.methods:
        # H0: effect = truth is the sharp null of no effect on y - truth * D
        f = _frame(data)
        shifted = _with_y(data, s.y, (f[s.y] - truth * f[term]).to_numpy())
        r0 = did(shifted, y=s.y, **s.model)
        p = placebo_test(r0, draws=s.draws, exact=False, seed=seed).tidy()
        rec["ri_p"] = float(p["p_value"].iloc[0])
        rec["ri_covers"] = rec["ri_p"] > s.alpha
    if s.pretrend_window is not None:
        rec.update(_pretrend(s, data, seed))
    return rec


def _pretrend(s: _Setup, data: Any, seed: int) -> dict[str, float]:
    from policylab.estimators.event_study import event_study
    from policylab.inference.joint_wild import joint_wild_test
    from policylab.inference.pretrend_ri import pretrend_ri_test

    es = event_study(data, y=s.y, window=s.pretrend_window, **s.model)
    return {"pretrend_wald_p": es.pretrend_test()["p_value"],
            "pretrend_wild_p": joint_wild_test(es, es.lead_terms, draws=s.draws,
                                               seed=seed).p_value,
            "pretrend_ri_p": pretrend_ri_test(es, draws=s.draws, seed=seed).p_value}


def _chunk(task: tuple[int, int, Any], s: _Setup) -> list[dict[str, float]]:
    start, size, ss = task
    rng = np.random.default_rng(ss)
    out = []
    with warnings.catch_warnings():
        # every replication repeats the design's referee warnings: say them once, outside
        warnings.simplefilter("ignore", PolicyLabWarning)
        for i in range(size):
            rep_seed = int(rng.integers(0, 2**31 - 1))
            data, truth = _draw_data(s, rng, rep_seed)
            out.append({"rep": start + i, "seed": rep_seed, **_one(s, data, rep_seed, truth)})
    return out


def simulate(
    data: Any,
    y: str,
    *,
    truth: float | None = None,
    simulation_draws: int | None = None,
    seed: int = 0,
    methods: Sequence[str] = _METHODS,
    draws: int = 499,
    alpha: float = 0.05,
    pretrend_window: tuple[int, int] | None = None,
    errors: str | None = None,
    executor: Any = None,
    progress: bool = True,
    reps: int | None = None,
    **model: Any,
) -> SimulationResult:
    """Bias, RMSE, interval coverage and pre-trend test size in a design like yours.

    Parameters
    ----------
    data : Panel, DataFrame or callable
        The study's data (design-based replications: real regressors, treatment and
        clusters; effect set to ``truth``; errors resampled from the fitted residuals),
        or a function ``seed -> data`` generating one data set (Panel, DataFrame or
        Design) per replication; it may return ``(data, truth)`` when the estimand
        varies with the draws (e.g. an average of heterogeneous effects), else give
        ``truth``.
    y : str
        Outcome column.
    truth : float, optional
        The true effect. Design-based default: 0 (coverage of a true null). Each
        replication's truth is in ``records["truth"]``.
    simulation_draws : int, optional
        Replications: simulated data sets (default 200; the Monte Carlo standard error of
        a 5% rejection rate is about sqrt(0.05 * 0.95 / simulation_draws): 1.5 points at
        200).
    seed : int
        Seed of the whole simulation (chunk seeds derive from it).
    methods : sequence of {"crv1", "wild", "ri"}
        Interval methods whose coverage is measured.
    draws : int
        Bootstrap / randomization draws per replication (``draws=`` of
        :func:`policylab.wild_bootstrap` and :func:`policylab.placebo_test`).
    alpha : float
        Nominal level of every test (intervals are 1 - alpha).
    pretrend_window : (int, int), optional
        Also measure the size of the joint pre-trend tests of an event study with this
        window (Wald, wild bootstrap, randomization inference).
    errors : {"permute_units", "signflip"}, optional
        How design-based replications draw errors (default: permute_units on a balanced
        panel, else signflip).
    executor : optional
        Where chunks of replications run (see :mod:`policylab.execution`).
    progress : bool
        Show a progress bar.
    reps : int, optional
        Deprecated name of ``simulation_draws`` (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`).
    **model
        The model, as for :func:`policylab.did`: ``treat=`` / ``cohort=``, ``controls=``,
        ``fe=``, ``cluster=``, ``weights=``, ``assign=``, ``unit=``, ``time=``.

    Returns
    -------
    SimulationResult
        ``tidy()``: one row per method and target; ``records``: one row per replication
        (its ``seed`` is what a generator was called with, so one replication can be
        rebuilt).
    """
    from policylab.execution import run_chunks
    from policylab.validation import check_count, check_seed, renamed_arg

    simulation_draws = renamed_arg(simulation_draws, reps, "simulation_draws", "reps",
                                   "simulate", default=200)
    draws, seed = check_count(draws, "draws"), check_seed(seed)
    methods = tuple(methods)
    unknown = [m for m in methods if m not in _METHODS]
    if unknown:
        raise SpecError(f"methods={unknown} unknown; choose from {list(_METHODS)}")
    if (not isinstance(simulation_draws, (int, np.integer))
            or isinstance(simulation_draws, bool) or simulation_draws < 2):
        raise SpecError("simulation_draws must be an integer of at least 2, got "
                        f"{simulation_draws!r}")
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be between 0 and 1, got {alpha!r}")
    common = {"truth": None if truth is None else float(truth), "methods": methods,
              "draws": int(draws), "alpha": float(alpha), "pretrend_window": pretrend_window}
    if callable(data) and not hasattr(data, "df"):
        setup = _Setup(df=pd.DataFrame(), dgp=data, y=y, model=dict(model), **common)
    else:
        common["truth"] = common["truth"] or 0.0
        setup = _design_setup(data, y, dict(model), errors, **common)
    chunks = run_chunks(_chunk, simulation_draws, shared=setup, seed=seed, chunk_size=10,
                        executor=executor, progress="simulating" if progress else None)
    records = pd.DataFrame([r for c in chunks for r in c])
    return SimulationResult(
        nobs=simulation_draws, records=records,
        meta={"truth": setup.truth, "methods": list(methods), "alpha": alpha,
              "reps": simulation_draws,
              "draws": draws, "seed": seed, "errors": setup.errors if setup.dgp is None
              else "generator", "depvar": y, "pretrend_window": pretrend_window},
    )
