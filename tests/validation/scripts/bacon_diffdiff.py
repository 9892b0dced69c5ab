"""Oracle: Goodman-Bacon decompositions from diff-diff (PyPI ``diff-diff``, its
``BaconDecomposition``) plus two published examples. Writes
tests/validation/oracles/bacon.json and the input data it used.

Run in a separate environment (diff-diff is not a policylab dependency)::

    python -m venv /tmp/ddv && /tmp/ddv/bin/pip install diff-diff==3.13.0 causaldata==0.1.5
    /tmp/ddv/bin/python tests/validation/scripts/bacon_diffdiff.py

Data:
- castle: Cheng and Hoekstra (2013) castle-doctrine state panel, 50 states x 2000-2010,
  as shipped in the PyPI package ``causaldata`` 0.1.5 (``causaldata/castle/castle.dta``,
  the Mixtape file). Only sid, year, l_homicide and post are kept. Note: this file's
  TWFE coefficient (0.0694) differs from the R bacondecomp vignette (0.0818), whose
  ``castle`` defines ``post`` differently (Florida as 2005 adopter); the vignette
  numbers are therefore not comparable and are not used.
- always: a synthetic balanced panel (seeded) with never-, always- and staggered-treated
  units; diff-diff folds the always treated into its untreated bucket (Goodman-Bacon
  2021, footnote 11), policylab reports them as a separate type.

Published numbers (typed in from the sources, not computed):
- Goodman-Bacon (2021), Figure 2: 3 groups over 100 periods, early group treated from
  period 34, late group from 85; weights s_kU=.365, s_lU=.222, s_kl^k=.278, s_kl^l=.135
  (also the bacondecomp R package's test ``test_bacon_weights.R``).
- Stata ``bacondecomp`` output posted on Statalist (thread 1751536): 3 units, 10
  periods, unit 2 treated from t=5 with effect 2, unit 3 from t=8 with effect 4:
  Early_v_Late 2 (weight .1818181841), Late_v_Early 4 (.1363636317),
  Never_v_timing 2.933333323 (.6818181841).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parents[1]
OUT = HERE / "oracles" / "bacon.json"
DATA = HERE / "data"


def castle() -> pd.DataFrame:
    import causaldata.castle as cc

    d = pd.read_stata(Path(cc.__file__).parent / "castle.dta")
    d = d[["sid", "year", "l_homicide", "post"]].astype({"sid": int, "year": int, "post": int,
                                                         "l_homicide": float})
    first = d.loc[d.post == 1].groupby("sid").year.min()
    d["effyear"] = d.sid.map(first).fillna(0).astype(int)
    return d.sort_values(["sid", "year"]).reset_index(drop=True)


def always_panel() -> pd.DataFrame:
    rng = np.random.default_rng(20240611)
    units, years = 60, np.arange(2001, 2013)
    g = rng.choice([0, 0, 2001, 1998, 2004, 2007, 2010], size=units)  # 2001, 1998: always
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), len(years)),
                       "year": np.tile(years, units), "g": np.repeat(g, len(years))})
    d = ((df.g > 0) & (df.year >= df.g)).astype(float)
    df["y"] = (rng.normal(size=units)[df.unit] + 0.05 * (df.year - 2000)
               + d * (0.3 + 0.1 * np.clip(df.year - df.g, 0, None))
               + rng.normal(scale=0.5, size=len(df)))
    return df


def decompose(df: pd.DataFrame, y: str, unit: str, time: str, first: str) -> dict:
    from diff_diff import BaconDecomposition

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = BaconDecomposition().fit(df, outcome=y, unit=unit, time=time, first_treat=first)
    tab = r.to_dataframe()
    return {"twfe": float(r.twfe_estimate), "comparisons": tab.to_dict("records")}


def main() -> None:
    import diff_diff

    c = castle()
    c.to_csv(DATA / "castle.csv", index=False)
    a = always_panel()
    a.to_csv(DATA / "bacon_always.csv", index=False)
    out = {
        "diff_diff": diff_diff.__version__,
        "castle": decompose(c, "l_homicide", "sid", "year", "effyear"),
        "always": decompose(a, "y", "unit", "year", "g"),
        "goodman_bacon_2021_fig2": {"periods": 100, "early": 34, "late": 85,
                                    "weights": {"early_vs_never": 0.365,
                                                "late_vs_never": 0.222,
                                                "early_vs_late": 0.278,
                                                "late_vs_early": 0.135}},
        "stata_bacondecomp_statalist": {
            "periods": 10, "early": 5, "late": 8, "effects": {"early": 2, "late": 4},
            "by_type": {"earlier vs later treated": [2.0, 0.1818181841],
                        "later vs earlier treated": [4.0, 0.1363636317],
                        "treated vs never treated": [2.933333323, 0.6818181841]}},
    }
    OUT.write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
