"""Placebo tests by random assignment, and exact randomization inference.

The treatment is reassigned at the level where the real policy was assigned (provinces,
not cities): the same number of groups is treated, each receiving one of the real
treatment paths. Every reassignment's treatment column is a 0/1 combination of basis
columns 1[group g] x path_h(t); demeaning and partialling out the controls are linear,
so the fixed effects and controls are absorbed once and each draw's coefficient and
clustered t statistic come from precomputed sums (no loop of regressions; the engine's
:class:`policylab.engine.placebo_draws.PlaceboDraws` picks the cheapest exact method).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from policylab.data.names import quote_name
from policylab.engine import vcov as vc
from policylab.engine.placebo_draws import PlaceboDraws, smallest_k
from policylab.errors import EstimationError, SpecError
from policylab.estimators.feols import FeolsResult
from policylab.estimators.result import Result
from policylab.inference.randomization import (
    draw_statistics,
    enumerated_statistics,
    p_values,
)
from policylab.inference.wild import refuse_iv
from policylab.messages import Message
from policylab.validation import RenamedKeys

__all__ = ["placebo_test", "PlaceboResult"]


@dataclass
class PlaceboResult(Result):
    """The real estimate against its placebo (randomization) distribution.

    ``estimates`` and ``tstats`` hold every placebo draw (or every enumerated
    assignment); p-values follow the chosen statistic.
    """

    estimate: float = np.nan
    tstat: float = np.nan
    estimates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tstats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p_value: float = np.nan
    p_left: float = np.nan
    p_right: float = np.nan
    p_value_coef: float = np.nan
    p_value_t: float = np.nan
    exact: bool = False

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row: the real estimate, randomization p-values and the draw count."""
        lo, hi = np.quantile(self.estimates, [(1 - level) / 2, (1 + level) / 2])
        return pd.DataFrame([{
            "term": self.meta["param"], "estimate": self.estimate,
            "std_error": float(np.std(self.estimates, ddof=1)), "statistic": self.tstat,
            "p_value": self.p_value, "p_left": self.p_left, "p_right": self.p_right,
            "p_value_coef": self.p_value_coef, "p_value_t": self.p_value_t,
            "conf_low": float(lo), "conf_high": float(hi), "draws": len(self.estimates),
            "exact": self.exact, "kind": self.meta["kind"],
        }])

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Kernel density of placebo estimates with their p-values on a second axis,
        the real estimate as a vertical line and p = 0.1 as a horizontal line."""
        from policylab.report.figures.placebo import placebo_figure

        # p-values only for the draws the figure plots (every step-th; t.sf over all
        # 593,775 enumerated draws took ~0.2 s for 5,000 points)
        step = max(1, len(self.tstats) // kw.get("max_points", 5000))
        p_each = np.full(len(self.tstats), np.nan)
        p_each[::step] = 2 * special.stdtr(self.meta["df_t"], -np.abs(self.tstats[::step]))
        return placebo_figure(self.estimates, p_each, self.estimate, lang=lang, **kw)


def _p_values(real: float, draws: np.ndarray, exact: bool) -> tuple[float, float, float]:
    # the convention and the tie tolerance of every randomization test in policylab
    return p_values(real, draws, exact=exact).as_tuple()


#: placebo draws per chunk of work sent to the executor (each draw costs microseconds)
_CHUNK = 20_000


def _coef_t_chunk(idx: np.ndarray, stats: PlaceboDraws) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and t statistics of a chunk of assignments (an executor task)."""
    return stats.coef_t(idx)


