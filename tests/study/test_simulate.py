"""pl.simulate: Monte Carlo coverage of a study's own design."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.study.simulate import simulate


def _panel(seed: int = 0, units: int = 24, years: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    df["did"] = ((df["unit"] < 8) & (df["year"] >= 2004)).astype(int)
    df["x"] = rng.normal(size=len(df))
    df["y"] = 0.5 * df["x"] + 0.2 * df["did"] + 0.1 * df["unit"] + rng.normal(size=len(df))
    return df


def test_design_based_replications_recover_the_truth_and_are_reproducible():
    df = _panel()
    kw = dict(y="y", unit="unit", time="year", treat="did", controls=["x"], cluster="unit",
              truth=0.3, simulation_draws=40, draws=49, methods=("crv1",), progress=False, seed=7)
    a = simulate(df, **kw)
    b = simulate(df, **kw)
    pd.testing.assert_frame_equal(a.records, b.records)
    t = a.tidy().set_index("method")
    # the estimand is the truth by construction: |bias| within 4 Monte Carlo SEs
    assert abs(t.loc["crv1", "bias"]) < 4 * t.loc["crv1", "rmse"] / np.sqrt(40)
    assert a.meta["errors"] == "permute_units"
    assert len(a.records) == 40 and a.records["rep"].tolist() == list(range(40))


def test_every_method_and_the_pretrend_tests_are_recorded():
    res = simulate(_panel(1), y="y", unit="unit", time="year", treat="did", cluster="unit",
                   simulation_draws=3, draws=19, pretrend_window=(-3, 2), progress=False)
    t = res.tidy()
    assert set(zip(t["target"], t["method"])) == {
        ("effect", "crv1"), ("effect", "wild"), ("effect", "ri"),
        ("pretrend", "wald"), ("pretrend", "wild"), ("pretrend", "ri")}
    assert res.records[["wild_p", "ri_p", "pretrend_ri_p"]].notna().all().all()


def test_generator_mode_needs_the_truth():
    with pytest.raises(pl.SpecError, match="truth="):
        simulate(lambda s: _panel(s), y="y", unit="unit", time="year", treat="did",
                 simulation_draws=2)


def test_generator_mode_runs_the_generator_once_per_replication():
    seen = []

    def dgp(seed: int) -> pd.DataFrame:
        seen.append(seed)
        return _panel(seed)

    res = simulate(dgp, y="y", unit="unit", time="year", treat="did", truth=0.2, simulation_draws=4,
                   methods=("crv1",), progress=False)
    assert len(set(seen)) == 4 and res.meta["errors"] == "generator"


def test_bad_arguments_are_clear_errors():
    df = _panel()
    with pytest.raises(pl.SpecError, match="methods"):
        simulate(df, y="y", unit="unit", time="year", treat="did", methods=("bayes",))
    with pytest.raises(pl.SpecError, match="simulation_draws"):
        simulate(df, y="y", unit="unit", time="year", treat="did", simulation_draws=0)
    with pytest.raises(pl.SpecError, match="balanced"):
        simulate(df.iloc[1:], y="y", unit="unit", time="year", treat="did",
                 errors="permute_units", simulation_draws=2)


def test_a_design_carries_weights_extra_fe_cluster_and_sample_into_every_replication():
    from policylab.estimators.design import build_design

    df = _panel(2, units=30)
    df["region"] = df["unit"] % 3
    df["w"] = 1.0 + (df["unit"] % 4)
    keep = df["year"] >= 2001
    model = dict(treat="did", controls=["x"], fe="unit + region^year", cluster="region",
                 weights="w")
    design = build_design(df, unit="unit", time="year", sample=keep.to_numpy(), **model)
    kw = dict(y="y", truth=0.2, simulation_draws=6, methods=("crv1", "ri"), draws=19, seed=3,
              progress=False, pretrend_window=(-2, 2))
    a = simulate(design, **kw)
    # the same model spelled as keywords on the same rows: the same replications
    b = simulate(df[keep].reset_index(drop=True), unit="unit", time="year", **model, **kw)
    pd.testing.assert_frame_equal(a.records, b.records)
    # and not the plain two-way model the replications fell back to before
    c = simulate(df[keep].reset_index(drop=True), unit="unit", time="year", treat="did",
                 controls=["x"], **kw)
    assert not np.allclose(a.records["std_error"], c.records["std_error"])


def test_a_generator_may_return_a_design():
    from policylab.estimators.design import build_design

    def dgp(seed: int):
        df = _panel(seed)
        return build_design(df.assign(w=1.0 + (df["unit"] % 2)), unit="unit", time="year",
                            treat="did", weights="w")

    res = simulate(dgp, y="y", truth=0.2, simulation_draws=2, methods=("crv1",), progress=False)
    # the weighted fit of each generated design (before, the Design became its bare df)
    for r in res.records.itertuples():
        fit = pl.did(dgp(r.seed), y="y")
        assert r.estimate == pytest.approx(fit.coef()["did"], rel=1e-12)


def test_a_generator_may_return_each_replications_truth():
    def dgp(seed: int):
        df = _panel(seed)
        tau = 0.1 * (seed % 5)
        return df.assign(y=df["y"] + tau * df["did"]), 0.2 + tau

    res = simulate(dgp, y="y", unit="unit", time="year", treat="did", simulation_draws=6,
                   methods=("crv1",), progress=False, seed=4)
    r = res.records
    assert np.allclose(r["truth"], 0.2 + 0.1 * (r["seed"] % 5))
    assert r["truth"].nunique() > 1
    # bias is measured against each replication's own truth
    assert res.tidy()["bias"].iloc[0] == pytest.approx((r["estimate"] - r["truth"]).mean())
