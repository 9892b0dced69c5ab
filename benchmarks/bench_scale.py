"""Scale benchmarks (issue 10): out-of-core feols, placebo draws and a specification
curve across executors.

    python benchmarks/bench_scale.py --rows 10e6 50e6 100e6   # streamed feols vs pyfixest
    python benchmarks/bench_scale.py --part executors          # processes vs Dask vs serial

Every run prints the numbers side by side and the ratio; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def write_panel(path: Path, rows: int, years: int = 20, files: int = 8, seed: int = 0) -> None:
    """A synthetic firm panel ordered by firm, split over several Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    units = rows // years
    per_file = int(np.ceil(units / files))
    rng = np.random.default_rng(seed)
    for f in range(files):
        u0, u1 = f * per_file, min(units, (f + 1) * per_file)
        if u0 >= u1:
            break
        n = (u1 - u0) * years
        unit = np.repeat(np.arange(u0, u1, dtype=np.int32), years)
        year = np.tile(np.arange(2000, 2000 + years, dtype=np.int16), u1 - u0)
        cols = {"firm": unit, "year": year}
        xs = rng.standard_normal((n, 5))
        for j in range(5):
            cols[f"x{j + 1}"] = xs[:, j]
        cols["y"] = xs @ np.array([0.5, -0.2, 0.1, 0.0, 0.3]) + rng.standard_normal(n) \
            + (unit % 97) * 0.01
        pq.write_table(pa.table(cols), path / f"part{f:03d}.parquet", row_group_size=1_000_000)


CHILD = """
import sys, time, resource, numpy as np
which, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
fml = "y ~ x1 + x2 + x3 + x4 + x5 | firm + year"
if which == "policylab":
    from policylab.estimators.feols_stream import feols_stream
    r = feols_stream(fml, path + "/*.parquet", vcov={"CRV1": "firm"}, presorted=True)
    b, se = r.coef().to_numpy(), r.se().to_numpy()
else:
    import pandas as pd, pyfixest as pf
    df = pd.read_parquet(path)
    r = pf.feols(fml, df, vcov={"CRV1": "firm"})
    b, se = r.coef().to_numpy(), r.se().to_numpy()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(time.perf_counter() - t, peak, *b, *se)
"""


def run_child(which: str, path: Path) -> tuple[float, float, np.ndarray]:
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(path)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        return float("nan"), float("nan"), np.array([])
    vals = [float(v) for v in out.stdout.strip().splitlines()[-1].split()]
    return vals[0], vals[1], np.array(vals[2:])


def bench_rows(sizes: list[int], pyfixest_max: int) -> None:
    print("| rows | policylab streamed (s) | peak MB | pyfixest in memory (s) | peak MB | ratio "
          "| max rel. diff |")
    print("|---|---|---|---|---|---|---|")
    for rows in sizes:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d)
            write_panel(p, rows)
            t1, m1, v1 = run_child("policylab", p)
            if rows <= pyfixest_max:
                t2, m2, v2 = run_child("pyfixest", p)
            else:
                t2 = m2 = float("nan")
                v2 = np.array([])
            diff = float(np.max(np.abs(v1 / v2 - 1))) if v2.size == v1.size and v2.size else \
                float("nan")
            print(f"| {rows:,} | {t1:.1f} | {m1:,.0f} | {t2:.1f} | {m2:,.0f} | "
                  f"{t2 / t1:.1f}x | {diff:.1e} |", flush=True)


def bench_executors(draws: int, n_specs_target: int) -> None:
    from policylab.estimators.spec_curve import spec_curve
    from policylab.execution import DaskExecutor

    rng = np.random.default_rng(1)
    firms, years = 50_000, 20
    df = pd.DataFrame({"firm": np.repeat(np.arange(firms), years),
                       "year": np.tile(np.arange(2000, 2000 + years), firms)})
    df["province"] = df["firm"] % 30
    df["treat"] = ((df["province"] < 6) & (df["year"] >= 2011)).astype(float)
    for j in range(4):
        df[f"x{j}"] = rng.standard_normal(len(df))
    for j in range(5):
        df[f"y{j}"] = 0.1 * df["treat"] + df["x0"] * 0.3 + rng.standard_normal(len(df))
    print(f"firm panel: {len(df):,} rows")
    placebo = dict(unit="firm", time="year", assign="province", cluster=["province"],
                   inference="permutation", draws=draws, seed=7, chunk_size=100)
    ctrl = {f"c{i}": [f"x{j}" for j in range(4) if (i >> j) & 1] for i in range(10)}
    samples = {f"s{i}": (None if i == 0 else f"year >= {2000 + i}") for i in range(5)}
    grid = dict(unit="firm", time="year", controls=ctrl, samples=samples,
                cluster=["province", "firm"], assign="province")
    ys = [f"y{j}" for j in range(5)]
    print("| workload | serial (s) | processes, 2 (s) | Dask LocalCluster, 2 (s) | identical |")
    print("|---|---|---|---|---|")
    for name, call in (
        (f"{draws:,} placebo draws", lambda ex: spec_curve(df, "y0", "treat", executor=ex,
                                                          **placebo).meta["permutation_estimates"]),
        (f"{len(ys) * 10 * 5 * 2} specifications", lambda ex: spec_curve(
            df, ys, "treat", executor=ex, **grid).specs["estimate"].to_numpy()),
    ):
        times, outs = [], []
        for ex in ("serial", "processes", "dask"):
            if ex == "dask":
                with DaskExecutor(n_workers=2) as dex:
                    t = time.perf_counter()
                    outs.append(call(dex))
            else:
                t = time.perf_counter()
                outs.append(call(ex))
            times.append(time.perf_counter() - t)
        same = all(np.array_equal(outs[0], o) for o in outs[1:])
        print(f"| {name} | {times[0]:.2f} | {times[1]:.2f} | {times[2]:.2f} | {same} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", choices=["rows", "executors", "all"], default="all")
    ap.add_argument("--rows", type=float, nargs="*", default=[10e6, 50e6, 100e6])
    ap.add_argument("--pyfixest-max", type=float, default=10e6,
                    help="largest size also run in memory with pyfixest")
    ap.add_argument("--draws", type=int, default=10_000)
    args = ap.parse_args()
    if args.part in ("rows", "all"):
        bench_rows([int(r) for r in args.rows], int(args.pyfixest_max))
    if args.part in ("executors", "all"):
        bench_executors(args.draws, 500)
    print(f"peak memory of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