def placebo_test(
    result: FeolsResult,
    kind: str = "units",
    draws: int = 1000,
    exact: str | bool = "auto",
    level: str | None = None,
    seed: int | None = None,
    *,
    statistic: str = "t",
    param: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    assign: str | None = None,
    fake_assignments: Sequence[Sequence[Any]] | None = None,
    placebo_window: str | None = None,
    max_exact: int = 2_000_000,
    progress: bool = False,
    executor: Any = None,
    window: str | None = None,
) -> PlaceboResult:
    """Randomization inference for a DID estimate.

    Parameters
    ----------
    result : DIDResult or FeolsResult
        From :func:`policylab.did` (everything is read from it) or :func:`policylab.feols`
        (then pass ``param``, ``unit``, ``time`` and, if above the unit, ``assign``).
    kind : {"units", "timing", "both"}
        Reassign which groups are treated; fake policy dates; or both.
    draws : int
        Random draws when not enumerating (p = (1 + count) / (1 + draws)).
    exact : "auto", True or False
        Enumerate every assignment (the exact p-value is the share of assignments at
        least as extreme, the real one included). "auto" enumerates when there are at
        most ``max_exact`` assignments, e.g. C(30, 6) = 593,775.
    level : str, optional
        Deprecated alias of ``assign`` (``level`` means the confidence level elsewhere
        in policylab); emits a :class:`~policylab.errors.PolicyLabDeprecationWarning`.
    seed : int, optional
        Seed of the random draws.
    statistic : {"t", "coef"}
        Statistic of the p-value: the studentized cluster-robust t (recommended) or the
        coefficient. Both p-values are reported.
    fake_assignments : list of lists, optional
        Your own placebo assignments: each a list of treated groups.
    placebo_window : {"pre", "all"}, optional
        Timing placebos: fake dates inside the pre-treatment years using only those
        years (``"pre"``, the default), or anywhere in the sample period on the full
        sample (``"all"``). Each fake date
        is a regression with the model's weights, fixed effects, clusters and
        small-sample correction.
    progress : bool
        Show a progress bar over the chunks of draws.
    executor : optional
        Where the draws run: None/"serial", "processes", "dask", a Dask scheduler address
        or Client (see :mod:`policylab.execution`). The draws are made from ``seed`` in
        this process, so the numbers do not depend on the executor.
    window : {"pre", "all"}, optional
        Deprecated name of ``placebo_window`` (accepted for one release with a
        :class:`~policylab.errors.PolicyLabDeprecationWarning`): elsewhere ``window`` is
        an event window ``(lo, hi)``.

    Notes
    -----
    p-values follow :mod:`policylab.inference.randomization`: exact enumeration gives
    the share of assignments at least as extreme (the real one included), random draws
    (1 + count) / (1 + draws); ties within a relative 1e-9 count as extreme.
    """
    from policylab.validation import check_count, check_exact, check_seed, renamed_arg

    placebo_window = renamed_arg(placebo_window, window, "placebo_window", "window",
                                 "placebo_test", default="pre")
    if placebo_window not in ("pre", "all"):
        raise SpecError(f"placebo_window must be 'pre' or 'all', got {placebo_window!r}")
    draws, max_exact = check_count(draws, "draws"), check_count(max_exact, "max_exact")
    exact, seed = check_exact(exact), check_seed(seed)
    refuse_iv(result, "placebo_test")
    meta = result.meta
    param = param or meta.get("treat_term")
    unit = unit or meta.get("unit")
    time = time or meta.get("time")
    if level is not None:
        import warnings

        from policylab.errors import PolicyLabDeprecationWarning

        warnings.warn("placebo_test(level=...) is deprecated and will be removed in the next "
                      f"release; use assign={level!r} (the assignment level)",
                      PolicyLabDeprecationWarning, stacklevel=2)
        if assign is not None and assign != level:
            raise SpecError(f"placebo_test got level={level!r} and assign={assign!r}; give "
                            "only assign= (level is its deprecated alias)")
    assign = level or assign or meta.get("assign") or unit
    if param is None or unit is None or time is None:
        raise SpecError("placebo_test needs a did() result, or feols() with param=, unit= "
                        "and time=")
    if param not in result.terms:
        raise SpecError(f"param={param!r} is not a term of the model ({result.terms})")
    if kind not in ("units", "timing", "both"):
        raise SpecError(f"kind must be 'units', 'timing' or 'both', got {kind!r}")
    if statistic not in ("t", "coef"):
        raise SpecError(f"statistic must be 't' or 'coef', got {statistic!r}")
    if kind == "timing":
        return _timing_placebo(result, param, time, assign, placebo_window, seed)
    a = _assignment(result, param, unit, time, assign, kind)
    n_treated = len(a.treated_groups)
    total = math.comb(a.G, n_treated)
    use_exact = _use_exact(exact, kind, a.H, total, max_exact, fake_assignments)
    n_draws = (total if use_exact else draws if fake_assignments is None
               else len(fake_assignments))
    stats = _draw_stats(result, param, a, n_treated, n_draws)
    if kind == "units":
        real = (a.treated_groups * a.H + a.real_ids)[None, :]
        b0, t0 = (float(v[0]) for v in stats.coef_t(real))
    else:
        b0, t0 = float(result.coef()[param]), float(result.tstat()[param])
    bar = "placebo draws" if progress else None
    if use_exact:  # one treatment path (H == 1): basis column g is group g
        B, T = enumerated_statistics(_coef_t_chunk, a.G, n_treated, shared=stats,
                                     chunk_size=_CHUNK, executor=executor, progress=bar)
    else:
        B, T = draw_statistics(
            _coef_t_chunk, _idx_chunks(a, kind, draws, seed, fake_assignments, assign),
            shared=stats, chunk_size=_CHUNK, executor=executor, progress=bar)
    pc = _p_values(b0, B, use_exact)
    pt = _p_values(t0, T, use_exact)
    chosen = pt if statistic == "t" else pc
    Gc = int(result.fit.cluster_codes[0].max()) + 1 if result.fit.cluster_codes \
        else result.nobs
    res = PlaceboResult(
        nobs=result.nobs, estimate=b0, tstat=t0, estimates=B, tstats=T,
        p_value=chosen[0], p_left=chosen[1], p_right=chosen[2], p_value_coef=pc[0],
        p_value_t=pt[0], exact=use_exact,
        meta={"param": param, "kind": kind, "assign": assign, "groups": a.G,
              "treated_groups": n_treated, "assignments_possible": total,
              "statistic": statistic, "seed": None if use_exact else seed,
              "df_t": result.df_t or (Gc - 1), "draws": len(B), "depvar": meta.get("depvar"),
              "method": stats.method},
    )
    if not use_exact and len(B) < 500:
        res.warn(Message("placebo.few_draws", n=len(B), step=len(B) + 1))
    return res


