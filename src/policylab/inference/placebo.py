"""Placebo tests by random assignment, and exact randomization inference.

The treatment is reassigned at the level where the real policy was assigned (provinces,
not cities): the same number of groups is treated, each receiving one of the real
treatment paths. Every reassignment's treatment column is a 0/1 combination of basis
columns 1[group g] x path_h(t); demeaning and partialling out the controls are linear,
so the fixed effects and controls are absorbed once for the basis and each draw's
coefficient and clustered t statistic are matrix products (no loop of regressions).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from policylab.engine import batched
from policylab.engine import fixed_effects as fx
from policylab.engine import vcov as vc
from policylab.errors import EstimationError, SpecError
from policylab.estimators.feols import FeolsResult
from policylab.estimators.result import Result

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

        p_each = 2 * stats.t.sf(np.abs(self.tstats), self.meta["df_t"])
        return placebo_figure(self.estimates, p_each, self.estimate, lang=lang, **kw)


def _p_values(real: float, draws: np.ndarray, exact: bool) -> tuple[float, float, float]:
    # ties within rounding count as extreme: the real assignment is among the draws
    tol = 1e-10 * max(abs(real), 1e-12)
    two = np.abs(draws) >= abs(real) - tol
    left = draws <= real + tol
    right = draws >= real - tol
    if exact:
        return float(two.mean()), float(left.mean()), float(right.mean())
    B = len(draws)
    return tuple(float((1 + x.sum()) / (1 + B)) for x in (two, left, right))  # type: ignore


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
    window: str = "pre",
    max_exact: int = 2_000_000,
    progress: bool = False,
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
        Assignment level (default: the design's ``assign``; an alias of ``assign``).
    seed : int, optional
        Seed of the random draws.
    statistic : {"t", "coef"}
        Statistic of the p-value: the studentized cluster-robust t (recommended) or the
        coefficient. Both p-values are reported.
    fake_assignments : list of lists, optional
        Your own placebo assignments: each a list of treated groups.
    window : {"pre", "all"}
        Timing placebos: fake dates inside the pre-treatment years using only those
        years (default), or anywhere in the window on the full sample.
    """
    from policylab.validation import check_count, check_exact, check_seed

    draws, max_exact = check_count(draws, "draws"), check_count(max_exact, "max_exact")
    exact, seed = check_exact(exact), check_seed(seed)
    meta = result.meta
    param = param or meta.get("treat_term")
    unit = unit or meta.get("unit")
    time = time or meta.get("time")
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
        return _timing_placebo(result, param, unit, time, assign, window, seed)
    m = result.model
    df = m["data"].loc[m["rows"]]
    treat_col = param if param in df.columns else meta.get("treat_term")
    if treat_col not in df.columns:
        raise SpecError(f"the treatment {param!r} must be a data column for placebo tests")
    for c in (unit, time, assign):
        if c not in df.columns:
            raise SpecError(f"column {c!r} is not in the model's data")
    paths = df.pivot_table(index=assign, columns=time, values=treat_col, aggfunc=["min", "max"])
    if not np.allclose(paths["min"].fillna(0).to_numpy(), paths["max"].fillna(0).to_numpy()):
        raise SpecError(
            f"the treatment varies within {assign!r} x {time!r} cells, so it was not "
            f"assigned at the {assign!r} level; pass assign= the level it was assigned at"
        )
    P = paths["max"].fillna(0).to_numpy(float)
    groups = list(paths.index)
    G = len(groups)
    g_of_row = pd.Index(groups).get_indexer(df[assign])
    t_of_row = pd.Index(paths["max"].columns).get_indexer(df[time])
    nonzero = np.abs(P).sum(axis=1) > 0
    real_paths, real_ids = np.unique(P[nonzero], axis=0, return_inverse=True)
    real_ids = np.asarray(real_ids).ravel()
    treated_groups = np.flatnonzero(nonzero)
    if kind == "both":
        # every treated group keeps its path shape but at a random date: all shifts of
        # the real paths that stay inside the window
        shapes = []
        for p in real_paths:
            start = int(np.argmax(p > 0))
            for s in range(1, P.shape[1]):
                q = np.zeros_like(p)
                # an adoption moved earlier than the real one runs past the real path's
                # end: the treatment is absorbing, so its last value carries on
                seg = p[start:]
                k = min(len(seg), P.shape[1] - s)
                q[s:s + k] = seg[:k]
                q[s + k:] = seg[-1]
                shapes.append(q)
        real_paths = np.unique(np.array(shapes), axis=0)
    H = len(real_paths)
    n = len(df)
    if n * G * H * 8 > 2e9:
        raise EstimationError(f"{G} groups x {H} treatment paths is too many basis columns "
                              "for this panel; aggregate the assignment level")
    basis = np.zeros((n, G * H))
    rows = np.arange(n)
    for h in range(H):
        basis[rows, g_of_row * H + h] = real_paths[h][t_of_row]

    # absorb FE (same codes, weights) and partial out the controls once
    w = m["weights"]
    k_treat = result.terms.index(param)
    C = np.delete(m["X"], k_treat, axis=1)
    Bd = fx.demean(basis, m["fe_codes"], w)
    y = m["y"]
    sw = None if w is None else np.sqrt(w)
    if sw is not None:
        Bd, C, y = Bd * sw[:, None], C * sw[:, None], y * sw
    PB = batched.partial_out(Bd, C)
    yc = batched.partial_out(y[:, None], C)[:, 0]
    cl = m["cluster_codes"]
    if len(cl) > 1:
        raise SpecError("placebo t statistics support one-way clustering; refit with one "
                        "cluster or use statistic='coef'")
    S = batched.cluster_matrix(cl[0]) if cl else None
    Gc = int(cl[0].max()) + 1 if cl else n
    K = m["df_k"]
    fac = vc.small_sample_factor("CRV" if cl else "hetero", result.nobs, K, Gc,
                                 meta.get("ssc", vc.SSC()))

    # the real statistic from the same machinery (equals the regression's)
    real_sel = np.zeros(G * H)
    if kind == "units":
        real_sel[treated_groups * H + real_ids] = 1
        b0, t0 = batched.batched_coef_t(PB @ real_sel[:, None], yc, S, fac)
    else:
        b0 = np.array([result.coef()[param]])
        t0 = np.array([result.tstat()[param]])

    n_treated = len(treated_groups)
    path_list = real_ids.copy()
    total = math.comb(G, n_treated)
    distinct_orders = 1 if H == 1 else None
    use_exact = (exact is True or (exact == "auto" and kind == "units" and H == 1
                                   and total <= max_exact))
    if fake_assignments is not None:
        use_exact = False
    if use_exact and (kind != "units" or distinct_orders != 1):
        raise SpecError("exact enumeration needs kind='units' and a common adoption date; "
                        "use exact=False (sampled draws) for staggered designs")
    if use_exact and total > max_exact:
        raise SpecError(f"{total:,} assignments exceed max_exact={max_exact:,}; use sampled "
                        "draws (exact=False)")

    def idx_chunks():
        # each draw as the basis columns it switches on (draws x n_treated)
        if fake_assignments is not None:
            pos = {g: i for i, g in enumerate(groups)}
            idx = np.empty((len(fake_assignments), n_treated), dtype=np.int64)
            for d, a in enumerate(fake_assignments):
                missing = [g for g in a if g not in pos]
                if missing or len(a) != n_treated:
                    raise SpecError(f"fake assignment {d} must list {n_treated} groups of "
                                    f"{assign!r}; unknown: {missing[:3]}")
                gi = np.array([pos[g] for g in a])
                idx[d] = gi * H + path_list[: len(gi)]
            yield idx
            return
        if use_exact:
            it = itertools.combinations(range(G), n_treated)
            while True:
                block = np.fromiter(itertools.chain.from_iterable(
                    itertools.islice(it, 50_000)), dtype=np.int64)
                if not block.size:
                    return
                yield block.reshape(-1, n_treated) * H  # H == 1
        rng = np.random.default_rng(seed)
        left = draws
        while left > 0:
            size = min(left, 20_000)
            chosen = np.argsort(rng.random((size, G)), axis=1)[:, :n_treated]
            if kind == "both":
                hs = rng.integers(0, H, (size, n_treated))
            else:
                hs = rng.permuted(np.tile(path_list, (size, 1)), axis=1)
            yield chosen * H + hs
            left -= size

    fast = None
    if batched.BasisStats.fits(Gc, G * H):
        fast = batched.BasisStats(PB, yc, cl[0] if cl else None, fac)
    bs, ts = [], []
    for idx in idx_chunks():
        if fast is not None:
            b, t = fast.coef_t_subsets(idx)
        else:
            sel = np.zeros((G * H, len(idx)))
            sel[idx, np.arange(len(idx))[:, None]] = 1
            b, t = batched.batched_coef_t(PB @ sel, yc, S, fac)
        bs.append(b)
        ts.append(t)
    B = np.concatenate(bs)
    T = np.concatenate(ts)
    exact_flag = bool(use_exact)
    pc = _p_values(float(b0[0]), B, exact_flag)
    pt = _p_values(float(t0[0]), T, exact_flag)
    chosen = pt if statistic == "t" else pc
    res = PlaceboResult(
        nobs=result.nobs, estimate=float(b0[0]), tstat=float(t0[0]), estimates=B, tstats=T,
        p_value=chosen[0], p_left=chosen[1], p_right=chosen[2], p_value_coef=pc[0],
        p_value_t=pt[0], exact=exact_flag,
        meta={"param": param, "kind": kind, "assign": assign, "groups": G,
              "treated_groups": n_treated, "assignments_possible": total,
              "statistic": statistic, "seed": None if exact_flag else seed,
              "df_t": result.df_t or (Gc - 1), "draws": len(B), "depvar": meta.get("depvar")},
    )
    if not exact_flag and len(B) < 500:
        res.warn(f"only {len(B)} placebo draws: p-values move in steps of 1/{len(B) + 1}")
    return res


