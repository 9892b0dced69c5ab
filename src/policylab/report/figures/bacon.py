"""Goodman-Bacon decomposition figure."""

from __future__ import annotations

from typing import Any

import pandas as pd

from policylab.report.labels import cell_label, figure_words
from policylab.report.style import PALETTE, figure_builder, new_figure


@figure_builder
def bacon_figure(comp: pd.DataFrame, twfe: float, lang: str = "en",
                 title: str | None = None,
                 ax: Any = None) -> Any:
    """Scatter of each 2x2 estimate against its weight, coloured by comparison type.

    ``comp`` needs type, weight and estimate columns; ``twfe`` is drawn as a dashed line.
    """
    t = figure_words("bacon", lang)
    fig, ax = new_figure(lang, ax=ax)
    for (typ, sub), color, marker in zip(comp.groupby("type"), PALETTE, "osx^"):
        label = cell_label(typ, lang, {})  # the comparison type in the catalogue's words
        ax.scatter(sub["weight"], sub["estimate"], color=color, marker=marker, label=label)
    ax.axhline(twfe, color="black", lw=0.8, ls="--", label=t["twfe"].format(v=twfe))
    ax.set_xlabel(t["x"])
    ax.set_ylabel(t["y"])
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
