"""Oracle: Stata 13's own output for ``xtreg y x1-x5 [aweight=w], fe vce(...)`` on the
simulated panel that linearmodels ships with its test suite (3,000 rows, 1,000 firms x
3 years; "_light" / "_heavy" copies with missing values, which leave singleton firms).

linearmodels ran Stata on ``simulated-panel.dta`` (its script
``execute-stata-simulated-data.py``) and saved every estimate, t statistic and the full
e(V) in ``stata-panel-simulated-results.txt``; both files are installed with
linearmodels. This script reads the fixed-effects sections (conventional, robust =
clustered by firm, cluster(firm_id); unweighted and aweighted) and stores, per section,
the coefficients (with ``_cons``, Stata's constant: the regression after adding back
the grand means), their standard errors from the diagonal of e(V), N and df_r.

The panel variable Stata used is the firm (1,000 groups, e(N_g)); the ``firm_id`` column
of the shipped .dta is a row number (3,000 values), so the models are fitted by ``firm``.

Two-way fixed effects (firm and year; no Stata output shipped) are checked against
linearmodels' PanelOLS with a constant, clustered by firm: its ``const`` is the same
add-back-the-means constant; its standard errors count every firm effect in K, so they
differ from Stata's convention by one factor, the same for the constant and the slopes.

    python tests/validation/scripts/constant_stata_xtreg.py

The test reads the model columns of the same file from
tests/validation/data/xtreg_simulated_panel.csv.gz (written with ``%.17g``, lossless:
``df[cols].to_csv(path, index=False, float_format="%.17g")``), so CI needs no
linearmodels.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
RESULTS = "stata-panel-simulated-results.txt"


def sections(text: str) -> dict[str, str]:
    """Section name (e.g. 'fixed_effect-cluster-weighted-_heavy') -> its text."""
    parts = re.split(r"#################!(.+?)!####################", text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def parse(section: str) -> dict[str, object]:
    """Coefficients, standard errors (sqrt of e(V)'s diagonal), N and df_r."""
    est_part, v_part = section.split("********* Variance *************")
    lines = [ln.rstrip("\n") for ln in est_part.splitlines()]
    b: dict[str, float] = {}
    stats: dict[str, float] = {}
    for i, ln in enumerate(lines):
        cells = ln.split("\t")
        if len(cells) == 2 and cells[0] and cells[1].strip():
            name, val = cells[0], cells[1]
            nxt = lines[i + 1].split("\t") if i + 1 < len(lines) else []
            if len(nxt) == 2 and not nxt[0]:  # a coefficient: its t statistic follows
                b[name] = float(val)
            else:
                stats[name] = float(val)
    vrows = [ln.split("\t") for ln in v_part.strip().splitlines()[2:]]
    names = v_part.strip().splitlines()[1].split("\t")[1:]
    se = {}
    for row in vrows:
        j = names.index(row[0])
        se[row[0]] = float(row[1 + j]) ** 0.5
    return {"b": b, "se": se, "N": int(stats["N"]), "df_r": int(stats["df_r"])}


def twoway_linearmodels() -> dict[str, dict[str, object]]:
    """PanelOLS(entity + time effects, const) clustered by firm on the full and the
    '_heavy' data: the constant and the standard errors."""
    import pandas as pd
    from linearmodels import PanelOLS

    base = resources.files("linearmodels") / "tests" / "panel" / "results"
    df = pd.read_stata(str(base / "simulated-panel.dta"))
    out = {}
    for end in ("", "_heavy"):
        xs = [f"x{i}{end}" for i in range(1, 6)]
        s = df[["firm", "time", f"y{end}", *xs]].dropna().set_index(["firm", "time"])
        s = s.assign(const=1.0)
        r = PanelOLS(s[f"y{end}"], s[["const", *xs]], entity_effects=True,
                     time_effects=True).fit(cov_type="clustered", cluster_entity=True)
        out[end or "full"] = {"b": {k: float(v) for k, v in r.params.items()},
                              "se": {k: float(v) for k, v in r.std_errors.items()},
                              "N": int(r.nobs)}
    return out


def main() -> None:
    base = resources.files("linearmodels") / "tests" / "panel" / "results"
    text = (base / RESULTS).read_text()
    out = {name: parse(sec) for name, sec in sections(text).items()
           if name.startswith("fixed_effect-")}
    out["twoway"] = twoway_linearmodels()
    meta = {"source": "linearmodels/tests/panel/results/" + RESULTS,
            "data": "linearmodels/tests/panel/results/simulated-panel.dta",
            "stata": "Stata 13, xtreg ..., fe vce(conventional | robust | cluster firm_id)"}
    path = HERE / "oracles" / "constant_stata_xtreg.json"
    path.write_text(json.dumps({"meta": meta, "models": out}, indent=1, sort_keys=True))
    print(f"{len(out)} sections -> {path}")


if __name__ == "__main__":
    main()
