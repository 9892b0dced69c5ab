"""Placebo / randomization inference: policylab vs a loop of pyfixest regressions and
pyfixest's ritest, on the synthetic city study (3,584 rows, city and year FE, 4
controls, 4 treated provinces), side by side; plus exact enumeration of all
C(30, 6) = 593,775 assignments on the 570-row province study.

    python benchmarks/bench_placebo.py [--draws 1000] [--loop 30] [--ritest 100]

policylab's times are wall / CPU seconds of the process (the machine is shared: the wall
time holds waits for a core); the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=30, help="pyfixest loop draws (extrapolated)")
    ap.add_argument("--ritest", type=int, default=100, help="ritest draws (extrapolated)")
    args = ap.parse_args()
    import pyfixest as pf

    import policylab as pl
    from policylab.inference.placebo import placebo_test

    p = pl.datasets.energy_rights_pilot()
    df = p.df
    ctrl = ["ln_pgdp", "urban", "fiscal", "tertiary"]
    res = pl.did(p, y="ln_ntt", treat="did", controls=ctrl, assign="province")
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    placebo_test(res, draws=50, exact=False, seed=0)  # warm the compiled kernels
    t, c0 = time.perf_counter(), time.process_time()
    pt = placebo_test(res, draws=args.draws, exact=False, seed=1)
    t_pl, c_pl = time.perf_counter() - t, time.process_time() - c0

    provinces = df["province"].unique()
    rng = np.random.default_rng(1)
    fml = "ln_ntt ~ fake + " + " + ".join(ctrl) + " | city + year"
    t = time.perf_counter()
    for _ in range(args.loop):
        fake = set(rng.choice(provinces, 4, replace=False))
        d = df.assign(fake=(df["province"].isin(fake) & (df["year"] >= 2017)).astype(float))
        pf.feols(fml, d, vcov={"CRV1": "province"}).tstat()
    t_loop = (time.perf_counter() - t) / args.loop * args.draws

    # ritest needs numeric cluster ids
    dfi = df.assign(did=df["did"].astype(float), prov_id=df["province"].astype("category").cat.codes.astype(int),
                    city_id=df["city"].astype("category").cat.codes.astype(int))
    # (ritest splits the formula on "|" and keeps the spaces, so none here)
    fit = pf.feols("ln_ntt~did+" + "+".join(ctrl) + "|city_id+year", dfi,
                   vcov={"CRV1": "prov_id"})
    t = time.perf_counter()
    try:
        fit.ritest(resampvar="did", reps=args.ritest, cluster="prov_id",
                   rng=np.random.default_rng(2))
        t_ri = (time.perf_counter() - t) / args.ritest * args.draws
    except Exception as exc:  # noqa: BLE001 - the peer's own limitations
        print(f"ritest failed: {exc}")
        t_ri = float("nan")

    c = pl.datasets.carbon_pilot()
    rc = pl.did(c, y="ln_co2", treat="did", controls=["ln_gdp", "fdi"])
    t, c0 = time.perf_counter(), time.process_time()
    ex = placebo_test(rc, exact=True)
    t_ex, c_ex = time.perf_counter() - t, time.process_time() - c0
    cdf = c.df
    provs = cdf["province"].unique()
    t = time.perf_counter()
    for _ in range(args.loop):
        fake = set(rng.choice(provs, 6, replace=False))
        d = cdf.assign(fake=(cdf["province"].isin(fake) & (cdf["year"] >= 2011)).astype(float))
        pf.feols("ln_co2 ~ fake + ln_gdp + fdi | province + year", d,
                 vcov={"CRV1": "province"}).tstat()
    t_loop_c = (time.perf_counter() - t) / args.loop * len(ex.estimates)

    print("| workload | policylab wall / CPU (s) | pyfixest feols loop (s) | pyfixest ritest (s) "
          "| vs loop | vs ritest |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.draws:,} random-province draws, clustered t | {t_pl:.3f} / {c_pl:.3f} "
          f"| {t_loop:.1f} | {t_ri:.1f} | {t_loop / t_pl:,.0f}x | {t_ri / t_pl:,.0f}x |")
    print(f"| exact enumeration, {len(ex.estimates):,} assignments (570 rows) "
          f"| {t_ex:.2f} / {c_ex:.2f} | {t_loop_c:,.0f} (extrapolated) | - | {t_loop_c / t_ex:,.0f}x | - |")
    print(f"p-values: sampled {pt.p_value:.4f}, exact {ex.p_value:.2e}")
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
