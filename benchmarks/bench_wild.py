"""Wild cluster bootstrap (WCR, Rademacher, 9,999 draws) with its test-inversion
confidence interval, at 30 and 500 clusters.

    python benchmarks/bench_wild.py [--reps 3]

policylab with the interval, without it, and the cost of the interval by re-running the
bootstrap per candidate value (the previous method: one p-value per root-search step,
timed as the p-value-only call times the number of steps the search takes); and, when
the `wildboottest` package is importable, its p-value (no interval: it has none) on the
same model written with explicit dummies. Best of ``--reps`` after a warm-up; prints
the load average.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import pandas as pd

warnings.simplefilter("ignore")
ROOT = Path(__file__).resolve().parents[1]


def best(f, reps: int) -> tuple[float, object]:
    ts, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return min(ts), out


def models():
    import policylab as pl

    c = pl.datasets.carbon_pilot()
    yield ("carbon study, 30 provinces (570 rows)",
           pl.did(c, y="ln_co2", treat="did", controls=["ln_gdp", "fdi"]), "did",
           c.df, "ln_co2 ~ did + ln_gdp + fdi + C(province) + C(year)", "province")
    m = pd.read_csv(ROOT / "tests" / "validation" / "data" / "mpdta.csv")
    m["d"] = ((m["first.treat"] > 0) & (m["year"] >= m["first.treat"])).astype(float)
    yield ("mpdta, 500 counties (2,500 rows)",
           pl.feols("lemp ~ d + lpop | countyreal + year", m, vcov={"CRV1": "countyreal"}),
           "d", m, "lemp ~ d + lpop + C(countyreal) + C(year)", "countyreal")


def search_steps(res, param: str) -> int:
    """How many p-values the interval's root search evaluates."""
    from policylab.inference import wild

    calls = 0
    orig = wild._WildDraws.p_value

    def counted(self, theta):
        nonlocal calls
        calls += 1
        return orig(self, theta)

    wild._WildDraws.p_value = counted
    try:
        wild.wild_bootstrap(res, param=param, seed=1)
    finally:
        wild._WildDraws.p_value = orig
    return calls


def peer(df: pd.DataFrame, fml: str, param: str, cluster: str, reps: int) -> tuple:
    try:
        import statsmodels.formula.api as smf
        from wildboottest.wildboottest import wildboottest as wbt
    except ImportError:
        return float("nan"), float("nan")
    model = smf.ols(fml, data=df)

    def run():
        return wbt(model, B=9999, cluster=df[cluster], param=param,
                   weights_type="rademacher", impose_null=True, seed=1, show=False)

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - the peer's own failure, reported
        print(f"wildboottest failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return float("nan"), float("nan")
    t, out = best(run, reps)
    return t, float(out["p-value"].iloc[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from policylab.inference.wild import wild_bootstrap

    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("| model | policylab p + CI (s) | p only (s) | CI by re-running per candidate "
          "(s, steps x p only) | ratio | wildboottest p only (s) | p policylab / "
          "wildboottest | CI |")
    print("|---|---|---|---|---|---|---|---|")
    for name, res, param, df, fml, cl in models():
        wild_bootstrap(res, param=param, seed=0)  # warm-up
        t_ci, w = best(lambda r=res, p=param: wild_bootstrap(r, param=p, seed=1), args.reps)
        t_p, _ = best(lambda r=res, p=param: wild_bootstrap(r, param=p, seed=1, ci=False),
                      args.reps)
        steps = search_steps(res, param)
        t_old = t_p * (steps + 1)
        t_wbt, p_wbt = peer(df, fml, param, cl, args.reps)
        print(f"| {name} | {t_ci:.3f} | {t_p:.3f} | {t_old:.1f} ({steps} steps) "
              f"| {t_old / t_ci:,.0f}x | {t_wbt:.2f} | {w.p_value:.4f} / {p_wbt:.4f} "
              f"| [{w.conf_low:.6f}, {w.conf_high:.6f}] |")


if __name__ == "__main__":
    main()
