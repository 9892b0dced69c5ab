"""The study carries one design to every step: weights, an interacted fixed effect, a
non-default cluster and a sample restriction reach each step, or the step says why not
(read back from results.json); and the castle-doctrine case, where the report's event
study must be the weighted one the API gives."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import policylab as pl
from policylab.study.pipeline import run_study

VAL = Path(__file__).parents[1] / "validation"


def _panel(seed: int = 3) -> pd.DataFrame:
    """40 units x 12 years, cohorts 2004/2006/2008 and never, four regions that cut
    across cohorts, one weight per unit, a control, a mediator, a moderator, a group."""
    rng = np.random.default_rng(seed)
    units, years = 40, np.arange(2000, 2012)
    u = np.repeat(np.arange(units), len(years))
    t = np.tile(years, units)
    cohort = np.array([0, 2004, 2006, 2008])[u % 4]
    d = ((cohort > 0) & (t >= cohort)).astype(int)
    x = rng.normal(size=u.size)
    m = 0.5 * d + rng.normal(size=u.size)
    return pd.DataFrame({
        "unit": u, "year": t, "region": u // 10, "d": d, "x": x, "m": m,
        "z": rng.normal(size=u.size), "grp": u % 2,
        "pop": np.exp(rng.normal(size=units))[u],
        "y": 0.4 * d + 0.3 * x + 0.2 * m + 0.05 * u + rng.normal(size=u.size),
    })


SPEC = """
[data]
path = "panel.csv"
unit = "unit"
time = "year"
query = "year >= 2001"

[treatment]
column = "d"

[model]
outcomes = ["y"]
controls = ["x"]
fe = ["unit", "year", "region^year"]
cluster = "region"
weights = "pop"

[battery.event_study]
window = [-3, 3]

[battery.placebo]
draws = 30
exact = false

[battery.wild_bootstrap]
draws = 99

[battery.mediation]
mediators = ["m"]
draws = 10

[battery.moderation]
moderators = ["z"]

[battery.heterogeneity]
by = ["grp"]
permutation_draws = 10

[battery.spec_curve]
draws = 10

[[battery.samples]]
name = "2003 on"
years = [2003, 2011]

[output]
formats = ["md"]
"""

WANT = {"fe": ["unit", "year", "region^year"], "cluster": "region", "weights": "pop",
        "controls": ["x"]}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("design")
    _panel().to_csv(d / "panel.csv", index=False)
    (d / "study.toml").write_text(SPEC)
    summary = run_study(d / "study.toml", d / "out", progress=False)
    return json.loads((summary.out_dir / "results.json").read_text())


def _model(rec):
    return {k: rec[k] for k in WANT}


def test_every_step_runs_by_default_or_says_why_not(results):
    # nothing was switched on in the spec: every step is there
    assert set(results) == {"overview", "descriptives", "baseline", "event_study", "pretrends",
                            "staggered", "psm_did", "placebo", "wild_bootstrap", "samples",
                            "mediation", "moderation", "mechanisms", "heterogeneity",
                            "spec_curve"}
    assert all(r["status"] in ("ok", "skipped") for r in results.values()), {
        k: r["error"] for k, r in results.items()}
    # PSM-DID honours the weights (as MatchIt's s.weights) and region^year
    assert results["psm_did"]["status"] == "ok"
    assert results["psm_did"]["numbers"]["design"]["matching_weights"] is True


def test_spec_curve_runs_on_the_weighted_design(results):
    sc = results["spec_curve"]
    assert sc["status"] == "ok"
    res = sc["results"]["spec_curve"]
    assert res["meta"]["weights"] == "pop"
    assert _model(res["meta"]["design"]) == WANT
    # its specification with the design's controls on the full sample is the baseline
    # regression itself (weights, region^year, cluster by region): same number, same SE
    spec = next(r for r in res["tidy"] if r["controls"] == "baseline" and r["sample"] == "full")
    assert spec["fe"] == "unit+year+region^year" and spec["cluster"] == "region"
    base = next(r for r in results["baseline"]["results"]["y"]["tidy"] if r["term"] == "d")
    assert spec["estimate"] == pytest.approx(base["estimate"], rel=1e-10)
    assert spec["std_error"] == pytest.approx(base["std_error"], rel=1e-10)


def test_every_step_used_exactly_the_design(results):
    base = results["baseline"]["numbers"]["design"]
    assert _model(base) == WANT
    assert base["sample"] == "year >= 2001" and base["nobs"] == 40 * 11
    for key, r in results.items():
        if r["status"] == "skipped" or key in ("descriptives", "samples"):
            continue
        rec = r["numbers"]["design"]
        assert _model(rec) == WANT, key
        assert rec["sample"] == "year >= 2001" and rec["treatment"] == "column d", key
    # the event study runs on the very rows of the baseline
    assert results["event_study"]["numbers"]["design"]["nobs"] == base["nobs"]
    # every Result inside a step carries the same model (here: each staggered estimator)
    for name, res in results["staggered"]["results"].items():
        rec = res["meta"].get("design")
        if rec is not None:
            assert rec["weights"] == "pop" and rec["cluster"] == "region", name
    # the other sample is declared by name, with the same model
    s = results["samples"]["numbers"]["designs"]["2003 on"]
    assert _model(s) == WANT and s["sample"] == "2003 on" and s["nobs"] == 40 * 9
    assert results["descriptives"]["numbers"]["design_note"]


def test_estimators_that_cannot_honour_the_design_are_listed_not_swapped(results):
    st = results["staggered"]
    assert st["status"] == "ok"
    not_run = st["numbers"]["not_run"]
    # att_gt has no region-by-year effects; Bacon neither weights, controls nor them
    assert "region^year" in not_run["Callaway-Sant'Anna"]
    assert "weights ('pop')" in not_run["Goodman-Bacon"]
    cmp_ = st["results"]["comparison"]
    assert {row["estimator"] for row in cmp_["tidy"]} == {"TWFE", "Sun-Abraham",
                                                          "Imputation (BJS)"}


def test_steps_without_their_inputs_are_skipped_with_the_reason(tmp_path):
    _panel().to_csv(tmp_path / "panel.csv", index=False)
    spec = SPEC.split("[battery.event_study]")[0] + "[output]\nformats = [\"html\"]\n"
    spec = spec.replace('controls = ["x"]', "controls = []").replace(
        'weights = "pop"\n', "")
    (tmp_path / "s.toml").write_text(spec + """
