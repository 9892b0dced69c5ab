"""Staggered-adoption figures: ATT(g,t) by cohort, the aggregations of ATT(g,t), and several
event-study estimators on one figure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from policylab.report.labels import cell_label, figure_words
from policylab.report.style import PALETTE, figure_builder, new_figure


def _bars(ax: Any, x: np.ndarray, t: pd.DataFrame, color: str, marker: str = "o",
          label: str | None = None) -> None:
    b = t["estimate"].to_numpy()
    lo, hi = t["conf_low"].to_numpy(), t["conf_high"].to_numpy()
    ax.errorbar(x, b, yerr=[b - lo, hi - b], fmt=marker, color=color, ms=4, capsize=2,
                lw=1, label=label)
    if "band_low" in t and t["band_low"].notna().any():
        ax.vlines(x, t["band_low"], t["band_high"], color=color, lw=4, alpha=0.2)


@figure_builder
def att_gt_figure(tidy: pd.DataFrame, lang: str = "en",
                  ax: Any = None) -> Any:
    """One panel per cohort: ATT(g,t) against the period with CIs (and the uniform band
    when bootstrapped); pre-treatment cells grey, post-treatment cells coloured."""
    t = figure_words("staggered", lang)
    groups = sorted(tidy["group"].unique())
    fig, axes = new_figure(lang, ax=ax, size=(6.4, 1.9 * len(groups) + 0.6), nrows=len(groups),
                           sharex=True, squeeze=False)
    for panel, g in zip(axes[:, 0], groups):
        d = tidy[tidy["group"] == g]
        pre = d["time"] < g
        _bars(panel, d.loc[pre, "time"].to_numpy(), d[pre], "grey", label=t["pre"])
        _bars(panel, d.loc[~pre, "time"].to_numpy(), d[~pre], PALETTE[0], label=t["post"])
        panel.axhline(0, color="black", lw=0.8)
        panel.set_title(f"{t['cohort']} {g}", fontsize=9)
    axes[-1, 0].set_xlabel(t["period"])
    axes[0, 0].legend(fontsize=7)
    if ax is None:  # a figure-wide label only on a figure policylab made
        fig.supylabel(t["y"], fontsize=9)
    else:
        axes[0, 0].set_ylabel(t["y"])
    return fig


@figure_builder
def aggregate_figure(tidy: pd.DataFrame, kind: str = "dynamic", lang: str = "en",
                     ax: Any = None) -> Any:
    """An aggregation of ATT(g,t) (the overall row left out): estimates by event time,
    cohort or period with CIs, and the uniform band when bootstrapped."""
    t = figure_words("staggered", lang)
    d = tidy.iloc[1:]
    fig, ax = new_figure(lang, ax=ax)
    x = d["by"].to_numpy(dtype=float)
    if kind == "dynamic":
        pre = x < 0
        _bars(ax, x[pre], d[pre], "grey")
        _bars(ax, x[~pre], d[~pre], PALETTE[0])
        ax.axvline(-0.5, color=PALETTE[2], lw=0.8, ls="--")
        ax.set_xlabel(t["x"])
    else:
        _bars(ax, x, d, PALETTE[0])
        ax.set_xlabel(t.get(kind, t["period"]))
    ax.set_xticks(x)
    ax.set_xticklabels([str(int(v)) for v in x])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel(t["y"])
    return fig


@figure_builder
def comparison_figure(est: pd.DataFrame, lang: str = "en",
                      ax: Any = None) -> Any:
    """Point estimates and CIs by event time, one colour and offset per estimator."""
    t = figure_words("staggered", lang)
    fig, ax = new_figure(lang, ax=ax, size=(7.5, 4.2))
    names = list(dict.fromkeys(est["estimator"]))
    width = 0.6
    for i, (name, color, marker) in enumerate(zip(names, PALETTE, "osD^v")):
        e = est[est.estimator == name]
        off = -width / 2 + width * (i + 0.5) / len(names)
        x = e["rel_time"].to_numpy() + off
        b = e["estimate"].to_numpy()
        lo, hi = e["conf_low"].to_numpy(), e["conf_high"].to_numpy()
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(x[ok], b[ok], yerr=[b[ok] - lo[ok], hi[ok] - b[ok]], fmt=marker,
                    color=color, ms=4, capsize=2, lw=1, label=cell_label(name, lang, {}))
        ax.plot(x[~ok], b[~ok], marker, color=color, ms=4)
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(-0.5, color=PALETTE[2], lw=0.8, ls="--")
    # event times are whole periods; the estimators are offset around them, so the
    # default locator would put ticks at half periods
    times = np.unique(est["rel_time"].to_numpy())
    ax.set_xticks(times if len(times) <= 25 else times[::int(np.ceil(len(times) / 25))])
    ax.set_xlabel(t["x"])
    ax.set_ylabel(t["y"])
    ax.legend(fontsize=8)
    return fig
