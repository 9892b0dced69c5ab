"""Firm scale, step by step: the wild bootstrap, mediation, heterogeneity, PSM-DID, the
specification curve, the event study with its joint pre-trend tests and the staggered
estimators with the Callaway-Sant'Anna pre-tests on ``firm_panel`` as the battery calls
them (CPU seconds and peak RSS per step).

    python benchmarks/bench_firm_steps.py [--firms 200000] [--steps wild,mediation,...]
    python benchmarks/bench_firm_steps.py --steps event_study,staggered --against ../main/src

``--against SRC`` first runs the same steps in a child process with ``PYTHONPATH=SRC``
(another checkout: the previous code), then here, and prints the CPU ratio and whether
the checksums of the numbers agree.

``psm_did`` is the battery's step: kernel PSM-DID (base-year matching) for both outcomes,
each with and without the controls (four fits); ``spec_curve`` the battery's curve (two
outcomes x no/baseline controls x full/private-firm samples, 500 permutation draws);
``mediation`` one outcome as before, ``mediation2`` both outcomes as the battery runs it.

One process: the panel is generated, one Design is built (province-level assignment and
clusters, firm and year effects, three controls), a warm-up run of every step on a small
panel loads the compiled kernels, then each step runs once on the large panel. CPU time
is ``time.process_time`` (all threads of this process; comparable under load, wall time
is not), peak RSS is sampled every 20 ms (psutil) and shown as "before → peak" of the
step. The machine's load average is printed with each row.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_study_scale import PeakRSS, firm_panel, load  # noqa: E402

CONTROLS = ["ln_capital", "ln_labor", "leverage"]
OUTCOMES = ["ln_output", "ln_emission"]


def design(df):  # noqa: ANN001, ANN201
    from policylab.estimators.design import build_design

    return build_design(df, unit="firm", time="year", treat="did", assign="province",
                        controls=CONTROLS, cluster="province")


def event_study_step(d, seed: int = 7) -> pd.DataFrame:  # noqa: ANN001
    """The study's event_study step without figures and tables: per outcome the event
    study, its Wald lead test and the three joint lead tests (Wald, restricted wild
    bootstrap, randomization inference; 999 draws each)."""
    from policylab.estimators.event_study import event_study
    from policylab.study.frame import pretrend_tests

    rows = []
    for y in OUTCOMES:
        es = event_study(d, y=y, window=(-4, 4), ref=-1)
        es.pretrend_test()
        tests = pretrend_tests(es, d.facts.get("n_treated_groups"), seed, draws=999)["tests"]
        rows += [{"statistic": t["statistic"], "p_value": t["p_value"]}
                 for t in tests.values() if "p_value" in t]
        rows.append(es.tidy()[["estimate", "std_error"]].sum().to_dict())
    return pd.DataFrame(rows)


def reuses_fits() -> bool:
    """Whether this checkout's compare_estimators takes already-fitted results (the
    study then fits att_gt once and reuses the event_study step's event study)."""
    import inspect

    from policylab.estimators.compare import compare_estimators

    return "fitted" in inspect.signature(compare_estimators).parameters


def staggered_step(d, seed: int = 7, es=None) -> pd.DataFrame:  # noqa: ANN001
    """The study's staggered step without figures and tables, as the checkout's study
    runs it: the estimator comparison, att_gt with its four aggregations, the
    multiplier-bootstrap and randomization pre-tests (999 draws each). ``es`` is the
    event_study step's TWFE event study (fitted outside the timed step), reused where
    the code can."""
    from policylab.estimators.compare import compare_estimators
    from policylab.estimators.design import COHORT_COL
    from policylab.estimators.staggered import att_gt
    from policylab.inference.cs_pretest import cs_pretest_ri

    y = OUTCOMES[0]
    which = ("twfe", "att_gt", "sun_abraham", "did_imputation")
    if reuses_fits():
        cs = att_gt(d, y=y, control_group="never")
        cmp_ = compare_estimators(d, y=y, window=(-4, 4), control_group="never",
                                  estimators=which, fitted={"att_gt": cs, "twfe": es})
    else:
        cmp_ = compare_estimators(d, y=y, window=(-4, 4), control_group="never",
                                  estimators=which)
        cs = att_gt(d, y=y, control_group="never")
    rows = [cmp_.tidy()[["estimate"]].sum().to_dict()]
    rows += [cs.aggregate(k).tidy()[["estimate", "std_error"]].iloc[0].to_dict()
             for k in ("simple", "dynamic", "group", "calendar")]
    boot = cs.pretest_bootstrap(draws=999, seed=seed)
    rows.append({"statistic": boot.get("statistic"), "p_value": boot.get("p_value")})
    r = cs_pretest_ri(d.df, y, d.unit, d.time, COHORT_COL, assign=d.assign,
                      cluster=d.cluster_col, draws=999, seed=seed,
                      covariates=list(d.controls), weights=d.weights)
    rows.append({"statistic": r.statistic, "p_value": r.p_value})
    return pd.DataFrame(rows, dtype=float)


