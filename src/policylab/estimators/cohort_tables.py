"""A staggered-adoption panel as unit x period tables: the inputs of att_gt.

The long panel is turned into arrays once, at the edge: the outcome matrix (units x
periods, one scatter, no pivot), and one value per unit for the cohort, cluster,
sampling weight and covariates (no groupby over the long rows), with the checks that
say which column or units are at fault; then the cohorts' codes and the ATT(g,t)
cells R did estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from policylab.data.panel import require_columns
from policylab.errors import DataError, EstimationError
from policylab.estimators.design import DesignNotHonoured
from policylab.estimators.formula import _factorize
from policylab.messages import Message

__all__ = ["PanelCodes", "balanced_rows", "cell_specs", "cohort_codes",
           "first_period_covariates", "panel_codes", "per_unit", "sorted_codes",
           "unit_clusters", "unit_cohorts", "unit_weights", "wide_outcomes"]


def sorted_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..L-1 in sorted order of the values (-1 for missing) and the
    levels; integer columns take the compiled single pass of ``_factorize``."""
    codes, levels = _factorize(s)
    if len(levels) > 1 and not (levels[1:] > levels[:-1]).all():
        order = np.argsort(levels, kind="stable")
        rank = np.empty(len(levels), dtype=np.int64)
        rank[order] = np.arange(len(levels))
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
        levels = levels[order]
    return codes, levels


