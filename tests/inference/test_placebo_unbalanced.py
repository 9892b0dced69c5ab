"""Placebo assignment on unbalanced panels: a group missing in some periods keeps its
treatment path (its missing periods are unknown, not untreated), so a draw hands out
whole paths. Checked against a loop of did() regressions on hand-built reassigned data.
"""

import itertools

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.inference.placebo import placebo_test

# group -> adoption year of the really treated groups; each misses a post year, so the
# paths read off the data have holes where the group is not observed
ADOPT = {0: 2005, 1: 2005, 2: 2005}
STAGGERED = {0: 2004, 1: 2006, 2: 2006}
MISSING = [(0, 2006), (1, 2003), (2, 2008), (5, 2005), (7, 2001)]


def _panel(adopt: dict[int, int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(list(itertools.product(range(10), range(2000, 2010))),
                      columns=["g", "t"])
    df = df[~df.set_index(["g", "t"]).index.isin(MISSING)].reset_index(drop=True)
    df["d"] = (df["t"] >= df["g"].map(adopt).fillna(9999)).astype(int)
    df["x"] = rng.normal(size=len(df))
    df["y"] = 0.2 * df["d"] + 0.5 * df["x"] + 0.1 * df["g"] + rng.normal(size=len(df))
    return df


def _loop(df: pd.DataFrame, assignments: list[list[int]], dates: list[int]) -> np.ndarray:
    """did() on the data with the i-th fake group adopting at dates[i]."""
    out = []
    for chosen in assignments:
        start = df["g"].map(dict(zip(chosen, dates))).fillna(9999)
        fake = df.assign(fake=(df["t"] >= start).astype(int))
        r = pl.did(fake, y="y", treat="fake", unit="g", time="t", controls=["x"])
        out.append((r.coef()["fake"], r.tstat()["fake"]))
    return np.array(out)


def test_exact_enumeration_hands_out_the_one_real_path():
    df = _panel(ADOPT)
    res = pl.did(df, y="y", treat="d", unit="g", time="t", controls=["x"])
    pt = placebo_test(res, exact=True)
    combos = [list(c) for c in itertools.combinations(range(10), 3)]
    brute = _loop(df, combos, [2005] * 3)
    assert pt.exact and len(pt.estimates) == len(combos) == 120
    np.testing.assert_allclose(pt.estimates, brute[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pt.tstats, brute[:, 1], rtol=1e-9, atol=1e-12)
    assert pt.tstat == pytest.approx(res.tstat()["d"], rel=1e-10)


def test_staggered_paths_with_holes_match_a_loop_draw_for_draw():
    df = _panel(STAGGERED, seed=1)
    res = pl.did(df, y="y", treat="d", unit="g", time="t", controls=["x"])
    rng = np.random.default_rng(2)
    sets = [sorted(rng.choice(10, 3, replace=False).tolist()) for _ in range(8)]
    pt = placebo_test(res, fake_assignments=sets)
    # the i-th listed group takes the path of the i-th really treated group
    brute = _loop(df, sets, [STAGGERED[g] for g in sorted(STAGGERED)])
    np.testing.assert_allclose(pt.estimates, brute[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pt.tstats, brute[:, 1], rtol=1e-9, atol=1e-12)
    assert pt.estimate == pytest.approx(res.coef()["d"], rel=1e-10)


# ----- the "basis" method on unbalanced panels with holes in treated groups too,
# weights and clusters, draw for draw against a loop of weighted, clustered did() fits

def _holey_panel(dates: dict[int, int], seed: int) -> pd.DataFrame:
    """40 units x 10 years, about 15% of the rows missing (treated groups included, but
    never in their adoption year, where a hole would make the path ambiguous); province
    = unit // 2, region = province % 7, analytic weights."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(list(itertools.product(range(40), range(2000, 2010))),
                      columns=["u", "t"])
    df["prov"] = df["u"] // 2
    df["region"] = df["prov"] % 7
    adopt = df["prov"].map(dates).fillna(9999)
    keep = (rng.random(len(df)) > 0.15) | (df["t"] == adopt)
    df = df[keep].reset_index(drop=True)
    adopt = df["prov"].map(dates).fillna(9999)
    df["d"] = (df["t"] >= adopt).astype(float)
    df["x"] = rng.normal(size=len(df)) + 0.05 * (df["t"] - 2000)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["y"] = (0.2 * df["d"] + 0.5 * df["x"] + 0.1 * df["u"] + 0.03 * (df["t"] - 2000)
               + rng.normal(size=len(df)))
    return df


def _weighted_loop(df: pd.DataFrame, sets: list[list[int]], dates: list[int], assign: str,
                   cluster: str) -> np.ndarray:
    out = []
    for chosen in sets:
        start = df[assign].map(dict(zip(chosen, dates))).fillna(9999)
        fake = df.assign(fake=(df["t"] >= start).astype(float))
        r = pl.did(fake, y="y", treat="fake", unit="u", time="t", controls=["x"],
                   weights="w", cluster=cluster)
        out.append((r.coef()["fake"], r.tstat()["fake"]))
    return np.array(out)


@pytest.mark.parametrize("assign,cluster,dates", [
    # one path per province (a 0/1 table per path in the kernel) ...
    ("prov", "region", {0: 2004, 1: 2006, 2: 2004}),
    # ... and five distinct paths (above MASK_PATHS: a path index per draw)
    ("prov", "prov", {0: 2002, 1: 2003, 2: 2004, 3: 2005, 4: 2006}),
    ("prov", "u", {0: 2005, 1: 2005, 2: 2005}),
])
def test_basis_draws_on_holey_weighted_clustered_panels_match_a_loop(
        assign, cluster, dates, monkeypatch):
    from policylab.engine.placebo_kernels import MASK_PATHS, NB
    from policylab.inference import placebo as plc

    df = _holey_panel(dates, seed=len(dates) + len(cluster))
    res = pl.did(df, y="y", treat="d", unit="u", time="t", controls=["x"], weights="w",
                 cluster=cluster, assign=assign)
    rng = np.random.default_rng(3)
    n_treated = len(dates)
    # more assignments than draws per sweep of the rows: a full block and a short one
    sets = [rng.choice(20, n_treated, replace=False).tolist() for _ in range(NB + 7)]
    monkeypatch.setattr(plc, "_FORCE_METHOD", "basis")
    pt = placebo_test(res, fake_assignments=sets)
    assert pt.meta["method"] == "basis"
    n_paths = len(set(dates.values()))
    assert (n_paths > MASK_PATHS) == (n_paths == 5)
    # the i-th listed group takes the path of the i-th really treated group
    brute = _weighted_loop(df, sets, [dates[g] for g in sorted(dates)], assign, cluster)
    np.testing.assert_allclose(pt.estimates, brute[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pt.tstats, brute[:, 1], rtol=1e-9, atol=1e-12)
    assert pt.tstat == pytest.approx(res.tstat()["d"], rel=1e-9)
