"""Randomization inference for the joint pre-trend test of an event study."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import policylab as pl
from policylab.inference.pretrend_ri import pretrend_ri_test


def _panel(seed: int = 3, units: int = 14, years: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    cohort = np.where(np.arange(units) < 4, 2005, np.where(np.arange(units) < 7, 2006, 0))
    df["cohort"] = cohort[df["unit"]]
    df["x"] = rng.normal(size=len(df))
    df["y"] = (0.3 * df["x"] + 0.1 * df["unit"] + rng.normal(size=len(df))
               + 0.4 * ((df["cohort"] > 0) & (df["year"] >= df["cohort"])))
    return df


def _statsmodels_wald(df: pd.DataFrame, cohort: np.ndarray, window=(-3, 2), ref=-1) -> float:
    """Wald statistic of the leads (unscaled CRV meat) by explicit dummies, on the years
    before the first real adoption (2005)."""
    d = df[df["year"] < 2005].copy()
    c = cohort[d["unit"].to_numpy()]
    rel = np.where(c > 0, np.clip(d["year"] - c, *window), -999)
    names = []
    for e in range(window[0], 0):
        if e == ref:
            continue
        name = f"e{e + 10}"
        d[name] = (rel == e).astype(float)
        names.append((e, name))
    fml = "y ~ " + " + ".join(n for _, n in names) + " + x + C(unit) + C(year)"
    fit = smf.ols(fml, data=d).fit(cov_type="cluster", cov_kwds={
        "groups": d["unit"].to_numpy(), "use_correction": False, "df_correction": False})
    leads = [n for e, n in names if e < 0]
    b = fit.params[leads].to_numpy()
    return float(b @ np.linalg.solve(fit.cov_params().loc[leads, leads].to_numpy(), b)) / len(b)


def test_each_draw_is_the_wald_statistic_of_a_statsmodels_refit():
    df = _panel()
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort",
                        window=(-3, 2), controls=["x"], cluster="unit")
    res = pretrend_ri_test(es, draws=6, seed=5)
    cohort_u = df.groupby("unit")["cohort"].first().to_numpy()
    assert res.statistic == pytest.approx(_statsmodels_wald(df, cohort_u), rel=1e-8)
    rng = np.random.default_rng(5)
    for j in range(6):
        perm = rng.permutation(len(cohort_u))
        assert res.stats[j] == pytest.approx(_statsmodels_wald(df, cohort_u[perm]), rel=1e-8)


def test_post_adoption_years_do_not_enter_the_test():
    # a huge effect after adoption must not change the test of the leads: under the
    # sharp null of no pre-trend only the pre-adoption years are used
    df = _panel(seed=8)
    kw = dict(y="y", unit="unit", time="year", cohort="cohort", window=(-3, 2),
              controls=["x"], cluster="unit")
    a = pretrend_ri_test(pl.event_study(df, **kw), draws=30, seed=1)
    post = df["year"] >= 2005
    shifted = df.assign(y=df["y"] + np.where(post & (df["cohort"] > 0), 25.0, 0.0))
    b = pretrend_ri_test(pl.event_study(shifted, **kw), draws=30, seed=1)
    assert a.statistic == pytest.approx(b.statistic, rel=1e-10)
    np.testing.assert_allclose(a.stats, b.stats, rtol=1e-10)
    assert 1 / 31 <= a.p_value <= 1


def test_same_seed_same_p_value_and_p_value_formula():
    df = _panel(seed=9)
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort", window=(-3, 2))
    a = pretrend_ri_test(es, draws=50, seed=4)
    b = pretrend_ri_test(es, draws=50, seed=4)
    np.testing.assert_array_equal(a.stats, b.stats)
    expected = (1 + np.sum(a.stats >= a.statistic * (1 - 1e-9))) / 51
    assert a.p_value == pytest.approx(expected)
    assert list(a.tidy()["test"]) == ["randomization"]


@pytest.mark.slow
def test_size_of_the_lead_tests_on_the_carbon_design():
    # design-based Monte Carlo (seed 11, 60 replications, 99 draws): the wild bootstrap
    # lead test, read first with few treated groups, rejects a true null at most 15% of
    # the time (it rejected 4% in docs/validity.md; binomial 99.9% bound at 5% and 60
    # reps is ~15%), and less often than the CRV1 Wald test (21% there)
    res = pl.simulate(pl.datasets.carbon_pilot(), y="ln_co2", treat="did",
                      controls=["ln_gdp", "fdi"], cluster="province", methods=("crv1",),
                      pretrend_window=(-6, 6), simulation_draws=60, draws=99, seed=11,
                      progress=False)
    t = res.tidy().set_index(["target", "method"])["rejection_rate"]
    assert t[("pretrend", "wild")] <= 0.15
    assert t[("pretrend", "wald")] > t[("pretrend", "wild")]
    assert t[("pretrend", "ri")] <= 0.15


def test_event_study_offers_the_three_pretrend_tests():
    df = _panel(seed=11)
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort",
                        window=(-3, 2), cluster="unit")
    wald = es.pretrend_test()
    assert wald["method"] == "wald" and wald["df1"] == 2
    ri = es.pretrend_test("ri", draws=40, seed=2)
    assert ri["p_value"] == pretrend_ri_test(es, draws=40, seed=2).p_value
    wild = es.pretrend_test("wild", draws=99, seed=2)
    assert wild["statistic"] == pytest.approx(wald["statistic"])
    assert 0 < wild["p_value"] <= 1
    with pytest.raises(pl.SpecError, match="method"):
        es.pretrend_test("bayes")


def test_refuses_adoption_dates_that_vary_inside_an_assignment_group():
    df = _panel(seed=12)
    df["region"] = df["unit"] // 2  # units 4 (2005) and 5 (2006) share region 2
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort",
                        window=(-3, 2), cluster="region", assign="region")
    with pytest.raises(pl.SpecError, match="different dates"):
        pretrend_ri_test(es, draws=10, seed=1)


def _regional_panel(seed: int, unbalanced: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units, years = 48, 10
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    df["region"] = df["unit"] // 4  # 12 regions: adoption is set per region
    region_cohort = np.array([2006, 2006, 2007, 2008, 0, 0, 0, 0, 0, 0, 2007, 0])
    df["cohort"] = region_cohort[df["region"]]
    df["x"] = rng.normal(size=len(df))
    df["x2"] = rng.normal(size=len(df)) + 0.2 * df["year"]
    df["w"] = rng.uniform(0.5, 2.0, units)[df["unit"]]
    df["y"] = (0.3 * df["x"] + 0.05 * df["unit"] + rng.normal(size=len(df))
               + 0.4 * ((df["cohort"] > 0) & (df["year"] >= df["cohort"])))
    if unbalanced:
        df = df.drop(index=rng.choice(len(df), 60, replace=False)).reset_index(drop=True)
    return df


@pytest.mark.parametrize("case", [
    dict(cluster="region"),
    dict(cluster="unit", unbalanced=True),
    dict(cluster="region", weights="w", controls=["x", "x2"], unbalanced=True),
    dict(cluster="region", bin_endpoints=False, window=(-2, 2)),
    dict(cluster="unit", weights="w", unbalanced=True, controls=[]),
])
def test_cell_level_sums_give_the_row_level_statistics(case, monkeypatch):
    # with few assignment groups every draw is computed from (group x period) sums; the
    # row-level path (each draw's dummies purged and regressed, itself checked against
    # statsmodels above) must give the same statistics to 1e-10
    import policylab.inference.pretrend_ri as mod

    case = dict(case)
    df = _regional_panel(seed=21, unbalanced=case.pop("unbalanced", False))
    kw = dict(y="y", unit="unit", time="year", cohort="cohort", assign="region",
              window=(-4, 3), controls=["x"])
    kw.update(case)
    es = pl.event_study(df, **kw)
    inp = mod._inputs(es)
    assert mod._cell_inputs(inp) is not None  # the fast path is the one under test
    fast = pretrend_ri_test(es, draws=40, seed=3)
    monkeypatch.setattr(mod, "_CELL_GRAMS", 0)  # forces the row-level path
    assert mod._cell_inputs(inp) is None
    slow = pretrend_ri_test(es, draws=40, seed=3)
    assert fast.statistic == pytest.approx(slow.statistic, rel=1e-10)
    np.testing.assert_allclose(fast.stats, slow.stats, rtol=1e-10, atol=0)
    assert fast.p_value == slow.p_value


def test_cell_level_sums_in_blocks_of_cells(monkeypatch):
    # the purged cell indicators are computed a block of cells at a time when the rows
    # are many; tiny blocks must give the same statistics as one block
    import policylab.inference.pretrend_ri as mod

    df = _regional_panel(seed=22, unbalanced=True)
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort",
                        assign="region", window=(-4, 3), controls=["x"], cluster="region")
    whole = pretrend_ri_test(es, draws=20, seed=4)
    monkeypatch.setattr(mod, "_CELL_BLOCK_BYTES", 8 * len(df) * 3)  # 3 cells per block
    blocks = pretrend_ri_test(es, draws=20, seed=4)
    np.testing.assert_allclose(blocks.stats, whole.stats, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", [
    dict(cluster="region", controls=["x", "x2"]),
    dict(cluster="unit", controls=[]),
    dict(cluster="region", window=(-2, 2), controls=["x"]),
])
def test_closed_form_cell_sums_equal_the_purged_cell_indicators(case, monkeypatch):
    # a balanced unit x year panel without weights takes the closed form of the purged
    # cell indicators (sums over cluster x group x period); the general route purges
    # the n x cells indicator matrix with the engine's demeaning and must agree
    import policylab.inference.pretrend_ri as mod

    df = _regional_panel(seed=23, unbalanced=False)
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort",
                        assign="region", **{"window": (-4, 3), **case})
    inp = mod._inputs(es)
    assert mod._balanced_layout(inp) is not None
    fast = mod._cell_inputs(inp)
    monkeypatch.setattr(mod, "_balanced_layout", lambda inp: None)
    slow = mod._cell_inputs(inp)
    scale = np.abs(slow.gram_g).max()
    np.testing.assert_allclose(fast.gram_g, slow.gram_g, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(fast.ay_g, slow.ay_g, rtol=0,
                               atol=1e-12 * np.abs(slow.ay_g).max())


def test_closed_form_cell_sums_refuse_weights_and_unbalanced_panels():
    import policylab.inference.pretrend_ri as mod

    df = _regional_panel(seed=24, unbalanced=True)
    kw = dict(y="y", unit="unit", time="year", cohort="cohort", assign="region",
              window=(-4, 3), cluster="region")
    assert mod._balanced_layout(mod._inputs(pl.event_study(df, **kw))) is None
    df = _regional_panel(seed=24, unbalanced=False)
    es = pl.event_study(df, weights="w", **kw)
    assert mod._balanced_layout(mod._inputs(es)) is None


@pytest.mark.parametrize("window", [(-4, 3), (-2, 2)])
def test_batched_cell_draws_equal_one_draw_at_a_time(window, monkeypatch):
    # the draws are computed in batches (cells gathered per draw); each must equal the
    # one-draw computation, which drops empty or absorbed dummies itself
    import policylab.inference.pretrend_ri as mod
    from policylab.inference.randomization import permutations

    df = _regional_panel(seed=25, unbalanced=True)
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort",
                        assign="region", window=window, controls=["x"], cluster="region")
    cells = mod._cell_inputs(mod._inputs(es))
    cohorts = cells.cohort_g[permutations(len(cells.cohort_g), 60, 5)]
    one = np.array([mod._cell_wald(cells, c) for c in cohorts])
    assert np.isfinite(one).sum() > 30
    np.testing.assert_allclose(mod._cell_walds(cells, cohorts), one, rtol=1e-10, atol=0)
    monkeypatch.setattr(mod, "_WALD_NUMBERS", 1)  # one draw a batch (memory bound)
    np.testing.assert_allclose(mod._cell_walds(cells, cohorts), one, rtol=1e-10, atol=0)


@pytest.mark.parametrize("route", ["gather", "gemm", "compiled"])
def test_every_route_of_the_cluster_scores_gives_the_one_draw_statistics(route,
                                                                         monkeypatch):
    # the batched draws' cluster score sums come from the engine by one of three routes
    # (gathered Gram blocks, one matrix product per cluster, a compiled pass); whichever
    # the engine picks, each draw must equal the one-draw computation
    import policylab.inference.pretrend_ri as mod
    from policylab.inference.randomization import permutations

    df = _regional_panel(seed=26, unbalanced=True)
    es = pl.event_study(df, y="y", unit="unit", time="year", cohort="cohort",
                        assign="region", window=(-4, 3), controls=["x"], cluster="unit")
    cells = mod._cell_inputs(mod._inputs(es))
    cohorts = cells.cohort_g[permutations(len(cells.cohort_g), 50, 8)]
    one = np.array([mod._cell_wald(cells, c) for c in cohorts])
    assert np.isfinite(one).sum() > 25
    monkeypatch.setattr(mod, "cell_route", lambda *a: route)
    np.testing.assert_allclose(mod._cell_walds(cells, cohorts), one, rtol=1e-10, atol=0)
