"""Scale benchmarks (issues 10, 19): out-of-core feols, placebo draws and a
specification curve across executors.

    python benchmarks/bench_scale.py --part rows --rows 10e6 100e6 --old-commit f6b2c07
    python benchmarks/bench_scale.py --part executors          # processes vs Dask vs serial

The rows part writes a synthetic firm panel of 7 columns (firm, year, x1-x4, y) as
Parquet files of two years each, so a firm's rows are spread over every file and are
not grouped (the data come as yearly exports, the usual case). Each engine runs in a
fresh process, side by side on the same files: policylab's ``feols_stream``, the old
``feols_stream`` of ``--old-commit`` (which sorted the rows through DuckDB), and pyfixest
in memory up to ``--pyfixest-max`` rows. The load average is printed with every row:
the machine is shared, so compare ratios, not seconds. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FML = "y ~ x1 + x2 + x3 + x4 | firm + year"


def write_panel(path: Path, rows: int, years: int = 20, seed: int = 0) -> None:
    """A synthetic firm panel, one Parquet file per two years (firms not grouped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    firms = rows // years
    rng = np.random.default_rng(seed)
    firm_effect = rng.standard_normal(firms)
    for y0 in range(0, years, 2):
        n = firms * 2
        firm = np.tile(np.arange(firms, dtype=np.int32), 2)
        year = np.repeat(np.arange(2000 + y0, 2002 + y0, dtype=np.int16), firms)
        xs = rng.standard_normal((n, 4))
        y = xs @ np.array([0.5, -0.2, 0.1, 0.3]) + firm_effect[firm] + 0.05 * (year - 2000) \
            + rng.standard_normal(n)
        cols = {"firm": firm, "year": year, **{f"x{j + 1}": xs[:, j] for j in range(4)}, "y": y}
        pq.write_table(pa.table(cols), path / f"years{y0:02d}.parquet", row_group_size=1_000_000)
        del xs, y, cols


CHILD = """
import sys, time, resource, numpy as np
which, path, fml = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if which in ("policylab", "old"):
    from policylab.estimators.feols_stream import feols_stream
    kw = {"progress": False} if which == "policylab" else {}
    r = feols_stream(fml, path + "/*.parquet", vcov={"CRV1": "firm"}, **kw)
else:
    import pandas as pd, pyfixest as pf
    df = pd.read_parquet(path)
    r = pf.feols(fml, df, vcov={"CRV1": "firm"})
b, se = r.coef().to_numpy(), r.se().to_numpy()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(time.perf_counter() - t, peak, *b, *se)
"""


def run_child(which: str, path: Path, src: str | None = None) -> tuple[float, float, np.ndarray]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(path), FML],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"  ({which} failed: {out.stderr.strip().splitlines()[-1:]})", flush=True)
        return float("nan"), float("nan"), np.array([])
    vals = [float(v) for v in out.stdout.strip().splitlines()[-1].split()]
    return vals[0], vals[1], np.array(vals[2:])


def old_sources(commit: str, into: Path) -> str:
    """The policylab sources of ``commit`` (git archive), for the old implementation."""
    repo = Path(__file__).resolve().parents[1]
    tar = subprocess.run(["git", "-C", str(repo), "archive", commit, "src/policylab"],
                         capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into), "--strip-components=1"], input=tar, check=True)
    return str(into)


def _cell(t: float, m: float) -> str:
    return "—" if np.isnan(t) else f"{t:.1f} s, {m:,.0f} MB"


def _ratio(peer: float, ours: float) -> str:
    return "—" if np.isnan(peer) else f"{peer / ours:.1f}x"


def _diff(a: np.ndarray, b: np.ndarray) -> str:
    return f"{float(np.max(np.abs(a / b - 1))):.1e}" if a.size and a.size == b.size else "—"


def bench_rows(sizes: list[int], pyfixest_max: int, old_max: int, old_commit: str | None,
               workdir: str | None) -> None:
    print("| rows | load | policylab streamed | old feols_stream (sorts) | ratio | pyfixest in "
          "memory | ratio | max rel. diff old / pyfixest |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        old = old_sources(old_commit, Path(d)) if old_commit else None
        for rows in sizes:
            p = Path(d) / f"panel{rows}"
            write_panel(p, rows)
            load = os.getloadavg()[0]
            t1, m1, v1 = run_child("policylab", p)
            t2, m2, v2 = run_child("old", p, old) if old and rows <= old_max else (
                float("nan"), float("nan"), np.array([]))
            t3, m3, v3 = run_child("pyfixest", p) if rows <= pyfixest_max else (
                float("nan"), float("nan"), np.array([]))
            load = (load + os.getloadavg()[0]) / 2
            print(f"| {rows:,} | {load:.1f} | {_cell(t1, m1)} | {_cell(t2, m2)} | "
                  f"{_ratio(t2, t1)} | {_cell(t3, m3)} | {_ratio(t3, t1)} | "
                  f"{_diff(v1, v2)} / {_diff(v1, v3)} |", flush=True)
            for f in p.iterdir():
                f.unlink()
            p.rmdir()


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
    ap.add_argument("--rows", type=float, nargs="*", default=[10e6, 100e6])
    ap.add_argument("--pyfixest-max", type=float, default=10e6,
                    help="largest size also run in memory with pyfixest")
    ap.add_argument("--old-commit", default=None,
                    help="commit whose feols_stream is timed too (e.g. f6b2c07)")
    ap.add_argument("--old-max", type=float, default=100e6,
                    help="largest size also run with the old feols_stream")
    ap.add_argument("--workdir", default=None, help="folder for the generated files")
    ap.add_argument("--draws", type=int, default=10_000)
    args = ap.parse_args()
    if args.part in ("rows", "all"):
        bench_rows([int(r) for r in args.rows], int(args.pyfixest_max), int(args.old_max),
                   args.old_commit, args.workdir)
    if args.part in ("executors", "all"):
        bench_executors(args.draws, 500)
    print(f"peak memory of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
