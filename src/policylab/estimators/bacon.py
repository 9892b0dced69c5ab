"""Goodman-Bacon (2021) decomposition of the two-way fixed-effects DID estimate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from policylab.errors import DataError
from policylab.estimators.result import Result
from policylab.estimators.staggered import _prepare

__all__ = ["bacon_decomposition", "BaconResult"]


@dataclass
class BaconResult(Result):
    """Every 2x2 comparison: type, treated and control timing groups, estimate, weight.
    The weighted sum of the estimates is the TWFE coefficient (``twfe``)."""

    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    twfe: float = np.nan

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """The comparisons, plus the weighted average by type."""
        return self.comparisons.copy()

    def by_type(self) -> pd.DataFrame:
        """Total weight and weighted average estimate of each comparison type."""
        c = self.comparisons
        g = c.groupby("type")
        return pd.DataFrame({"weight": g["weight"].sum(),
                             "estimate": g.apply(lambda d: np.average(d["estimate"],
                                                                      weights=d["weight"]))})

    def plot(self, lang: str = "en", **kw: Any) -> Any:
        """Scatter of 2x2 estimates against their weights, by comparison type."""
        from policylab.report.figures.bacon import bacon_figure

        return bacon_figure(self.comparisons, self.twfe, lang=lang)


def _did2x2(Y: np.ndarray, treated: np.ndarray, control: np.ndarray, post: np.ndarray) -> float:
    # balanced 2x2 with a treated-at-"post" timing: difference in mean changes
    yt, yc = Y[treated], Y[control]
    return float((yt[:, post].mean() - yt[:, ~post].mean())
                 - (yc[:, post].mean() - yc[:, ~post].mean()))


def bacon_decomposition(data: Any, y: str, unit: str | None = None, time: str | None = None,
                        cohort: str = "cohort") -> BaconResult:
    """Decompose the TWFE DID coefficient of a balanced panel with staggered adoption
    (no covariates) into 2x2 comparisons: treated vs never treated, earlier vs later
    treated (later as controls before they are treated) and later vs earlier (the
    "forbidden" comparisons that use already-treated units as controls)."""
    df, unit, time = _prepare(data, y, unit, time, cohort)
    wide = df.pivot(index=unit, columns=time, values=y)
    if wide.isna().any().any():
        raise DataError("the Bacon decomposition needs a balanced panel")
    periods = wide.columns.to_numpy()
    T = len(periods)
    G = pd.to_numeric(df.groupby(unit)[cohort].first(), errors="coerce").replace(
        [np.inf], np.nan).fillna(0).reindex(wide.index).to_numpy()
    G = np.where(G > periods.max(), 0, G)  # treated after the window: never treated here
    if (G > 0).any() and (G[G > 0] <= periods.min()).any():
        raise DataError("units treated in the first period (always treated) are not "
                        "supported; drop them")
    Y = wide.to_numpy(float)
    N = len(G)
    timing = sorted(g for g in set(G) if g > 0)
    # TWFE coefficient and the variance of the two-way demeaned treatment
    Dm = (G[:, None] > 0) & (periods[None, :] >= G[:, None])
    Dd = Dm - Dm.mean(axis=1, keepdims=True) - Dm.mean(axis=0, keepdims=True) + Dm.mean()
    Yd = Y - Y.mean(axis=1, keepdims=True) - Y.mean(axis=0, keepdims=True) + Y.mean()
    VD = (Dd**2).sum() / (N * T)
    twfe = float((Dd * Yd).sum() / (Dd**2).sum())
    n = {g: np.mean(G == g) for g in timing}
    dbar = {g: np.mean(periods >= g) for g in timing}
    rows = []
    nU = np.mean(G == 0)
    for k in timing:
        if nU > 0:
            nkU = n[k] / (n[k] + nU)
            s = ((n[k] + nU) ** 2 * nkU * (1 - nkU) * dbar[k] * (1 - dbar[k])) / VD
            b = _did2x2(Y, G == k, G == 0, periods >= k)
            rows.append({"type": "treated vs never treated", "treated": k, "control": 0,
                         "estimate": b, "weight": s})
        for lt in timing:
            if lt <= k:
                continue
            nkl = n[k] / (n[k] + n[lt])
            dk, dl = dbar[k], dbar[lt]
            win = periods < lt
            s_k = (((n[k] + n[lt]) * (1 - dl)) ** 2 * nkl * (1 - nkl)
                   * ((dk - dl) / (1 - dl)) * ((1 - dk) / (1 - dl))) / VD
            b_k = _did2x2(Y[:, win], G == k, G == lt, periods[win] >= k)
            rows.append({"type": "earlier vs later treated", "treated": k, "control": lt,
                         "estimate": b_k, "weight": s_k})
            win = periods >= k
            s_l = (((n[k] + n[lt]) * dk) ** 2 * nkl * (1 - nkl)
                   * (dl / dk) * ((dk - dl) / dk)) / VD
            b_l = _did2x2(Y[:, win], G == lt, G == k, periods[win] >= lt)
            rows.append({"type": "later vs earlier treated", "treated": lt, "control": k,
                         "estimate": b_l, "weight": s_l})
    comp = pd.DataFrame(rows)
    res = BaconResult(nobs=len(df), comparisons=comp, twfe=twfe,
                      meta={"depvar": y, "unit": unit, "time": time})
    forbidden = comp.loc[comp["type"] == "later vs earlier treated", "weight"].sum()
    if forbidden > 0.1:
        res.warn(f"{forbidden:.0%} of the TWFE weight comes from comparisons that use "
                 "already-treated units as controls; with dynamic effects TWFE is biased")
    return res
