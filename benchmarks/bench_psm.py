"""Logit score (policylab's own Newton-Raphson logit, ``engine.binary_choice``) +
Epanechnikov kernel matching (bandwidth 0.06, common support) + balance table at 3,584,
100k and 1M rows, against a direct n_treated x n_control numpy implementation of
psmatch2's formula (skipped where it would not fit in memory).

    python benchmarks/bench_psm.py [--sizes 3584 1e5 1e6]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")


def data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    d = (rng.random(n) < 1 / (1 + np.exp(-(X @ [0.5, -0.3, 0.2, 0.1] - 1.0)))).astype(int)
    df = pd.DataFrame(X, columns=["x1", "x2", "x3", "x4"])
    df["d"] = d
    df["y"] = d + X[:, 0] + rng.standard_normal(n)
    return df


def direct(pt: np.ndarray, pc: np.ndarray, yc: np.ndarray, h: float = 0.06) -> np.ndarray:
    # the n_treated x n_control kernel matrix, built 1,000 treated rows at a time
    out = np.empty(len(pt))
    for s in range(0, len(pt), 1000):
        u = (pc[None, :] - pt[s:s + 1000, None]) / h
        K = np.where(np.abs(u) < 1, 0.75 * (1 - u**2), 0.0)
        out[s:s + 1000] = (K @ yc) / K.sum(axis=1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=float, nargs="*", default=[3584, 1e5, 1e6])
    args = ap.parse_args()
    import policylab as pl

    pl.match(data(500), "d", ["x1", "x2", "x3", "x4"], outcome="y")  # warm
    print("| rows | policylab score+match+balance (s) | direct kernel matrix (s) | ratio |")
    print("|---|---|---|---|")
    for n in (int(s) for s in args.sizes):
        df = data(n)
        t = time.perf_counter()
        m = pl.match(df, "d", ["x1", "x2", "x3", "x4"], outcome="y", method="kernel")
        pl.balance_table(m, df)
        t_pl = time.perf_counter() - t
        t_dir = float("nan")
        p = m.rows["_pscore"].to_numpy()
        d = df["d"].to_numpy() == 1
        if n <= 200_000:  # larger sizes would take many minutes
            t = time.perf_counter()
            direct(p[d], p[~d], df["y"].to_numpy()[~d])
            t_dir = time.perf_counter() - t
        ratio = f"{t_dir / t_pl:.1f}x" if np.isfinite(t_dir) else "-"
        print(f"| {n:,} | {t_pl:.2f} | {t_dir:.2f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
