"""etable across estimators: one ATT row and one row per event time whatever each
estimator calls them, a note true to ``se=`` and to each column's standard errors, and
pyfixest fits as columns."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import SpecError

MPDTA = Path(__file__).parents[1] / "validation" / "data" / "mpdta.csv"
KW = {"y": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"}


@pytest.fixture(scope="module")
def mp():
    df = pd.read_csv(MPDTA)
    df["post"] = ((df["first.treat"] > 0) & (df["year"] >= df["first.treat"])).astype(int)
    return df


@pytest.fixture(scope="module")
def fits(mp):
    cs = pl.att_gt(mp, **KW)
    return {"did": pl.did(mp, y="lemp", unit="countyreal", time="year", treat="post"),
            "simple": cs.aggregate("simple"), "dynamic": cs.aggregate("dynamic"),
            "sa": pl.sun_abraham(mp, **KW), "imp": pl.did_imputation(mp, **KW)}


def _row(table, label):
    """Numbers of the row whose first cell is ``label`` (None where a column is empty)."""
    i = [r[0] for r in table.body].index(label)
    return [c.value if c is not None else None for c in table.values[i][1:]]


def _est(result, term):
    t = result.tidy()
    return float(t.loc[t["term"] == term, "estimate"].iloc[0])


def test_one_att_row_across_estimators(fits):
    cols = [fits["did"], fits["simple"], fits["dynamic"], fits["imp"], fits["sa"]]
    t = pl.etable(cols)
    labels = [r[0] for r in t.body]
    for own in ("simple:ATT", "dynamic:ATT", "post", "rel::0", "tau::0"):
        assert own not in labels
    att = _row(t, "ATT")
    assert att[:4] == pytest.approx([_est(fits["did"], "post"), _est(fits["simple"], "simple:ATT"),
                                     _est(fits["dynamic"], "dynamic:ATT"),
                                     _est(fits["imp"], "ATT")])
    assert att[4] is None  # Sun-Abraham reports event times only
    # event time 0 on one row: CS dynamic:0, imputation tau::0, Sun-Abraham rel::0
    assert _row(t, "t+0")[2:] == pytest.approx([
        _est(fits["dynamic"], "dynamic:0"), _est(fits["imp"], "tau::0"),
        _est(fits["sa"], "rel::0")])
    # event-time rows in time order although Sun-Abraham alone has the lead -4
    events = [x for x in labels if x.startswith("t-") or x.startswith("t+")]
    assert events == ["t-4", "t-3", "t-2", "t-1", "t+0", "t+1", "t+2", "t+3"]


def test_own_names_still_select_and_align_false_keeps_them(fits):
    cols = [fits["did"], fits["simple"], fits["imp"]]
    t = pl.etable(cols, keep=["simple:ATT"])
    assert [r[0] for r in t.body][:2] == ["ATT", ""]
    assert sum(v is not None for v in _row(t, "ATT")) == 3
    raw = pl.etable(cols, align=False)
    assert {"post", "simple:ATT", "ATT"} <= {r[0] for r in raw.body}
    merged = pl.etable([fits["did"], fits["sa"]], align=False, rename={"rel::0": "post"},
                       keep=["post"])
    assert _row(merged, "post") == pytest.approx([_est(fits["did"], "post"),
                                                  _est(fits["sa"], "rel::0")])


def test_did_tables_keep_the_treatment_name(mp, fits):
    # no estimator-named ATT beside them: the treatment keeps its name and its label
    did2 = pl.did(mp, y="lemp", unit="countyreal", time="year", treat="post",
                  fe="countyreal")
    t = pl.etable([fits["did"], did2], labels={"post": "Policy"})
    assert t.body[0][0] == "Policy"
    assert "ATT" not in [r[0] for r in t.body]


@pytest.mark.parametrize("se, en, zh", [
    ("se", "Standard errors in parentheses (clustered by countyreal).",
     "注：括号内为聚类到countyreal层面的稳健标准误；"),
    ("t", "t statistics in parentheses, based on standard errors (clustered by countyreal).",
     "注：括号内为t值，基于聚类到countyreal层面的稳健标准误；"),
    ("p", "p-values in parentheses, based on standard errors (clustered by countyreal).",
     "注：括号内为p值，基于聚类到countyreal层面的稳健标准误；"),
    ("ci", "95% confidence intervals in brackets, based on standard errors (clustered by "
     "countyreal).", "注：方括号内为95%置信区间，基于聚类到countyreal层面的稳健标准误；"),
])
def test_note_follows_se_for_staggered_estimators(fits, se, en, zh):
    # CS (influence function), Sun-Abraham and imputation SEs are clustered by unit;
    # the note said "conventional" for them before
    cols = [fits["did"], fits["simple"], fits["sa"], fits["imp"]]
    assert pl.etable(cols, se=se).notes[0] == en
    assert pl.etable(cols, se=se, lang="zh").notes[0].startswith(zh)
    sub = pl.etable(cols, se=se).body[1][1]
    assert sub.startswith("[" if se == "ci" else "(")


def test_note_names_columns_with_different_standard_errors(mp, fits):
    hc = pl.feols("lemp ~ post | countyreal + year", mp, vcov="hetero")
    t = pl.etable([fits["did"], hc, fits["simple"]], se="ci")
    assert t.notes[0] == ("95% confidence intervals in brackets, based on standard errors "
                          "(clustered by countyreal in (1), (3); heteroskedasticity-robust in "
                          "(2)).")
    zh = pl.etable([fits["did"], hc], lang="zh").notes[0]
    assert zh.startswith("注：括号内为标准误（第(1)列为聚类到countyreal层面的稳健标准误；"
                         "第(2)列为异方差稳健标准误）")
    boot = pl.att_gt(mp, bootstrap=True, draws=99, seed=3, **KW).aggregate("simple")
    assert pl.etable(boot).notes[0] == ("Standard errors in parentheses (multiplier "
                                        "bootstrap, clustered by countyreal).")


def test_objects_without_a_table_are_refused_by_position(fits):
    with pytest.raises(SpecError, match=r"model \(2\) is a dict"):
        pl.etable([fits["did"], {"coef": 1.0}])


@pytest.mark.oracle
@pytest.mark.filterwarnings("ignore:The inplace keyword")  # pyfixest 0.60 on pandas 3
def test_pyfixest_fits_as_columns(mp):
    pf = pytest.importorskip("pyfixest")
    mp = mp.assign(emp=np.exp(mp["lemp"]).round())
    ols = pf.feols("lemp ~ post | countyreal + year", mp, vcov={"CRV1": "countyreal"})
    pois = pf.fepois("emp ~ post | countyreal + year", mp, vcov="hetero")
    ours = pl.feols("lemp ~ post | countyreal + year", mp, vcov={"CRV1": "countyreal"})
    t = pl.etable([ours, ols, pois], digits=6)
    post = _row(t, "post")
    assert post == pytest.approx([ours.coef()["post"], ols.coef()["post"],
                                  pois.coef()["post"]], rel=1e-12)
    se = [c.value for c in t.values[1][1:]]
    assert se == pytest.approx([ours.se()["post"], ols.se()["post"], pois.se()["post"]],
                               rel=1e-12)
    # our CRV1 agrees with pyfixest's to 1e-6 (the oracle part)
    assert post[0] == pytest.approx(post[1], rel=1e-6) and se[0] == pytest.approx(se[1],
                                                                                 rel=1e-6)
    assert _row(t, "N") == [2500, 2500, 2500]
    assert _row(t, "Clusters")[1] == 500
    assert _row(t, "R-squared")[1] == pytest.approx(float(ols._r2))
    assert t.notes[0] == ("Standard errors in parentheses (clustered by countyreal in (1), "
                          "(2); heteroskedasticity-robust in (3)).")
    multi = pf.feols("lemp ~ post | csw0(countyreal, year)", mp)
    assert pl.etable(multi).ncols == 4  # label column + three models


def test_fixed_effect_rows_use_the_columns_labels():
    # a Stata variable label (or the spec's) names the FE row, as esttab's label option
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"firm": np.repeat(np.arange(20), 8), "year": np.tile(np.arange(8), 20),
                       "region": np.repeat(np.arange(20) % 4, 8)})
    df["d"] = ((df["firm"] < 8) & (df["year"] >= 4)).astype(int)
    df["y"] = rng.normal(size=len(df)) + df["d"]
    r = pl.did(df, y="y", unit="firm", time="year", treat="d", fe="firm + year + region^year")
    rows = [b[0] for b in pl.etable(r, labels={"region^year": "Region x year"}).body]
    assert "Region x year FE" in rows and "Year FE" in rows
