"""Size of heterogeneity()'s difference tests with few treated clusters (Monte Carlo).

    python scripts/heterogeneity_size.py [--reps 200] [--executor processes]
                                         [--only city4 province8 city12]

Cities (4 per province) in 30 provinces over 8 years; the treatment switches on in 2014
in the first ``treated`` provinces; province-by-year shocks make errors correlated within
provinces; the effect is the same in both groups (the null of the difference tests is
true). Splits: a city trait (both groups in every province) or a province trait (the
groups are different provinces). Prints the share of replications in which each test
rejects at 5%. Replications run through the execution layer (per-chunk seeds: the same
numbers on any executor).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

import policylab as pl
from policylab.execution import run_chunks

TESTS = ["interaction", "suest", "wild_bootstrap", "permutation"]


def panel(rng: np.random.Generator, split: str, treated: int, provinces: int = 30,
          cities: int = 4, years: int = 8) -> pd.DataFrame:
    n = provinces * cities
    df = pd.DataFrame({"city": np.repeat(np.arange(n), years),
                       "year": np.tile(np.arange(2010, 2010 + years), n)})
    df["prov"] = df["city"] // cities
    df["grp"] = ((df["city"] if split == "city" else df["prov"]) % 2).astype(int)
    df["did"] = ((df["prov"] < treated) & (df["year"] >= 2014)).astype(float)
    df["x"] = rng.normal(size=len(df))
    shock = rng.normal(size=(provinces, years))[df["prov"], df["year"] - 2010]
    df["y"] = (0.2 * df["did"] + 0.4 * df["x"] + shock + 0.05 * df["city"]
               + rng.normal(size=len(df)))
    return df


def _chunk(chunk: tuple, cfg: dict) -> np.ndarray:
    start, size, seedseq = chunk
    rng = np.random.default_rng(seedseq)
    out = np.zeros((size, len(TESTS)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(size):
            df = panel(rng, cfg["split"], cfg["treated"])
            h = pl.heterogeneity(df, y="y", treat="did", by=["grp"], unit="city",
                                 time="year", controls=["x"], cluster="prov",
                                 assign="prov", permutation_draws=199, bootstrap_draws=399,
                                 seed=start + i)
            p = h.tests.set_index("test")["p_value"]
            out[i] = [p[t] < 0.05 for t in TESTS]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--executor", default=None)
    ap.add_argument("--only", nargs="*", choices=["city4", "province8", "city12"],
                    default=["city4", "province8", "city12"], help="rows to run")
    args = ap.parse_args()
    print("| split | treated provinces | " + " | ".join(TESTS) + " |")
    print("|---|---|" + "---|" * len(TESTS))
    for split, treated in (("city", 4), ("province", 8), ("city", 12)):
        if f"{split}{treated}" not in args.only:
            continue
        parts = run_chunks(_chunk, args.reps, shared={"split": split, "treated": treated},
                           seed=2026, chunk_size=10, executor=args.executor)
        rate = np.vstack(parts).mean(axis=0)
        print(f"| {split} | {treated} | " + " | ".join(f"{r:.3f}" for r in rate) + " |")


if __name__ == "__main__":
    main()
