"""Oracle: statsmodels' Mediation (Imai-Keele-Tingley, linear models, parametric
simulation with a fixed seed) on a cross-sectional example; stores the data and the
average ACME/ADE with their simulation spread.

    python tests/validation/scripts/mediation_statsmodels.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.mediation import Mediation

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    rng = np.random.default_rng(0)
    n = 500
    d = (rng.random(n) < 0.5).astype(float)
    x = rng.normal(size=n)
    m = 0.5 * d + 0.3 * x + rng.normal(size=n)
    y = 0.4 * m + 0.2 * d + 0.1 * x + rng.normal(size=n)
    df = pd.DataFrame({"id": np.arange(n), "t": 1, "d": d, "x": x, "m": m, "y": y})
    df.to_csv(HERE / "data" / "mediation_xsec.csv", index=False)
    np.random.seed(1)  # noqa: NPY002 - statsmodels draws from the global generator
    om = sm.OLS.from_formula("y ~ d + m + x", df)
    mm = sm.OLS.from_formula("m ~ d + x", df)
    r = Mediation(om, mm, "d", "m").fit(method="parametric", n_rep=4000)
    ind = np.asarray(r.indirect_effects[0])
    out = {"n_rep": 4000, "acme_avg": float(np.mean(r.ACME_avg)),
           "acme_sim_sd": float(np.std(r.ACME_avg)),
           "ade_avg": float(np.mean(r.ADE_avg)), "ade_sim_sd": float(np.std(r.ADE_avg)),
           "indirect_0_mean": float(ind.mean())}
    (HERE / "oracles" / "mediation_statsmodels.json").write_text(json.dumps(out, indent=2))
    print(out)


if __name__ == "__main__":
    main()
