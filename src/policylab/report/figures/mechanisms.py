"""Figures for mechanisms: the marginal effect of the policy across a moderator."""

from __future__ import annotations

from typing import Any

import pandas as pd

from policylab.report.style import PALETTE, new_figure

_T = {"en": {"y": "Marginal effect of the policy (95% CI)"},
      "zh": {"y": "政策的边际效应（95%置信区间）"}}


def marginal_effect_figure(marginal: pd.DataFrame, moderator: str, lang: str = "en",
                           label: str | None = None) -> Any:
    """Effect and CI band against the moderator, with a zero line."""
    fig, ax = new_figure(lang)
    ax.fill_between(marginal["moderator"], marginal["conf_low"], marginal["conf_high"],
                    color=PALETTE[0], alpha=0.15, lw=0)
    ax.plot(marginal["moderator"], marginal["effect"], color=PALETTE[0], lw=1.4)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel(label or moderator)
    ax.set_ylabel(_T.get(lang, _T["en"])["y"])
    fig.tight_layout()
    return fig
