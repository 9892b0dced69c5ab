"""One meaning per word (issue 15): the bootstrap weight distribution is ``weights_type``
everywhere (wild bootstrap, att_gt, the study's [battery.wild_bootstrap]); the old names
still work for one release with a PolicyLabDeprecationWarning naming the new one.
``mediation(lang=)`` is a deprecated no-op: its notes are keyed messages."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from policylab.data.datasets import carbon_pilot
from policylab.errors import PolicyLabDeprecationWarning, SpecError
from policylab.messages import message_key
from policylab.report.labels import message_text
from policylab.study.spec import parse_spec_text

VAL = Path(__file__).resolve().parent / "validation"
KW = dict(y="lemp", unit="countyreal", time="year", cohort="first.treat")


@pytest.fixture(scope="module")
def mpdta():
    d = pd.read_csv(VAL / "data" / "mpdta.csv")
    return d[d.countyreal < d.countyreal.quantile(0.4)]


@contextlib.contextmanager
def _no_deprecation():
    """Any deprecation warning inside fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PolicyLabDeprecationWarning)
        yield


def test_att_gt_bootstrap_weights_is_the_old_name_of_weights_type(mpdta):
    with pytest.warns(PolicyLabDeprecationWarning, match=r"weights_type='rademacher'"):
        old = pl.att_gt(mpdta, **KW, bootstrap=True, draws=199, seed=1,
                        bootstrap_weights="rademacher")
    with _no_deprecation():
        new = pl.att_gt(mpdta, **KW, bootstrap=True, draws=199, seed=1,
                        weights_type="rademacher")
        mammen = pl.att_gt(mpdta, **KW, bootstrap=True, draws=199, seed=1)
        agg = new.aggregate("simple", weights_type="mammen")
    pd.testing.assert_frame_equal(old.tidy(), new.tidy())
    assert new.meta["weights_type"] == "rademacher" and mammen.meta["weights_type"] == "mammen"
    assert not np.allclose(new.cells["std_error"], mammen.cells["std_error"])
    # the aggregation and the bootstrap pre-test take the same word, and the old one
    with pytest.warns(PolicyLabDeprecationWarning, match="weights_type"):
        agg_old = new.aggregate("simple", bootstrap_weights="mammen")
    pd.testing.assert_frame_equal(agg.tidy(), agg_old.tidy())
    assert agg.meta["weights_type"] == "mammen"
    with pytest.warns(PolicyLabDeprecationWarning, match="weights_type"):
        p_old = new.pretest_bootstrap(bootstrap_weights="mammen")
    assert p_old == new.pretest_bootstrap(weights_type="mammen")


def test_att_gt_refuses_both_names(mpdta):
    with pytest.raises(SpecError, match="weights_type= only"):
        pl.att_gt(mpdta, **KW, weights_type="mammen", bootstrap_weights="mammen")


SPEC = """
[data]
path = "x.csv"
unit = "province"
time = "year"

[treatment]
column = "did"

[model]
outcomes = ["y"]

[battery.wild_bootstrap]
draws = 999
{key} = "rademacher"
"""


def test_spec_wild_bootstrap_weights_is_the_old_key_of_weights_type():
    with pytest.warns(PolicyLabDeprecationWarning,
                      match=r"battery\.wild_bootstrap\.weights is deprecated.*weights_type"):
        old = parse_spec_text(SPEC.format(key="weights"))
    with _no_deprecation():
        new = parse_spec_text(SPEC.format(key="weights_type"))
    assert old.battery.wild_bootstrap.weights_type == "rademacher"
    assert new.battery.wild_bootstrap == old.battery.wild_bootstrap
    # the default is unchanged
    assert parse_spec_text(SPEC.replace('{key} = "rademacher"\n', "")
                           ).battery.wild_bootstrap.weights_type == "webb"


def test_spec_refuses_both_keys():
    both = SPEC.format(key="weights") + 'weights_type = "webb"\n'
    with pytest.raises(Exception, match="weights_type only"):
        parse_spec_text(both)