@dataclass
class _Assignment:
    """Who was treated how: the assignment groups, each row's group and period, the
    treatment paths a draw may hand out and the real groups' paths."""

    groups: list[Any]
    g_of_row: np.ndarray
    t_of_row: np.ndarray
    paths: np.ndarray  # (H, T)
    real_ids: np.ndarray  # path of each really treated group
    treated_groups: np.ndarray

    @property
    def G(self) -> int:
        return len(self.groups)

    @property
    def H(self) -> int:
        return self.paths.shape[0]


def _assignment(result: FeolsResult, param: str, unit: str, time: str, assign: str,
                kind: str) -> _Assignment:
    df = result.fit.sample()
    treat_col = param if param in df.columns else result.meta.get("treat_term")
    if treat_col not in df.columns:
        raise SpecError(f"the treatment {param!r} must be a data column for placebo tests")
    for c in (unit, time, assign):
        if c not in df.columns:
            raise SpecError(f"column {c!r} is not in the model's data")
    g_of_row, groups = pd.factorize(df[assign], sort=True)
    t_of_row, times = pd.factorize(df[time], sort=True)
    if (g_of_row < 0).any() or (t_of_row < 0).any():
        raise SpecError(f"{assign!r} or {time!r} is missing in rows of the model; drop "
                        "those rows or fill them before fitting")
    G, T = len(groups), len(times)
    cell = g_of_row.astype(np.int64) * T + t_of_row
    v = df[treat_col].to_numpy(float)
    lo = np.full(G * T, np.inf)
    hi = np.full(G * T, -np.inf)
    np.minimum.at(lo, cell, v)
    np.maximum.at(hi, cell, v)
    seen = np.isfinite(hi)
    if not np.allclose(lo[seen], hi[seen]):
        raise SpecError(
            f"the treatment varies within {assign!r} x {time!r} cells, so it was not "
            f"assigned at the {assign!r} level; pass assign= the level it was assigned at"
        )
    P = np.where(seen, hi, 0.0).reshape(G, T)
    groups = list(groups)
    g_of_row, t_of_row = g_of_row.astype(np.int64), t_of_row.astype(np.int64)
    nonzero = np.abs(P).sum(axis=1) > 0
    real_paths, real_ids = _paths(P[nonzero], seen.reshape(G, T)[nonzero])
    if kind == "both":
        real_paths = _shifted_paths(real_paths, P.shape[1])
    return _Assignment(groups, g_of_row, t_of_row, real_paths, np.asarray(real_ids).ravel(),
                       np.flatnonzero(nonzero))


