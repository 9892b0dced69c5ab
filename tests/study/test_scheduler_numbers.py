"""A study run through a Dask scheduler gives the numbers of the in-process run.

The draw-heavy steps (placebo, wild bootstrap, mediation bootstrap, heterogeneity
permutations, the specification curve's joint test) cut their draws into chunks whose
boundaries and random streams depend only on the seed, so results.json must be equal
value for value: texts, counts and flags exactly, numbers to 1e-6 relative. Steps that
solve optimisation problems (the HonestDiD FLCI) move by about 1e-9 with the BLAS thread
count, which differs between the main thread and a worker; another draw would move a
randomization p-value by at least 1/draws and an estimate's bootstrap SE by far more.
"""

import json
import math

import pytest

SPEC = """
[study]
title = "Scheduler check"
seed = 5

[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"

[treatment]
column = "did"
group = "treat"

[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp", "fdi"]

[battery.placebo]
draws = 300
exact = false

[battery.wild_bootstrap]
draws = 499

[battery.mediation]
enabled = true
mediators = ["coal_share"]
draws = 60

[battery.heterogeneity]
enabled = true
by = ["year"]
permutation_draws = 60

[battery.spec_curve]
enabled = true
draws = 60

[battery.moderation]
enabled = false

[output]
formats = ["md"]
"""


def _numbers(out):
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {k: (v["status"], v["results"], v["numbers"]) for k, v in res.items()}


@pytest.mark.slow
def test_dask_scheduler_gives_the_in_process_numbers(tmp_path):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    from policylab.study.pipeline import run_study

    spec = tmp_path / "study.toml"
    spec.write_text(SPEC, encoding="utf-8")
    run_study(spec, tmp_path / "serial", progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        run_study(spec, tmp_path / "dask", progress=False, executor=client)
    serial, dask = _numbers(tmp_path / "serial"), _numbers(tmp_path / "dask")
    assert serial.keys() == dask.keys()
    ran = [k for k, (status, _, _) in serial.items() if status in ("ok", "warned")]
    assert {"placebo", "wild_bootstrap", "mediation", "spec_curve"} <= set(ran)
    for key in serial:
        assert _same(dask[key], serial[key]), key


def _same(a, b) -> bool:
    """Equal structure and text; floats equal to 1e-6 relative (NaN equals NaN)."""
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6,
                                                                 abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b
