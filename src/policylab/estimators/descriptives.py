"""Descriptive statistics by group (N, mean, SD, min, max), as in tabstat / Table 3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from policylab.data.panel import Panel, as_pandas, require_columns, require_numeric
from policylab.estimators.result import Result

__all__ = ["descriptives", "DescriptivesResult"]


@dataclass
class DescriptivesResult(Result):
    """``stats``: one row per variable and group with n, mean, sd, min, max."""

    stats: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """Long table: variable, group, n, mean, sd, min, max."""
        return self.stats.copy()

    def wide(self, group_labels: dict[Any, str] | None = None) -> pd.DataFrame:
        """Groups side by side (the papers' layout): variable, then n/mean/sd/min/max
        per group."""
        s = self.stats
        if "group" not in s.columns:
            return s
        parts = [s.drop_duplicates("variable").set_index("variable")[["label"]]]
        for g, sub in s.groupby("group", sort=False):
            lab = (group_labels or {}).get(g, str(g))
            parts.append(sub.drop(columns=["group", "label"]).set_index("variable")
                         .add_prefix(f"{lab}: "))
        return pd.concat(parts, axis=1).reset_index(drop=True)


def descriptives(
    data: Any, cols: Sequence[str], by: str | None = None,
    labels: dict[str, str] | None = None,
) -> DescriptivesResult:
    """N, mean, SD, min and max of ``cols``, overall or by a group column.

    Parameters
    ----------
    data : Panel or DataFrame
    cols : list of str
        Numeric columns.
    by : str, optional
        Group column (e.g. the treated-group dummy); groups appear in sorted order,
        followed by "all".
    labels : dict, optional
        Display names of the variables (kept in the ``label`` column).
    """
    df = data.df if isinstance(data, Panel) else as_pandas(data)
    cols = list(cols)
    require_columns(df, cols + ([by] if by else []))
    require_numeric(df, cols)
    groups = [(g, df[df[by] == g]) for g in sorted(df[by].dropna().unique())] if by else []
    groups.append(("all", df))
    rows = []
    for g, sub in groups:
        for c in cols:
            x = pd.to_numeric(sub[c])
            rows.append({"variable": c, "label": (labels or {}).get(c, c), "group": g,
                         "n": int(x.count()), "mean": x.mean(), "sd": x.std(),
                         "min": x.min(), "max": x.max()})
    stats = pd.DataFrame(rows)
    if not by:
        stats = stats.drop(columns="group")
    return DescriptivesResult(nobs=len(df), stats=stats, meta={"by": by, "columns": cols})