def _paths(P: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct treatment paths of the treated groups (rows of ``P``, periods as
    columns) and the path of each group, on panels where groups miss periods.

    A group is not observed in every period of an unbalanced panel; its treatment there
    is unknown, not 0. Two groups hold the same path when they agree on the periods both
    are observed in (each group joins the first path it agrees with, in group order),
    and the path takes every value its groups are observed with. A period in which no
    group of a path is observed takes the path's value of the period before (treatment
    persists; the first periods take the first observed value): a draw that hands the
    path to a group observed then needs a value. On a balanced panel these are the
    distinct rows of ``P``.
    """
    vals: list[np.ndarray] = []
    known: list[np.ndarray] = []
    owner = np.empty(len(P), dtype=np.int64)
    for i, (p, s) in enumerate(zip(P, seen)):
        for h, (v, k) in enumerate(zip(vals, known)):
            both = s & k
            if np.array_equal(p[both], v[both]):
                v[s] = p[s]
                k |= s
                owner[i] = h
                break
        else:
            vals.append(np.where(s, p, 0.0))
            known.append(s.copy())
            owner[i] = len(vals) - 1
    full = np.array([_carry_forward(v, k) for v, k in zip(vals, known)]).reshape(-1, P.shape[1])
    paths, ids = np.unique(full, axis=0, return_inverse=True)
    return paths, np.asarray(ids).ravel()[owner]


def _carry_forward(v: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``v`` with each unknown period set to the last known value before it (the first
    known value before any)."""
    idx = np.where(known, np.arange(len(v)), -1)
    np.maximum.accumulate(idx, out=idx)
    idx = np.where(idx < 0, int(np.argmax(known)), idx)
    return v[idx]


def _shifted_paths(real_paths: np.ndarray, T: int) -> np.ndarray:
    # every treated group keeps its path shape but at a random date: all shifts of the
    # real paths that stay inside the window
    shapes = []
    for p in real_paths:
        start = int(np.argmax(p > 0))
        for s in range(1, T):
            q = np.zeros_like(p)
            # shifted earlier than the real date, the path keeps its last value to the end
            q[s:] = p[np.minimum(np.arange(start, start + T - s), T - 1)]
            shapes.append(q)
    return np.unique(np.array(shapes), axis=0)


def _use_exact(exact: str | bool, kind: str, H: int, total: int, max_exact: int,
               fake_assignments: Sequence[Sequence[Any]] | None) -> bool:
    use_exact = (exact is True or (exact == "auto" and kind == "units" and H == 1
                                   and total <= max_exact))
    if fake_assignments is not None:
        return False
    if use_exact and (kind != "units" or H != 1):
        raise SpecError(Message("placebo.exact_needs_one_date"))
    if use_exact and total > max_exact:
        raise SpecError(Message("placebo.exact_too_many", total=total, max_exact=max_exact))
    return bool(use_exact)


def _draw_stats(result: FeolsResult, param: str, a: _Assignment, n_treated: int,
                n_draws: int) -> PlaceboDraws:
    """The engine's draw statistics on the model's absorbed design (same fixed effects,
    weights, clusters and small-sample factor as the regression)."""
    m = result.fit
    cl = m.cluster_codes
    if len(cl) > 1:
        raise SpecError("placebo t statistics support one-way clustering; refit with one "
                        "cluster or use statistic='coef'")
    # the draws rebuild the sandwich for each fake treatment: they take the small-sample
    # factor of the engine's variance (CRV1 by the model's clusters, else HC1)
    kind = "CRV1" if cl else "hetero"
    fac = vc.variance(kind, vc.variance_pieces(kind, m, cl), result.meta.get("ssc", vc.SSC()),
                      names=m.cluster_cols).factor
    C = np.delete(m.X, m.terms.index(param), axis=1)
    return PlaceboDraws(m.y, C, m.fe_codes, m.weights, cl[0] if cl else None,
                        a.g_of_row, a.t_of_row, a.paths, fac, n_treated, n_draws,
                        method=_FORCE_METHOD)


#: tests set this to compare the engine's methods through the public function
_FORCE_METHOD: str | None = None


