"""Oracle: pyfixest's ``Feols.vcov(...)`` (re-studentise a fitted model) on a weighted,
unbalanced panel with two fixed effects. Writes
tests/validation/oracles/restudentise_pyfixest.json.

    python tests/validation/scripts/restudentise_pyfixest.py

Each case fits the model once (iid), then re-computes the variance with another vcov
and records coefficients, SEs, t, p and 95% CIs. CRV3 is taken on the model whose fixed
effect is nested in the clusters: with a non-nested one (year) pyfixest's jackknife and
policylab's (fixed effects held at their full-sample projection) differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyfixest as pf

HERE = Path(__file__).resolve().parents[1]
TWO_FE = "y ~ x1 + x2 + x3 | unit + year"
ONE_FE = "y ~ x1 + x2 + x3 | unit"
CASES = {
    "iid": (TWO_FE, "iid"),
    "hetero": (TWO_FE, "hetero"),
    "crv1_unit": (TWO_FE, {"CRV1": "unit"}),
    "crv1_grp": (TWO_FE, {"CRV1": "grp"}),
    "crv1_twoway_unit_year": (TWO_FE, {"CRV1": "unit+year"}),
    "crv1_twoway_grp_year": (TWO_FE, {"CRV1": "grp+year"}),
    "unit_fe_crv3_grp": (ONE_FE, {"CRV3": "grp"}),
    "unit_fe_crv1_twoway_grp_year": (ONE_FE, {"CRV1": "grp+year"}),
}


def main() -> None:
    df = pd.read_csv(HERE / "data" / "feols_unbalanced.csv")
    out: dict = {"pyfixest": pf.__version__, "data": "feols_unbalanced.csv",
                 "weights": "w", "fitted_with": "iid", "cases": {}}
    for name, (fml, vcov) in CASES.items():
        m = pf.feols(fml, df, vcov="iid", weights="w", fixef_tol=1e-13)
        m.vcov(vcov)
        t = m.tidy()
        ci = m.confint()
        out["cases"][name] = {
            "fml": fml, "vcov": vcov,
            "coef": t["Estimate"].to_dict(), "se": t["Std. Error"].to_dict(),
            "t": t["t value"].to_dict(), "p": t["Pr(>|t|)"].to_dict(),
            "conf_low": ci.iloc[:, 0].to_dict(), "conf_high": ci.iloc[:, 1].to_dict(),
            "nobs": int(m._N),
        }
    (HERE / "oracles" / "restudentise_pyfixest.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
