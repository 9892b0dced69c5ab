"""Figures for mechanisms: the marginal effect of the policy across a moderator, and
the mediation sensitivity curve ACME(rho), and subgroup estimates side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from policylab.report.labels import figure_words
from policylab.report.style import PALETTE, figure_builder, new_figure


@figure_builder
def marginal_effect_figure(marginal: pd.DataFrame, moderator: str, lang: str = "en",
                           label: str | None = None,
                           bounds: Sequence[float] = (),
                           ax: Any = None) -> Any:
    """Effect and CI band against the moderator, with a zero line; ``bounds`` (the
    Johnson-Neyman values where the CI crosses zero) are marked where inside the range."""
    fig, ax = new_figure(lang, ax=ax)
    ax.fill_between(marginal["moderator"], marginal["conf_low"], marginal["conf_high"],
                    color=PALETTE[0], alpha=0.15, lw=0)
    ax.plot(marginal["moderator"], marginal["effect"], color=PALETTE[0], lw=1.4)
    ax.axhline(0, color="black", lw=0.8)
    lo, hi = marginal["moderator"].min(), marginal["moderator"].max()
    for x in bounds:
        if lo <= x <= hi:
            ax.axvline(x, color=PALETTE[2], lw=0.8, ls="--")
    ax.set_xlabel(label or moderator)
    ax.set_ylabel(figure_words("marginal_effect", lang)["y"])
    return fig


@figure_builder
def mediation_sensitivity_figure(sensitivity: pd.DataFrame, lang: str = "en",
                                 labels: dict[str, str] | None = None,
                                 ax: Any = None) -> Any:
    """ACME(rho) per mediator with its bootstrap band where present; the ACME at
    rho = 0 is the stepwise a*b, and the curve crosses zero at rho~."""
    fig, ax = new_figure(lang, ax=ax)
    for k, (med, g) in enumerate(sensitivity.groupby("mediator", sort=False)):
        color = PALETTE[k % len(PALETTE)]
        if "acme_low" in g and g["acme_low"].notna().any():
            ax.fill_between(g["rho"], g["acme_low"], g["acme_high"], color=color,
                            alpha=0.15, lw=0)
        ax.plot(g["rho"], g["acme"], color=color, lw=1.4,
                label=(labels or {}).get(med, med))
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(0, color="black", lw=0.6, ls=":")
    t = figure_words("mediation_sensitivity", lang)
    ax.set_xlabel(t["x"])
    ax.set_ylabel(t["y"])
    if sensitivity["mediator"].nunique() > 1:
        ax.legend(frameon=False)
    return fig


@figure_builder
def subgroup_figure(estimates: pd.DataFrame, lang: str = "en",
                    labels: dict[str, str] | None = None,
                    ax: Any = None) -> Any:
    """Horizontal coefficient plot of the subgroup DIDs, grouped by split."""
    rows = estimates.reset_index(drop=True)
    fig, ax = new_figure(lang, ax=ax, size=(6.4, max(2.4, 0.42 * len(rows) + 1.0)))
    ypos = -rows.index.to_numpy(float)
    for k, (_, g) in enumerate(rows.groupby("by", sort=False)):
        idx = g.index.to_numpy()
        ax.errorbar(g["estimate"], ypos[idx],
                    xerr=[g["estimate"] - g["conf_low"], g["conf_high"] - g["estimate"]],
                    fmt="o", color=PALETTE[k % len(PALETTE)], ms=4, capsize=2, lw=1.1)
    names = [f"{(labels or {}).get(b, b)} = {v}" for b, v in zip(rows["by"], rows["group"])]
    ax.set_yticks(ypos, names)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(figure_words("subgroup", lang)["x"])
    return fig