def test_mediation_lang_is_a_deprecated_no_op():
    p = carbon_pilot(seed=3)
    small = pl.Panel(p.df[p.df.year >= 2004], unit="province", time="year")
    kw = dict(y="ln_co2", treat="did", mediators=["coal_share"], controls=["ln_gdp"],
              draws=0)
    with pytest.warns(PolicyLabDeprecationWarning, match="lang"):
        old = pl.mediation(small, lang="zh", **kw)
    with _no_deprecation():
        new = pl.mediation(small, **kw)
    # the same notes whatever lang said: English for the Python user, keyed for the report
    assert old.notes == new.notes
    assert message_key(new.notes[-1]) == "mediation.critique"
    assert "descriptive" in new.notes[-1]
    assert message_text(new.notes[-1], "zh").startswith("逐步法中介效应仅具描述意义")


def test_did2s_vcov_is_the_old_name_of_variance(mpdta):
    # vcov is the variance spec everywhere else ("hetero", {"CRV1": col}); did2s's choice
    # of variance estimator is variance=
    with pytest.warns(PolicyLabDeprecationWarning, match=r"did2s\(\.\.\., variance='bjs'\)"):
        old = pl.did2s(mpdta, **KW, vcov="bjs")
    with _no_deprecation():
        bjs = pl.did2s(mpdta, **KW, variance="bjs")
        gardner = pl.did2s(mpdta, **KW)
        imputation = pl.did_imputation(mpdta, **KW)
    pd.testing.assert_frame_equal(old.tidy(), bjs.tidy())
    assert bjs.meta["variance"] == "bjs" and gardner.meta["variance"] == "gardner"
    # the BJS variance is the imputation estimator's; Gardner's GMM variance differs
    assert bjs.se()["ATT"] == pytest.approx(imputation.se()["ATT"], rel=1e-12)
    assert gardner.se()["ATT"] != pytest.approx(bjs.se()["ATT"], rel=1e-6)
    assert gardner.coef()["ATT"] == pytest.approx(bjs.coef()["ATT"], rel=1e-12)
    with pytest.raises(SpecError, match="variance= only"):
        pl.did2s(mpdta, **KW, variance="bjs", vcov="bjs")
    with pytest.raises(SpecError, match="variance must be 'gardner' or 'bjs'"):
        pl.did2s(mpdta, **KW, variance={"CRV1": "countyreal"})


def _clustered_fit():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(12), 20)
    x = rng.normal(size=g.size) + 0.3 * rng.normal(size=12)[g]
    d = pd.DataFrame({"g": g, "x1": x, "x2": rng.normal(size=g.size)})
    d["y"] = 0.2 * d.x1 + rng.normal(size=12)[g] + rng.normal(size=g.size)
    return pl.feols("y ~ x1 + x2", d, vcov={"CRV1": "g"})


def test_wild_results_name_the_bootstrap_distribution_weights_type():
    # meta["weights"] is the observation weights everywhere else: a wild bootstrap result
    # says weights_type; its old key still reads for one release, with a warning
    from policylab.inference.joint_wild import joint_wild_test
    from policylab.inference.wild import wild_bootstrap

    r = _clustered_fit()
    with _no_deprecation():
        w = wild_bootstrap(r, param="x1", weights_type="mammen", draws=99, seed=1, ci=False)
        j = joint_wild_test(r, ["x1", "x2"], weights_type="rademacher", draws=99, seed=1)
        wt, jt = w.tidy(), j.tidy()
    assert w.meta["weights_type"] == "mammen" and wt["weights_type"].tolist() == ["mammen"]
    assert j.meta["weights_type"] == "rademacher"
    assert jt["weights_type"].iloc[0] == "rademacher" and pd.isna(jt["weights_type"].iloc[1])
    assert "weights" not in wt.columns and "weights" not in jt.columns
    # the old key is not stored (results.json never shows it) but still reads
    assert "weights" not in w.meta and "weights" not in dict(j.meta)
    for res, kind in ((w, "mammen"), (j, "rademacher")):
        with pytest.warns(PolicyLabDeprecationWarning, match=r"meta\['weights_type'\]"):
            assert res.meta["weights"] == kind
        with pytest.warns(PolicyLabDeprecationWarning, match="weights_type"):
            assert res.meta.get("weights") == kind
    # a copy (processes, deepcopy) keeps the alias
    import copy
    import pickle

    for clone in (pickle.loads(pickle.dumps(w)).meta, copy.deepcopy(w.meta)):
        with pytest.warns(PolicyLabDeprecationWarning):
            assert clone["weights"] == "mammen"
