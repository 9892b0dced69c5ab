"""Goodman-Bacon decomposition against diff-diff, two published examples and direct
regressions (oracle numbers from tests/validation/scripts/bacon_diffdiff.py)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import DataError

VAL = Path(__file__).parents[1] / "validation"
ORACLE = json.loads((VAL / "oracles" / "bacon.json").read_text())
TYPES = {"treated_vs_never": "treated vs never treated",
         "earlier_vs_later": "earlier vs later treated",
         "later_vs_earlier": "later vs earlier treated"}


@pytest.fixture(scope="module")
def castle():
    return pd.read_csv(VAL / "data" / "castle.csv")


def _keyed(comp):
    return {(r.type, int(r.treated), int(r.control)): (r.estimate, r.weight)
            for r in comp.itertuples()}


def test_castle_matches_diff_diff(castle):
    b = pl.bacon_decomposition(castle, y="l_homicide", unit="sid", time="year",
                               treat="post")
    ref = ORACLE["castle"]
    assert b.twfe == pytest.approx(ref["twfe"], rel=1e-10)
    got = _keyed(b.comparisons)
    assert len(got) == len(ref["comparisons"])
    for c in ref["comparisons"]:
        ctrl = 0 if c["control_group"] == "never_treated" else int(c["control_group"])
        est, w = got[(TYPES[c["comparison_type"]], int(c["treated_group"]), ctrl)]
        assert est == pytest.approx(c["estimate"], rel=1e-9, abs=1e-12)
        assert w == pytest.approx(c["weight"], rel=1e-9)


def test_castle_weighted_sum_is_the_twfe_regression(castle):
    b = pl.bacon_decomposition(castle, y="l_homicide", unit="sid", time="year",
                               cohort="effyear")
    c = b.comparisons
    twfe = pl.feols("l_homicide ~ post | sid + year", castle).coef()["post"]
    assert (c["weight"] * c["estimate"]).sum() == pytest.approx(twfe, rel=1e-10)
    assert b.twfe == pytest.approx(twfe, rel=1e-10)
    assert c["weight"].sum() == pytest.approx(1.0, rel=1e-12)
    bt = b.by_type()
    assert (bt["weight"] * bt["estimate"]).sum() == pytest.approx(twfe, rel=1e-10)


@pytest.mark.parametrize("typ", ["earlier vs later treated", "later vs earlier treated",
                                 "treated vs never treated"])
def test_each_2x2_is_the_did_regression_on_its_subsample(castle, typ):
    b = pl.bacon_decomposition(castle, y="l_homicide", unit="sid", time="year",
                               cohort="effyear")
    for row in b.comparisons[b.comparisons.type == typ].itertuples():
        sub = castle[castle.effyear.isin([row.treated, row.control])]
        if typ == "earlier vs later treated":
            sub = sub[sub.year < row.control]  # the later group before it is treated
        elif typ == "later vs earlier treated":
            sub = sub[sub.year >= row.control]  # the earlier group once already treated
        sub = sub.assign(D=((sub.effyear == row.treated) & (sub.year >= row.treated))
                         .astype(float))
        direct = pl.feols("l_homicide ~ D | sid + year", sub).coef()["D"]
        assert row.estimate == pytest.approx(direct, rel=1e-9, abs=1e-12)


def test_always_treated_is_a_type_of_its_own_and_sums_to_diff_diff():
    df = pd.read_csv(VAL / "data" / "bacon_always.csv")
    b = pl.bacon_decomposition(df, y="y", unit="unit", time="year", cohort="g")
    ref = ORACLE["always"]
    assert b.meta["n_always"] == int((df.groupby("unit").g.first().isin([1998, 2001])).sum())
    assert b.twfe == pytest.approx(ref["twfe"], rel=1e-10)
    c = b.comparisons
    assert set(c.type) == {"treated vs never treated", "treated vs always treated",
                           "earlier vs later treated", "later vs earlier treated"}
    for r in ref["comparisons"]:
        g = int(r["treated_group"])
        if r["comparison_type"] == "treated_vs_never":
            # diff-diff pools never and always treated into one untreated group
            mine = c[(c.treated == g) & (c.control <= 0)]
            w = mine.weight.sum()
            est = (mine.weight * mine.estimate).sum() / w
        else:
            ctrl = int(r["control_group"])
            mine = c[(c.treated == g) & (c.control == ctrl)]
            assert len(mine) == 1
            w, est = mine.weight.item(), mine.estimate.item()
        assert w == pytest.approx(r["weight"], rel=1e-9)
        assert est == pytest.approx(r["estimate"], rel=1e-9)
    D = ((df.g > 0) & (df.year >= df.g)).astype(float)
    twfe = pl.feols("y ~ D | unit + year", df.assign(D=D)).coef()["D"]
    assert (c.weight * c.estimate).sum() == pytest.approx(twfe, rel=1e-10)


def test_goodman_bacon_figure_2_weights():
    pub = ORACLE["goodman_bacon_2021_fig2"]
    T = pub["periods"]
    df = pd.DataFrame({"id": np.repeat([1, 2, 3], T), "t": np.tile(np.arange(1, T + 1), 3)})
    df["g"] = df.id.map({1: 0, 2: pub["early"], 3: pub["late"]})
    df["y"] = np.random.default_rng(7).normal(size=len(df))  # weights do not depend on y
    c = pl.bacon_decomposition(df, y="y", unit="id", time="t", cohort="g").comparisons
    w = {(r.treated, r.control): r.weight for r in c.itertuples()}
    e, lt = pub["early"], pub["late"]
    got = {"early_vs_never": w[(e, 0)], "late_vs_never": w[(lt, 0)],
           "early_vs_late": w[(e, lt)], "late_vs_early": w[(lt, e)]}
    for k, v in pub["weights"].items():
        assert round(got[k], 3) == v, k


def test_stata_bacondecomp_statalist_example():
    pub = ORACLE["stata_bacondecomp_statalist"]
    T = pub["periods"]
    df = pd.DataFrame({"id": np.repeat([1, 2, 3], T), "t": np.tile(np.arange(1, T + 1), 3)})
    df["D"] = (((df.id == 2) & (df.t >= pub["early"]))
               | ((df.id == 3) & (df.t >= pub["late"]))).astype(int)
    df["Y"] = df.D * df.id.map({1: 0, 2: pub["effects"]["early"], 3: pub["effects"]["late"]})
    bt = pl.bacon_decomposition(df, y="Y", unit="id", time="t", treat="D").by_type()
    for typ, (beta, weight) in pub["by_type"].items():
        # Stata prints single-precision floats
        assert bt.loc[typ, "estimate"] == pytest.approx(beta, rel=1e-7)
        assert bt.loc[typ, "weight"] == pytest.approx(weight, rel=1e-7)


def test_tidy_follows_the_protocol_and_plot_draws(castle):
    b = pl.bacon_decomposition(castle, y="l_homicide", unit="sid", time="year",
                               treat="post")
    t = b.tidy()
    assert list(t.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value",
                                   "conf_low", "conf_high"]
    assert "2007 vs never" in set(t.term)
    assert "TWFE estimate" in b.summary()
    for lang in ("en", "zh"):
        fig = b.plot(lang=lang)
        n_points = sum(len(col.get_offsets()) for col in fig.axes[0].collections)
        assert n_points == len(b.comparisons)


def test_unbalanced_or_switching_off_is_refused(castle):
    with pytest.raises(DataError, match="balanced panel"):
        pl.bacon_decomposition(castle.iloc[1:], y="l_homicide", unit="sid", time="year",
                               treat="post")
    off = castle.copy()
    off.loc[(off.effyear == 2007) & (off.year == 2010), "post"] = 0
    with pytest.raises(DataError, match="switches off"):
        pl.bacon_decomposition(off, y="l_homicide", unit="sid", time="year", treat="post")