[battery.placebo]
draws = 20
exact = false
[battery.wild_bootstrap]
draws = 99
[battery.spec_curve]
enabled = false
[battery.staggered]
enabled = false
""")
    summary = run_study(tmp_path / "s.toml", tmp_path / "out", progress=False)
    status = {s.key: (s.status, s.error) for s in summary.steps}
    assert status["mediation"] == ("skipped", "no mediators given "
                                   "(battery.mediation.mediators)")
    assert status["moderation"][0] == status["heterogeneity"][0] == "skipped"
    assert "no covariates" in status["psm_did"][1]
    assert "spec_curve" not in status and "staggered" not in status
    assert "Not run: no mediators given" in (summary.out_dir / "report.html").read_text()


# --------------------------------------------------------------------- castle doctrine
def _castle() -> pd.DataFrame:
    c = pd.read_csv(VAL / "data" / "castle.csv")
    rng = np.random.default_rng(11)
    # population-like weights that grow over time, and regions that cut across cohorts
    base = np.exp(rng.normal(size=c.sid.max() + 1))
    return c.assign(popwt=base[c.sid] * (1 + 0.02 * (c.year - 2000)), region=c.sid % 4)


CASTLE = """
[data]
path = "castle.csv"
unit = "sid"
time = "year"

[treatment]
column = "post"

[model]
outcomes = ["l_homicide"]
fe = ["sid", "year", "region^year"]
weights = "popwt"

[battery.event_study]
window = [-6, 3]

[battery.pretrends]
enabled = false
[battery.staggered]
enabled = false
[battery.psm_did]
enabled = false
[battery.placebo]
enabled = false
[battery.wild_bootstrap]
enabled = false
[battery.spec_curve]
enabled = false

[output]
formats = ["md"]
"""


def test_castle_report_event_study_is_the_weighted_api_event_study(tmp_path):
    c = _castle()
    c.to_csv(tmp_path / "castle.csv", index=False)
    (tmp_path / "castle.toml").write_text(CASTLE)
    summary = run_study(tmp_path / "castle.toml", tmp_path / "out", progress=False)
    rep = json.loads((summary.out_dir / "results.json").read_text())["event_study"]
    assert rep["numbers"]["design"]["weights"] == "popwt"
    got = pd.DataFrame(rep["results"]["event_study"]["tidy"])
    api = pl.event_study(c, y="l_homicide", unit="sid", time="year", treat="post",
                         window=(-6, 3), weights="popwt", fe=["sid", "year", "region^year"])
    want = api.tidy()
    np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got["std_error"].fillna(0), want["std_error"].fillna(0),
                               rtol=1e-10)
    # the weights change the answer: the unweighted two-way event study is another model
    plain = pl.event_study(c, y="l_homicide", unit="sid", time="year", treat="post",
                           window=(-6, 3))
    assert not np.allclose(plain.beta, api.beta, rtol=1e-3)


def test_weighted_api_event_study_equals_wls_with_explicit_dummies():
    # oracle: statsmodels WLS on hand-made binned event-time dummies and full
    # sid, year and region x year dummy sets (coefficients); the clustered SEs against
    # feols on the same explicit dummies (fixest's small-sample correction)
    c = _castle()
    api = pl.event_study(c, y="l_homicide", unit="sid", time="year", cohort="effyear",
                         window=(-6, 3), weights="popwt", fe=["sid", "year", "region^year"])
    rel = np.where(c.effyear > 0, c.year - c.effyear, np.nan)
    rel = np.where(np.isnan(rel), np.nan, np.clip(rel, -6, 3))
    ev = pd.DataFrame({f"e{k}": (rel == e).astype(float)
                       for k, e in enumerate(api.meta["rel_times"])})
    # full rank: every state's dummy, and region x year dummies without each region's
    # first year (the year effects are region x year effects here)
    ry = pd.get_dummies(c.region.astype(str) + "_" + c.year.astype(str), dtype=float)
    ry = ry[[k for k in ry.columns if not k.endswith("_2000")]]
    X = pd.concat([ev, pd.get_dummies(c.sid, prefix="s", dtype=float), ry], axis=1)
    assert np.linalg.matrix_rank(X.to_numpy()) == X.shape[1]
    wls = sm.WLS(c.l_homicide.to_numpy(), X.to_numpy(), weights=c.popwt.to_numpy()).fit()
    np.testing.assert_allclose(api.beta, wls.params[:ev.shape[1]], rtol=1e-8)
    fit = pl.feols("l_homicide ~ " + " + ".join(ev.columns) + " | sid + year + region^year",
                   pd.concat([c, ev], axis=1), vcov={"CRV1": "sid"}, weights="popwt")
    np.testing.assert_allclose(api.se().to_numpy(), fit.se().to_numpy(), rtol=1e-10)
