"""policylab vs statspai side by side: randomization inference (ri_test) on the city
study and psmatch2-style kernel matching. statspai is not a project dependency (pip
install statspai beside policylab; the shared venv has it). At 100,000 rows statspai's
kernel matching takes minutes and about 18 GB of memory.

    python benchmarks/bench_statspai.py [--sizes 3584 1e5]
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.simplefilter("ignore")


def best(f, reps: int = 3) -> float:
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=float, nargs="*", default=[3584, 1e5],
                    help="rows of the matching rows (statspai at 1e5: minutes, ~18 GB)")
    args = ap.parse_args()
    import statspai as sp

    import policylab as pl
    from policylab.inference.placebo import placebo_test

    p = pl.datasets.energy_rights_pilot()
    df = p.df.copy()
    ctrl = ["ln_pgdp", "urban", "fiscal", "tertiary"]
    res = pl.did(p, y="ln_ntt", treat="did", controls=ctrl, assign="province")
    placebo_test(res, draws=50, exact=False, seed=0)
    t_pl = best(lambda: placebo_test(res, draws=1000, exact=False, seed=1))
    # statspai permutes a cluster-level exposure and multiplies it by `interact`
    kw = dict(y="ln_ntt", treat="treat", interact="post", stat="ols_t", n_perms=1000,
              cluster="province", covariates=ctrl, absorb=["city", "year"], seed=1)
    out = sp.ri_test(df, **kw)
    t_sp = best(lambda: sp.ri_test(df, **kw))
    print("| workload | policylab (s) | statspai (s) | ratio |")
    print("|---|---|---|---|")
    print(f"| 1,000 placebo draws (city study; policylab with clustered t) | {t_pl:.3f} | "
          f"{t_sp:.3f} | {t_sp / t_pl:.1f}x |")
    keys = {k: v for k, v in out.items() if isinstance(v, (int, float))}
    print(f"statspai ri_test output: {keys}")
    from bench_psm import data

    for n in (int(x) for x in args.sizes):
        d = data(n)
        pl.match(d.head(500), "d", ["x1", "x2", "x3", "x4"], outcome="y")
        t_pl = best(lambda d=d: pl.balance_table(pl.match(d, "d", ["x1", "x2", "x3", "x4"],
                                                          outcome="y"), d), 2)
        t_sp = best(lambda d=d: sp.psmatch2(d, treat="d", covariates=["x1", "x2", "x3", "x4"],
                                            outcome="y", method="kernel", kernel="epan",
                                            bwidth=0.06, common_support="minmax"), 2)
        print(f"| logit + kernel matching (+ balance for policylab), {n:,} rows | {t_pl:.3f} | "
              f"{t_sp:.3f} | {t_sp / t_pl:.1f}x |")


if __name__ == "__main__":
    main()
