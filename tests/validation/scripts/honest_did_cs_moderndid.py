"""Oracle: HonestDiD on a Callaway-Sant'Anna event study (mpdta), from moderndid.

The HonestDiD README's staggered example: R did's att_gt with the universal base period,
aggte(type = "dynamic"), then honest_did on the event study, whose covariance is built
from the dynamic aggregation's influence functions (V = IF'IF / n^2, event time -1
dropped). moderndid ports both did and HonestDiD; this stores its event-time estimates,
their covariance and the smoothness (FLCI) and relative-magnitudes (C-LF) intervals for
the on-impact effect (event time 0). est_method "reg" (without covariates all
three methods are the same estimate). mpdta is tests/validation/data/mpdta.csv. moderndid's relative-magnitudes union leaves
out the earliest pre-period difference as the location of the largest change (HonestDiD
and policylab do not): its lower ends are 2-3 grid steps narrower here.

    pip install "moderndid[didhonest]"
    python tests/validation/scripts/honest_did_cs_moderndid.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from moderndid import aggte, att_gt, load_mpdta
from moderndid.didhonest import honest_did

HERE = Path(__file__).resolve().parents[1]
M_VEC = [0.0, 0.01, 0.02, 0.03]
MBAR_VEC = [0.5, 1.0]


def main() -> None:
    d = load_mpdta()
    r = att_gt(data=d, yname="lemp", tname="year", idname="countyreal",
               gname="first.treat", est_method="reg", control_group="nevertreated",
               base_period="universal", boot=False)
    es = aggte(r, type="dynamic", boot=False)
    e = np.asarray(es.event_times)
    inf = np.asarray(es.influence_func)
    keep = e != -1
    n = inf.shape[0]
    V = inf[:, keep].T @ inf[:, keep] / n / n
    sd = honest_did(es, event_time=0, sensitivity_type="smoothness", m_vec=M_VEC)
    # 1000 grid points for the C-LF test inversion, as HonestDiD's default (moderndid's
    # honest_did on an event study defaults to 100)
    rm = honest_did(es, event_time=0, sensitivity_type="relative_magnitude",
                    m_bar_vec=MBAR_VEC, grid_points=1000)
    sd_ci, rm_ci = sd.robust_ci, rm.robust_ci
    out = {
        "event_times": e[keep].tolist(),
        "att": np.asarray(es.att_by_event)[keep].tolist(),
        "sigma": V.tolist(),
        "overall_att": float(es.overall_att),
        "overall_se": float(es.overall_se),
        "original_ci": [float(sd.original_ci.lb), float(sd.original_ci.ub)],
        "sd": {"m": M_VEC, "lb": np.asarray(sd_ci["lb"], float).tolist(),
               "ub": np.asarray(sd_ci["ub"], float).tolist()},
        "rm": {"mbar": MBAR_VEC, "lb": np.asarray(rm_ci["lb"], float).tolist(),
               "ub": np.asarray(rm_ci["ub"], float).tolist()},
    }
    (HERE / "oracles" / "honest_did_cs_moderndid.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "sigma"}, indent=1))


if __name__ == "__main__":
    main()
