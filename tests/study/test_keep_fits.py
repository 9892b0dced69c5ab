"""Dropping the fitted arrays after each step (``keep_fits=False``, as the CLI runs a
study) changes no number: results.json is equal to the run that keeps them, and the
results later steps read (the baseline for the placebo and the wild bootstrap, the
event study for the pre-trend step) keep their fits until those steps are done."""

import json

import pytest

from policylab.estimators.fit import Fit

SPEC = """
[study]
title = "Keep fits"
seed = 3

[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[treatment]
column = "did"
group = "treat"

[model]
outcomes = ["ln_co2", "ln_intensity"]
controls = ["ln_gdp", "fdi"]

[battery.placebo]
draws = 99
exact = false

[battery.wild_bootstrap]
draws = 99

[battery.mediation]
enabled = true
mediators = ["coal_share"]
draws = 30

[battery.heterogeneity]
enabled = false

[battery.spec_curve]
enabled = true
draws = 30

[output]
formats = ["md"]
"""


def _fits(summary):
    from policylab.study.pipeline import _walk

    return [o.fit for s in summary.steps for o in _walk(s.results)
            if isinstance(getattr(o, "fit", None), Fit)]


@pytest.mark.slow
def test_dropping_fits_changes_no_number(tmp_path):
    from policylab.study.pipeline import run_study

    spec = tmp_path / "study.toml"
    spec.write_text(SPEC, encoding="utf-8")
    kept = run_study(spec, tmp_path / "kept", progress=False)
    dropped = run_study(spec, tmp_path / "dropped", progress=False, keep_fits=False)
    assert not kept.failed and not dropped.failed
    a = json.loads((tmp_path / "kept" / "results.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "dropped" / "results.json").read_text(encoding="utf-8"))
    assert a == b
    # the run that keeps them hands back fitted results; the other none at all
    assert _fits(kept) and not _fits(dropped)
    assert {s.key: s.status for s in kept.steps} == {s.key: s.status for s in dropped.steps}


def test_release_fits_spares_what_later_steps_read():
    import numpy as np
    import pandas as pd

    import policylab as pl
    from policylab.study.pipeline import _reachable, release_fits

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"u": np.repeat(np.arange(20), 5), "t": np.tile(np.arange(5), 20),
                       "y": rng.normal(size=100), "x": rng.normal(size=100)})
    shared, own = (pl.feols("y ~ x | u + t", df) for _ in range(2))
    cache = {"baseline_full": [shared]}
    release_fits({"a": shared, "b": [own]}, keep=_reachable(cache))
    assert shared.fit is not None and own.fit is None
    assert own.tidy().equals(shared.tidy())  # the numbers stay
