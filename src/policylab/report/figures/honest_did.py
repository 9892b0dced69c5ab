"""Honest-DiD sensitivity plot."""

from __future__ import annotations

from typing import Any

import pandas as pd

from policylab.report.labels import figure_words
from policylab.report.style import PALETTE, figure_builder, new_figure


@figure_builder
def honest_did_figure(grid: pd.DataFrame, original: tuple[float, float, float],
                      lang: str = "en",
                      ax: Any = None) -> Any:
    """One panel per restriction: robust CIs against the bound, the original CI first."""
    t = figure_words("honest_did", lang)
    kinds = list(dict.fromkeys(grid["restriction"]))
    fig, axes = new_figure(lang, ax=ax, size=(4.5 * len(kinds), 3.6), ncols=len(kinds), sharey=True)
    axes = axes if len(kinds) > 1 else [axes]
    for ax, kind in zip(axes, kinds):
        g = grid[grid.restriction == kind]
        x = list(range(len(g) + 1))
        ax.errorbar([0], [original[0]], yerr=[[original[0] - original[1]],
                                              [original[2] - original[0]]],
                    fmt="o", color=PALETTE[1], capsize=3)
        mid = (g["conf_low"] + g["conf_high"]) / 2
        ax.errorbar(x[1:], mid, yerr=[mid - g["conf_low"], g["conf_high"] - mid], fmt="none",
                    color=PALETTE[0], capsize=3)
        ax.set_xticks(x)
        ax.set_xticklabels([t["orig"]] + [f"{m:.3g}" for m in g["M"]], rotation=45,
                           fontsize=8)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel(t[f"M {kind}"])
    axes[0].set_ylabel(t["y"])
    return fig
