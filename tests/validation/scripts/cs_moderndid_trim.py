"""Oracle: Callaway-Sant'Anna ipw and dr with propensity-score trimming active, from
moderndid 0.2 (the Python port of R ``did``/``DRDID``).

R DRDID's ``drdid_panel`` and ``std_ipw_did_panel`` (what ``did::att_gt`` calls for
``est_method = "dr"`` / ``"ipw"`` on panels) give comparison units whose fitted
propensity score is 0.995 or more no weight (``trim.ps[D==0] <- (ps.fit[D==0] <
trim.level)``, ``trim.level = 0.995``; ``did`` never overrides it); moderndid does the
same. On mpdta no score gets near 0.995, so this generated panel puts a few
never-treated units where the logit predicts treatment almost surely: 400 units, five
years (2001-2005), cohorts 2003 and 2004 and never treated, the cohort drawn from a
logit with slope 4 in a unit covariate x ~ U(-3, 3), plus four never-treated units at
x = 2.8 and 3.0 (fitted scores 0.996-0.998 against the never treated; against never and
not-yet treated the scores stay below 0.75, so there trimming is idle). The lowest
fitted scores stay far above 1e-6, where moderndid (not R) also clips from below.
The panel (rounded to 10 digits) is
stored in the oracle, with ATT(g,t), analytic SEs and the aggregations for dr and ipw
with never-treated controls and dr with not-yet-treated ones, and, to show the trimming
bites, one cell's drdid_panel / std_ipw_did_panel estimate with trimming switched off
(``trim_level`` just below 1).

    /tmp/csvenv/bin/python tests/validation/scripts/cs_moderndid_trim.py
"""

from __future__ import annotations

import json
from pathlib import Path

import moderndid
import numpy as np
import pandas as pd
import polars as pl
from moderndid import aggte, att_gt
from moderndid.drdid.estimators.drdid_panel import drdid_panel
from moderndid.drdid.estimators.std_ipw_did_panel import std_ipw_did_panel

HERE = Path(__file__).resolve().parents[1]
CASES = {
    "never_dr": dict(est_method="dr", control_group="nevertreated"),
    "never_ipw": dict(est_method="ipw", control_group="nevertreated"),
    "notyet_dr": dict(est_method="dr", control_group="notyettreated"),
}


def make_panel(seed: int = 20240901) -> pd.DataFrame:
    """The panel described in the module docstring (values rounded to 10 digits)."""
    rng = np.random.default_rng(seed)
    n = 396
    x = np.r_[rng.uniform(-3, 3, n), 2.8, 2.8, 3.0, 3.0]
    treated = np.r_[rng.random(n) < 1 / (1 + np.exp(-4.0 * x[:n])), [False] * 4]
    g = np.where(treated, np.where(rng.random(n + 4) < 0.5, 2003, 2004), 0)
    years = np.arange(2001, 2006)
    units = np.arange(1, n + 5)
    d = pd.DataFrame({"id": np.repeat(units, len(years)),
                      "year": np.tile(years, len(units))})
    i = d["id"].to_numpy() - 1
    d["g"] = g[i]
    d["x"] = np.round(x[i], 10)
    rel = np.where(g[i] > 0, d["year"] - g[i], -99)
    y = (rng.normal(size=n + 4)[i] + (0.1 + 0.2 * x[i]) * (d["year"] - 2001)
         + np.where(rel >= 0, 0.5 + 0.1 * rel, 0.0) + rng.normal(size=len(d)))
    d["y"] = np.round(y, 10)
    return d


def main() -> None:
    d = make_panel()
    out: dict[str, object] = {"moderndid_version": moderndid.__version__,
                              "data": {c: d[c].tolist() for c in d.columns}}
    dp = pl.from_pandas(d)
    for label, kw in CASES.items():
        r = att_gt(data=dp, yname="y", tname="year", idname="id", gname="g",
                   xformla="~x", boot=False, **kw)
        rec = {"cell_group": np.asarray(r.groups).tolist(),
               "cell_time": np.asarray(r.times).tolist(),
               "att": np.asarray(r.att_gt).tolist(), "se": np.asarray(r.se_gt).tolist()}
        for agg in ("simple", "dynamic", "group", "calendar"):
            a = aggte(r, type=agg, boot=False)
            rec[agg] = {"overall_att": float(a.overall_att),
                        "overall_se": float(a.overall_se)}
            if agg != "simple":
                rec[agg]["att"] = np.asarray(a.att_by_event).tolist()
                rec[agg]["se"] = np.asarray(a.se_by_event).tolist()
        out[label] = rec
    # cell ATT(2003, 2003) (base 2002) with never-treated controls, trimmed and not
    wide = d.pivot(index="id", columns="year", values="y")
    info = d.groupby("id")[["g", "x"]].first()
    keep = info["g"].isin([0, 2003]).to_numpy()
    y1, y0 = wide[2003].to_numpy()[keep], wide[2002].to_numpy()[keep]
    D = (info["g"].to_numpy()[keep] == 2003).astype(float)
    X = np.c_[np.ones(keep.sum()), info["x"].to_numpy()[keep]]
    cell = {}
    for name, fn in (("dr", drdid_panel), ("ipw", std_ipw_did_panel)):
        cell[name] = {lvl: float(fn(y1, y0, D, X, trim_level=t).att)
                      for lvl, t in (("trimmed", 0.995), ("untrimmed", 1 - 1e-12))}
    out["cell_2003_2003"] = cell
    (HERE / "oracles" / "cs_moderndid_trim.json").write_text(json.dumps(out))
    print(json.dumps({k: out[k]["att"][:4] for k in CASES}, indent=1), cell)


if __name__ == "__main__":
    main()
