"""Oracle: Gardner's two-stage DID (point estimates and GMM SEs, clustered by county) and
the Sun-Abraham saturated event study from pyfixest 0.60 on mpdta
(tests/validation/data/mpdta.csv; never treated have first.treat = 0) without the 2004
cohort: its counties have a single untreated year, which pyfixest's first stage drops as
singletons and then fails on.

    python tests/validation/scripts/imputation_pyfixest.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    d = pd.read_csv(HERE / "data" / "mpdta.csv")
    d = d[d["first.treat"] != 2004].reset_index(drop=True)
    g = d["first.treat"]
    d["D"] = ((g > 0) & (d.year >= g)).astype(bool)
    d["lpop_trend"] = d["lpop"] * (d.year - 2003) / 10  # lpop is time-invariant
    d["h"] = np.where(d["D"], d.year - g, -1000)
    out = {}
    att = pf.did2s(d, yname="lemp", first_stage="~ 0 | countyreal + year",
                   second_stage="~ D", treatment="D", cluster="countyreal")
    out["did2s_att"] = {"coef": att.coef().tolist(), "se": att.se().tolist(),
                        "terms": list(att.coef().index)}
    es = pf.did2s(d, yname="lemp", first_stage="~ 0 | countyreal + year",
                  second_stage="~ i(h, ref=-1000)", treatment="D", cluster="countyreal")
    out["did2s_es"] = {"coef": es.coef().tolist(), "se": es.se().tolist(),
                       "terms": list(es.coef().index)}
    att_x = pf.did2s(d, yname="lemp", first_stage="~ lpop_trend | countyreal + year",
                     second_stage="~ D", treatment="D", cluster="countyreal")
    out["did2s_att_lpop_trend"] = {"coef": att_x.coef().tolist(), "se": att_x.se().tolist()}
    # Sun-Abraham: pyfixest's saturated event study (cohort x relative-time dummies,
    # never treated as controls) aggregated with cohort shares, on the full mpdta
    full = pd.read_csv(HERE / "data" / "mpdta.csv")
    sa = pf.event_study(full, yname="lemp", idname="countyreal", tname="year",
                        gname="first.treat", estimator="saturated", cluster="countyreal")
    agg = sa.aggregate(agg="period", weighting="shares")
    out["sun_abraham"] = {"rel": [int(v) for v in agg.index],
                          "estimate": agg["Estimate"].astype(float).tolist(),
                          "se": agg["Std. Error"].astype(float).tolist(),
                          "cohort_terms": list(sa.coef().index),
                          "cohort_coef": sa.coef().tolist(), "cohort_se": sa.se().tolist()}
    (HERE / "oracles" / "imputation_pyfixest.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
