"""Oracle: wild cluster bootstrap confidence intervals by inverting `wildboottest`'s
p-values (WCR, all 2^9 Rademacher sign vectors enumerated, so the p-value function is
deterministic). wildboottest tests coefficient = 0 only, so the null theta is imposed by
regressing y - theta * x on the same design; the end points are where its p-value
crosses alpha, found by bisection to 1e-7 of the analytic SE (each wildboottest call
takes seconds). Writes
tests/validation/oracles/wild_ci_wildboottest.json.

    pip install wildboottest && python tests/validation/scripts/wild_ci_wildboottest.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


def grid(df: pd.DataFrame, out: dict) -> None:
    """wildboottest's p-values of the x coefficient on a grid of hypothesised values."""
    fit = smf.ols("y ~ d + x + C(u) + C(t)", data=df).fit()
    b, se = float(fit.params["x"]), float(fit.bse["x"])
    thetas = [b + k * se for k in (-2.5, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.5)]
    out["x_grid"] = {"theta": thetas, "p": [p_value(df, "x", th) for th in thetas]}


def main() -> None:
    df = pd.read_csv(HERE / "data" / "wild_design.csv")
    path = HERE / "oracles" / "wild_ci_wildboottest.json"
    if "--grid-only" in sys.argv:
        out = json.loads(path.read_text())
        grid(df, out)
        path.write_text(json.dumps(out, indent=2))
        return
    out = {}
    grid(df, out)
    for param, level in (("x", 0.90), ("d", 0.95)):
        fit = smf.ols("y ~ d + x + C(u) + C(t)", data=df).fit(
            cov_type="cluster", cov_kwds={"groups": df["g"]})
        b, se = float(fit.params[param]), float(fit.bse[param])
        alpha = 1 - level
        far = 20 * se
        assert p_value(df, param, b) >= alpha and p_value(df, param, b + far) < alpha
        assert p_value(df, param, b - far) < alpha
        hi = end_point(df, param, b, b + far, alpha, 1e-7 * se)
        lo = end_point(df, param, b, b - far, alpha, 1e-7 * se)
        out[f"{param}_{int(level * 100)}"] = {"conf_low": lo, "conf_high": hi, "se": se}
        print(param, level, lo, hi)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
