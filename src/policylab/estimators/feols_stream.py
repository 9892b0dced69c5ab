"""``feols_stream``: fixed-effects regression on data larger than memory.

The data are scanned from Parquet/CSV files (or globs) by DuckDB, ordered by the panel
unit, and streamed in batches through two passes of sufficient-statistic accumulation
(``policylab.engine.streaming``). Memory grows with the number of clusters and levels,
not with the number of rows; results equal the in-memory ``feols`` (same formula,
vcov and small-sample corrections) up to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from policylab.data import scan
from policylab.data.names import is_plain_name, unquote_name
from policylab.engine import streaming
from policylab.engine import vcov as vc
from policylab.errors import EstimationError, SpecError
from policylab.estimators.feols import FeolsResult, _ssc, parse_vcov
from policylab.estimators.formula import fe_label, parse_formula

__all__ = ["feols_stream"]


def _complete_units(
    batches: Iterator[dict[str, np.ndarray]], unit: str
) -> Iterator[dict[str, np.ndarray]]:
    """Re-cut ordered batches so that no unit is split across two of them."""
    carry: dict[str, np.ndarray] | None = None
    for b in batches:
        if carry is not None:
            b = {k: np.concatenate([carry[k], b[k]]) for k in b}
        u = b[unit]
        if len(u) == 0:
            continue
        last = np.flatnonzero(u != u[-1])
        cut = int(last[-1]) + 1 if last.size else 0
        carry = {k: v[cut:] for k, v in b.items()}
        if cut:
            yield {k: v[:cut] for k, v in b.items()}
    if carry is not None and len(carry[unit]):
        yield carry


def feols_stream(
    fml: str,
    source: str | Path | list[str],
    vcov: str | dict[str, str] | None = None,
    *,
    where: str | None = None,
    ssc: Any = None,
    batch_rows: int = 1_000_000,
    presorted: bool = False,
) -> FeolsResult:
    """Two-way fixed-effects OLS streamed from Parquet/CSV files that need not fit in RAM.

    Parameters
    ----------
    fml : str
        ``"y ~ x1 + x2 | unit"`` or ``"y ~ x1 + x2 | unit + year"`` with plain column
        names; the first fixed effect is the panel unit (data are streamed by unit).
    source : path, glob or list of paths
        Parquet or CSV files, e.g. ``"firms/*.parquet"``.
    vcov : str or dict
        "iid", "hetero" or ``{"CRV1": col}`` (default: clustered by the unit).
    where : str, optional
        SQL row filter pushed down to the scan, e.g. ``"year >= 2005"``.
    ssc : optional
        Small-sample correction, as in :func:`policylab.feols`.
    batch_rows : int
        Rows per streamed batch (memory per batch ~ rows x columns x 8 bytes).
    presorted : bool
        The files are already ordered by unit; skip DuckDB's sort.
    """
    f = parse_formula(fml)
    if len(f.depvars) != 1:
        raise SpecError("feols_stream takes one outcome")
    if not 1 <= len(f.fe) <= 2 or any("^" in x for x in f.fe):
        raise SpecError(
            "feols_stream supports 'y ~ x | unit' or 'y ~ x | unit + time'; use feols() "
            "in memory for other fixed-effect structures"
        )
    # column names only (plain or between backticks): nothing is computed in SQL
    bad = [t for t in f.terms if unquote_name(t) == t and not is_plain_name(t)]
    if bad:
        raise SpecError(f"feols_stream takes plain column names; transform {bad} beforehand")
    kind, cl_cols = parse_vcov(vcov, f.fe)
    if kind == "CRV3" or len(cl_cols) > 1:
        raise SpecError("feols_stream supports iid, hetero and one-way CRV1")
    s = _ssc(ssc)
    y, xs = unquote_name(f.depvars[0]), [unquote_name(t) for t in f.terms]
    unit = fe_label(f.fe[0])
    tcol = fe_label(f.fe[1]) if len(f.fe) == 2 else None
    cl = cl_cols[0] if cl_cols else None
    cols = list(dict.fromkeys([unit] + ([tcol] if tcol else []) + [y] + xs + ([cl] if cl else [])))
    # identifiers quoted SQL's way (a '"' in a name is doubled), so a name stays a name
    not_null = " AND ".join('"' + str(c).replace('"', '""') + '" IS NOT NULL' for c in cols)
    cond = f"({where}) AND {not_null}" if where else not_null
    levels = scan.distinct_values(source, tcol, cond) if tcol else None
    clusters = scan.distinct_values(source, cl, cond) if cl and cl != unit else None
    order = None if presorted else [unit]

    def batches() -> Iterator[dict[str, np.ndarray]]:
        raw = scan.scan_batches(source, cols, where=cond, order_by=order, batch_rows=batch_rows)
        return _complete_units(raw, unit)

    k = len(xs)
    acc = streaming.WithinAccumulator(k, len(levels) if tcol else 0)
    unit_nested = True
    for b in batches():
        t = np.searchsorted(levels, b[tcol]) if tcol else None
        X = np.column_stack([b[c].astype(float) for c in xs]) if xs else np.empty((len(b[y]), 0))
        acc.add(b[unit], X, b[y].astype(float), t)
        if clusters is not None:
            starts = np.flatnonzero(np.r_[True, b[unit][1:] != b[unit][:-1]])
            cnt = np.diff(np.r_[starts, len(b[unit])])
            first = np.repeat(b[cl][starts], cnt)
            unit_nested &= bool((first == b[cl]).all())
    if acc.n == 0:
        raise EstimationError("no observations left after filtering and dropping singletons")
    fit = streaming.within_fit(acc)
    kept = fit["kept"]
    names = [x for x, kk in zip(xs, kept) if kk]
    G = None
    if kind == "CRV1":
        G = acc.n_units if cl == unit else int(len(clusters))
    sc = streaming.ScoreAccumulator(fit, G)
    unit_counter = 0
    for b in batches():
        t = np.searchsorted(levels, b[tcol]) if tcol else None
        X = np.column_stack([b[c].astype(float) for c in xs]) if xs else np.empty((len(b[y]), 0))
        cl_codes = None
        if kind == "CRV1":
            if cl == unit:
                starts = np.flatnonzero(np.r_[True, b[unit][1:] != b[unit][:-1]])
                cnt = np.diff(np.r_[starts, len(b[unit])])
                local = np.repeat(np.arange(len(starts)), cnt)
                # singletons are dropped inside the accumulator; count only kept units
                kept_unit = cnt > 1
                code_of = np.cumsum(kept_unit) - 1 + unit_counter
                unit_counter += int(kept_unit.sum())
                cl_codes = np.where(kept_unit[local], code_of[local], 0)
            else:
                cl_codes = np.searchsorted(clusters, b[cl])
        sc.add(b[unit], X, b[y].astype(float), t, cl_codes)

    N = acc.n
    fe_levels = np.array([acc.n_units] + ([int((acc.t_count > 0).sum())] if tcol else []))
    kk = len(names)
    nested = None
    if kind == "CRV1":
        nested = np.array([cl == unit or unit_nested] + ([cl == tcol] if tcol else []))
    K = vc.df_k(kk, fe_levels, nested, s)
    bread = fit["bread"]
    if kind == "iid":
        V = bread * (sc.rss / ((N - K) if s.k_adj else N))
        df_t: float = N - K
        label = "iid"
    elif kind == "hetero":
        V = vc.small_sample_factor("hetero", N, K, ssc=s) * (bread @ sc.meat_hetero @ bread)
        df_t = N - K
        label = "heteroskedasticity-robust (HC1)"
    else:
        S = sc.cluster_sums
        V = vc.small_sample_factor("CRV", N, K, G, s) * (bread @ (S.T @ S) @ bread)
        df_t = G - 1
        label = f"CRV1 clustered by {cl}"
    beta = fit["beta"][kept]
    ybar = acc.y_sum / N
    tss = acc.y_sq - N * ybar**2
    tss_within = acc.yy
    if tcol:
        tt = np.diag(acc.t_count) - acc.tt_corr
        sol = np.linalg.lstsq(tt, acc.ty, rcond=None)[0]
        tss_within = acc.yy - float(acc.ty @ sol)
    rss = sc.rss
    k_fe = int((fe_levels - 1).sum() + 1)
    f_stat = ((tss_within - rss) / kk) / (rss / (N - kk - k_fe)) if kk else np.nan
    res = FeolsResult(
        nobs=N,
        meta={"formula": fml, "depvar": y, "fe": list(f.fe), "vcov": kind, "vcov_label": label,
              "cluster": [cl] if cl else [], "ssc": s, "weights": None,
              "dropped": {"singletons": acc.singletons} if acc.singletons else {},
              "dropped_terms": {xs[j]: why for j, why in fit["dropped"].items() if j < k},
              "demean": "streamed sufficient statistics", "source": str(source)},
        terms=names, beta=beta, vcov_matrix=V, df_t=df_t,
        r2=1 - rss / tss, adj_r2=1 - (rss / tss) * (N - 1) / (N - kk - k_fe),
        r2_within=1 - rss / tss_within,
        adj_r2_within=1 - (rss / tss_within) * (N - k_fe) / (N - kk - k_fe),
        rss=rss, f_stat=float(f_stat),
        f_pvalue=float(stats.f.sf(f_stat, kk, N - kk - k_fe)) if kk else np.nan,
        n_clusters={cl: G} if G else {}, depvar_mean=ybar,
    )
    for j, why in fit["dropped"].items():
        if j < k:
            res.warn(f"{xs[j]!r} was dropped: {'absorbed by the fixed effects' if why == 'no variation' else why}")
    return res
