"""Oracle: Callaway-Sant'Anna multiplier bootstrap on mpdta from moderndid (R did's port),
clustered by state (state = countyreal // 1000, the FIPS state code) and by county.

Bootstrap draws are random, so the stored numbers are compared with tolerances that
cover the Monte Carlo error of both sides (stated in the test).

    pip install moderndid && python tests/validation/scripts/cs_moderndid_boot.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from moderndid import aggte, att_gt

HERE = Path(__file__).resolve().parents[1]
BITERS = 20_000


def main() -> None:
    d = pl.read_csv(HERE / "data" / "mpdta.csv").with_columns(
        (pl.col("countyreal") // 1000).alias("state"))
    out = {"biters": BITERS}
    for label, cl in {"county": None, "state": ["state"]}.items():
        r = att_gt(data=d, yname="lemp", tname="year", idname="countyreal",
                   gname="first.treat", est_method="reg", boot=True, biters=BITERS,
                   cband=True, clustervars=cl, random_state=20240601)
        a = aggte(r, type="dynamic", boot=True, biters=BITERS, cband=True, clustervars=cl,
                  random_state=20240601)
        out[label] = {"se": np.asarray(r.se_gt).tolist(), "crit": float(r.critical_value),
                      "dyn_se": np.asarray(a.se_by_event).tolist(),
                      "dyn_overall_se": float(a.overall_se),
                      "dyn_crit": np.asarray(a.critical_values).tolist()}
    (HERE / "oracles" / "cs_moderndid_boot.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
