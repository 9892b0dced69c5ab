"""did(): the fields other estimators read, higher-level assignment, several outcomes."""

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import DataError
from policylab.estimators.result import ResultList


def _cities(seed=0):
    """Cities inside provinces; provinces 0-3 adopt in 2010 (treatment assigned by
    province), effect 0.3."""
    rng = np.random.default_rng(seed)
    n, years = 60, np.arange(2005, 2015)
    df = pd.DataFrame({"city": np.repeat(np.arange(n), len(years)),
                       "year": np.tile(years, n)})
    df["prov"] = df.city // 5
    df["pilot"] = (df.prov < 4).astype(int)
    df["d"] = ((df.pilot == 1) & (df.year >= 2010)).astype(int)
    df["x"] = rng.normal(size=len(df))
    df["y"] = rng.normal(size=n)[df.city] + 0.3 * df.d + 0.2 * df.x + rng.normal(size=len(df))
    df["y2"] = df.y * 2 + 1
    return df


def test_contract_fields_for_downstream_estimators():
    df = _cities()
    r = pl.did(df, y="y", treat="d", unit="city", time="year", controls=["x"], assign="prov")
    assert r.meta["treat_term"] == "d" and r.att == r.coef()["d"]
    assert (r.meta["unit"], r.meta["time"], r.meta["assign"]) == ("city", "year", "prov")
    assert r.meta["controls"] == ["x"] and r.meta["cohort_col"] == "_cohort"
    assert r.meta["vcov_label"] == "CRV1 clustered by prov"
    assert "SE CRV1 clustered by prov" in r.summary()
    assert r.meta["design"]["n_treated_groups"] == 4
    assert any("only 4 treated prov clusters" in w for w in r.warnings)
    used = r.fit.data
    assert {"d", "_cohort"} <= set(used.columns)
    assert set(used.loc[used.pilot == 1, "_cohort"]) == {2010}
    assert "_cohort" not in df.columns  # the input is not modified


def test_cohort_input_builds_the_treatment_and_equals_the_0_1_column():
    df = _cities()
    df["g"] = np.where(df.pilot == 1, 2010, 0)
    a = pl.did(df, y="y", cohort="g", unit="city", time="year", assign="prov")
    b = pl.did(df, y="y", treat="d", unit="city", time="year", assign="prov")
    assert a.att == pytest.approx(b.att, rel=1e-12)
    assert a.se()[a.meta["treat_term"]] == pytest.approx(b.se()["d"], rel=1e-12)


def test_several_outcomes_return_a_result_list():
    df = _cities()
    rs = pl.did(df, y=["y", "y2"], treat="d", unit="city", time="year")
    assert isinstance(rs, ResultList) and len(rs) == 2
    assert rs[1].att == pytest.approx(2 * rs[0].att, rel=1e-10)
    assert rs[0].meta["vcov_label"] == "CRV1 clustered by city"
    assert set(rs.tidy()["model"]) == {"y", "y2"}


def test_assignment_level_must_contain_the_unit():
    df = _cities()
    df.loc[(df.city == 3) & (df.year == 2014), "prov"] = 7
    with pytest.raises(DataError, match="assign='prov' must be constant within each 'city'"):
        pl.did(df, y="y", treat="d", unit="city", time="year", assign="prov")


def test_explicit_vcov_and_cluster_conflict():
    from policylab.errors import SpecError

    df = _cities()
    r = pl.did(df, y="y", treat="d", unit="city", time="year", vcov="hetero")
    assert r.meta["vcov"] == "hetero"
    with pytest.raises(SpecError, match="either cluster= or vcov="):
        pl.did(df, y="y", treat="d", unit="city", time="year", vcov="hetero", cluster="prov")
