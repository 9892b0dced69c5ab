"""Firm scale, step by step: the wild bootstrap, mediation and heterogeneity on
``firm_panel`` as the battery calls them (CPU seconds and peak RSS per step).

    python benchmarks/bench_firm_steps.py [--firms 200000] [--steps wild,mediation,heterogeneity]

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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_study_scale import PeakRSS, firm_panel, load  # noqa: E402

CONTROLS = ["ln_capital", "ln_labor", "leverage"]


def design(df):  # noqa: ANN001, ANN201
    from policylab.estimators.design import build_design

    return build_design(df, unit="firm", time="year", treat="did", assign="province",
                        controls=CONTROLS, cluster="province")


def steps(d, y: str = "ln_output") -> dict:  # noqa: ANN001
    from policylab.estimators.did import did
    from policylab.estimators.heterogeneity import heterogeneity
    from policylab.estimators.mediation import mediation
    from policylab.inference.wild import wild_bootstrap

    base = did(d, y=y)
    return {
        "wild": lambda: wild_bootstrap(base, param=base.meta["treat_term"], draws=999,
                                       weights_type="webb", seed=7),
        "mediation": lambda: mediation(d, y=y, mediators=["rd"], bootstrap=999, seed=7),
        "heterogeneity": lambda: heterogeneity(d, y=y, by=["soe", "size_class"],
                                               permutations=500, bootstrap=999, seed=7),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=200_000)
    ap.add_argument("--steps", default="wild,mediation,heterogeneity")
    ap.add_argument("--profile", help="write a cProfile of each step to PREFIX_step.prof")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    names = a.steps.split(",")
    small = steps(design(firm_panel(300)))
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
        tidy = res.tests if s == "heterogeneity" else res.tidy()
        num = tidy.select_dtypes(float).to_numpy()
        print(f"{a.firms * 10:,} rows  {s:14s} CPU {cpu:6.1f} s  RSS "
              f"{before / 2**30:.2f} → {max(peak.peak, before) / 2**30:.2f} GB  "
              f"load {load()}  checksum {np.nansum(np.abs(num)):.12g}", flush=True)


if __name__ == "__main__":
    main()
