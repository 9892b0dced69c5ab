"""The PSM score-density figure's curve: scipy's Gaussian KDE, from binned data above
20,000 points (R density()'s linear binning)."""

import numpy as np
import pytest
from scipy import stats

from policylab.report.figures.psm import density


@pytest.mark.parametrize("weighted", [False, True])
def test_binned_density_is_scipys_kde_to_a_millionth_of_its_height(weighted):
    rng = np.random.default_rng(12)  # seed; tolerance 1e-5 of the peak (seen: 1e-6)
    x = rng.beta(2, 5, 30_000)
    w = rng.exponential(size=len(x)) if weighted else None
    grid = np.linspace(0, 1, 200)
    want = stats.gaussian_kde(x, weights=w)(grid)
    got = density(x, w, grid)
    assert np.abs(got - want).max() < 1e-5 * want.max()
    # small samples take scipy's own evaluation
    np.testing.assert_array_equal(density(x[:500], None, grid),
                                  stats.gaussian_kde(x[:500])(grid))