def per_unit(values: np.ndarray, cell: np.ndarray, n_units: int, n_periods: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """A unit-level column from a balanced long one: the first period's value per unit
    and a mask of units where the column varies over periods."""
    w = np.empty(n_units * n_periods, dtype=values.dtype)
    w[cell] = values
    w = w.reshape(n_units, n_periods)
    return w[:, 0], (w != w[:, :1]).any(axis=1)


def unit_weights(df: pd.DataFrame, weights: str, cell: np.ndarray, units: np.ndarray,
                 n_units: int, n_periods: int, from_design: bool = False) -> np.ndarray:
    """One sampling weight per unit (sorted units) from a long column, checked: present,
    finite, non-negative and constant within units (panel sampling weights). Weights of
    a Design that vary within units are refused as not honoured."""
    require_columns(df, [weights], "weights column")
    wl = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(wl)
    if bad.any():
        raise DataError(f"weights column {weights!r} is missing or not a number on "
                        f"{int(bad.sum())} rows; fill it or drop those units")
    if (wl < 0).any():
        raise DataError(f"weights column {weights!r} has {int((wl < 0).sum())} negative "
                        "values; sampling weights must be non-negative")
    wu, varies = per_unit(wl, cell, n_units, n_periods)
    if varies.any():
        bad_units = units[varies][:5].tolist()
        raise (DesignNotHonoured if from_design else DataError)(Message(
            "cs.weights_vary", weights=weights, units=bad_units, n=int(varies.sum())))
    if not wu.sum() > 0:
        raise DataError(f"weights column {weights!r} is zero for every unit")
    return wu


class PanelCodes(NamedTuple):
    """Integer codes of a long panel's unit and period columns (sorted levels, -1 for
    missing) and each row's cell ``unit * T + period`` (meaningless where an id is
    missing), computed once and shared by the balancing and the outcome scatter."""

    unit: np.ndarray
    units: np.ndarray
    time: np.ndarray
    periods: np.ndarray
    cell: np.ndarray


def panel_codes(df: pd.DataFrame, unit: str, time: str) -> PanelCodes:
    """The unit and period codes of ``df`` (see :func:`sorted_codes`)."""
    uc, units = sorted_codes(df[unit])
    tc, periods = sorted_codes(df[time])
    return PanelCodes(uc, units, tc, periods, uc * len(periods) + tc)


def balanced_rows(df: pd.DataFrame, y: str, unit: str, time: str,
                  needed: Sequence[str], codes: PanelCodes | None = None
                  ) -> tuple[pd.DataFrame, Message | None, PanelCodes]:
    """The rows of the units observed, with ``y`` and every ``needed`` column, in every
    period, a note of what was dropped (None when nothing was) and the kept rows' codes.

    R did's rule with ``panel = TRUE`` (its default ``allow_unbalanced_panel = FALSE``):
    rows with a missing value are dropped, then the units no longer observed in every
    period (``BMisc::makeBalancedPanel``). Duplicate (unit, period) rows count once
    here (:func:`wide_outcomes` refuses them); with a missing id nothing is dropped
    (:func:`wide_outcomes` says which). One pass over integer codes: a units x periods
    table of the cells with a complete row.
    """
    codes = panel_codes(df, unit, time) if codes is None else codes
    cols = [y, *[c for c in needed if c and c in df.columns]]
    complete = df[cols].notna().all(axis=1).to_numpy()
    uc, tc = codes.unit, codes.time
    if (uc < 0).any() or (tc < 0).any():
        return df, None, codes
    N, T = len(codes.units), len(codes.periods)
    seen = np.zeros(N * T, dtype=bool)
    seen[codes.cell if complete.all() else codes.cell[complete]] = True
    if seen.all():  # every unit has a complete row in every period (the usual case)
        full, in_panel, n_periods = np.ones(N, dtype=bool), np.ones(T, dtype=bool), T
        keep = complete
    else:
        seen = seen.reshape(N, T)
        # the periods that have complete rows (makeBalancedPanel counts after the NA
        # drop: a year without the outcome anywhere leaves the panel, not every unit)
        in_panel = seen.any(axis=0)
        n_periods = int(in_panel.sum())
        # the units with a complete row in each of them (none without complete rows)
        full = (seen.sum(axis=1) == n_periods) & (n_periods > 0)
        keep = complete & full[uc]
    if keep.all():
        return df, None, codes
    if not keep.any():
        raise DataError(f"att_gt needs a balanced panel: no unit has {cols} in all "
                        f"{n_periods} periods; fill the gaps or use did_imputation(), "
                        "which handles unbalanced panels")
    gone = N - int(full.sum())  # units left out whole
    return df[keep], Message("cs.balanced", units=gone, rows=int((~keep).sum())), \
        _kept_codes(codes, keep, full, in_panel)


def _kept_codes(codes: PanelCodes, keep: np.ndarray, units: np.ndarray,
                periods: np.ndarray) -> PanelCodes:
    """The codes of the kept rows, whose levels are the ``units`` and ``periods`` kept
    (each kept unit has a row in every kept period), recoded densely in sorted order:
    what :func:`panel_codes` gives on the kept rows, without hashing them again."""
    uk = (np.cumsum(units) - 1)[codes.unit[keep]]
    tk = (np.cumsum(periods) - 1)[codes.time[keep]]
    return PanelCodes(uk, codes.units[units], tk, codes.periods[periods],
                      uk * int(periods.sum()) + tk)


def wide_outcomes(df: pd.DataFrame, y: str, unit: str, time: str,
                  codes: PanelCodes | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outcome matrix (units x periods, column-major) of a balanced panel in one scatter.

    Returns ``(Y, unit_levels, periods, cell)`` with units and periods sorted and
    ``cell`` each row's flat position ``unit_code * T + period_code``; raises on missing
    ids, duplicate (unit, period) rows, gaps and missing outcomes. ``codes`` are
    ``df``'s codes when already computed (:func:`balanced_rows` returns them).
    """
    codes = panel_codes(df, unit, time) if codes is None else codes
    uc, units, tc, periods, cell = codes
    for name, c in ((unit, uc), (time, tc)):
        if (c < 0).any():
            raise DataError(f"{int((c < 0).sum())} rows have a missing {name!r}; drop "
                            "them or fill the ids")
    N, T = len(units), len(periods)
    count = np.bincount(cell, minlength=N * T)
    if (count > 1).any():
        raise DataError(f"duplicate ({unit}, {time}) rows: att_gt needs one row per unit "
                        "and period")
    # scattered in row order (long panels usually come sorted by unit, then period),
    # then stored period by period so that each period's column of the returned
    # (units x periods) view is contiguous: the long differences are row operations
    Y = np.full(N * T, np.nan)
    Y[cell] = df[y].to_numpy(dtype=float, na_value=np.nan)
    if (count == 0).any() or np.isnan(Y).any():
        raise DataError(Message("cs.unbalanced"))
    return np.asfortranarray(Y.reshape(N, T)), units, periods, cell


def cell_specs(groups: list[float], periods: np.ndarray, control_group: str,
               anticipation: int, base_period: str
               ) -> list[tuple[float, Any, int, int, int, np.ndarray]]:
    """The ATT(g,t) cells R did estimates: (g, t, column of t, column of the base
    period, cohort code k of g, control mask over cohort codes), cohort codes 0 for
    never treated and k for ``groups[k - 1]``."""
    pos = {p: j for j, p in enumerate(periods.tolist())}
    coh_g = np.array([0.0, *groups])
    specs = []
    for k, g in enumerate(groups, start=1):
        for j, tt in enumerate(periods.tolist()):
            if base_period == "varying" and tt < g - anticipation:
                if j == 0:
                    continue
                base = periods[j - 1]
            else:
                base = g - 1 - anticipation
            if base not in pos or base == tt:
                continue
            ctrl = coh_g == 0
            if control_group == "notyet":
                # not yet treated at t or the base period (nor anticipating), not g itself
                ctrl = ctrl | (coh_g > max(tt, base) + anticipation)
                ctrl[k] = False
            specs.append((g, tt, j, pos[base], k, ctrl))
    return specs


def unit_cohorts(df: pd.DataFrame, cohort: str, cell: np.ndarray, units: np.ndarray,
                 periods: np.ndarray, anticipation: int
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each unit's first treated period (0: never treated), the units to keep and notes.

    Missing or infinite cohorts mean never treated; units first treated after the last
    period count as never treated; units treated in the first period (or anticipating
    it) have no pre-period and are not kept. Raises when the cohort varies within a
    unit.
    """
    N, T = len(units), len(periods)
    gv = pd.to_numeric(df[cohort], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    gv = np.where(np.isfinite(gv), gv, 0.0)
    G, varies = per_unit(gv, cell, N, T)
    if varies.any():
        bad = units[varies][:5].tolist()
        raise DataError(f"cohort column {cohort!r} varies within units (e.g. {bad}); it must "
                        "hold the unit's first treated period on every row")
    notes: list[str] = []
    late = G > periods[-1]
    if late.any():
        notes.append(Message("cs.late_cohorts", n=int(late.sum()), last=periods[-1]))
        G = np.where(late, 0.0, G)
    keep_units = np.ones(N, dtype=bool)
    early = (G > 0) & (G <= periods[0] + anticipation)
    if early.any():
        notes.append(Message("cs.early_dropped", n=int(early.sum())))
        keep_units = ~early
    return G, keep_units, notes


def unit_clusters(df: pd.DataFrame, cluster: str, cell: np.ndarray, n_units: int,
                  n_periods: int, keep_units: np.ndarray) -> np.ndarray:
    """Cluster code of each kept unit (dense, in order of first appearance over the
    sorted units); the cluster must contain whole units."""
    require_columns(df, [cluster])
    raw, _ = pd.factorize(df[cluster])
    if (raw < 0).any():
        raise DataError(f"cluster column {cluster!r} is missing on {int((raw < 0).sum())} "
                        "rows; fill it or drop those units")
    cl_unit, cl_varies = per_unit(raw.astype(np.int64), cell, n_units, n_periods)
    if cl_varies.any():
        raise DataError(f"cluster column {cluster!r} varies within units; att_gt "
                        "clusters at a level that contains whole units")
    return pd.factorize(cl_unit[keep_units])[0].astype(np.int64)


def first_period_covariates(df: pd.DataFrame, covariates: Sequence[str], cell: np.ndarray,
                            n_units: int, n_periods: int, keep_units: np.ndarray
                            ) -> np.ndarray:
    """Kept units x [constant, covariates] from each unit's first-period row (R did's
    panel convention); raises on non-numeric or missing covariates."""
    require_columns(df, list(covariates), "covariate")
    # unit x covariate matrix from the outcome's scatter: the first-period rows, one
    # column at a time, converting only those rows
    first = np.empty((n_units, len(covariates)))
    rows = np.flatnonzero(cell % n_periods == 0)
    dest = cell[rows] // n_periods
    for j, cv in enumerate(covariates):
        try:
            first[dest, j] = pd.to_numeric(df[cv].iloc[rows]).to_numpy(
                dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise DataError(f"covariate {cv!r} is not numeric; code it as numbers "
                            "(e.g. dummies for a categorical)") from None
    Xall = np.column_stack([np.ones(int(keep_units.sum())), first[keep_units]])
    if np.isnan(Xall).any():
        raise DataError("covariates are missing in the first period for some units")
    return Xall


def cohort_codes(G: np.ndarray, wu: np.ndarray | None, weights: str | None
                 ) -> tuple[list[float], np.ndarray, np.ndarray | None]:
    """The treated cohorts in order, each unit's cohort code (0 never treated, k for
    the k-th cohort: every cell's treated and control sets are unions of cohorts) and
    the unit weights normalised to mean 1 (a cohort of zero total weight refused)."""
    groups = sorted(g for g in set(G.tolist()) if g > 0)
    if not groups:
        raise EstimationError("no treated cohort with a pre-period")
    coh = np.searchsorted(np.array([0.0, *groups]), G)
    if wu is not None:
        tot = np.bincount(coh, weights=wu, minlength=len(groups) + 1)
        zero = [int(g) for g, t in zip(groups, tot[1:]) if not t > 0]
        if zero:
            raise DataError(f"weights column {weights!r} is zero for every unit of cohorts "
                            f"{zero}; give them positive weights or drop those units")
        wu = wu / wu.mean()
    return groups, coh, wu
