"""Cluster bootstrap of a two-mediator system (3,584 rows, 256 cities x 14 years):
policylab's batched bootstrap vs a loop of pyfixest regressions (timed on a few draws
and extrapolated), side by side; on the balanced panel (closed-form Gram matrices) and
with 5% of rows dropped at random (weighted demeaning per draw).

    python benchmarks/bench_mediation.py [--draws 1000] [--loop 20]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=20)
    args = ap.parse_args()
    import pyfixest as pf

    import policylab as pl

    p = pl.datasets.energy_rights_pilot()
    full = p.df
    print("| workload | policylab (s) | pyfixest loop (s, extrapolated) | ratio |")
    print("|---|---|---|---|")
    for label, df in (("balanced", full),
                      ("unbalanced (5% rows dropped)",
                       full.drop(index=full.sample(frac=0.05, random_state=0).index))):
        panel = pl.Panel(df, unit="city", time="year")
        kw = dict(y="ln_ntt", treat="did", mediators=["elec_share", "market"],
                  controls=["ln_pgdp", "urban"], cluster="city")
        pl.mediation(panel, draws=20, seed=0, **kw)  # warm
        t = time.perf_counter()
        r = pl.mediation(panel, draws=args.draws, seed=1, **kw)
        t_pl = time.perf_counter() - t
        cities = df["city"].unique()
        rng = np.random.default_rng(1)
        t = time.perf_counter()
        for _ in range(args.loop):
            pick = rng.choice(cities, len(cities))
            d = pd.concat([df[df.city == c].assign(bid=i) for i, c in enumerate(pick)])
            for m in ("elec_share", "market"):
                pf.feols(f"{m} ~ did + ln_pgdp + urban | bid + year", d)
                pf.feols(f"ln_ntt ~ did + {m} + ln_pgdp + urban | bid + year", d)
            pf.feols("ln_ntt ~ did + elec_share + market + ln_pgdp + urban | bid + year", d)
        t_loop = (time.perf_counter() - t) / args.loop * args.draws
        print(f"| {args.draws:,}-draw cluster bootstrap, two mediators + joint, {len(df):,} "
              f"rows, {label} ({r.meta['bootstrap_method']}) | {t_pl:.2f} | "
              f"{t_loop:,.0f} | {t_loop / t_pl:,.0f}x |")


if __name__ == "__main__":
    main()
