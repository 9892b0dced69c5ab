"""feols vs pyfixest on other fixed-effect structures, side by side in one process.

    python benchmarks/bench_feols_structures.py [--rows 1e6] [--repeat 3]

Same panel generator as bench_feols.py (14 years, 5 controls, 10% of rows dropped),
unit-clustered SE: three fixed effects where one is implied by another
(``unit + year + region^year``), two-way FE with analytic weights, and an event study
written with ``i(rel, ref=-1)`` (15 relative-time dummies). Both libraries are warmed on
a 60,000-row slice first; best of ``--repeat`` runs; prints ratios and the largest
relative differences of coefficients and SEs.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from bench_feols import best, make

warnings.simplefilter("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import pyfixest as pf

    import policylab as pl

    df = make(int(args.rows), 0.1)
    rng = np.random.default_rng(1)
    df["region"] = df["unit"] % 31
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    cohort = np.where(df["unit"] % 3 == 0, 2011 + df["unit"] % 5, 0)
    df["rel"] = np.where(cohort > 0, np.clip(df["year"] - cohort, -7, 8), -1).astype(int)
    xs = "x1 + x2 + x3 + x4 + x5"
    cases = [
        ("unit + year + region^year", f"y ~ {xs} | unit + year + region^year", {}),
        ("unit + year, weights", f"y ~ {xs} | unit + year", {"weights": "w"}),
        ("i(rel, ref=-1), FE unit + year", "y ~ i(rel, ref=-1) | unit + year", {}),
    ]
    print("| model | rows | policylab (s) | pyfixest (s) | ratio | demeaning | "
          "max rel diff coef / SE |")
    print("|---|---|---|---|---|---|---|")
    for label, fml, kw in cases:
        small = df.head(60_000)
        pl.feols(fml, small, vcov={"CRV1": "unit"}, **kw)
        pf.feols(fml, small, vcov={"CRV1": "unit"}, **kw)
        t_pl = best(lambda fml=fml, kw=kw: pl.feols(fml, df, vcov={"CRV1": "unit"}, **kw),
                    args.repeat)
        t_pf = best(lambda fml=fml, kw=kw: pf.feols(fml, df, vcov={"CRV1": "unit"}, **kw),
                    args.repeat)
        a = pl.feols(fml, df, vcov={"CRV1": "unit"}, **kw)
        b = pf.feols(fml, df, vcov={"CRV1": "unit"}, **kw)
        bc, bs = b.coef().to_numpy(), b.se().to_numpy()
        dc = np.max(np.abs(a.coef().to_numpy() - bc) / np.abs(bc))
        ds = np.max(np.abs(a.se().to_numpy() - bs) / bs)
        print(f"| `{label}` | {len(df):,} | {t_pl:.3f} | {t_pf:.3f} | {t_pf / t_pl:.1f}x | "
              f"{a.meta['demean']} | {dc:.1e} / {ds:.1e} |", flush=True)


if __name__ == "__main__":
    main()
