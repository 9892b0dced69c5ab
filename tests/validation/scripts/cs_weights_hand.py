"""Hand computation, without policylab, of Callaway-Sant'Anna's simple ATT with sampling
weights by R did's rule: aggte weights each post-treatment ATT(g,t) by the group's
weighted share pg = mean(w * 1[G = g]) over units (R did, R/compute.aggte.R in
compute.aggte(): ``weights.ind <- dta$w`` and
``pg <- sapply(originalglist, function(g) mean(weights.ind*(dta[,first.treat.name]==g)))``,
then ``simple.att <- sum(att[keepers]*pg[keepers])/(sum(pg[keepers]))``).

The group-time ATTs are computed by hand too: without covariates each ATT(g,t) is the
weighted mean change from g-1 to t in cohort g minus that of the never-treated.
Also stored: the simple ATT with unweighted group shares (moderndid 0.2's aggte), to
show the two rules differ on this panel.

Writes tests/validation/data/cs_weights_small.csv and
tests/validation/oracles/cs_weights_hand.json:  python cs_weights_hand.py
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parents[1]
PERIODS = [1, 2, 3, 4]
# unit -> (first treated period, 0 = never; sampling weight)
UNITS = {1: (2, 1.0), 2: (2, 3.0), 3: (2, 0.5), 4: (3, 2.0), 5: (3, 0.25), 6: (3, 1.5),
         7: (4, 4.0), 8: (4, 1.0), 9: (0, 1.0), 10: (0, 2.5), 11: (0, 0.75), 12: (0, 1.25)}


def main() -> None:
    rng = np.random.default_rng(2026)
    rows = []
    for u, (g, w) in UNITS.items():
        a = rng.normal()
        for t in PERIODS:
            effect = (1.0 + 0.5 * (t - g) + 0.3 * u) if g and t >= g else 0.0
            rows.append({"unit": u, "year": t, "cohort": g, "w": w,
                         "y": round(a + 0.2 * t + effect + rng.normal(scale=0.3), 6)})
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "data" / "cs_weights_small.csv", index=False)

    wide = df.pivot(index="unit", columns="year", values="y")
    G = pd.Series({u: g for u, (g, _) in UNITS.items()})
    W = pd.Series({u: w for u, (_, w) in UNITS.items()})
    never = G[G == 0].index

    def wmean(units, t, base):
        d = wide.loc[units, t] - wide.loc[units, base]
        return float(np.sum(W[units] * d) / np.sum(W[units]))

    cells = []
    for g in sorted(set(G) - {0}):
        for t in PERIODS:
            if t >= g:  # post-treatment cells: base period g - 1
                att = wmean(G[G == g].index, t, g - 1) - wmean(never, t, g - 1)
                cells.append({"group": g, "time": t, "att": att})
    pg = {g: float(np.mean(W * (G == g))) for g in set(G) - {0}}
    ng = {g: float(np.mean(G == g)) for g in set(G) - {0}}
    num = sum(c["att"] * pg[c["group"]] for c in cells)
    den = sum(pg[c["group"]] for c in cells)
    num_u = sum(c["att"] * ng[c["group"]] for c in cells)
    den_u = sum(ng[c["group"]] for c in cells)
    out = {"cells": cells, "pg": {str(k): v for k, v in sorted(pg.items())},
           "simple_att": num / den, "simple_att_unweighted_shares": num_u / den_u}
    (HERE / "oracles" / "cs_weights_hand.json").write_text(json.dumps(out, indent=2))
    print(out)


if __name__ == "__main__":
    main()
