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
              bootstrap=0)
    with pytest.warns(PolicyLabDeprecationWarning, match="lang"):
        old = pl.mediation(small, lang="zh", **kw)
    with _no_deprecation():
        new = pl.mediation(small, **kw)
    # the same notes whatever lang said: English for the Python user, keyed for the report
    assert old.notes == new.notes
    assert message_key(new.notes[-1]) == "mediation.critique"
    assert "descriptive" in new.notes[-1]
    assert message_text(new.notes[-1], "zh").startswith("逐步法中介效应仅具描述意义")
