"""The specification-curve figure (Simonsohn, Simmons and Nelson 2020 layout)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from policylab.report.labels import cell_label, figure_words, report_word
from policylab.report.style import figure_builder, new_figure

_DIMS = ["outcome", "controls", "sample", "fe", "cluster"]


def _one_based(v: float, _pos: Any) -> str:
    """Tick label of the specification rank (a module-level function, not a lambda: a
    figure made in a forked step lane goes back to the run pickled)."""
    return f"{int(v) + 1}"


@figure_builder
def spec_curve_figure(specs: pd.DataFrame, alpha: float = 0.05, lang: str = "en",
                      ax: Any = None, labels: dict[str, str] | None = None) -> Any:
    """Sorted estimates with CIs (top) over the indicator panel of choices (bottom);
    each choice in the reader's words (the catalogue's, or the column's ``labels``)."""
    lab = figure_words("spec_curve", lang)
    s = specs.sort_values("estimate").reset_index(drop=True)
    dims = [d for d in _DIMS if s[d].nunique() > 1] or ["controls"]
    n_ind = sum(s[d].nunique() for d in dims)
    fig, axes = new_figure(lang, ax=ax, nrows=2, ncols=1, size=(8, 6), sharex=True,
                           gridspec_kw={"height_ratios": [2.0, max(1.0, 0.25 * n_ind)]})
    top, bottom = axes[0], axes[1]
    x = np.arange(len(s))
    sig = (s["p_value"] < alpha).to_numpy()
    for mask, color, name in ((sig, "#1f4e79", lab["sig"]), (~sig, "#a6a6a6", lab["nonsig"])):
        top.vlines(x[mask], s["conf_low"][mask], s["conf_high"][mask], color=color, lw=0.8,
                   alpha=0.6)
        top.scatter(x[mask], s["estimate"][mask], color=color, s=10, label=name, zorder=3)
    top.axhline(0, color="black", lw=0.8)
    top.axhline(float(s["estimate"].median()), color="#c00000", lw=0.8, ls="--")
    top.set_ylabel(lab["estimate"])
    top.legend(frameon=False, fontsize=8, loc="upper left")
    ticks, names = [], []
    colon = report_word("colon", lang)
    row = 0
    for d in dims:
        for level in sorted(s[d].unique(), key=str):
            on = (s[d] == level).to_numpy()
            bottom.scatter(x[on], np.full(on.sum(), row), marker="|", s=40, color="#1f4e79")
            ticks.append(row)
            names.append(f"{cell_label(d, lang, {})}{colon}"
                         f"{cell_label(str(level), lang, labels or {})}")
            row += 1
    bottom.set_yticks(ticks)
    bottom.set_yticklabels(names, fontsize=7)
    bottom.invert_yaxis()
    # specifications are counted 1, 2, ...: whole-number ticks, never "0.2"
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    bottom.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    bottom.xaxis.set_major_formatter(FuncFormatter(_one_based))
    bottom.set_xlabel(lab["spec"])
    return fig
