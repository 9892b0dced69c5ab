"""Coefficient plot (fixest's ``coefplot``, Stata's ``coefplot``) of one or more models.

Drawn in the policylab style context (:func:`policylab.report.style.figure_builder`):
the user's backend and rcParams are never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from policylab.report.labels import figure_words
from policylab.report.style import PALETTE, figure_builder, new_figure

__all__ = ["coefplot_figure"]

@figure_builder
def coefplot_figure(
    models: Sequence[tuple[str, pd.DataFrame]],
    ax: Any = None,
    level: float = 0.95,
    lang: str = "en",
    title: str | None = None,
) -> Any:
    """Point estimates with confidence-interval bars, one colour per model.

    Parameters
    ----------
    models : list of (label, tidy frame)
        Each frame has term, estimate, conf_low, conf_high (rows in display order).
    ax : matplotlib Axes, optional
        Draw into it; default a new figure.
    level : float
        The CI level of the frames (for the axis label only).
    lang : {"en", "zh"}
    title : str, optional

    Returns
    -------
    matplotlib Figure
    """
    t = figure_words("coefplot", lang)
    terms: list[str] = []
    for _, tab in models:
        terms.extend(x for x in tab["term"] if x not in terms)
    pos = {x: i for i, x in enumerate(terms)}
    n = len(models)
    width = 0.6 / max(n, 1) if n > 1 else 0.0
    fig, ax = new_figure(lang, ax=ax, size=(max(4.0, 0.6 * len(terms) + 2), 3.6))
    for m, (label, tab) in enumerate(models):
        x = np.array([pos[v] for v in tab["term"]], dtype=float)
        x += (m - (n - 1) / 2) * width
        b = tab["estimate"].to_numpy(float)
        lo, hi = tab["conf_low"].to_numpy(float), tab["conf_high"].to_numpy(float)
        ax.errorbar(x, b, yerr=[b - lo, hi - b], fmt="o", ms=4, capsize=3, lw=1,
                    color=PALETTE[m % len(PALETTE)], label=label if n > 1 else None)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(terms)))
    ax.set_xticklabels(terms, rotation=30 if len(terms) > 4 else 0,
                       ha="right" if len(terms) > 4 else "center")
    ax.set_xlim(-0.6, len(terms) - 0.4)
    ax.set_ylabel(t["y"].format(level=f"{level:.0%}"))
    if n > 1:
        ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return fig
