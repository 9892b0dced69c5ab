"""Generate the feols validation designs (seeded) as CSV files in tests/validation/data/.

    python tests/validation/scripts/feols_designs.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data"


def panel(units: int, years: int, seed: int, drop: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), years),
                       "year": np.tile(np.arange(2000, 2000 + years), units)})
    df["grp"] = df["unit"] % 7
    df["region"] = df["unit"] % 5
    a = rng.normal(size=units)[df["unit"]]
    df["x1"] = rng.normal(size=len(df)) + 0.5 * a
    df["x2"] = rng.normal(size=len(df)) + 0.1 * (df["year"] - 2000)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["y"] = (0.7 * df["x1"] - 0.4 * df["x2"] + a + 0.05 * (df["year"] - 2000)
               + rng.normal(size=len(df)) * (1 + 0.3 * (df["grp"] == 0)))
    if drop:
        df = df.sample(frac=1 - drop, random_state=seed).sort_values(["unit", "year"])
    return df.reset_index(drop=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    panel(60, 8, 1).to_csv(OUT / "feols_balanced.csv", index=False)
    u = panel(80, 9, 2, drop=0.2)
    u = pd.concat([u, pd.DataFrame({"unit": [999], "year": [2003], "grp": [1], "region": [1],
                                    "x1": [0.3], "x2": [0.1], "w": [1.0], "y": [2.0]})])
    u["x3"] = 2 * u["x1"] - u["x2"]  # collinear
    u.to_csv(OUT / "feols_unbalanced.csv", index=False)
    panel(12, 10, 3).to_csv(OUT / "feols_fewclusters.csv", index=False)


if __name__ == "__main__":
    main()
