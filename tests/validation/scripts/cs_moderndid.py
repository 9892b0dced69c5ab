"""Oracle: Callaway-Sant'Anna on mpdta from moderndid (a Python port of R `did`, analytic
standard errors). mpdta is the R did package's example (500 counties, 2003-2007), as
shipped by moderndid; it is stored in tests/validation/data/mpdta.csv.

    pip install moderndid && python tests/validation/scripts/cs_moderndid.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from moderndid import aggte, att_gt, load_mpdta

HERE = Path(__file__).resolve().parents[1]


def grab(r) -> dict:
    return {"group": np.asarray(r.groups).tolist(), "time": np.asarray(r.times).tolist(),
            "att": np.asarray(r.att_gt).tolist(), "se": np.asarray(r.se_gt).tolist()}


def main() -> None:
    d = load_mpdta()
    d.to_pandas().to_csv(HERE / "data" / "mpdta.csv", index=False)
    out = {}
    for label, kw in {
        "never_nocov": dict(est_method="reg", control_group="nevertreated"),
        "notyet_nocov": dict(est_method="reg", control_group="notyettreated"),
        "never_lpop_dr": dict(est_method="dr", control_group="nevertreated", xformla="~lpop"),
        "never_lpop_ipw": dict(est_method="ipw", control_group="nevertreated",
                               xformla="~lpop"),
        "never_lpop_reg": dict(est_method="reg", control_group="nevertreated",
                               xformla="~lpop"),
    }.items():
        r = att_gt(data=d, yname="lemp", tname="year", idname="countyreal",
                   gname="first.treat", boot=False, **kw)
        rec = grab(r)
        rec["pretest_p"] = float(getattr(r, "wald_pvalue", np.nan) or np.nan)
        for agg in ("simple", "dynamic", "group", "calendar"):
            a = aggte(r, type=agg, boot=False)
            rec[agg] = {"overall_att": float(a.overall_att), "overall_se": float(a.overall_se)}
            if agg != "simple":
                rec[agg]["egt"] = np.asarray(a.event_times).tolist()
                rec[agg]["att"] = np.asarray(a.att_by_event).tolist()
                rec[agg]["se"] = np.asarray(a.se_by_event).tolist()
        out[label] = rec
    (HERE / "oracles" / "cs_moderndid.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: (v["att"][:4], v["simple"], v["dynamic"]["overall_att"],
                          v["group"]["overall_att"], v["pretest_p"]) for k, v in out.items()},
                     indent=1))


if __name__ == "__main__":
    main()
