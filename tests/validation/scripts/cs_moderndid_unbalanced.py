"""Oracle: Callaway-Sant'Anna on mpdta with a gap (the first county misses 2003) and a
missing outcome (row 7), from moderndid (R did's port) with its default
``allow_unbalanced_panel=False``: R did balances the panel, dropping both counties.

    pip install moderndid && python tests/validation/scripts/cs_moderndid_unbalanced.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from moderndid import att_gt

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    d = pd.read_csv(HERE / "data" / "mpdta.csv")
    d = d.iloc[1:].copy()
    d.loc[d.index == 7, "lemp"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = att_gt(data=d, yname="lemp", tname="year", idname="countyreal",
                   gname="first.treat", est_method="dr", boot=False, panel=True,
                   allow_unbalanced_panel=False, control_group="nevertreated",
                   base_period="varying")
    out = {"group": np.asarray(r.groups).tolist(), "time": np.asarray(r.times).tolist(),
           "att": np.asarray(r.att_gt).tolist(), "se": np.asarray(r.se_gt).tolist()}
    (HERE / "oracles" / "cs_moderndid_unbalanced.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
