"""Event study with 15 relative-time dummies on 1M rows: policylab vs pyfixest.

policylab starts from the raw cohort column (treatment design, dummies, regression,
clustered vcov); pyfixest is timed two ways: its idiomatic ``i(rel, ref=-1)`` from a
relative-time column, and with the 15 dummy columns already built (regression only).
Balanced and unbalanced (10% of rows dropped at random) staggered panels, best of
``--repeat`` runs, coefficients and SEs compared.

    python benchmarks/bench_event_study.py [--rows 1e6] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")
WINDOW = (-7, 8)  # 16 event times, 15 dummies once the reference -1 is omitted


def panel(rows: int, years: int = 20, drop: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units = rows // years
    df = pd.DataFrame({"id": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    cohorts = np.array([0, 2005, 2008, 2011, 2014])
    df["g"] = cohorts[rng.integers(0, len(cohorts), units)][df["id"]]
    rel = np.where(df["g"] > 0, df["year"] - df["g"], -99)
    df["y"] = (rng.normal(size=units)[df["id"]] + 0.02 * (df["year"] - 2000)
               + np.where(rel >= 0, 0.1 + 0.02 * rel, 0) + rng.normal(size=len(df)))
    if drop:
        df = df.loc[rng.random(len(df)) >= drop].reset_index(drop=True)
    return df


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import pyfixest as pf

    import policylab as pl

    lo, hi = WINDOW
    print("| panel | rows | policylab (s) | pyfixest i() (s) | ratio | pyfixest, dummies "
          "prebuilt (s) | ratio | max diff coef / SE |")
    print("|---|---|---|---|---|---|---|---|")
    for label, drop in (("balanced", 0.0), ("unbalanced (10% rows dropped)", 0.1)):
        df = panel(int(args.rows), drop=drop)
        # compiled kernels load on first use: warm both libraries on a small panel
        small = panel(20_000, drop=drop)
        pl.event_study(small, y="y", unit="id", time="year", cohort="g", window=WINDOW)
        rel = np.where(df["g"] > 0, np.clip(df["year"] - df["g"], lo, hi), -1)
        d_rel = df.assign(rel=rel.astype(int))
        pf.feols("y ~ i(rel, ref=-1) | id + year", d_rel.head(20_000), vcov={"CRV1": "id"})

        t_pl, es = best(lambda df=df: pl.event_study(df, y="y", unit="id", time="year",
                                                     cohort="g", window=WINDOW), args.repeat)
        t_pf, m = best(lambda d=d_rel: pf.feols("y ~ i(rel, ref=-1) | id + year", d,
                                                vcov={"CRV1": "id"}), args.repeat)
        names = [f"rel::{e}" for e in range(lo, hi + 1) if e != -1]
        d_dum = df.assign(**{f"e{i}": (rel == e).astype(float)
                             for i, e in enumerate(range(lo, hi + 1)) if e != -1})
        dums = [f"e{i}" for i, e in enumerate(range(lo, hi + 1)) if e != -1]
        t_pf2, _ = best(lambda d=d_dum, dums=dums: pf.feols("y ~ " + " + ".join(dums) + " | id + year",
                                                 d, vcov={"CRV1": "id"}), args.repeat)
        b_pf = m.coef()[names].to_numpy()
        s_pf = m.se()[names].to_numpy()
        db = np.max(np.abs(es.beta - b_pf))
        ds = np.max(np.abs(es.se().to_numpy() - s_pf) / s_pf)
        print(f"| {label} | {len(df):,} | {t_pl:.2f} | {t_pf:.2f} | {t_pf / t_pl:.1f}x | "
              f"{t_pf2:.2f} | {t_pf2 / t_pl:.1f}x | {db:.1e} / {ds:.1e} (rel) |", flush=True)


if __name__ == "__main__":
    main()
