"""Oracle: pyfixest (fixest conventions) on the feols validation designs.
Writes tests/validation/oracles/feols_pyfixest.json.

    python tests/validation/scripts/feols_pyfixest.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyfixest as pf

HERE = Path(__file__).resolve().parents[1]
CASES = {
    "bal_crv1_unit": ("feols_balanced.csv", "y ~ x1 + x2 | unit + year", {"CRV1": "unit"}, None),
    "bal_twoway": ("feols_balanced.csv", "y ~ x1 + x2 | unit + year", {"CRV1": "unit+year"}, None),
    "bal_threefe_hc1": ("feols_balanced.csv", "y ~ x1 + x2 | unit + year + region^year",
                        "hetero", None),
    "bal_threefe_crv1": ("feols_balanced.csv", "y ~ x1 + x2 | unit + year + region^year",
                         {"CRV1": "grp"}, None),
    "bal_weighted": ("feols_balanced.csv", "y ~ x1 + x2 | unit + year", {"CRV1": "unit"}, "w"),
    "unbal_singleton_collinear": ("feols_unbalanced.csv", "y ~ x1 + x2 + x3 | unit + year",
                                  {"CRV1": "unit"}, None),
    "few_crv3": ("feols_fewclusters.csv", "y ~ x1 + x2 | unit", {"CRV3": "unit"}, None),
    "few_crv1": ("feols_fewclusters.csv", "y ~ x1 + x2 | unit + year", {"CRV1": "unit"}, None),
    "nofe_iid": ("feols_balanced.csv", "y ~ x1 + x2", "iid", None),
}


def main() -> None:
    out = {"pyfixest": pf.__version__}
    for name, (f, fml, vcov, w) in CASES.items():
        df = pd.read_csv(HERE / "data" / f)
        m = pf.feols(fml, df, vcov=vcov, weights=w, fixef_tol=1e-13)
        out[name] = {"case": {"data": f, "fml": fml, "vcov": vcov, "weights": w},
                     "coef": m.coef().to_dict(), "se": m.se().to_dict(), "nobs": int(m._N),
                     "r2": float(m._r2), "r2_within": float(getattr(m, "_r2_within", float("nan")))}
    (HERE / "oracles" / "feols_pyfixest.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
