"""Oracle: TWFE DID and event-study coefficients/SEs from pyfixest on the bundled
synthetic studies. Writes tests/validation/oracles/did_event_pyfixest.json.

    python tests/validation/scripts/did_event_pyfixest.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyfixest as pf

from policylab.data.datasets import carbon_pilot, energy_rights_pilot

OUT = Path(__file__).resolve().parents[1] / "oracles" / "did_event_pyfixest.json"


def fit(fml, df, vcov):
    m = pf.feols(fml, df, vcov=vcov, fixef_tol=1e-12)
    return {"coef": m.coef().to_dict(), "se": m.se().to_dict(), "nobs": int(m._N)}


def main() -> None:
    out = {"pyfixest": pf.__version__}
    c = carbon_pilot().df
    out["carbon_did"] = fit("ln_co2 ~ did + ln_gdp + fdi | province + year", c,
                            {"CRV1": "province"})
    rel = np.where(c["cohort"] > 0, c["year"] - c["cohort"], np.nan)
    rel = np.clip(rel, -5, 5)
    names = []
    for e in range(-5, 6):
        if e == -1:
            continue
        n = f"pre_{-e}" if e < 0 else f"post_{e}"
        c[n] = (rel == e).astype(float)
        names.append(n)
    out["carbon_event"] = fit(f"ln_co2 ~ {' + '.join(names)} + ln_gdp | province + year", c,
                              {"CRV1": "province"})
    e = energy_rights_pilot(unbalanced=0.1, seed=5).df
    out["energy_did_unbalanced"] = fit(
        "ln_ntt ~ did + ln_pgdp + urban + fiscal + tertiary | city + year", e,
        {"CRV1": "province"})
    OUT.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
