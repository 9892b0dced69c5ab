"""The PSM-DID step on a castle-shaped panel (population weights, region-by-year fixed
effects, a non-default cluster): it runs the design the spec gives, its DID is the API's
weighted psm_did, and the report's PSM table says the sampling weights were used."""

import json

import numpy as np
import pandas as pd
import pytest

import policylab as pl
from conftest import castle_like
from policylab.study.pipeline import run_study
from policylab.study.steps import _ORDER

_KEEP = {"overview", "baseline", "psm_did", "samples"}
COVS = ["income", "unemployrt", "poverty"]


def _spec(language: str) -> str:
    off = "\n".join(f"[battery.{k}]\nenabled = false\n" for k in _ORDER if k not in _KEEP)
    return f"""
[data]
path = "castle.csv"
unit = "sid"
time = "year"

[treatment]
column = "post"

[model]
outcomes = ["l_homicide"]
controls = ["police"]
fe = ["sid", "year", "region^year"]
cluster = "region"
weights = "population"

{off}
[battery.psm_did]
covariates = {json.dumps(COVS)}
method = "nearest"

[output]
formats = ["md"]
language = "{language}"
"""


@pytest.fixture(scope="module")
def castle():
    return castle_like(4)


@pytest.mark.parametrize("language,words,rubin", [
    ("en", "Sampling weights population", "Rubin's B = "),
    ("zh", "抽样权重population", "Rubin's B：")])
def test_castle_psm_did_runs_weighted_and_says_so(tmp_path, castle, language, words, rubin):
    castle.to_csv(tmp_path / "castle.csv", index=False)
    (tmp_path / "s.toml").write_text(_spec(language))
    summary = run_study(tmp_path / "s.toml", tmp_path / "out", progress=False)
    rec = json.loads((summary.out_dir / "results.json").read_text())["psm_did"]
    assert rec["status"] in ("ok", "warned"), rec["error"]
    used = rec["numbers"]["design"]
    assert (used["weights"], used["fe"], used["cluster"], used["controls"]) == (
        "population", ["sid", "year", "region^year"], "region", ["police"])
    got = pd.DataFrame(rec["results"]["l_homicide"]["tidy"]).set_index("term")
    api = pl.psm_did(castle, y="l_homicide", covariates=COVS, treat="post", unit="sid",
                     time="year", controls=["police"], fe=["sid", "year", "region^year"],
                     cluster="region", weights="population", method="nearest")
    want = api.tidy().set_index("term")
    np.testing.assert_allclose(got.loc[want.index, "estimate"], want["estimate"], rtol=1e-10)
    np.testing.assert_allclose(got.loc[want.index, "std_error"], want["std_error"],
                               rtol=1e-10)
    # the weights change the answer: the unweighted PSM-DID is another model
    plain = pl.psm_did(castle, y="l_homicide", covariates=COVS, treat="post", unit="sid",
                       time="year", controls=["police"], fe=["sid", "year", "region^year"],
                       cluster="region", method="nearest")
    assert plain.did.att != pytest.approx(api.did.att, rel=1e-3)
    table = (summary.out_dir / "tables" / "psm_did_psm_did.md").read_text()
    assert words in table
    # the balance table's note in the report's language
    assert rubin in (summary.out_dir / "tables" / "psm_did_balance.md").read_text()
