"""Wild cluster bootstrap against the wildboottest package (full enumeration, so the
p-values are exact and must agree to the last digit)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.inference.wild import wild_bootstrap

HERE = Path(__file__).parent
ORACLE = json.loads((HERE / "oracles" / "wild_wildboottest.json").read_text())


@pytest.fixture(scope="module")
def model():
    df = pd.read_csv(HERE / "data" / "wild_design.csv")
    return pl.feols("y ~ d + x | u + t", df, vcov={"CRV1": "g"})


@pytest.mark.parametrize("param", ["d", "x"])
@pytest.mark.parametrize("null", [True, False])
def test_enumerated_p_values_match_wildboottest(model, param, null):
    w = wild_bootstrap(model, param=param, draws=9999, impose_null=null, ci=False)
    assert w.meta["enumerated"] and w.meta["draws"] == 2**9
    ref = ORACLE[f"{param}_{'wcr' if null else 'wcu'}"]
    assert w.p_value == pytest.approx(ref["p"], abs=1e-12)


def test_ci_inverts_the_test(model):
    w = wild_bootstrap(model, param="x", draws=9999, weights="rademacher", level=0.9)
    lo, hi = w.conf_low, w.conf_high
    assert lo < w.estimate < hi
    for bound in (lo, hi):
        # just inside the interval the test does not reject at 10%, just outside it does
        inside = wild_bootstrap(model, param="x", null=bound + np.sign(w.estimate - bound)
                                * 1e-6 * abs(bound), ci=False).p_value
        outside = wild_bootstrap(model, param="x", null=bound - np.sign(w.estimate - bound)
                                 * 1e-3 * abs(bound), ci=False).p_value
        assert inside >= 0.1 - 1e-9 and outside < 0.1 + 1 / 512


def test_webb_sampled_draws_are_seeded(model):
    a = wild_bootstrap(model, param="d", weights="webb", draws=999, seed=3, ci=False)
    b = wild_bootstrap(model, param="d", weights="webb", draws=999, seed=3, ci=False)
    assert not a.meta["enumerated"] and a.p_value == b.p_value
