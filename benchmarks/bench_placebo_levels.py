"""Placebo draws at every assignment level: policylab vs a pyfixest regression per draw.

    python benchmarks/bench_placebo_levels.py [--draws 1000] [--loop 200] [--big-draws 10000]

1. The energy example (256 cities x 14 years, 3,584 rows, city and year FE, 4 controls):
   1,000 draws with the clustered t, reassigning provinces (4 of 30, clustered by
   province) and cities (55 of 256, clustered by city), each plain, with analytic weights
   and with an extra resource-type x year effect; each city row is set beside the
   province row of the same model and the plain province row (wall / CPU ratios).
   policylab best of 5 after a warm-up (wall and CPU); pyfixest runs the same draws
   (same fake treatments) as one feols per draw (faster here than its
   multiple-estimation ``sw(f1, ..., f50)``, which took 2-3x longer per draw in a
   trial), timed on ``--loop`` draws and extrapolated; its estimates and t statistics
   are checked against policylab's.
2. 10,000 draws on 100,000 rows (10,000 units x 10 years, 2,000 treated units, unit-level
   assignment and clusters), and the same panel with 10% of the rows dropped.
Prints the load average before each part.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")
CTRL = ["ln_pgdp", "urban", "fiscal", "tertiary"]


def best_cpu(f, reps: int = 3) -> tuple[float, float, object]:
    """Best wall and best CPU seconds of ``reps`` calls (CPU time: the process's, all
    threads; on a shared machine the wall time also holds the waits for a core)."""
    ts, cs, out = [], [], None
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        out = f()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    return min(ts), min(cs), out


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def fake_columns(df: pd.DataFrame, level: str, draws: np.ndarray, start: int) -> np.ndarray:
    """The fake treatments of the draws (rows x draws), as pyfixest is given them."""
    post = (df["year"] >= start).to_numpy()
    out = np.zeros((len(df), len(draws)))
    for d, groups in enumerate(draws):
        out[:, d] = np.isin(df[level].to_numpy(), groups) & post
    return out


def pyfixest_loop(df: pd.DataFrame, cols: np.ndarray, fe: str, cluster: str,
                  weights: str | None) -> tuple[float, np.ndarray]:
    import pyfixest as pf

    fml = f"ln_ntt ~ fake + {' + '.join(CTRL)} | {fe}"
    out = []
    t = time.perf_counter()
    for j in range(cols.shape[1]):
        m = pf.feols(fml, df.assign(fake=cols[:, j]), vcov={"CRV1": cluster}, weights=weights)
        out.append((m.coef()["fake"], m.tstat()["fake"]))
    return time.perf_counter() - t, np.array(out)


def energy(args: argparse.Namespace) -> None:
    import policylab as pl
    from policylab.inference.placebo import placebo_test

    p = pl.datasets.energy_rights_pilot()
    df = p.df.copy()
    df["pop_w"] = np.random.default_rng(0).uniform(0.5, 2.0, len(df))
    start = int(df.loc[df["did"] > 0, "year"].min())
    wdf = dict(unit="city", time="year", controls=CTRL)
    xfe = ["city", "year", "resource_type^year"]
    models = {
        "provinces (4 of 30), clustered by province": (
            pl.did(p, y="ln_ntt", treat="did", controls=CTRL, assign="province"),
            "province", "city + year", None),
        "cities (55 of 256), clustered by city": (
            pl.did(p, y="ln_ntt", treat="did", controls=CTRL), "city", "city + year", None),
        "provinces, analytic weights": (
            pl.did(df, y="ln_ntt", treat="did", weights="pop_w", assign="province", **wdf),
            "province", "city + year", "pop_w"),
        "cities, analytic weights": (
            pl.did(df, y="ln_ntt", treat="did", weights="pop_w", **wdf),
            "city", "city + year", "pop_w"),
        "provinces, FE city + year + resource_type^year": (
            pl.did(df, y="ln_ntt", treat="did", fe=xfe, assign="province", **wdf),
            "province", "city + year + resource_type^year", None),
        "cities, FE city + year + resource_type^year": (
            pl.did(df, y="ln_ntt", treat="did", fe=xfe, **wdf),
            "city", "city + year + resource_type^year", None),
    }
    print(load())
    print("| workload (1,000 draws, clustered t, 3,584 rows) | method | policylab wall / CPU (s) "
          "| pyfixest loop (s, extrapolated) | ratio | max rel diff coef / t |")
    print("|---|---|---|---|---|---|")
    base = plain = None
    for name, (res, level, fe, w) in models.items():
        placebo_test(res, draws=50, exact=False, seed=0)  # compile / load the kernels
        t_pl, c_pl, pt = best_cpu(lambda r=res: placebo_test(r, draws=args.draws, exact=False,
                                                            seed=1), reps=5)
        if level == "province":
            base = (t_pl, c_pl)
        plain = plain or (t_pl, c_pl)  # the first row: province draws, plain model
        groups = sorted(df[level].unique())
        n_tr = df.loc[df["did"] > 0, level].nunique()
        rng = np.random.default_rng(5)
        sets = [list(rng.choice(groups, n_tr, replace=False)) for _ in range(args.loop)]
        ours = placebo_test(res, fake_assignments=sets)
        cols = fake_columns(df, level, np.array(sets, dtype=object), start)
        t_loop, ref = pyfixest_loop(df, cols, fe, level, w)
        t_loop *= args.draws / args.loop
        dc = np.max(np.abs(ours.estimates - ref[:, 0]) / np.abs(ref[:, 0]))
        dt = np.max(np.abs(ours.tstats - ref[:, 1]) / np.abs(ref[:, 1]))
        rel = "" if level == "province" else (
            f" ({t_pl / base[0]:.1f}x / {c_pl / base[1]:.1f}x the province row above; "
            f"{t_pl / plain[0]:.1f}x / {c_pl / plain[1]:.1f}x the plain province row)")
        print(f"| {name} | {pt.meta['method']} | {t_pl:.3f} / {c_pl:.3f}{rel} | {t_loop:.1f} "
              f"| {t_loop / t_pl:,.0f}x | {dc:.1e} / {dt:.1e} |", flush=True)
    print(load())


def big_panel(units: int, years: int, drop: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2010, 2010 + years), units)})
    df["d"] = ((df["unit"] < units // 5) & (df["year"] >= 2015)).astype(float)
    X = rng.standard_normal((len(df), 4))
    for j in range(4):
        df[f"x{j}"] = X[:, j]
    df["y"] = 0.1 * df["d"] + X @ np.array([0.3, -0.2, 0.1, 0.05]) + rng.standard_normal(len(df))
    if drop:
        df = df[rng.random(len(df)) >= drop].reset_index(drop=True)
    return df


def big(args: argparse.Namespace) -> None:
    import policylab as pl
    from policylab.inference.placebo import placebo_test

    print(load())
    print("| workload | rows | draws | method | policylab wall / CPU (s) |")
    print("|---|---|---|---|---|")
    for drop, draws in ((0.0, args.big_draws), (0.1, args.big_draws_dropped)):
        df = big_panel(10_000, 10, drop)
        res = pl.did(df, y="y", treat="d", unit="unit", time="year",
                     controls=["x0", "x1", "x2", "x3"])
        placebo_test(res, draws=200, exact=False, seed=0)  # the same method's kernels
        el, cpu, pt = best_cpu(lambda r=res, d=draws: placebo_test(r, draws=d, exact=False,
                                                                  seed=1), reps=1)
        print(f"| unit-level draws (2,000 of 10,000 units), clustered by unit"
              f"{', 10% rows dropped' if drop else ', balanced'} | {len(df):,} | {draws:,} "
              f"| {pt.meta['method']} | {el:.2f} / {cpu:.2f} |", flush=True)
    print(load())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=30, help="pyfixest draws (extrapolated)")
    ap.add_argument("--big-draws", type=int, default=10_000)
    ap.add_argument("--big-draws-dropped", type=int, default=10_000)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--only-big", action="store_true")
    args = ap.parse_args()
    if not args.only_big:
        energy(args)
    if not args.skip_big:
        big(args)


if __name__ == "__main__":
    main()
