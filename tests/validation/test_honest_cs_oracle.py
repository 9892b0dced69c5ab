"""honest_did on a Callaway-Sant'Anna event study (HonestDiD's staggered example on
mpdta): the event-time estimates and covariance our dynamic aggregation hands to
honest_did equal moderndid's (did's aggte influence functions), and the smoothness and
relative-magnitudes intervals equal moderndid's port of HonestDiD.
Oracle: tests/validation/scripts/honest_did_cs_moderndid.py."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.errors import SpecError
from policylab.inference.pretrends import cs_event_study_inputs

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "honest_did_cs_moderndid.json").read_text())

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(HERE / "data" / "mpdta.csv")


@pytest.fixture(scope="module")
def es(mpdta):
    r = pl.att_gt(mpdta, y="lemp", unit="countyreal", time="year", cohort="first.treat",
                  base_period="universal", method="reg")
    return r.aggregate("dynamic")


def test_inputs_are_the_aggregations_estimates_and_covariance(es):
    beta, sigma, e, ref = cs_event_study_inputs(es)
    # event time -1 is the universal base period: no cell, the reference
    assert ref == -1 and e.tolist() == ORACLE["event_times"]
    np.testing.assert_allclose(beta, ORACLE["att"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sigma, ORACLE["sigma"], rtol=1e-8, atol=1e-14)
    # and they are the aggregation's own rows (the overall ATT in row 0 left out)
    np.testing.assert_array_equal(beta, es.beta[1:])
    np.testing.assert_array_equal(sigma, es.vcov_matrix[1:, 1:])
    assert es.beta[0] == pytest.approx(ORACLE["overall_att"], rel=1e-8)


def test_honest_did_on_the_aggregation_is_honest_did_on_its_arrays(es):
    a = pl.honest_did(es, e=1, M=[0.01], Mbar=[0.5], rm_method="Bonferroni")
    b = pl.honest_did(betahat=es.beta[1:], sigma=es.vcov_matrix[1:, 1:],
                      rel_times=es.meta["by_values"][1:], e=1, M=[0.01], Mbar=[0.5],
                      rm_method="Bonferroni")
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    # "average" is the dynamic aggregation's overall ATT (R did's overall.att)
    avg = pl.honest_did(es, l_vec="average", M=[0.0], Mbar=[0.0], rm_method="Bonferroni")
    assert avg.original[0] == pytest.approx(es.beta[0], rel=1e-12)


def test_smoothness_flci_matches_moderndid(es):
    h = pl.honest_did(es, e=0, M=ORACLE["sd"]["m"], Mbar=[1.0], rm_method="Bonferroni")
    np.testing.assert_allclose(h.original[1:], ORACLE["original_ci"], rtol=1e-8)
    sd = h.tidy().query("restriction == 'smoothness'")
    ends = sd[["conf_low", "conf_high"]].to_numpy()
    ref = np.column_stack([ORACLE["sd"]["lb"], ORACLE["sd"]["ub"]])
    # as on the ehec example (test_honest_oracle): the end points agree to the solvers'
    # tolerance for M > 0; at M = 0 moderndid's cvxpy flags its solution as inaccurate,
    # the lengths agree and the location to 1e-4
    np.testing.assert_allclose(ends[1:], ref[1:], rtol=0, atol=5e-8)
    np.testing.assert_allclose(np.diff(ends[0]), np.diff(ref[0]), rtol=0, atol=1e-7)
    np.testing.assert_allclose(ends[0], ref[0], rtol=0, atol=1e-4)


def test_varying_base_period_warns_and_power_refuses(mpdta):
    r = pl.att_gt(mpdta, y="lemp", unit="countyreal", time="year", cohort="first.treat")
    dyn = r.aggregate("dynamic")
    with pytest.warns(pl.errors.PolicyLabWarning, match="universal"):
        h = pl.honest_did(dyn, e=0, M=[0.01], Mbar=[0.5], rm_method="Bonferroni")
    # event time -1 (a short difference under the varying base) is dropped, as HonestDiD
    assert h.original[0] == pytest.approx(dyn.beta[list(dyn.meta["by_values"]).index(0)])
    with pytest.raises(SpecError, match="universal"):
        pl.pretrend_power(dyn)
    with pytest.raises(SpecError, match="dynamic"):
        pl.honest_did(r.aggregate("simple"))


def test_relative_magnitudes_clf_matches_moderndid(es):
    h = pl.honest_did(es, e=0, M=[0.01], Mbar=ORACLE["rm"]["mbar"])
    rm = h.tidy().query("restriction == 'relative magnitudes'")
    lo, hi = rm.conf_low.to_numpy(), rm.conf_high.to_numpy()
    # same grid (identified set +- 20 SE, 1000 points) and simulation seed: the upper
    # ends are the same grid points
    np.testing.assert_allclose(hi, ORACLE["rm"]["ub"], rtol=0, atol=1e-12)
    # moderndid lets the largest pre-period change sit anywhere but at the earliest
    # difference (-4 to -3); HonestDiD (and we) take the union over all of them. On
    # mpdta that difference (0.022) is nearly the largest (0.024), so the union here is
    # wider, by 2-3 grid steps at the lower end (dropping that location from our union
    # reproduces moderndid's ends exactly; checked when the oracle was stored)
    assert np.all(lo <= np.asarray(ORACLE["rm"]["lb"]) + 1e-12)
    assert np.all(lo >= np.asarray(ORACLE["rm"]["lb"]) - 0.002)


def test_pretrend_power_on_a_cs_event_study(es):
    pw = pl.pretrend_power(es).tidy()
    assert list(pw["power"]) == [0.5, 0.8]
    assert 0 < pw["slope"].iloc[0] < pw["slope"].iloc[1]
    # the implied bias at event time e is the slope times the distance to the reference
    assert pw["bias_post_2"].iloc[0] == pytest.approx(3 * pw["slope"].iloc[0], rel=1e-12)
