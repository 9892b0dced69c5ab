"""Oracle: McFadden's pseudo R2 of the propensity-score model, weighted and not, from
statsmodels' binomial GLM.

Data: the base-year cross-section (year 2002) of tests/validation/data/psm_sweights.csv,
treatment ``ever`` (the unit is ever treated), covariates x1 x2 x3. Weights: none, the
sampling weights ``w``, and ``w**3`` (skewed, so the weighted and unweighted fits are far
apart). The weights enter as ``var_weights`` (prior weights, R ``glm(weights=)``), which
is policylab's semantics for sampling weights: the number of observations is the number
of rows, not the sum of the weights (``freq_weights`` would say the rows are replicated
``w`` times; for the binomial family it gives the same likelihood but another nobs/df).
The GLM is fitted by IRLS to tol 1e-14; ``llnull`` is statsmodels' refit of the
intercept-only model with the same weights; pseudo R2 = 1 - llf / llnull.
Writes tests/validation/oracles/psm_pseudo_r2_statsmodels.json.

    python tests/validation/scripts/psm_pseudo_r2_statsmodels.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

HERE = Path(__file__).resolve().parents[1]
LINK = {"logit": families.links.Logit, "probit": families.links.Probit}
WEIGHTS = {"none": None, "w": lambda w: w, "w_cubed": lambda w: w ** 3}


def cross_section() -> pd.DataFrame:
    d = pd.read_csv(HERE / "data" / "psm_sweights.csv")
    d["ever"] = d.groupby("unit")["d"].transform("max")
    return d[d["year"] == 2002].reset_index(drop=True)


def main() -> None:
    df = cross_section()
    X = np.column_stack([np.ones(len(df)), df[["x1", "x2", "x3"]].to_numpy(float)])
    y = df["ever"].to_numpy(float)
    out: dict = {"statsmodels": statsmodels.__version__}
    for link, lk in LINK.items():
        for name, fw in WEIGHTS.items():
            kw = {} if fw is None else {"var_weights": fw(df["w"].to_numpy(float))}
            ref = GLM(y, X, family=families.Binomial(link=lk()), **kw).fit(
                maxiter=1000, tol=1e-14)
            out[f"{link}_{name}"] = {"llf": float(ref.llf), "llnull": float(ref.llnull),
                                     "pseudo_r2": float(1 - ref.llf / ref.llnull),
                                     "params": ref.params.tolist()}
    path = HERE / "oracles" / "psm_pseudo_r2_statsmodels.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