def _idx_chunks(a: _Assignment, kind: str, draws: int, seed: int | None,
                fake_assignments: Sequence[Sequence[Any]] | None, assign: str
                ) -> Iterator[np.ndarray]:
    """Each draw as the basis columns g * H + h it switches on (draws x n_treated)."""
    H, G, n_treated = a.H, a.G, len(a.treated_groups)
    if fake_assignments is not None:
        pos = {g: i for i, g in enumerate(a.groups)}
        idx = np.empty((len(fake_assignments), n_treated), dtype=np.int64)
        for d, chosen in enumerate(fake_assignments):
            missing = [g for g in chosen if g not in pos]
            if missing or len(chosen) != n_treated:
                raise SpecError(f"fake assignment {d} must list {n_treated} groups of "
                                f"{assign!r}; unknown: {missing[:3]}")
            gi = np.array([pos[g] for g in chosen])
            idx[d] = gi * H + a.real_ids[: len(gi)]
        yield idx
        return
    rng = np.random.default_rng(seed)
    left = draws
    while left > 0:
        size = min(left, 20_000)
        # the uniform rows in blocks (the same stream as one call), bounding memory; one
        # buffer refilled in place (fresh pages for each block cost as much as the draws)
        step = max(1, 4_000_000 // G)
        buf = np.empty((min(step, size), G))
        chosen = np.concatenate([
            _smallest(rng.random(out=buf[:min(step, size - lo)]), n_treated, ordered=H > 1)
            for lo in range(0, size, step)])
        left -= size
        if kind == "both":
            hs = rng.integers(0, H, (size, n_treated))
        elif H > 1 or left > 0:  # (with one path and no later draws: all zeros)
            hs = rng.permuted(np.tile(a.real_ids, (size, 1)), axis=1)
        else:
            hs = 0
        yield chosen * H + hs


def _smallest(R: np.ndarray, k: int, ordered: bool) -> np.ndarray:
    """Column indices of the k smallest values of each row: the first k of the row's
    argsort (the same draws as ever for a seed), in that order only when the order
    matters (several treatment paths); otherwise the set is enough."""
    if k == 0 or k >= R.shape[1]:
        return np.argsort(R, axis=1)[:, :k]
    out = smallest_k(R, k, ordered)
    tied = out[:, 0] < 0
    if tied.any():  # equal random numbers: practically never; argsort decides
        out[tied] = np.argsort(R[tied], axis=1)[:, :k]
    return out


def _timing_placebo(result: FeolsResult, param: str, time: str, assign: str,
                    window: str, seed: int | None) -> PlaceboResult:
    """Fake adoption dates for the real treated groups, one regression per date with the
    model's formula, weights, clusters and small-sample correction."""
    from policylab.estimators.feols import feols

    m, meta = result.fit, result.meta
    if m.extra_columns:
        raise SpecError("timing placebos need the treatment as a data column (a did() "
                        "result); this model builds regressors outside the data")
    df = m.sample().copy()
    d = df[param]
    treated = df.groupby(assign)[param].transform("max") > 0
    first = df.loc[d == 1, time].min()
    years = np.sort(df[time].unique())
    if window == "pre":
        df = df[df[time] < first].copy()
        candidates = [y for y in years if years[0] + 1 < y < first]
    elif window == "all":
        candidates = [y for y in years[2:] if y != first]
    else:
        raise SpecError("window must be 'pre' or 'all'")
    if not candidates:
        raise EstimationError("no fake dates available: the pre-period is too short")
    kind = meta.get("vcov", "iid")
    vcov: Any = ({kind: " + ".join(quote_name(c) for c in meta["cluster"])}
                 if kind in ("CRV1", "CRV3") else kind)
    bs, ts = [], []
    for fake in candidates:
        # the fake treatment takes the real one's place in the same formula
        df[param] = (treated.loc[df.index] & (df[time] >= fake)).astype(float)
        r = feols(meta["formula"], df, vcov=vcov, weights=meta.get("weights"),
                  ssc=meta.get("ssc"))
        bs.append(r.coef()[param])
        ts.append(r.tstat()[param])
    B, T = np.array(bs), np.array(ts)
    real_b, real_t = float(result.coef()[param]), float(result.tstat()[param])
    # with fake dates the question is whether placebo effects are near zero: report
    # their own p-values; the randomization p compares the real effect with them
    pc = _p_values(real_b, B, True)
    pt = _p_values(real_t, T, True)
    return PlaceboResult(
        nobs=result.nobs, estimate=real_b, tstat=real_t, estimates=B, tstats=T,
        p_value=pt[0], p_left=pt[1], p_right=pt[2], p_value_coef=pc[0], p_value_t=pt[0],
        exact=True,
        meta=RenamedKeys({"param": param, "kind": "timing", "assign": assign,
                          "fake_dates": candidates, "placebo_window": window, "statistic": "t",
                          "df_t": result.df_t, "draws": len(B), "seed": seed,
                          "depvar": meta.get("depvar")},
                         renamed={"window": "placebo_window"}, where="PlaceboResult.meta"),
    )
