"""The reported constant of a fixed-effects model (Stata's ``_cons``) against Stata 13's
own ``xtreg, fe`` output (conventional, robust, clustered; unweighted and aweighted;
complete data and two copies with missing values that leave singleton firms), shipped
with linearmodels' tests, and against linearmodels' PanelOLS for two-way effects.
Numbers from tests/validation/scripts/constant_stata_xtreg.py; 1e-6 relative (Stata
printed e(V) to 12 significant digits)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policylab.estimators.feols import feols

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "constant_stata_xtreg.json").read_text())["models"]
STATA = sorted(k for k in ORACLE if k.startswith("fixed_effect-"))
VCOV = {"conventional": "iid", "robust": {"CRV1": "firm"}, "cluster": {"CRV1": "firm"}}

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    # the columns of linearmodels' tests/panel/results/simulated-panel.dta that the
    # models use, written losslessly (%.17g) so CI needs no linearmodels
    return pd.read_csv(HERE / "data" / "xtreg_simulated_panel.csv.gz", parse_dates=["time"])


def _formula(end: str, fe: str = "firm") -> str:
    return f"y{end} ~ " + " + ".join(f"x{i}{end}" for i in range(1, 6)) + f" | {fe}"


@pytest.mark.parametrize("name", STATA)
def test_constant_matches_stata_xtreg_fe(panel, name):
    ref = ORACLE[name]
    _, kind, weighted, end = name.split("-")
    r = feols(_formula(end), panel, vcov=VCOV[kind], weights="w" if weighted else None,
              drop_singletons=False)  # xtreg keeps singleton firms
    assert r.nobs == ref["N"]
    c = r.constant()
    assert list(c["term"]) == ["_cons"]
    np.testing.assert_allclose(c["estimate"].item(), ref["b"]["_cons"], rtol=1e-6)
    np.testing.assert_allclose(c["std_error"].item(), ref["se"]["_cons"], rtol=1e-6)
    # the slopes' SEs from the same e(V): the constant shares their variance
    se = r.se()
    np.testing.assert_allclose([se[t] for t in se.index], [ref["se"][t] for t in se.index],
                               rtol=1e-6)
    # t and p use the model's own degrees of freedom
    assert c["statistic"].item() == pytest.approx(c["estimate"].item() / c["std_error"].item())


@pytest.mark.parametrize("end", ["", "_heavy"])
def test_twoway_constant_matches_linearmodels(panel, end):
    ref = ORACLE["twoway"][end or "full"]
    xs = [f"x{i}{end}" for i in range(1, 6)]
    r = feols(_formula(end, "firm + time"), panel, vcov={"CRV1": "firm"},
              drop_singletons=False)
    c = r.constant()
    np.testing.assert_allclose(c["estimate"].item(), ref["b"]["const"], rtol=1e-6)
    # linearmodels counts every firm effect in K: one dof factor apart from Stata's
    # convention, the same for the constant as for the slopes
    ratio = np.array([ref["se"][x] / r.se()[x] for x in xs])
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)
    np.testing.assert_allclose(ref["se"]["const"] / c["std_error"].item(), ratio[0], rtol=1e-6)
