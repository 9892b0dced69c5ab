import warnings

import numpy as np
import pandas as pd
import pytest

from policylab.data.datasets import carbon_pilot, energy_rights_pilot
from policylab.data.reference import cities
from policylab.data.rosters import roster, roster_treatment
from policylab.errors import DataError, PolicyLabWarning, SpecError


def test_bundled_rosters_match_the_published_tables():
    r = roster("carbon_trading").set_index("unit")
    assert set(r.index[r.level == "province"]) == {
        "Beijing", "Tianjin", "Shanghai", "Chongqing", "Hubei", "Guangdong"}
    assert r.loc["Shenzhen", "province"] == "Guangdong"
    # carbon-trading study, Table 1: market opening dates and initial covered firms
    assert str(r.loc["Chongqing", "market_opening"].date()) == "2014-06-19"
    assert str(r.loc["Beijing", "market_opening"].date()) == "2013-11-28"
    assert r.loc[["Beijing", "Tianjin", "Shanghai", "Chongqing", "Hubei", "Guangdong"],
                 "initial_covered_firms"].tolist() == [415, 114, 191, 252, 153, 184]
    assert (r["announcement"].dt.year == 2011).all()
    e = roster("energy_rights")
    assert sorted(e["unit"]) == ["Fujian", "Henan", "Sichuan", "Zhejiang"]
    assert (e["market_opening"].dt.year == 2017).all()
    with pytest.raises(SpecError, match="unknown roster"):
        roster("sulphur")


def _province_panel(names):
    return pd.DataFrame({"prov": np.repeat(names, 3), "year": np.tile([2012, 2013, 2014],
                                                                      len(names))})


def test_province_panel_announcement_vs_opening_and_chinese_names():
    df = _province_panel(["北京", "重庆市", "Hebei"])
    ann = roster_treatment(df, "carbon_trading", unit="prov", time="year", prefix="c")
    assert ann["c_cohort"].tolist() == [2011] * 6 + [0] * 3
    assert ann["c_did"].tolist() == [1] * 6 + [0] * 3
    with pytest.warns(PolicyLabWarning, match="do not appear"):
        opening = roster_treatment(df, "carbon_trading", unit="prov", time="year",
                                   date="market_opening", prefix="c")
    # Beijing opened 2013-11-28, Chongqing 2014-06-19
    assert opening["c_cohort"].tolist() == [2013] * 3 + [2014] * 3 + [0] * 3
    assert opening["c_did"].tolist() == [0, 1, 1, 0, 0, 1, 0, 0, 0]
    with pytest.warns(PolicyLabWarning):
        full = roster_treatment(df, "carbon_trading", unit="prov", time="year",
                                date="market_opening", first_full_year=True, prefix="c")
    assert full["c_cohort"].tolist() == [2014] * 3 + [2015] * 3 + [0] * 3
    assert df.columns.tolist() == ["prov", "year"]  # input untouched


def test_city_panel_through_province_membership_with_shenzhen_own_date():
    c = cities()
    c = c[c.province.isin(["Guangdong", "Henan"])]
    df = pd.DataFrame({"city": np.repeat(c["name_zh"].to_numpy(), 2),
                       "province": np.repeat(c["province"].to_numpy(), 2),
                       "year": np.tile([2013, 2014], len(c))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolicyLabWarning)
        out = roster_treatment(df, "carbon_trading", unit="city", time="year",
                               member_of="province", date="market_opening",
                               first_full_year=True)
    cohort = dict(zip(df["city"], out["carbon_trading_cohort"]))
    # Guangdong opened 2013-12-19 -> 2014; Shenzhen its own market 2013-06-18 -> 2014
    assert cohort["广州市"] == 2014 and cohort["深圳市"] == 2014
    assert cohort["郑州市"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolicyLabWarning)
        own = roster_treatment(df, "carbon_trading", unit="city", time="year",
                               member_of="province", date="market_opening")
    assert dict(zip(df["city"], own["carbon_trading_cohort"]))["深圳市"] == 2013
    assert dict(zip(df["city"], own["carbon_trading_cohort"]))["广州市"] == 2013


def test_generators_agree_with_rosters():
    p = energy_rights_pilot()
    cols = roster_treatment(p, "energy_rights", unit="city", time="year", member_of="province",
                            date="market_opening")
    np.testing.assert_array_equal(cols["energy_rights_did"], p.df["did"])
    c = carbon_pilot()
    ann = roster_treatment(c, "carbon_trading", unit="province", time="year")
    np.testing.assert_array_equal(ann["carbon_trading_did"], c.df["did"])
    opening = roster_treatment(c, "carbon_trading", unit="province", time="year",
                               date="market_opening")
    s = carbon_pilot(staggered=True)
    np.testing.assert_array_equal(opening["carbon_trading_cohort"], s.df["cohort"])


def test_errors_name_the_problem():
    df = _province_panel(["Atlantis"])
    with pytest.raises(DataError, match="no value of 'prov' matches"):
        roster_treatment(df, "energy_rights", unit="prov", time="year")
    with pytest.raises(SpecError, match="date='opening'"):
        roster_treatment(df, "energy_rights", unit="prov", time="year", date="opening")
    own = pd.DataFrame({"unit": ["Atlantis"], "announcement": [pd.NaT]})
    with pytest.raises(DataError, match="no announcement date"):
        roster_treatment(df, own, unit="prov", time="year")