def steps(d, y: str = "ln_output") -> dict:  # noqa: ANN001
    from policylab.estimators.did import did
    from policylab.estimators.heterogeneity import heterogeneity
    from policylab.estimators.mediation import mediation
    from policylab.estimators.psm import psm_did
    from policylab.estimators.spec_curve import spec_curve
    from policylab.inference.wild import wild_bootstrap

    base = did(d, y=y)
    outcomes = [y, "ln_emission"]

    def psm() -> Any:
        kw = dict(covariates=CONTROLS, method="kernel", kernel="epan", bwidth=0.06)
        fits = [f for o in outcomes for f in (psm_did(d, y=o, **kw),
                                              psm_did(d.replace(controls=[]), y=o, **kw))]
        return fits

    def curve() -> Any:
        return spec_curve(d, outcomes, controls={"none": [], "baseline": CONTROLS},
                          samples={"full": None, "Private firms": "soe == 0"},
                          inference="permutation", draws=500, seed=7)

    def mediation2() -> Any:
        return [mediation(d, y=o, mediators=["rd"], draws=999, seed=7)
                for o in outcomes]

    es = None
    if reuses_fits():  # the study's event_study step fits it before the staggered step
        from policylab.estimators.event_study import event_study

        es = event_study(d, y=OUTCOMES[0], window=(-4, 4), ref=-1)
    return {
        "event_study": lambda: event_study_step(d),
        "staggered": lambda: staggered_step(d, es=es),
        "wild": lambda: wild_bootstrap(base, param=base.meta["treat_term"], draws=999,
                                       weights_type="webb", seed=7),
        "mediation": lambda: mediation(d, y=y, mediators=["rd"], draws=999, seed=7),
        "heterogeneity": lambda: heterogeneity(d, y=y, by=["soe", "size_class"],
                                               permutation_draws=500, bootstrap_draws=999,
                                               seed=7),
        "mediation2": mediation2,
        "psm_did": psm,
        "spec_curve": curve,
    }


def _numbers(res: Any, step: str) -> np.ndarray:
    """The result's numbers for the checksum (every fit's table; the curve's joint test;
    PSM's matching weights)."""
    if isinstance(res, pd.DataFrame):
        return res.select_dtypes(float).to_numpy().ravel()
    tidy = res.tests if step == "heterogeneity" else res.tidy()
    num = tidy.select_dtypes(float).to_numpy().ravel()
    if step == "spec_curve":
        num = np.r_[num, res.joint["median_estimate_p"], res.joint["share_significant_p"]]
    if step == "psm_did":
        num = np.r_[num, res.matching.rows["_weight"].to_numpy(float)]
    return num


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=200_000)
    ap.add_argument("--steps", default="wild,mediation,heterogeneity")
    ap.add_argument("--warm", type=int, default=5_000,
                    help="firms of the warm-up panel (large enough to take the same "
                         "compiled paths as the big one)")
    ap.add_argument("--profile", help="write a cProfile of each step to PREFIX_step.prof")
    ap.add_argument("--against", help="src folder of the code to compare with (run first, "
                                      "in a child process)")
    a = ap.parse_args()
    old = _run_against(a) if a.against else {}
    warnings.simplefilter("ignore")
    names = a.steps.split(",")
    small = steps(design(firm_panel(a.warm)))
    for s in names:
        small[s]()
    d = design(firm_panel(a.firms))
    big = steps(d)
    import psutil

    proc = psutil.Process()
    for s in names:
        before = proc.memory_info().rss
        with PeakRSS() as peak:
            c = time.process_time()
            if a.profile:
                import cProfile

                prof = cProfile.Profile(time.process_time)
                res = prof.runcall(big[s])
                prof.dump_stats(f"{a.profile}_{s}.prof")
            else:
                res = big[s]()
            cpu = time.process_time() - c
        num = np.concatenate([_numbers(r, s) for r in (res if isinstance(res, list)
                                                          else [res])])
        check = f"{np.nansum(np.abs(num)):.12g}"
        print(f"{a.firms * 10:,} rows  {s:14s} CPU {cpu:6.1f} s  RSS "
              f"{before / 2**30:.2f} → {max(peak.peak, before) / 2**30:.2f} GB  "
              f"load {load()}  checksum {check}", flush=True)
        if s in old:
            old_cpu, old_check = old[s]
            print(f"  {s}: {old_cpu:.1f} s before → {cpu:.1f} s: {old_cpu / cpu:.1f}x less CPU; "
                  f"checksums {'equal' if old_check == check else 'DIFFER'}", flush=True)


def _run_against(a: argparse.Namespace) -> dict[str, tuple[float, str]]:
    """CPU seconds and checksum per step of the same run on another checkout's code."""
    import os
    import re
    import subprocess

    args = [sys.executable, __file__, "--firms", str(a.firms), "--steps", a.steps,
            "--warm", str(a.warm)]
    env = {**os.environ, "PYTHONPATH": str(Path(a.against).resolve())}
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    print(f"against {a.against}:\n{out}", end="", flush=True)
    found = re.findall(r"rows  (\S+)\s+CPU\s+([\d.]+) s.*checksum (\S+)", out)
    return {name: (float(cpu), check) for name, cpu, check in found}


if __name__ == "__main__":
    main()
