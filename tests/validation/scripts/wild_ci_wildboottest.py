"""Oracle: wild cluster bootstrap confidence intervals by inverting `wildboottest`'s
p-values (WCR, all 2^9 Rademacher sign vectors enumerated, so the p-value function is
deterministic). wildboottest tests coefficient = 0 only, so the null theta is imposed by
regressing y - theta * x on the same design; the end points are where its p-value
crosses alpha, found by bisection to 1e-9 (relative to the analytic SE). Writes
tests/validation/oracles/wild_ci_wildboottest.json.

    pip install wildboottest && python tests/validation/scripts/wild_ci_wildboottest.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from wildboottest.wildboottest import wildboottest as wbt

HERE = Path(__file__).resolve().parents[1]


def p_value(df: pd.DataFrame, param: str, theta: float) -> float:
    d = df.assign(y_theta=df["y"] - theta * df[param])
    model = smf.ols("y_theta ~ d + x + C(u) + C(t)", data=d)
    res = wbt(model, B=9999, cluster=d["g"], param=param, weights_type="rademacher",
              impose_null=True, seed=1, show=False)
    return float(res["p-value"].iloc[0])


def end_point(df: pd.DataFrame, param: str, inside: float, outside: float,
              alpha: float, tol: float) -> float:
    # p >= alpha at `inside`, < alpha at `outside`: bisect the crossing
    while abs(outside - inside) > tol:
        mid = 0.5 * (inside + outside)
        if p_value(df, param, mid) >= alpha:
            inside = mid
        else:
            outside = mid
    return 0.5 * (inside + outside)


def main() -> None:
    df = pd.read_csv(HERE / "data" / "wild_design.csv")
    out = {}
    for param, level in (("x", 0.90), ("x", 0.95), ("d", 0.90)):
        fit = smf.ols("y ~ d + x + C(u) + C(t)", data=df).fit(
            cov_type="cluster", cov_kwds={"groups": df["g"]})
        b, se = float(fit.params[param]), float(fit.bse[param])
        alpha = 1 - level
        far = 50 * se
        assert p_value(df, param, b) >= alpha and p_value(df, param, b + far) < alpha
        assert p_value(df, param, b - far) < alpha
        hi = end_point(df, param, b, b + far, alpha, 1e-9 * se)
        lo = end_point(df, param, b, b - far, alpha, 1e-9 * se)
        out[f"{param}_{int(level * 100)}"] = {"conf_low": lo, "conf_high": hi, "se": se}
        print(param, level, lo, hi)
    (HERE / "oracles" / "wild_ci_wildboottest.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
