import numpy as np
import pytest

import policylab as pl


@pytest.mark.parametrize("drop", [0.0, 0.05])
def test_batched_regression_bootstrap_matches_loop(drop):
    p = pl.datasets.carbon_pilot(seed=4)
    df = p.df
    if drop:
        df = df.drop(index=df.sample(frac=drop, random_state=3).index)
    r = pl.did(pl.Panel(df, "province", "year"), y="ln_co2", treat="did", controls=["ln_gdp"])
    bs = pl.cluster_bootstrap(r, draws=20, seed=5)

    def stat(d):
        return pl.feols("ln_co2 ~ did + ln_gdp | _boot_cluster + year", d,
                        vcov="iid").coef().to_numpy()

    loop = pl.cluster_bootstrap(df, stat, cluster="province", draws=20, seed=5)
    ok = np.isfinite(bs.draws).all(axis=1)
    np.testing.assert_allclose(bs.draws[ok], loop.draws[ok], rtol=1e-8)
    t = bs.tidy()
    assert list(t.term) == ["did", "ln_gdp"] and (t.conf_low < t.conf_high).all()