def _timing_placebo(result: FeolsResult, param: str, unit: str, time: str, assign: str,
                    window: str, seed: int | None) -> PlaceboResult:
    """Fake adoption dates for the real treated groups, one regression per date."""
    from policylab.estimators.feols import feols

    m = result.model
    df = m["data"].loc[m["rows"]].copy()
    d = df[param]
    treated = df.groupby(assign)[param].transform("max") > 0
    first = df.loc[d == 1, time].min()
    years = np.sort(df[time].unique())
    if window == "pre":
        df = df[df[time] < first]
        candidates = [y for y in years if years[0] + 1 < y < first]
    elif window == "all":
        candidates = [y for y in years[2:] if y != first]
    else:
        raise SpecError("window must be 'pre' or 'all'")
    if not candidates:
        raise EstimationError("no fake dates available: the pre-period is too short")
    fml_rhs = result.meta["formula"].split("~", 1)[1]
    y = result.meta["depvar"]
    bs, ts = [], []
    for fake in candidates:
        col = "_placebo_d"
        df[col] = (treated.loc[df.index] & (df[time] >= fake)).astype(float)
        rhs = fml_rhs.replace(param, col, 1)
        r = feols(f"{y} ~{rhs}", df, vcov={"CRV1": result.meta["cluster"][0]}
                  if result.meta.get("cluster") else "hetero")
        bs.append(r.coef()[col])
        ts.append(r.tstat()[col])
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
        meta={"param": param, "kind": "timing", "assign": assign, "fake_dates": candidates,
              "window": window, "statistic": "t", "df_t": result.df_t,
              "draws": len(B), "seed": seed, "depvar": y},
    )
