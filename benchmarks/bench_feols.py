"""feols vs pyfixest: two-way FE, 5 controls, unit-clustered SE.

    python benchmarks/bench_feols.py --sizes 3584 1e5 1e6 1e7

For each size: balanced and 10%-dropped panels; warm time (best of 3, same process,
side by side), first call in a fresh process (import + fit), and the memory a fresh
process adds above the loaded data while importing and fitting (peak RSS growth), also
as a multiple of the size of the columns used. Prints ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
import pandas as pd

FML = "y ~ x1 + x2 + x3 + x4 + x5 | unit + year"


def make(n_rows: int, drop: float, seed: int = 0) -> pd.DataFrame:
    years = 14
    units = max(2, n_rows // years)
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"unit": np.repeat(np.arange(units, dtype=np.int64), years),
                       "year": np.tile(np.arange(2006, 2006 + years, dtype=np.int64), units)})
    X = rng.standard_normal((len(df), 5))
    for j in range(5):
        df[f"x{j + 1}"] = X[:, j]
    df["y"] = X @ np.array([0.5, -0.2, 0.1, 0.0, 0.3]) + rng.standard_normal(len(df))
    if drop:
        df = df[rng.random(len(df)) >= drop].reset_index(drop=True)
    return df


def best(f, reps: int = 3) -> float:
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


CHILD = """
import sys, time
n, drop, which = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sys.path.insert(0, "benchmarks")
from bench_feols import make, FML
df = make(n, drop)
cols = df[["y", "x1", "x2", "x3", "x4", "x5", "unit", "year"]].memory_usage(index=False).sum()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS
base = status("VmRSS")
t = time.perf_counter()
if which == "policylab":
    import policylab as pl
    pl.feols(FML, df, vcov={"CRV1": "unit"})
else:
    import pyfixest as pf
    pf.feols(FML, df, vcov={"CRV1": "unit"})
el = time.perf_counter() - t
print(el, status("VmHWM") - base, cols / 2**20)
"""


def fresh(n: int, drop: float, which: str) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(drop), which],
                         capture_output=True, text=True)
    if out.returncode:
        return (float("nan"),) * 3
    a, b, c = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    return a, b, c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=float, nargs="*", default=[3584, 1e5, 1e6])
    ap.add_argument("--no-fresh", action="store_true", help="skip fresh-process runs")
    args = ap.parse_args()
    import pyfixest as pf

    import policylab as pl

    print("| rows | panel | policylab warm (s) | pyfixest warm (s) | ratio | first call "
          "policylab / pyfixest (s) | extra peak MB policylab / pyfixest (x data) | max rel diff |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes):
        for drop in (0.0, 0.1):
            df = make(n, drop)
            a = pl.feols(FML, df, vcov={"CRV1": "unit"})
            b = pf.feols(FML, df, vcov={"CRV1": "unit"})
            diff = float(np.max(np.abs(a.coef().to_numpy() / b.coef().to_numpy() - 1)))
            reps = 3 if n <= 2e6 else 1
            tp = best(lambda df=df: pl.feols(FML, df, vcov={"CRV1": "unit"}), reps)
            tf = best(lambda df=df: pf.feols(FML, df, vcov={"CRV1": "unit"}), reps)
            if args.no_fresh:
                first = mem = "-"
            else:
                fp, mp, data_mb = fresh(n, drop, "policylab")
                ff, mf, _ = fresh(n, drop, "pyfixest")
                first = f"{fp:.2f} / {ff:.2f}"
                mem = f"{mp:,.0f} / {mf:,.0f} ({mp / data_mb:.1f}x / {mf / data_mb:.1f}x)"
            print(f"| {n:,} | {'balanced' if not drop else '10% dropped'} | {tp:.3f} | "
                  f"{tf:.3f} | {tf / tp:.1f}x | {first} | {mem} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
