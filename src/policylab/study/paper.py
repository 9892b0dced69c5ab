"""The reference studies' own tables, built from the spec and the Results of a run.

Pure builders (no estimation): the pilot-market overview from a bundled roster, the
emission-factor table of a CO2 accounting, the variable-definition table, the
mediation table in the classic three-equation layout with its effect rows, and the
heterogeneity columns in the order of the spec's labels. The battery steps
(:mod:`policylab.study.steps`) call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.factors import CO2_PER_C
from policylab.report.labels import word
from policylab.report.numbers import Num

__all__ = ["pilot_frame", "factor_frame", "definitions_frame", "add_rows",
           "mediation_rows", "path_entry", "ordered_levels"]



def _zh_names() -> dict[str, str]:
    from policylab.data.reference import cities, provinces

    out = dict(zip(provinces()["name_en"], provinces()["name_zh"]))
    c = cities()
    out.update({e: z.removesuffix("市") for e, z in zip(c["name_en"], c["name_zh"])
                if e not in out})
    return out


def pilot_frame(policy: str, lang: str) -> pd.DataFrame:
    """One row per pilot market of a bundled roster: name, level, announcement,
    opening of trading, the firms first covered and the initial price (Table 1 of the
    carbon study)."""
    from policylab.data.rosters import roster

    r = roster(policy).sort_values(["market_opening", "unit"])
    names = _zh_names() if lang == "zh" else {}
    level = {"province": word("level_province", lang), "city": word("level_city", lang)}
    frame = pd.DataFrame({
        word("pilot_market", lang): [names.get(u, u) for u in r["unit"]],
        word("pilot_level", lang): [level.get(v, v) for v in r["level"]],
        word("announced", lang): r["announcement"].dt.strftime("%Y-%m-%d").to_list(),
        word("trading_from", lang): r["market_opening"].dt.strftime("%Y-%m-%d").to_list(),
        word("firms_covered", lang): r["initial_covered_firms"].astype("Int64").to_list(),
        word("initial_price", lang): [p if isinstance(p, str) else None
                                      for p in r["initial_price"].astype(object)],
    })
    # a roster without the firm counts (energy-use rights) shows no empty column
    return frame.dropna(axis=1, how="all")


def factor_frame(name: str, lang: str) -> pd.DataFrame:
    """The coal-equivalent coefficients and carbon / CO2 emission factors of a bundled
    factor table (Table 2 of the carbon study), with the CO2 emitted per unit of fuel."""
    from policylab.accounting.co2 import factor_table

    t = factor_table(name)
    if not {"coal_coefficient", "carbon_factor"} <= set(t.columns):
        # a calorific table (IPCC): shown as it is, fuel by fuel
        return t.reset_index().rename(columns={"fuel": word("fuel", lang)})
    fuel = [word(f"fuel_{f}", lang) for f in t.index]
    return pd.DataFrame({
        word("fuel", lang): fuel,
        word("fuel_unit", lang): t["unit"].to_list(),
        word("coal_coefficient", lang): t["coal_coefficient"].to_list(),
        # kgce/kg for solids and liquids, kgce/m3 for gas: a unit per row
        word("coefficient_unit", lang): t["coal_coefficient_unit"].to_list(),
        word("carbon_factor", lang) + " (t C/t ce)": t["carbon_factor"].to_list(),
        word("co2_factor", lang) + " (t CO2/t ce)": (t["carbon_factor"] * CO2_PER_C).to_list(),
    })


def definitions_frame(columns: Sequence[str], labels: dict[str, str],
                      variables: dict[str, Any], lang: str,
                      roles: dict[str, str] | None = None) -> pd.DataFrame:
    """Type, name, definition, unit and source of each column (section 3.2 of the
    energy study, Table 3's definition column of the carbon study).

    ``roles`` maps a column to its part in the model (outcome, treatment, control,
    mechanism, moderator, group); the type is written once per run of equal types, as
    the papers merge that cell. A symbol column appears only when the spec gives
    symbols (``[variables.x] symbol = "lnCO2"``).
    """
    roles = roles or {}
    with_symbol = any(getattr(variables.get(c), "symbol", "") for c in columns)
    rows, last = [], None
    for c in columns:
        v = variables.get(c)
        role = roles.get(c, "other")
        row = {word("var_type", lang): word(f"role_{role}", lang) if role != last else "",
               word("var_name", lang): labels.get(c, c)}
        last = role
        if with_symbol:
            row[word("var_symbol", lang)] = getattr(v, "symbol", "") or ""
        row.update({word("var_definition", lang): getattr(v, "definition", "") or "",
                    word("var_unit", lang): getattr(v, "unit", "") or "",
                    word("var_source", lang): getattr(v, "source", "") or ""})
        rows.append(row)
    return pd.DataFrame(rows)


def add_rows(table: Any, rows: Sequence[tuple[str, Sequence[Num | str | None]]]) -> Any:
    """Append labelled rows under a regression table (after a thin rule)."""
    if not rows:
        return table
    if table.body and len(table.body) - 1 not in table.rules:
        table.rules.append(len(table.body) - 1)
    for label, cells in rows:
        table.body.append([label] + [c.text if isinstance(c, Num) else (c or "")
                                     for c in cells])
        table.values.append([None] + [c if isinstance(c, Num) else None for c in cells])
    return table


def _row_of(effects: pd.DataFrame, med: str) -> pd.Series | None:
    hit = effects[effects["term"] == med]
    return None if hit.empty else hit.iloc[0]


def mediation_rows(columns: Sequence[tuple[Any | None, str]], lang: str, digits: int
                   ) -> list[tuple[str, list[Num | str | None]]]:
    """The effect rows under a three-equation table: per column the total effect c,
    the indirect effect a*b, its Sobel p, the CI and the share mediated (``columns[j]``
    is the MediationResult behind column j, None for a mediator column, and the
    mediator's name in it)."""
    from policylab.report.tables import _stars  # noqa: PLC2701 - the tables' own stars

    names = ("med_total", "med_indirect", "med_sobel_p", "med_ci", "med_share")
    out: dict[str, list[Num | str | None]] = {k: [] for k in names}
    for run, med in columns:
        e = None if run is None else _row_of(run.effects, med)
        if e is None:
            for k in names:
                out[k].append(None)
            continue
        out["med_total"].append(Num(float(e["c"]), digits=digits, stars=_stars(
            _p(float(e["c"]), float(e["c_se"])), (0.1, 0.05, 0.01))))
        out["med_indirect"].append(Num(float(e["estimate"]), digits=digits,
                                       stars=_stars(float(e["sobel_p"]), (0.1, 0.05, 0.01))))
        out["med_sobel_p"].append(Num(float(e["sobel_p"]), "pvalue", digits=digits))
        out["med_ci"].append(Num((float(e["conf_low"]), float(e["conf_high"])), "interval",
                                 digits=digits, wrap="[]"))
        share = e.get("share")
        out["med_share"].append(Num(float(share), "percent") if share is not None and
                                share == share else "—")
    return [(word(k, lang), v) for k, v in out.items()]


def _p(est: float, se: float) -> float:
    # scipy.special, not scipy.stats: norm.sf is ndtr(-z), and the import is a fraction
    from scipy.special import ndtr

    return float(2 * ndtr(-abs(est / se))) if se > 0 else float("nan")


def path_entry(run: Any, med: str, label: str) -> dict[str, Any] | None:
    """The numbers of one mediator's path diagram (a, b, c', c with p-values)."""
    e = _row_of(run.effects, med)
    if e is None:
        return None
    full = run.step_results[med][2]
    D = run.meta["treat_term"]
    return {"mediator": label, "a": e["a"], "a_p": e["a_p"], "b": e["b"], "b_p": e["b_p"],
            "c_prime": e["c_prime"], "c_prime_p": float(full.pvalue()[D]),
            "c": e["c"], "c_p": _p(float(e["c"]), float(e["c_se"]))}


def ordered_levels(found: Sequence[Any], names: dict[str, str]) -> list[Any]:
    """Levels in the order the spec names them (``names``), the rest after, as found."""
    by_text = {str(v): v for v in found}
    first = [by_text[k] for k in names if k in by_text]
    return first + [v for v in found if v not in first]


def placebo_table(res: Any, title: str, lang: str, labels: dict[str, str], digits: int
                  ) -> Any:
    """The placebo test as the papers report it, one statistic per row: the real
    estimate, the placebo estimates' mean, SD and central 95% range, the randomization
    p-values and the number of (enumerated) assignments."""
    from policylab.report.tables import Table

    est = np.asarray(res.estimates, dtype=float)
    lo, hi = np.quantile(est, [0.025, 0.975]) if len(est) else (np.nan, np.nan)
    rows: list[tuple[str, Num | str]] = [
        (word("pl_real", lang), Num(res.estimate, digits=digits)),
        (word("pl_mean", lang), Num(float(est.mean()) if len(est) else np.nan, digits=digits)),
        (word("pl_sd", lang), Num(float(est.std(ddof=1)) if len(est) > 1 else np.nan,
                                  digits=digits)),
        (word("pl_range", lang), Num((float(lo), float(hi)), "interval", digits=digits,
                                     wrap="[]")),
        (word("pl_p", lang), Num(res.p_value, "pvalue", digits=digits)),
        (word("pl_p_left", lang), Num(res.p_left, "pvalue", digits=digits)),
        (word("pl_p_right", lang), Num(res.p_right, "pvalue", digits=digits)),
        (word("pl_p_t", lang), Num(res.p_value_t, "pvalue", digits=digits)),
        (word("pl_draws", lang), Num(float(len(est)), "integer", thousands=True)),
        (word("pl_exact", lang), word("yes" if res.exact else "no", lang)),
    ]
    term = res.meta.get("param", "")
    return Table(header=[["", labels.get(term, term)]],
                 body=[[k, v.text if isinstance(v, Num) else v] for k, v in rows],
                 values=[[None, v if isinstance(v, Num) else None] for _, v in rows],
                 title=title, lang=lang)


def balance_frame(tidy: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The balance test in Stata ``pstest, both`` layout: two rows per covariate
    (unmatched, matched) with the means, %bias, MatchIt's SMD, the %bias reduction,
    the t-test p and the variance ratio — nine columns instead of fifteen."""
    rows = []
    for r in tidy.itertuples(index=False):
        for stage, sfx in (("unmatched", "before"), ("matched", "after")):
            rows.append({
                "variable": r.variable if stage == "unmatched" else "",
                "stage": word(f"stage_{stage}", lang),
                "mean_treated": getattr(r, f"mean_treated_{sfx}"),
                "mean_control": getattr(r, f"mean_control_{sfx}"),
                "bias": getattr(r, f"bias_{sfx}"), "smd": getattr(r, f"smd_{sfx}"),
                "bias_reduction": r.bias_reduction if stage == "matched" else np.nan,
                "p_value": getattr(r, f"p_{sfx}"),
                "var_ratio": getattr(r, f"var_ratio_{sfx}"),
                "balanced": bool(r.balanced) if stage == "matched" else None,
            })
    return pd.DataFrame(rows)


def cs_frame(aggs: dict[str, Any], lang: str) -> pd.DataFrame:
    """Callaway-Sant'Anna as a paper shows it: the four aggregated ATTs first (by their
    names in the literature), then the event-study estimates by event time."""
    rows = []
    for kind, agg in aggs.items():
        r = agg.tidy().iloc[0]
        rows.append({"term": word(f"cs_{kind}", lang), **_est(r)})
    for r in aggs["dynamic"].tidy().iloc[1:].itertuples(index=False):
        rows.append({"term": word("cs_event", lang, e=int(r.by)), **_est(r._asdict())})
    return pd.DataFrame(rows)


def _est(r: Any) -> dict[str, float]:
    return {k: float(r[k]) for k in ("estimate", "std_error", "p_value", "conf_low",
                                     "conf_high")}


def cs_pretest_notes(tests: Sequence[dict[str, Any]], lang: str,
                     labels: dict[str, str] | None = None) -> list[str]:
    """One line per Callaway-Sant'Anna pre-test (all pre-treatment ATT(g,t) = 0), the
    recommended one first, as the note under the table; a test that could not run says
    why, in the reader's words, after them."""
    from policylab.messages import Message
    from policylab.report.labels import message_text
    from policylab.report.numbers import format_number
    from policylab.study.frame import p_is

    lines, skipped = [], []
    for i, t in enumerate(tests):
        kind = str(t.get("test", ""))
        key = ("cs_pretest_ri" if "randomization" in kind else
               "cs_pretest_boot" if "bootstrap" in kind else "cs_pretest_wald")
        if t.get("p_value") is None:
            why = t.get("reason")
            if why:
                skipped.append(word("cs_pretest_not_run", lang, name=word(f"{key}_name", lang),
                                    reason=message_text(why, lang, labels)
                                    if isinstance(why, Message) else str(why)))
            continue
        name = word(key, lang, df=t.get("df", ""), draws=t.get("draws", ""))
        lines.append(word("cs_pretest_line", lang, name=name,
                          stat=format_number(float(t["statistic"]), 3),
                          p=p_is(float(t["p_value"])),
                          rec=word(_cs_rank(i, key), lang)))
    return lines + skipped


def _cs_rank(i: int, key: str) -> str:
    """The word after a CS pre-test: the first is recommended, unless it is the sup-t
    bootstrap, which the study reads first only when the randomization test cannot run
    (not-yet-treated comparisons, finer fixed effects) and which over-rejects with few treated groups (64.5% at a
    nominal 5% on the carbon design, docs/validity.md): then it is flagged, not
    recommended."""
    if i > 0:
        return "cs_second"
    return "cs_caution" if key == "cs_pretest_boot" else "cs_first"

