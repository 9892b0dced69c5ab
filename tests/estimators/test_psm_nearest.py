"""Nearest-neighbour matching without replacement: every kept control is among the k
nearest of the controls still available (or tied with the k-th)."""

import numpy as np
import pytest

from policylab.engine.matching import nearest_match


def test_untied_far_control_is_not_kept_without_replacement():
    # 0.45-0.48 are taken by the higher scores first; 0.44 is then 0.16 from 0.60 and
    # 0.34 from 0.10: only 0.60 is its nearest available control (it used to get both)
    pc = np.array([0.10, 0.45, 0.46, 0.47, 0.48, 0.60])
    pt = np.array([0.50, 0.49, 0.48, 0.47, 0.44])
    m = nearest_match(pt, pc, k=1, replace=False)
    assert [x.tolist() for x in m] == [[4], [3], [2], [1], [5]]


def _check(pt, pc, m, k, ties, tol=1e-12):
    used = np.zeros(len(pc), dtype=bool)
    for i in np.argsort(-pt, kind="stable"):  # the order the matcher uses
        avail = np.flatnonzero(~used)
        sel = m[i]
        assert not used[sel].any(), "a control was used twice"
        if len(avail) == 0:
            assert len(sel) == 0
            continue
        d_av = np.sort(np.abs(pc[avail] - pt[i]))
        kth = d_av[min(k, len(d_av)) - 1]
        d_sel = np.abs(pc[sel] - pt[i])
        assert (d_sel <= kth + tol).all(), (pt[i], pc[sel], kth)
        if ties:  # every available control tied with the k-th is kept
            assert len(sel) == int((d_av <= kth + tol).sum())
        else:
            assert len(sel) == min(k, len(avail))
        used[sel] = True


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("ties", [True, False])
def test_without_replacement_every_kept_match_is_nearest_available(k, ties):
    # seeded random designs with many exact ties (scores on a 0.01 grid)
    rng = np.random.default_rng(20261202 + k)
    for _ in range(150):
        nt, nc = rng.integers(1, 12), rng.integers(1, 25)
        pt = np.round(rng.random(nt), 2)
        pc = np.round(rng.random(nc), 2)
        m = nearest_match(pt, pc, k=k, replace=False, ties=ties)
        _check(pt, pc, m, k, ties)


def _xsec(seed=3, n=300):
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x1 - 0.5 * x2 - 0.5)))).astype(int)
    return pd.DataFrame({"d": d, "x1": x1, "x2": x2, "y": d + x1 + rng.normal(size=n)})


@pytest.mark.parametrize("kw,what", [
    ({"method": "kernel", "variance": "ai"}, "nearest-neighbour"),
    ({"method": "radius", "caliper": 0.05, "bias_adjust": True}, "nearest-neighbour"),
    ({"method": "nearest", "variance": "robust"}, "variance must be"),
    ({"method": "nearest", "var_matches": -1}, "var_matches"),
    ({"method": "nearest", "metric": "ivariance", "replace": False}, "with replacement"),
    ({"method": "nearest", "metric": "ivariance", "caliper": 0.5}, "std_caliper=True"),
    ({"method": "nearest", "metric": "euclid"}, "metric must be"),
])
def test_matching_options_that_do_not_apply_are_refused(kw, what):
    import policylab as pl
    from policylab.errors import SpecError

    with pytest.raises(SpecError, match=what):
        pl.match(_xsec(), "d", ["x1", "x2"], outcome="y", **kw)


def test_std_caliper_is_the_caliper_times_the_score_sd():
    import policylab as pl

    df = _xsec()
    a = pl.match(df, "d", ["x1", "x2"], outcome="y", method="nearest", caliper=0.1,
                 std_caliper=True)
    sd = np.std(a.rows["_pscore"].to_numpy(), ddof=1)
    b = pl.match(df, "d", ["x1", "x2"], outcome="y", method="nearest", caliper=0.1 * sd)
    assert a.att == b.att and a.att_se == b.att_se
    assert (a.rows["_support"] == b.rows["_support"]).all()
    assert (a.rows["_support"] == 0).any()  # the caliper binds in this design
