"""Oracle: pingouin's mediation_analysis (0.7.0; OLS, deterministic point estimates) on
the cross-sectional example written by mediation_statsmodels.py; stores a (X -> M), the
total and direct effects and the indirect effect a*b.

pingouin is not a project dependency; install it apart, e.g.

    pip install --target /tmp/pg pingouin pandas_flavor tabulate xarray seaborn \
        scikit-learn --no-deps
    PYTHONPATH=/tmp/pg python tests/validation/scripts/mediation_pingouin.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pingouin as pg

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    df = pd.read_csv(HERE / "data" / "mediation_xsec.csv")
    out = pg.mediation_analysis(data=df, x="d", m="m", y="y", covar=["x"], seed=42,
                                n_boot=500).set_index("path")
    res = {"pingouin": pg.__version__, "a": float(out.loc["m ~ X", "coef"]),
           "total": float(out.loc["Total", "coef"]),
           "direct": float(out.loc["Direct", "coef"]),
           "indirect": float(out.loc["Indirect", "coef"]),
           "a_se_iid": float(out.loc["m ~ X", "se"])}
    (HERE / "oracles" / "mediation_pingouin.json").write_text(json.dumps(res, indent=2))
    print(res)


if __name__ == "__main__":
    main()
