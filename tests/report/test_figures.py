"""Figures in notebooks: ax= draws into the user's axes, and plotting leaves the user's
matplotlib backend and rcParams exactly as they were."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from policylab.report.figures.event_study import event_study_figure
from policylab.report.figures.psm import score_density_figure


def _tidy():
    x = np.arange(-3, 4)
    b = 0.1 * x
    return pd.DataFrame({"rel_time": x, "estimate": b, "conf_low": b - 0.2,
                         "conf_high": b + 0.2})


def _rc_snapshot():
    import matplotlib

    return {k: repr(v) for k, v in matplotlib.rcParams.items() if k != "backend"}


def test_plotting_leaves_rcparams_untouched_and_draws_into_given_axes():
    import matplotlib.pyplot as plt

    before = _rc_snapshot()
    fig, ax = plt.subplots()
    out = event_study_figure(_tidy(), lang="zh", ax=ax)
    assert out is fig and len(fig.axes) == 1
    assert len(ax.lines) >= 1 and ax.get_xlabel() == "相对政策实施年份"
    own = event_study_figure(_tidy(), lang="zh")  # a figure of its own: no ax
    assert own is not fig
    assert _rc_snapshot() == before
    plt.close("all")


def test_chinese_text_keeps_its_font_when_drawn_after_the_call():
    import matplotlib.pyplot as plt

    fig = event_study_figure(_tidy(), lang="zh", title="事件研究")
    # drawn later, under the user's own rcParams (DejaVu Sans has no Chinese glyphs)
    with plt.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would raise
            fig.canvas.draw()
    plt.close(fig)


def test_multi_panel_figure_takes_a_sequence_of_axes_or_explains():
    import matplotlib.pyplot as plt

    from policylab.errors import SpecError

    rng = np.random.default_rng(1)
    rows = pd.DataFrame({"_treated": rng.integers(0, 2, 200), "_pscore": rng.uniform(size=200),
                         "_weight": rng.uniform(size=200), "_support": 1})
    fig, axes = plt.subplots(1, 2)
    assert score_density_figure(rows, ax=axes) is fig
    assert all(a.lines for a in axes)
    with pytest.raises(SpecError, match="2 matplotlib Axes"):
        score_density_figure(rows, ax=axes[0])
    plt.close("all")


def test_result_plot_accepts_ax(panel_df):
    import matplotlib.pyplot as plt

    from policylab.estimators.event_study import event_study

    df = panel_df.assign(first=np.where(panel_df["unit"] % 2 == 0, 2004, 0))
    res = event_study(df, y="y", unit="unit", time="year", cohort="first", window=(-2, 2))
    fig, ax = plt.subplots()
    assert res.plot(ax=ax) is fig and ax.lines
    plt.close("all")


SCRIPT = """
import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot as plt
before = dict(matplotlib.rcParams)
import numpy as np, pandas as pd
from policylab.report.figures.event_study import event_study_figure
x = np.arange(-2, 3)
t = pd.DataFrame({"rel_time": x, "estimate": x * 0.1, "conf_low": x * 0.1 - 1,
                  "conf_high": x * 0.1 + 1})
