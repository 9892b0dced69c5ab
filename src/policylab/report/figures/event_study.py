"""Event-study coefficient plot and raw parallel-trend plot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from policylab.report.labels import figure_words
from policylab.report.style import PALETTE, figure_builder, new_figure


@figure_builder
def event_study_figure(tidy: pd.DataFrame, kind: str = "band", lang: str = "en",
                       ref: int = -1, title: str | None = None,
                       ax: Any = None) -> Any:
    """Coefficients against event time with CIs, zero line and a dashed line at adoption.

    ``tidy`` needs rel_time, estimate, conf_low, conf_high (the reference period at 0);
    ``ref`` is marked with a hollow marker.
    """
    t = figure_words("event_study", lang)
    fig, ax = new_figure(lang, ax=ax)
    x = tidy["rel_time"].to_numpy()
    b = tidy["estimate"].to_numpy()
    lo, hi = tidy["conf_low"].to_numpy(), tidy["conf_high"].to_numpy()
    if kind == "band":
        ax.fill_between(x, lo, hi, color=PALETTE[0], alpha=0.15, lw=0)
        ax.plot(x, b, color=PALETTE[0], marker="o", ms=4, lw=1.2)
    elif kind == "bars":
        ax.errorbar(x, b, yerr=[b - lo, hi - b], fmt="o", color=PALETTE[0], ms=4, capsize=3,
                    lw=1)
    else:
        raise ValueError(f"kind must be 'band' or 'bars', got {kind!r}")
    at_ref = x == ref
    if at_ref.any():
        ax.plot(x[at_ref], b[at_ref], marker="o", ms=5, mfc="white", color=PALETTE[0], ls="")
    ax.axhline(0, color="black", lw=0.8)
    # adoption happens between event time -1 and 0, whatever the reference period
    ax.axvline(-0.5, color=PALETTE[2], lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xlabel(t["x"])
    ax.set_ylabel(t["y"])
    if title:
        ax.set_title(title)
    return fig


@figure_builder
def parallel_trends_figure(means: pd.DataFrame, lang: str = "en", policy_time: int | None = None,
                           normalized: int | None = None, ylabel: str | None = None,
                           ax: Any = None) -> Any:
    """Treated vs control group means by period.

    ``ylabel`` names the outcome on the vertical axis (default: "Mean outcome").
    """
    t = figure_words("event_study", lang)
    fig, ax = new_figure(lang, ax=ax)
    for g, style in ((1, ("o", PALETTE[1], "-")), (0, ("s", PALETTE[0], "--"))):
        m = means[means["group"] == g].sort_values("time")
        if len(m):
            ax.plot(m["time"], m["mean"], marker=style[0], color=style[1], ls=style[2], ms=4,
                    lw=1.2, label=t["treated"] if g == 1 else t["control"])
    if policy_time is not None:
        ax.axvline(policy_time - 0.5, color=PALETTE[2], lw=0.8, ls="--")
    ax.set_xlabel(t["time"])
    mean = t["mean_of"].format(y=ylabel) if ylabel else t["mean"]
    ax.set_ylabel(t["norm"].format(b=normalized, y=ylabel or t["mean"]) if normalized
                  is not None else mean)
    years = np.sort(means["time"].unique())
    step = int(np.ceil(len(years) / 8))
    ax.set_xticks(years[::step])
    ax.legend()
    return fig
