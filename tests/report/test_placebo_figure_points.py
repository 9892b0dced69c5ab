"""The placebo figure plots every step-th draw with its t-test p-value; the result
computes those p-values only for the plotted draws, and they are the draws' own."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

import policylab as pl
from policylab.inference.placebo import placebo_test


def _result(draws: int):
    rng = np.random.default_rng(4)
    units, years = 40, 8
    df = pd.DataFrame({"u": np.repeat(np.arange(units), years),
                       "t": np.tile(np.arange(2000, 2000 + years), units)})
    df["d"] = ((df["u"] < 8) & (df["t"] >= 2004)).astype(int)
    df["y"] = 0.3 * df["d"] + rng.normal(size=len(df)) + 0.1 * df["u"]
    res = pl.did(df, y="y", treat="d", unit="u", time="t")
    return placebo_test(res, exact=False, draws=draws, seed=1)


def _points(fig):
    ax2 = fig.axes[1]  # the p-values' axis
    return np.asarray(ax2.collections[0].get_offsets())


def test_plotted_p_values_are_those_of_the_plotted_draws():
    import matplotlib.pyplot as plt

    pt = _result(draws=1200)
    for max_points in (5000, 100):
        fig = pt.plot(max_points=max_points)
        step = max(1, len(pt.estimates) // max_points)
        want_p = 2 * stats.t.sf(np.abs(pt.tstats), pt.meta["df_t"])
        got = _points(fig)
        assert len(got) == len(pt.estimates[::step])
        np.testing.assert_array_equal(got[:, 0], pt.estimates[::step])
        np.testing.assert_allclose(got[:, 1], want_p[::step], rtol=1e-13)
        plt.close(fig)


def test_density_curve_is_scipys_kde_of_the_draws():
    """Binned above 2,000 draws, the curve is scipy's Gaussian KDE of the draws (Scott's
    bandwidth) to a millionth-order share of its height."""
    import matplotlib.pyplot as plt

    from policylab.report.figures.placebo import placebo_figure

    rng = np.random.default_rng(2)
    est = np.concatenate([rng.normal(-0.05, 0.01, 6000), rng.normal(0.02, 0.03, 9000)])
    fig = placebo_figure(est, rng.uniform(size=len(est)), real=0.12)
    x, y = fig.axes[0].lines[0].get_data()
    want = stats.gaussian_kde(est)(x)
    assert np.abs(y - want).max() < 1e-4 * want.max()
    plt.close(fig)
