"""`policylab run --scheduler` reaches every draw-heavy step: the study hands its one
executor to the placebo, pre-trend randomization, mediation bootstrap, heterogeneity
permutation and specification-curve draws (that the numbers do not depend on the
executor is tested step by step in tests/inference/test_draws_executors.py)."""

import json

import pytest

from policylab.execution import SerialExecutor
from policylab.study.pipeline import run_study

SPEC = """
[study]
title = "Scheduler reach"
seed = 3

[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[treatment]
column = "did"
group = "treat"

[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp"]

[battery.placebo]
draws = 40
exact = false

[battery.wild_bootstrap]
enabled = false

[battery.staggered]
enabled = false

[battery.mechanisms]
enabled = false

[battery.pretrends]
draws = 99

[battery.mediation]
mediators = ["coal_share"]
draws = 20

[battery.heterogeneity]
by = ["region"]
permutation_draws = 20
bootstrap_draws = 49

[battery.spec_curve]
draws = 20

[battery.psm_did]
enabled = false

[battery.moderation]
enabled = false

[output]
formats = ["md"]
"""


class Spy(SerialExecutor):
    """Runs serially and records which chunk kernels ran on it."""

    def __init__(self):
        self.kernels = []

    def map(self, fn, tasks, shared=None, progress=None):
        inner = getattr(fn, "fn", fn)  # the execution layer's one-BLAS-thread wrapper
        inner = getattr(inner, "kernel", inner)  # an exact enumeration's chunk builder
        self.kernels.append(inner.__name__)
        return super().map(fn, tasks, shared=shared, progress=progress)


@pytest.mark.slow
def test_every_draw_heavy_step_runs_on_the_study_executor(tmp_path):
    spec = tmp_path / "study.toml"
    spec.write_text(SPEC)
    spy = Spy()
    run_study(spec, tmp_path / "spy", progress=False, executor=spy)
    ran = set(spy.kernels)
    assert {"_coef_t_chunk",      # placebo draws
            "_stats_chunk",       # pre-trend randomization inference
            "_gram_chunk",        # mediation bootstrap and heterogeneity permutations
            "_permutation_chunk",  # specification curve
            } <= ran, ran
    results = json.loads((tmp_path / "spy" / "results.json").read_text())
    for key in ("placebo", "pretrends", "mediation", "heterogeneity", "spec_curve"):
        assert results[key]["status"] in ("ok", "warned"), (key, results[key]["error"])
