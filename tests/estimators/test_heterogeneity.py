import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.datasets import energy_rights_pilot


@pytest.fixture(scope="module")
def panel():
    p = energy_rights_pilot(seed=4)
    return pl.Panel(p.df[p.df.year >= 2012], unit="city", time="year")


def test_subgroups_and_suest_equal_separate_regressions(panel):
    r = pl.heterogeneity(panel, y="ln_ntt", treat="did", by=["old_industrial"],
                         controls=["ln_pgdp"], assign="province", permutation_draws=0)
    est = r.tidy().set_index("group")["estimate"]
    for lv in (0, 1):
        sub = panel.df[panel.df.old_industrial == lv]
        m = pl.feols("ln_ntt ~ did + ln_pgdp | city + year", sub, vcov={"CRV1": "province"})
        assert est[lv] == pytest.approx(m.coef()["did"], rel=1e-10)
    suest = r.tests.set_index("test").loc["suest"]
    assert suest["difference"] == pytest.approx(est[1] - est[0], rel=1e-9)
    # the interaction test is the Wald test of the D x group term in one pooled model
    d = panel.df.assign(dx=panel.df.did * panel.df.old_industrial)
    pooled = pl.feols("ln_ntt ~ did + dx + ln_pgdp | city + year", d, vcov={"CRV1": "province"})
    inter = r.tests.set_index("test").loc["interaction"]
    assert inter["p_value"] == pytest.approx(pooled.pvalue()["dx"], rel=1e-8)


def test_permutation_matches_brute_force_loop(panel):
    reps, seed = 30, 2
    r = pl.heterogeneity(panel, y="ln_ntt", treat="did", by=["old_industrial"],
                         controls=["ln_pgdp"], assign="province", permutation_draws=reps, seed=seed)
    perm = r.tests.set_index("test").loc["permutation"]
    df = panel.df
    units = pd.Index(df["city"].unique())
    grp = df.groupby("city")["old_industrial"].first().reindex(units).to_numpy()
    rng = np.random.default_rng(seed)
    real = perm["difference"]
    count = 0
    for _ in range(reps):
        lab = dict(zip(units, rng.permutation(grp)))
        d = df.assign(fake=df["city"].map(lab))
        b = [pl.feols("ln_ntt ~ did + ln_pgdp | city + year", d[d.fake == j],
                      vcov="iid").coef()["did"] for j in (0, 1)]
        count += abs(b[1] - b[0]) >= abs(real) * (1 - 1e-10)
    assert perm["p_value"] == pytest.approx((1 + count) / (1 + reps))


def test_moderation_marginal_effect(panel):
    r = pl.moderation(panel, y="ln_ntt", moderator="market", treat="did", assign="province")
    inter = r.meta["interaction_term"]
    mid = r.marginal.iloc[len(r.marginal) // 2]
    want = r.coef()["did"] + r.coef()[inter] * (mid["moderator"] - r.meta["moderator_mean"])
    assert mid["effect"] == pytest.approx(want, rel=1e-12)
    assert r.plot() is not None
