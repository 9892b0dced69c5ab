"""Several event-study estimators on one figure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from policylab.report.style import PALETTE, new_figure

_T = {"en": {"x": "Periods relative to adoption", "y": "Estimate (95% CI)"},
      "zh": {"x": "相对政策实施期", "y": "估计系数（95%置信区间）"}}


def comparison_figure(est: pd.DataFrame, lang: str = "en") -> Any:
    """Point estimates and CIs by event time, one colour and offset per estimator."""
    t = _T.get(lang, _T["en"])
    fig, ax = new_figure(lang, size=(7.5, 4.2))
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
                    color=color, ms=4, capsize=2, lw=1, label=name)
        ax.plot(x[~ok], b[~ok], marker, color=color, ms=4)
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(-0.5, color=PALETTE[2], lw=0.8, ls="--")
    ax.set_xlabel(t["x"])
    ax.set_ylabel(t["y"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
