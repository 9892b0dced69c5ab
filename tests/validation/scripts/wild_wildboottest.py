"""Oracle: wild cluster bootstrap p-values from the `wildboottest` package (statsmodels
OLS with explicit fixed-effect dummies, all 2^G Rademacher sign vectors enumerated).
Writes tests/validation/oracles/wild_wildboottest.json and the design data CSV.

    pip install wildboottest && python tests/validation/scripts/wild_wildboottest.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
import wildboottest
from wildboottest.wildboottest import wildboottest as wbt

HERE = Path(__file__).resolve().parents[1]


def design(seed: int = 11, groups: int = 9, per: int = 3, years: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units = groups * per
    df = pd.DataFrame({"u": np.repeat(np.arange(units), years),
                       "t": np.tile(np.arange(years), units)})
    df["g"] = df["u"] // per
    df["d"] = ((df["g"] < 3) & (df["t"] >= 4)).astype(float)
    df["x"] = rng.normal(size=len(df))
    df["y"] = 0.2 * df["d"] + 0.4 * df["x"] + rng.normal(size=len(df)) * (1 + df["g"] / 4)
    return df


def main() -> None:
    df = design()
    df.to_csv(HERE / "data" / "wild_design.csv", index=False)
    model = smf.ols("y ~ d + x + C(u) + C(t)", data=df)
    out = {"wildboottest": getattr(wildboottest, "__version__", "unknown")}
    for null in (True, False):
        for param in ("d", "x"):
            # 2**G < B makes wildboottest enumerate all 512 sign vectors
            res = wbt(model, B=9999, cluster=df["g"], param=param, weights_type="rademacher",
                      impose_null=null, seed=1, show=False)
            out[f"{param}_{'wcr' if null else 'wcu'}"] = {
                "p": float(res["p-value"].iloc[0]), "t": float(res["statistic"].iloc[0])}
    (HERE / "oracles" / "wild_wildboottest.json").write_text(json.dumps(out, indent=2))
    print(out)


if __name__ == "__main__":
    main()