event_study_figure(t, lang="zh")
after = dict(matplotlib.rcParams)
changed = sorted(k for k in before if repr(before[k]) != repr(after[k]))
print(matplotlib.get_backend(), changed)
"""


def test_an_inline_notebook_backend_is_never_switched_to_agg():
    pytest.importorskip("matplotlib_inline")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "module://matplotlib_inline.backend_inline []"


def _builders():
    from policylab.report.figures import (
        bacon,
        coefplot,
        event_study,
        honest_did,
        mechanisms,
        placebo,
        psm,
        spec_curve,
        staggered,
    )

    rng = np.random.default_rng(0)
    band = {"conf_low": [-1, 0], "conf_high": [1, 2]}
    spec = pd.DataFrame({"estimate": [0, 1, 2], "conf_low": [-1, 0, 1], "conf_high": [1, 2, 3],
                         "p_value": [.5, .01, .01], "outcome": ["y"] * 3,
                         "controls": ["a", "b", "c"], "sample": ["all"] * 3, "fe": ["x"] * 3,
                         "cluster": ["u"] * 3})
    att = pd.DataFrame({"group": [2004, 2004, 2005, 2005], "time": [2003, 2004, 2004, 2005],
                        "estimate": [0, 1, 0, 1], "conf_low": [-1, 0, -1, 0],
                        "conf_high": [1, 2, 1, 2]})
    grid = pd.DataFrame({"restriction": ["smoothness", "relative magnitudes"], "M": [.1, .2],
                         "conf_low": [-1, -1], "conf_high": [1, 1]})
    return [  # (call, panels)
        (lambda ax: bacon.bacon_figure(pd.DataFrame(
            {"type": ["a", "b"], "weight": [.5, .5], "estimate": [1, 2]}), 1.5, ax=ax), 1),
        (lambda ax: event_study.event_study_figure(_tidy(), ax=ax), 1),
        (lambda ax: coefplot.coefplot_figure([("", _tidy().assign(term=list("abcdefg")))],
                                             lang="zh", ax=ax), 1),
        (lambda ax: event_study.parallel_trends_figure(pd.DataFrame(
            {"group": [0, 0, 1, 1], "time": [1, 2, 1, 2], "mean": [1, 2, 3, 4]}), ax=ax), 1),
        (lambda ax: honest_did.honest_did_figure(grid, (0, -1, 1), ax=ax), 2),
        (lambda ax: mechanisms.marginal_effect_figure(pd.DataFrame(
            {"moderator": [0, 1], "effect": [0, 1], **band}), "m", ax=ax), 1),
        (lambda ax: mechanisms.mediation_sensitivity_figure(pd.DataFrame(
            {"mediator": ["a", "a"], "rho": [0, .1], "acme": [0, .1]}), ax=ax), 1),
        (lambda ax: mechanisms.subgroup_figure(pd.DataFrame(
            {"by": ["x", "x"], "group": [0, 1], "estimate": [0, 1], **band}), ax=ax), 1),
        (lambda ax: placebo.placebo_figure(rng.normal(size=100), rng.uniform(size=100), .5,
                                           ax=ax), 1),
        (lambda ax: psm.bias_figure(pd.DataFrame(
            {"variable": ["a"], "bias_before": [20], "bias_after": [2]}), ax=ax), 1),
        (lambda ax: spec_curve.spec_curve_figure(spec, ax=ax), 2),
        (lambda ax: staggered.att_gt_figure(att, ax=ax), 2),
        (lambda ax: staggered.aggregate_figure(pd.DataFrame(
            {"by": [np.nan, -1, 0, 1], "estimate": [1, 0, 1, 1], "conf_low": [0, -1, 0, 0],
             "conf_high": [2, 1, 2, 2]}), ax=ax), 1),
        (lambda ax: staggered.comparison_figure(pd.DataFrame(
            {"estimator": ["a", "a"], "rel_time": [-1, 0], **band, "estimate": [0, 1]}),
            ax=ax), 1),
    ]


@pytest.mark.parametrize("k", range(len(_builders())))
def test_every_figure_builder_draws_into_given_axes_and_keeps_rcparams(k):
    import matplotlib.pyplot as plt

    call, panels = _builders()[k]
    before = _rc_snapshot()
    fig, axes = plt.subplots(panels, 1)
    assert call(axes) is fig
    assert len(fig.axes) >= panels
    assert all(a.has_data() for a in np.atleast_1d(axes))
    assert _rc_snapshot() == before
    plt.close("all")


def test_counted_axes_have_whole_number_ticks():
    # two estimators offset around event times -2..1, two specifications: a referee
    # reads "-1.5 periods" or "specification 0.2" as a mistake
    import matplotlib.pyplot as plt

    from policylab.report.figures import spec_curve, staggered

    est = pd.DataFrame({"estimator": ["TWFE"] * 4 + ["Sun-Abraham"] * 4,
                        "rel_time": [-2, -1, 0, 1] * 2, "estimate": np.arange(8.0),
                        "conf_low": np.arange(8.0) - 1, "conf_high": np.arange(8.0) + 1})
    fig = staggered.comparison_figure(est)
    fig.canvas.draw()
    assert list(fig.axes[0].get_xticks()) == [-2, -1, 0, 1]
    plt.close(fig)
    spec = pd.DataFrame({"estimate": [0.5, -0.2], "conf_low": [-1, -1.5],
                         "conf_high": [2, 1], "p_value": [.4, .7], "outcome": ["y"] * 2,
                         "controls": ["none", "baseline"], "sample": ["all"] * 2,
                         "fe": ["x"] * 2, "cluster": ["u"] * 2})
    fig = spec_curve.spec_curve_figure(spec)
    fig.canvas.draw()
    bottom = fig.axes[-1]
    lo, hi = bottom.get_xlim()
    shown = [t.get_text() for t, v in zip(bottom.get_xticklabels(), bottom.get_xticks())
             if lo <= v <= hi]
    assert shown == ["1", "2"]
    plt.close(fig)
