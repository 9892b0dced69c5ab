"""Oracle: restricted wild cluster bootstrap of a joint Wald test, by brute force.

Every one of the 2^9 Rademacher sign vectors is applied to the restricted residuals of a
statsmodels OLS/WLS with explicit unit and period dummies; the unrestricted model is
refitted on each bootstrap outcome and its Wald statistic for the tested coefficients is
computed from statsmodels' cluster-robust covariance without small-sample factors (the
factor is a constant, so it does not change the bootstrap p-value). Draws are enumerated
in itertools.product order over clusters 0..G-1, points (-1, +1). Data:
tests/validation/data/wild_design.csv (written by wild_wildboottest.py). Weighted case:
w = 1 + (u mod 3) / 2. Writes tests/validation/oracles/joint_wild_statsmodels.json.

    python tests/validation/scripts/joint_wild_statsmodels.py
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.formula.api as smf

HERE = Path(__file__).resolve().parents[1]


def wald(fit, terms: list[str]) -> float:
    b = fit.params[terms].to_numpy()
    V = fit.cov_params().loc[terms, terms].to_numpy()
    return float(b @ np.linalg.solve(V, b))


def run(df: pd.DataFrame, terms: list[str], weighted: bool) -> dict:
    w = (1 + (df["u"] % 3) / 2).to_numpy() if weighted else np.ones(len(df))
    cov = {"groups": df["g"].to_numpy(), "use_correction": False, "df_correction": False}
    rhs_r = " + ".join([t for t in ("d", "x") if t not in terms] + ["C(u)", "C(t)"])
    restricted = smf.wls(f"y ~ {rhs_r}", data=df, weights=w).fit()
    fitted, u = restricted.fittedvalues.to_numpy(), restricted.resid.to_numpy()
    full = "y ~ d + x + C(u) + C(t)"
    obs = wald(smf.wls(full, data=df, weights=w).fit(cov_type="cluster", cov_kwds=cov), terms)
    G = int(df["g"].max()) + 1
    stats = []
    for v in itertools.product((-1.0, 1.0), repeat=G):
        d = df.assign(y=fitted + u * np.asarray(v)[df["g"].to_numpy()])
        stats.append(wald(smf.wls(full, data=d, weights=w).fit(cov_type="cluster",
                                                               cov_kwds=cov), terms))
    stats = np.array(stats)
    return {"statistic": obs, "stats": stats.tolist(),
            "p": float(np.mean(stats >= obs * (1 - 1e-9)))}


def main() -> None:
    df = pd.read_csv(HERE / "data" / "wild_design.csv")
    out = {"statsmodels": statsmodels.__version__}
    for terms in (["d", "x"], ["d"]):
        for weighted in (False, True):
            out[f"{'_'.join(terms)}_{'wls' if weighted else 'ols'}"] = run(df, terms, weighted)
    (HERE / "oracles" / "joint_wild_statsmodels.json").write_text(json.dumps(out))
    print({k: (v["statistic"], v["p"]) if isinstance(v, dict) else v for k, v in out.items()})


if __name__ == "__main__":
    main()
