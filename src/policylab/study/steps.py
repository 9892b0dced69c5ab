"""The battery: one function per step, each returning a StepOutput.

Steps call only the public estimator API and hand Results, tables and figures to the
renderer; they compute nothing themselves. The spec's model becomes one Design
(:func:`model_design`, built once and cached) and every step hands that same object to
its estimator; ``numbers["design"]`` records the model a step actually used. A step
that does not apply, or whose estimator cannot honour the design, is returned as
"skipped" with the reason (never run on another model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from policylab.errors import EstimationError, PolicyLabError, SpecError
from policylab.estimators.design import Design, DesignNotHonoured
from policylab.messages import Message, reason_of
from policylab.study.context import Context, StepOutput
from policylab.study.frame import crv1_note, few_treated, p_is, pretrend_tests
from policylab.study.spec import StudySpec

__all__ = ["STEPS", "planned_steps"]

_ORDER = [
    "overview", "descriptives", "baseline", "event_study", "pretrends", "staggered", "psm_did",
    "placebo", "wild_bootstrap", "samples", "mediation", "moderation", "mechanisms",
    "heterogeneity", "spec_curve",
]


def planned_steps(spec: StudySpec) -> list[tuple[str, bool]]:
    """(step key, required) for every enabled step, in battery order."""
    b = spec.battery
    out = []
    for key in _ORDER:
        if key == "samples":
            if b.samples:
                out.append((key, False))
            continue
        step = getattr(b, key)
        if step.enabled:
            out.append((key, step.required))
    return out


def step_title(lang: str, key: str) -> str:
    """A step's section title in the report's language (the key itself, in words, for a
    step without one); the words are in :data:`policylab.report.labels.STEP_TITLES`."""
    from policylab.report.labels import step_title as title

    return title(lang, key)


def _title(ctx: Context, key: str) -> str:
    return step_title(ctx.lang, key)




def build_model_design(ctx: Context, panel: Any = None, extra_controls: list[str] = (),
                       sample_name: str | None = None) -> Design:
    """The spec's model (treatment, controls, fixed effects, cluster, weights) as a
    Design on ``panel`` (default: the study's panel)."""
    from policylab.estimators.design import build_design

    t, m = ctx.spec.treatment, ctx.spec.model
    if t.column:
        treat: dict[str, Any] = {"treat": t.column}
    elif t.cohort:
        treat = {"cohort": t.cohort}
    else:
        treat = {"roster": t.roster, "date": t.date}
    return build_design(ctx.panel if panel is None else panel, **treat, assign=t.assign,
                        controls=[*m.controls, *extra_controls], fe=m.fe,
                        cluster=m.cluster, weights=m.weights,
                        sample=None, sample_name=sample_name)


def model_design(ctx: Context) -> Design:
    """The study's one Design, built once from the spec and shared by every step."""
    if "design" not in ctx.cache:
        ctx.cache["design"] = build_model_design(ctx, sample_name=ctx.spec.data.query)
    return ctx.cache["design"]


def skipped(ctx: Context, key: str, reason: str) -> StepOutput:
    """A step that was not run, with the reason (console, report, results.json)."""
    out = StepOutput(key, _title(ctx, key), status="skipped", error=reason)
    out.numbers["skipped"] = reason
    out.text.append(Message("study.not_run", reason=reason))
    return out


def _used(res: Any) -> dict[str, Any] | None:
    """The design record a Result carries (``meta["design"]``)."""
    return (getattr(res, "meta", None) or {}).get("design")


def _labels(ctx: Context) -> dict[str, str]:
    lab = dict(ctx.spec.model.labels)
    # the design names its treatment column "_did" when the data already hold "did"
    lab.setdefault("_did", lab.get("did", "DID"))
    time = ctx.spec.data.time
    if time in ctx.spec.derive:  # periods derived from "Q42010": quarter FE, not year FE
        from policylab.data.derive import period_unit
        from policylab.report.labels import time_fe

        lab.setdefault(f"{time} FE", time_fe(time, ctx.lang, period_unit(ctx.spec.derive,
                                                                           time)))
    return lab


def _etable(ctx: Context, results: list[Any], **kw: Any) -> Any:
    from policylab.report.tables import etable

    return etable(results, labels=_labels(ctx), lang=ctx.lang, digits=ctx.spec.output.digits,
                  **kw)


def _frame_table(ctx: Context, df: pd.DataFrame, title: str, **kw: Any) -> Any:
    from policylab.report.labels import columns
    from policylab.report.tables import table_from_frame

    # the catalogue's names for tidy columns (std_error -> Std. error), then the spec's
    kw.setdefault("labels", {**columns(ctx.lang), **_labels(ctx)})
    kw.setdefault("digits", ctx.spec.output.digits)
    return table_from_frame(df, title=title, lang=ctx.lang, **kw)


def _baseline(ctx: Context) -> list[Any]:
    """Baseline DID results with controls, one per outcome (cached)."""
    if "baseline_full" not in ctx.cache:
        from policylab.estimators.did import did

        d = model_design(ctx)
        ctx.cache["baseline_full"] = [did(d, y=y) for y in ctx.spec.model.outcomes]
    return ctx.cache["baseline_full"]


def _collect_warnings(out: StepOutput, *results: Any) -> None:
    for r in results:
        for w in getattr(r, "warnings", []) or []:
            if w not in out.warnings:
                out.warnings.append(w)


# ----------------------------------------------------------------------------- steps
def _roles(ctx: Context) -> dict[str, str]:
    """Each model column's part in the study, first role wins (the papers' variable
    types: dependent, core explanatory, control, mechanism, moderator, grouping)."""
    sp, b = ctx.spec, ctx.spec.battery
    parts = [("outcome", sp.model.outcomes), ("treatment", [sp.treatment.column or "did"]),
             ("control", sp.model.controls),
             ("mechanism", [*b.mediation.mediators, *b.mechanisms.variables]),
             ("moderator", b.moderation.moderators), ("group", b.heterogeneity.by)]
    roles: dict[str, str] = {}
    for role, cols in parts:
        for c in cols:
            roles.setdefault(c, role)
    return roles


def _defined_columns(ctx: Context) -> list[str]:
    """Every column the study's tables use, in the papers' order (outcomes, treatment,
    controls, mechanisms, groups), then any other column the spec defines."""
    sp, b = ctx.spec, ctx.spec.battery
    cols = [*sp.model.outcomes, sp.treatment.column or "did", *sp.model.controls,
            *b.mediation.mediators, *b.mechanisms.variables, *b.moderation.moderators,
            *b.heterogeneity.by, *sp.variables]
    return [c for c in dict.fromkeys(cols) if c in sp.variables]


def step_overview(ctx: Context) -> StepOutput:
    from policylab.report.labels import word
    from policylab.study import paper

    sp, lang = ctx.spec, ctx.lang
    out = StepOutput("overview", _title(ctx, "overview"))
    out.numbers["design"] = None
    out.numbers["design_note"] = "the study's setting (no model)"
    roster = sp.battery.overview.roster or sp.treatment.roster
    if roster:
        frame = paper.pilot_frame(roster, lang)
        out.numbers["pilots"] = frame
        out.tables.append(("pilots", _frame_table(ctx, frame, word("t_pilots", lang),
                                                  labels={})))
    for name in dict.fromkeys(t.factors for t in sp.transforms if t.kind == "co2"):
        frame = paper.factor_frame(name, lang)
        out.numbers[f"factors_{name}"] = frame
        out.tables.append((f"factors_{name}", _frame_table(
            ctx, frame, word("t_factors", lang), labels={}, digits=4)))
    if sp.derive:
        frame = pd.DataFrame({word("derived_name", lang): list(sp.derive),
                              word("derived_expression", lang): list(sp.derive.values())})
        out.numbers["derived"] = dict(sp.derive)
        out.tables.append(("derived", _frame_table(ctx, frame, word("t_derived", lang),
                                                   labels={})))
    cols = _defined_columns(ctx)
    if cols:
        frame = paper.definitions_frame(cols, _labels(ctx), sp.variables, lang,
                                        roles=_roles(ctx))
        out.numbers["definitions"] = frame.assign(column=cols)
        out.tables.append(("definitions", _frame_table(ctx, frame, word("t_definitions", lang),
                                                       labels={})))
    if not out.tables:
        return skipped(ctx, "overview", Message("study.no_overview"))
    return out


def step_descriptives(ctx: Context) -> StepOutput:
    from policylab.estimators.descriptives import descriptives

    b = ctx.spec.battery.descriptives
    m = ctx.spec.model
    cols = b.columns or list(dict.fromkeys(m.outcomes + m.controls))
    by = b.by or ctx.spec.treatment.group
    res = descriptives(ctx.panel, cols, by=by, labels=_labels(ctx))
    out = StepOutput("descriptives", _title(ctx, "descriptives"), results={"descriptives": res})
    names = {0: "control", 1: "treated", "all": "all"}
    wide = res.wide(names)
    wide = wide[[c for c in wide.columns if not str(c).startswith("all:")]]
    if {"variable", "label"} <= set(wide.columns):
        # one name column, as with groups: the label (the name itself when unlabelled)
        wide = wide.drop(columns="variable")
    defined = ctx.spec.battery.overview.enabled and _defined_columns(ctx)
    if any(c in ctx.spec.variables for c in cols) and not defined:
        from policylab.report.labels import word

        # no variable-definition table in the report: the definition beside each row
        wide.insert(1, word("definition", ctx.lang),
                    [getattr(ctx.spec.variables.get(c), "definition", "") for c in cols])
    wide = _grouped_columns(wide, ctx.lang)
    out.tables.append(("descriptives", _frame_table(ctx, wide, _title(ctx, "descriptives"))))
    out.numbers["design"] = None
    out.numbers["design_note"] = "descriptive statistics of the analysis sample (no model)"
    return out


def _grouped_columns(wide: pd.DataFrame, lang: str) -> pd.DataFrame:
    """"control: mean"-style columns as a two-level header (Control group / Mean), the
    layout of the papers' descriptive tables."""
    from policylab.report.labels import word

    if not any(": " in str(c) for c in wide.columns):
        return wide
    groups = {"control": word("control_group", lang), "treated": word("treated_group", lang)}
    cols = [(groups.get(str(c).split(": ")[0], str(c).split(": ")[0]), str(c).split(": ")[1])
            if ": " in str(c) else ("", "variable" if c == "label" else str(c))
            for c in wide.columns]
    out = wide.copy()
    out.columns = pd.MultiIndex.from_tuples(cols)
    return out


def step_baseline(ctx: Context) -> StepOutput:
    from policylab.estimators.did import did

    out = StepOutput("baseline", _title(ctx, "baseline"))
    models = []
    for y in ctx.spec.model.outcomes:
        if ctx.spec.battery.baseline.without_controls and ctx.spec.model.controls:
            r0 = did(model_design(ctx).replace(controls=[]), y=y)
            out.numbers["design_variants"] = {"without controls": _used(r0)}
            out.results[f"{y} (no controls)"] = r0
            models.append(r0)
        r1 = _baseline(ctx)[ctx.spec.model.outcomes.index(y)]
        out.results[f"{y}"] = r1
        models.append(r1)
    _collect_warnings(out, *models)
    out.numbers["design"] = _used(_baseline(ctx)[0])
    kw: dict[str, Any] = {}
    spec = ctx.spec.battery.baseline
    if spec.show_controls and ctx.spec.model.controls:
        # the papers print every control's coefficient (the Controls row is then moot)
        kw = {"keep": [models[0].meta["treat_term"], *ctx.spec.model.controls],
              "controls": False}
    kw["constant"] = _show_constant(ctx)
    out.tables.append(("baseline", _etable(ctx, models, title=out.title, **kw)))
    note = crv1_note(model_design(ctx).facts.get("n_treated_groups"), ctx.lang)
    if note:  # the table's SEs are CRV1: say they are not the recommended interval
        out.text.append(note)
    _flag_identities(ctx, out)
    return out


def _subtitle(ctx: Context, title: str, part: str) -> str:
    """"Title: part" (a full-width colon in Chinese titles)."""
    from policylab.report.labels import report_word

    return f"{title}{report_word('colon', ctx.lang)}{part}"


def _show_constant(ctx: Context) -> bool:
    """The constant row in regression tables: the spec's choice, by default with the
    control coefficients (Chinese journals' style)."""
    b = ctx.spec.battery.baseline
    return b.show_controls if b.constant is None else b.constant


def _flag_identities(ctx: Context, out: StepOutput) -> None:
    """Warn when one outcome is another minus (or plus) the controls up to the fixed
    effects (ln intensity = ln CO2 - ln GDP with ln GDP a control): the two DIDs are
    then the same number by construction, not two findings."""
    from policylab.estimators.feols import feols

    d, ys = model_design(ctx), ctx.spec.model.outcomes
    if not d.controls or len(ys) < 2:
        return
    found = []
    for i, y1 in enumerate(ys):
        for y2 in ys[i + 1:]:
            cols = dict.fromkeys([y1, y2, *d.controls, *(p for f in d.fe
                                                          for p in f.split("^"))])
            if not set(cols) <= set(d.df.columns):  # formula terms: not checked
                continue
            df = d.df[list(cols)].dropna().copy()
            df["_gap"] = df[y1] - df[y2]
            if float(df["_gap"].var()) == 0.0:
                continue
            fml = f"_gap ~ {' + '.join(d.controls)}" + (f" | {' + '.join(d.fe)}"
                                                         if d.fe else "")
            try:
                r = feols(fml, df, vcov="iid")
            except PolicyLabError:  # collinear or degenerate: no identity to report
                continue
            # the controls and fixed effects explain the gap exactly
            if float(getattr(r, "r2", 0.0)) > 1 - 1e-9:
                found.append((y1, y2))
    out.numbers["identities"] = [list(p) for p in found]
    for y1, y2 in found:
        out.warnings.append(Message("study.identity", y1=y1, y2=y2))


def step_event_study(ctx: Context) -> StepOutput:
    from policylab.estimators.event_study import event_study, parallel_trends

    es_spec = ctx.spec.battery.event_study
    out = StepOutput("event_study", _title(ctx, "event_study"))
    lab = _labels(ctx)
    group = ctx.spec.treatment.group
    # every outcome has its figures; the first keeps the plain keys (later steps use it)
    for i, y in enumerate(ctx.spec.model.outcomes):
        sfx = "" if i == 0 else f"_{y}"
        es = event_study(model_design(ctx), y=y, window=tuple(es_spec.window),
                         ref=es_spec.ref)
        if i == 0:
            ctx.cache["event_study"] = es
            out.numbers["design"] = _used(es)
            out.numbers["pretrend_test"] = es.pretrend_test()
            # the three lead tests the frame shows under the figure, recommended first
            out.numbers["pretrend_tests"] = _lead_tests(ctx, es)
        out.numbers.setdefault("pretrend_test_by_outcome", {})[y] = es.pretrend_test()
        leads = _lead_tests(ctx, es, y if i else None)
        out.numbers.setdefault("pretrend_tests_by_outcome", {})[y] = leads
        out.results[f"event_study{sfx}"] = es
        title = _subtitle(ctx, out.title, lab.get(y, y))
        out.figures.append((f"event_study{sfx}", es.plot(lang=ctx.lang)))
        # event time names each row; the term (t-5, pre_5) would say it twice
        out.tables.append((f"event_study{sfx}", _frame_table(
            ctx, es.tidy().drop(columns="term"), title,
            notes=_pretrend_notes(leads, ctx.lang))))
        if group:
            pt = parallel_trends(ctx.panel, y=y, treat_group=group, time=ctx.spec.data.time,
                                 lang=ctx.lang)
            out.results[f"parallel_trends{sfx}"] = pt
            out.figures.append((f"parallel_trends{sfx}", pt.plot(lang=ctx.lang,
                                                                 ylabel=lab.get(y, y))))
        _collect_warnings(out, es)
    return out


def _pretrend_notes(leads: dict[str, Any], lang: str) -> list[str]:
    """The joint pre-trend test under the event-study table as a paper cites it: the
    recommended test (study.frame.pretrend_tests' choice, e.g. the wild cluster
    bootstrap with few treated clusters) named, then the cluster-robust Wald F for
    comparison."""
    from policylab.report.labels import report_word, word
    from policylab.report.numbers import format_p

    tests = leads["tests"]
    rec = leads["recommended"] if "p_value" in tests.get(leads["recommended"], {}) else "wald"
    notes = []
    for m in [rec] + (["wald"] if rec != "wald" else []):
        t = tests.get(m, {})
        if "p_value" not in t:
            continue
        df2 = t.get("df2")
        dfs = f"{t['df1']}, {df2:.0f}" if m == "wald" and df2 is not None and df2 == df2 \
            and df2 != float("inf") else f"{t['df1']}"
        name = report_word(f"method_{m}", lang)
        if t.get("draws"):
            draws = word("pretrend_draws", lang, n=f"{int(t['draws']):,}")
            name += word("clause_sep", lang) + draws
        key = "pretrend_note_rec" if m == rec else "pretrend_note_cmp"
        notes.append(word(key, lang, name=name, stat_name="F" if m != "ri" else "Wald",
                          dfs=dfs, stat=f"{t['statistic']:.3f}",
                          p=format_p(t["p_value"], 3)))
    return notes


def _few_treated(d: Design) -> bool:
    """Fewer than 10 treated assignment groups: the cluster-robust Wald tests over-reject
    (a nominal 5% lead test rejected 19-38% with 4-6 treated clusters in the bundled
    designs), so the resampling tests are reported first."""
    return few_treated(d.facts.get("n_treated_groups"))


def _cs_event_study(ctx: Context, d: Design, y: str) -> Any:
    """Callaway-Sant'Anna event study for the Honest DiD bounds: att_gt with the
    universal base period (HonestDiD's advice), aggregated by event time over the
    event-study window (cached)."""
    if "cs_event_study" not in ctx.cache:
        from policylab.estimators.staggered import att_gt

        lo, hi = ctx.spec.battery.event_study.window
        cs = att_gt(d, y=y, control_group=ctx.spec.battery.staggered.control_group,
                    base_period="universal")
        ctx.cache["cs_event_study"] = cs.aggregate("dynamic", min_e=lo, max_e=hi)
    return ctx.cache["cs_event_study"]


def _honest_input(ctx: Context, out: StepOutput, es: Any) -> Any:
    """The event study Honest DiD and the power analysis use (spec key
    ``pretrends.honest_source``): TWFE's, or Callaway-Sant'Anna's when adoption is
    staggered ("auto"); a CS event study that cannot be run falls back to TWFE, said."""
    b = ctx.spec.battery
    d = model_design(ctx)
    src = b.pretrends.honest_source
    if src == "auto":
        src = "cs" if (d.facts.get("staggered") and b.staggered.enabled
                       and "att_gt" in b.staggered.estimators) else "twfe"
    if src == "cs":
        try:
            cs_es = _cs_event_study(ctx, d, ctx.spec.model.outcomes[0])
        except PolicyLabError as exc:
            note = Message("study.honest_cs_not_run", reason=reason_of(exc))
            out.numbers["honest_source_note"] = note
            out.text.append(note)  # the reader learns which event study the bounds use
        else:
            out.numbers["honest_source"] = "Callaway-Sant'Anna (universal base period)"
            out.results["cs_event_study"] = cs_es
            return cs_es
    out.numbers["honest_source"] = "TWFE event study"
    return es


def _lead_tests(ctx: Context, es: Any, outcome: str | None = None) -> dict[str, Any]:
    """The three joint lead tests of the TWFE event study and the one to read first
    (study.frame.pretrend_tests), computed once for the event-study and pretrends steps
    (of the first outcome; of ``outcome`` for the others' table notes)."""
    key = "lead_tests" if outcome is None else f"lead_tests:{outcome}"
    if key not in ctx.cache:
        ctx.cache[key] = pretrend_tests(
            es, model_design(ctx).facts.get("n_treated_groups"), ctx.seed,
            draws=ctx.spec.battery.pretrends.draws, executor=ctx.cache.get("executor"))
    return ctx.cache[key]


def _twfe_pretrend_tests(ctx: Context, out: StepOutput, es: Any) -> None:
    """The joint test of the leads by the cluster-robust Wald test, the restricted wild
    cluster bootstrap and randomization inference, with the one to read first."""
    lead = _lead_tests(ctx, es)
    order = lead["order"]
    rows = [dict(lead["tests"][m]) for m in ("wald", "wild", "ri")
            if "p_value" in lead["tests"][m]]
    failed = {m: t["error"] for m, t in lead["tests"].items() if "p_value" not in t}
    rec = lead["recommended"] if lead["recommended"] not in failed else None
    few = _few_treated(model_design(ctx))
    for r in rows:
        r["recommended"] = r["method"] == rec
    out.numbers["pretrend_tests"] = rows
    out.numbers["pretrend_recommended"] = rec
    out.numbers["pretrend_recommended_why"] = (
        f"{model_design(ctx).facts.get('n_treated_groups')} treated assignment groups: "
        + ("with fewer than 10 the cluster-robust Wald test over-rejects; the wild "
           "cluster bootstrap of the same statistic holds its size (docs/validity.md)"
           if few else
           "enough for the cluster-robust Wald test"))
    if failed:
        out.numbers["pretrend_tests_not_run"] = failed
    if rows:
        from policylab.report.labels import report_word, word

        tab = pd.DataFrame(rows).sort_values(
            "method", key=lambda c: c.map({m: i for i, m in enumerate(order)}))
        # the paper's columns: which test, its statistic and degrees of freedom, p, draws
        show = pd.DataFrame({
            "test": [_capital(report_word(f"method_{m}", ctx.lang)) for m in tab["method"]],
            **{c: tab[c] for c in ("statistic", "df1", "df2", "p_value", "draws")
               if c in tab and tab[c].notna().any()},
            "recommended": tab["recommended"].astype(bool),
        })
        out.tables.append(("pretrend_tests", _frame_table(
            ctx, show.reset_index(drop=True), word("t_pretrend_tests", ctx.lang),
            notes=_not_run_notes(ctx, failed))))


def _not_run_notes(ctx: Context, failed: dict[str, Any]) -> list[str]:
    """A line per lead test that could not run, why in the reader's words (an
    exception's own text as it is)."""
    from policylab.report.labels import message_text, report_word, word

    return [word("pretrend_test_not_run", ctx.lang,
                 method=_capital(report_word(f"method_{m}", ctx.lang)),
                 reason=message_text(why, ctx.lang, _labels(ctx))
                 if isinstance(why, Message) else why) for m, why in failed.items()]


def _capital(text: str) -> str:
    """A phrase as a table cell: first letter upper case (a no-op for Chinese)."""
    return text[:1].upper() + text[1:]


def step_pretrends(ctx: Context) -> StepOutput:
    from policylab.inference.pretrends import honest_did, pretrend_power

    es = ctx.cache.get("event_study")
    if es is None:
        return skipped(ctx, "pretrends", Message("study.no_event_study"))
    out = StepOutput("pretrends", _title(ctx, "pretrends"))
    out.numbers["design"] = _used(es)
    p = ctx.spec.battery.pretrends
    _twfe_pretrend_tests(ctx, out, es)
    src = _honest_input(ctx, out, es) if (p.power or p.honest) else es
    not_run: dict[str, str] = {}
    # a short panel (e.g. three years: one lead) still gets its lead tests; the power
    # analysis and the sensitivity bounds that need more leads say so and why
    if p.power:
        try:
            pw = pretrend_power(src)
        except EstimationError as exc:
            not_run["pretrend_power"] = reason_of(exc)
        else:
            out.results["pretrend_power"] = pw
            out.tables.append(("pretrend_power", _frame_table(ctx, pw.tidy(),
                                                              "Pre-trend power")))
    if p.honest:
        target = p.honest_target
        try:
            hd = honest_did(src, **({"l_vec": "average"} if target == "average" else
                                    {"e": int(target)}))
        except EstimationError as exc:
            not_run["honest_did"] = reason_of(exc)
        else:
            out.results["honest_did"] = hd
            out.tables.append(("honest_did", _frame_table(ctx, hd.tidy(), "Honest DiD")))
            out.figures.append(("honest_did", hd.plot(lang=ctx.lang)))
    if not_run:
        out.numbers["not_run"] = not_run
        out.text.extend(Message("study.estimator_not_run", name=k, reason=v)
                        for k, v in not_run.items())
    _collect_warnings(out, *out.results.values())
    return out


def _staggered_robust(ctx: Context, out: StepOutput, d: Design, y: str,
                      robust: list[str]) -> None:
    """Comparison of the event-study estimators and Callaway-Sant'Anna's aggregations,
    every estimator on the study's design (those that cannot honour it are listed)."""
    from policylab.estimators.compare import compare_estimators

    s = ctx.spec.battery.staggered
    fitted = _staggered_fitted(ctx, d, y, robust)
    cmp_ = compare_estimators(d, y=y, window=tuple(ctx.spec.battery.event_study.window),
                              estimators=("twfe", *robust), control_group=s.control_group,
                              fitted=fitted)
    out.numbers["not_run"].update(cmp_.meta["not_run"])
    out.results["comparison"] = cmp_
    wide = cmp_.tidy().pivot(index="rel_time", columns="estimator",
                             values="estimate").reset_index()
    out.tables.append(("comparison", _frame_table(ctx, wide, out.title)))
    out.figures.append(("comparison", cmp_.plot(lang=ctx.lang)))
    if "att_gt" not in robust or "Callaway-Sant'Anna" in cmp_.meta["not_run"]:
        return
    _staggered_cs(ctx, out, d, y, fitted.get("att_gt"))


def _staggered_fitted(ctx: Context, d: Design, y: str, robust: list[str]) -> dict[str, Any]:
    """What the comparison reuses instead of fitting again: the event_study step's
    TWFE event study (when it used the comparison's reference period, -1) and att_gt,
    fitted here once for the comparison and the Callaway-Sant'Anna tables (one that
    fails is left to the comparison, which says why it was not run)."""
    fitted: dict[str, Any] = {}
    es = ctx.cache.get("event_study")
    if es is not None and ctx.spec.battery.event_study.ref == -1:
        fitted["twfe"] = es
    if "att_gt" in robust:
        from policylab.estimators.staggered import att_gt

        try:
            fitted["att_gt"] = att_gt(d, y=y,
                                      control_group=ctx.spec.battery.staggered.control_group)
        except PolicyLabError:
            pass
    return fitted


def _staggered_cs(ctx: Context, out: StepOutput, d: Design, y: str, cs: Any = None) -> None:
    """Callaway-Sant'Anna (``cs``, att_gt's result when already fitted): the four
    aggregations (overall rows first, then the event study), its event-study figure,
    and the pre-test by the analytic (rank-aware) Wald test and the multiplier
    bootstrap, the bootstrap first with few treated groups."""
    from policylab.estimators.staggered import att_gt

    s = ctx.spec.battery.staggered
    if cs is None:
        cs = att_gt(d, y=y, control_group=s.control_group)
    _collect_warnings(out, cs)  # e.g. the units it dropped to balance the panel
    aggs = {kind: cs.aggregate(kind) for kind in ("simple", "dynamic", "group", "calendar")}
    overall = {}
    for kind, agg in aggs.items():
        out.results[f"att_gt_{kind}"] = agg
        row = agg.tidy().iloc[0]
        overall[kind] = {k: float(row[k]) for k in ("estimate", "std_error", "p_value",
                                                     "conf_low", "conf_high")}
    out.numbers["att_gt_aggregations"] = overall
    wald = dict(cs.pretest) or {"test": "Wald (rank-aware)", "statistic": None,
                                "p_value": None, "reason": Message("cs.pretest_no_cells")}
    boot = cs.pretest_bootstrap(draws=s.pretest_draws, seed=ctx.spec.study.seed)
    few = _few_treated(d)
    crowded = _crowded_wald(d, wald)
    out.numbers["att_gt_pretest"] = wald
    out.numbers["att_gt_pretest_bootstrap"] = boot
    order = [boot, wald] if few or crowded else [wald, boot]
    if few or crowded:
        # with few treated groups the bootstrap sup-t over-rejects too (docs/validity.md:
        # 64% at a nominal 5% with 6 treated provinces); randomization inference holds
        ri = _cs_pretest_ri(ctx, d, y)
        out.numbers["att_gt_pretest_ri"] = ri
        if ri.get("p_value") is not None:
            order = [ri, *order]
    out.numbers["att_gt_pretests"] = order
    out.numbers["att_gt_pretest_recommended"] = order[0]["test"]
    from policylab.study.paper import cs_frame, cs_pretest_notes

    ri = out.numbers.get("att_gt_pretest_ri") or {}
    # the randomization test the study would read first, when it could not run, says why
    shown = [*order, *([ri] if ri and ri.get("p_value") is None else [])]
    out.tables.append(("att_gt", _frame_table(
        ctx, cs_frame(aggs, ctx.lang), "Callaway-Sant'Anna",
        notes=cs_pretest_notes(shown, ctx.lang, _labels(ctx)))))
    out.figures.append(("att_gt_dynamic", aggs["dynamic"].plot(lang=ctx.lang)))


def _crowded_wald(d: Design, wald: dict[str, Any]) -> bool:
    """Whether the CS Wald pre-test tests too many cells for its clusters: its
    covariance of k pre-period cells is estimated from G clusters, and the chi-square
    reference holds only when k is small beside G (under normality the statistic is
    Hotelling's T^2, inflated by about (G - 1) / (G - k): 2.5x with 30 cells and 50
    states, where the castle-doctrine panel's Wald rejected at p < 0.001 while no cell
    was significant). Above k = G / 10 the resampling tests are read first."""
    k = wald.get("df") or 0
    clusters = d.df[d.cluster_col].nunique() if d.cluster_col in d.df else 0
    return bool(k) and bool(clusters) and k > clusters / 10


def _cs_pretest_ri(ctx: Context, d: Design, y: str) -> dict[str, Any]:
    """The randomization pre-test of Callaway-Sant'Anna on att_gt's cells (its
    covariates, doubly robust estimator and weights; never-treated comparisons), else
    why it was not run."""
    from policylab.estimators.design import COHORT_COL
    from policylab.inference.cs_pretest import cs_pretest_ri

    s = ctx.spec.battery.staggered
    rec: dict[str, Any] = {"test": "randomization (Wald, periods before the first adoption)",
                           "statistic": None, "p_value": None}
    lacks = [Message(why) for bad, why in ((s.control_group != "never", "study.cs_ri_not_yet"),
                                           (not d.two_way, "study.cs_ri_fine_fe")) if bad]
    if lacks:
        return {**rec, "reason": Message("study.cs_ri_lacks", lacks=lacks)}
    try:
        r = cs_pretest_ri(d.df, y, d.unit, d.time, COHORT_COL, assign=d.assign,
                          cluster=d.cluster_col, draws=s.pretest_draws, seed=ctx.seed,
                          covariates=list(d.controls), weights=d.weights,
                          executor=ctx.cache.get("executor"))
    except PolicyLabError as exc:
        return {**rec, "reason": reason_of(exc)}
    return {**rec, "statistic": r.statistic, "p_value": r.p_value, "df": r.meta["rank"],
            "n_cells": len(r.cells), "draws": r.meta["draws"], "seed": r.meta["seed"],
            "method": r.meta["method"], "covariates": r.meta["covariates"],
            "degenerate": r.meta["degenerate"]}


def step_staggered(ctx: Context) -> StepOutput:
    s = ctx.spec.battery.staggered
    y = ctx.spec.model.outcomes[0]
    d = model_design(ctx)
    if not d.facts["cohorts"]:
        return skipped(ctx, "staggered", Message("study.no_adoption"))
    out = StepOutput("staggered", _title(ctx, "staggered"))
    out.numbers["design"] = d.record()
    out.numbers["not_run"] = {}
    robust = [e for e in s.estimators if e != "bacon"]
    if robust:
        _staggered_robust(ctx, out, d, y, robust)
    if "bacon" in s.estimators:
        from policylab.estimators.bacon import bacon_decomposition

        if not d.facts["staggered"]:
            out.numbers["not_run"]["Goodman-Bacon"] = Message(
                "study.bacon_single_date", date=d.facts["cohorts"][0])
        else:
            try:
                bd = bacon_decomposition(d, y=y)
            except PolicyLabError as exc:  # the design's parts, or an unbalanced panel
                out.numbers["not_run"]["Goodman-Bacon"] = reason_of(exc)
            else:
                out.results["bacon"] = bd
                out.tables.append(("bacon", _frame_table(ctx, bd.by_type().reset_index(),
                                                         "Goodman-Bacon")))
                out.figures.append(("bacon", bd.plot(lang=ctx.lang)))
    not_run = out.numbers["not_run"]
    if not out.results and len(not_run) == 1:
        return skipped(ctx, "staggered", Message("study.named_reason", name=next(iter(
            not_run)), reason=next(iter(not_run.values()))))
    if not out.results:  # each estimator's reason on a line of its own
        out = skipped(ctx, "staggered", Message("study.no_robust_estimator"))
        out.numbers["not_run"] = not_run
    out.text.extend(Message("study.estimator_not_run", name=k, reason=v)
                    for k, v in not_run.items())
    _collect_warnings(out, *out.results.values())
    return out


def step_psm_did(ctx: Context) -> StepOutput:
    from policylab.estimators.psm import psm_did

    p = ctx.spec.battery.psm_did
    covariates = p.covariates or list(ctx.spec.model.controls)
    if not covariates:
        return skipped(ctx, "psm_did", Message("study.no_covariates"))
    out = StepOutput("psm_did", _title(ctx, "psm_did"))
    models, columns, heads = [], [], []
    kw = dict(covariates=covariates, mode=p.mode, method=p.method, did_sample=p.did_sample,
              kernel=p.kernel, bwidth=p.bwidth)
    d = model_design(ctx)
    for y in ctx.spec.model.outcomes:
        try:
            r = psm_did(d, y=y, **kw)
            # the papers' form: each outcome without and with the controls
            r0 = psm_did(d.replace(controls=[]), y=y, **kw) if d.controls else None
        except DesignNotHonoured as exc:
            return skipped(ctx, "psm_did", reason_of(exc))
        out.results[y] = r
        models.append(r)
        if r0 is not None:
            out.results[f"{y} (no controls)"] = r0
            columns.append(r0.did)
        columns.append(r.did)
        heads.append((_labels(ctx).get(y, y), 2 if r0 is not None else 1))
    out.numbers["design"] = _used(models[0].did)
    out.numbers["did_sample"] = p.did_sample
    _collect_warnings(out, *models)
    first = models[0]
    from policylab.report.labels import message_text, word

    sub = [word("no_controls" if not c.meta.get("controls") else "with_controls", ctx.lang)
           for c in columns]
    out.tables.append(("psm_did", _etable(
        ctx, columns, title=out.title, group_headers=heads if d.controls else None,
        headers=sub if d.controls else None,
        controls=[bool(c.meta.get("controls")) for c in columns],
        constant=_show_constant(ctx), notes=[_psm_note(p, first, ctx.lang), *(
            message_text(n, ctx.lang, _labels(ctx)) for n in first.meta.get("notes", []))])))
    if first.balance is not None:
        ss = first.balance.summary_stats
        from policylab.report.labels import report_word
        from policylab.study.paper import balance_frame

        notes = ([report_word("rubin", ctx.lang, b0=f"{ss['B_before']:.1f}",
                              b1=f"{ss['B_after']:.1f}", r0=f"{ss['R_before']:.2f}",
                              r1=f"{ss['R_after']:.2f}")] if ss else [])

        out.tables.append(("balance", _frame_table(
            ctx, balance_frame(first.balance.tidy(), ctx.lang),
            word("t_balance", ctx.lang), notes=notes)))
        out.figures.append(("bias", first.balance.plot(lang=ctx.lang, labels=_labels(ctx))))
    try:
        out.figures.append(("psm", first.plot(lang=ctx.lang)))
    except NotImplementedError:
        pass
    return out


def _psm_note(p: Any, res: Any, lang: str) -> str:
    """How the PSM-DID's sample was made: mode, matching method, rows used."""
    from policylab.report.labels import kernel_name, word

    kernel = kernel_name(p.kernel, lang)
    return word("psm_note", lang, mode=word(f"psm_mode_{p.mode}", lang),
                method=word(f"psm_method_{p.method}", lang, kernel=kernel, bw=f"{p.bwidth:g}"),
                sample=word(f"psm_sample_{p.did_sample}", lang),
                n=f"{res.meta['n_after']:,}", n0=f"{res.meta['n_before']:,}")


def step_placebo(ctx: Context) -> StepOutput:
    from policylab.inference.placebo import placebo_test
    from policylab.study import paper

    p = ctx.spec.battery.placebo
    out = StepOutput("placebo", _title(ctx, "placebo"))
    exact = p.exact
    base = _baseline(ctx)[0]
    try:
        res = placebo_test(base, kind=p.kind, draws=p.draws, exact=exact, seed=ctx.seed,
                           progress=False, executor=ctx.cache.get("executor"))
    except SpecError as exc:
        if exact is not True:
            raise
        # staggered adoption has too many assignments to enumerate: sample instead
        out.warnings.append(Message("placebo.exact_impossible", why=reason_of(exc),
                                    draws=p.draws))
        res = placebo_test(base, kind=p.kind, draws=p.draws, exact=False, seed=ctx.seed,
                           progress=False, executor=ctx.cache.get("executor"))
    out.results["placebo"] = res
    out.numbers["design"] = _used(base)
    out.tables.append(("placebo", paper.placebo_table(res, out.title, ctx.lang, _labels(ctx),
                                                      ctx.spec.output.digits)))
    out.figures.append(("placebo", res.plot(lang=ctx.lang)))
    _collect_warnings(out, res)
    return out


def step_wild_bootstrap(ctx: Context) -> StepOutput:
    from policylab.inference.wild import wild_bootstrap

    w = ctx.spec.battery.wild_bootstrap
    out = StepOutput("wild_bootstrap", _title(ctx, "wild_bootstrap"))
    for r in _baseline(ctx):
        kw: dict[str, Any] = {}
        if w.cluster:
            kw["cluster"] = w.cluster
        res = wild_bootstrap(r, param=r.meta["treat_term"], draws=w.draws, weights_type=w.weights_type,
                             seed=ctx.seed, **kw)
        out.results[r.meta["depvar"]] = res
    out.numbers["design"] = {**_used(_baseline(ctx)[0]),
                             **({"cluster": w.cluster} if w.cluster else {})}
    frame = pd.concat([v.tidy().assign(outcome=k) for k, v in out.results.items()],
                      ignore_index=True)
    # one row per outcome, named first; the coefficient is the same treatment term
    keep = ["outcome"] + [c for c in frame.columns if c not in ("outcome", "term")
                          and not (c == "enumerated" and not frame[c].astype(bool).any())]
    out.tables.append(("wild_bootstrap", _frame_table(ctx, frame[keep], out.title)))
    return out


def step_samples(ctx: Context) -> StepOutput:
    from policylab.data.panel import Panel
    from policylab.estimators.did import did

    out = StepOutput("samples", _title(ctx, "samples"))
    models, headers = [], []
    y = ctx.spec.model.outcomes[0]
    for i, s in enumerate(ctx.spec.battery.samples):
        df = ctx.panel.df
        if s.query:
            from policylab.data.filters import apply_filter

            df = apply_filter(df, s.query, f"battery.samples[{i}].query")
        if s.drop_units:
            df = df[~df[ctx.spec.data.unit].isin(s.drop_units)]
        if s.years:
            tcol = ctx.spec.data.time
            df = df[(df[tcol] >= s.years[0]) & (df[tcol] <= s.years[1])]
        panel = Panel(df, ctx.spec.data.unit, ctx.spec.data.time)
        if s.winsorize:
            panel = panel.winsorize(s.winsorize, suffix="")
        # the study's model on another sample: a Design of its own, named after it
        r = did(build_model_design(ctx, panel, list(s.extra_controls), sample_name=s.name),
                y=y)
        out.results[s.name] = r
        out.numbers.setdefault("designs", {})[s.name] = _used(r)
        models.append(r)
        headers.append(s.name)
        _sample_warnings(ctx, out, s.name, r)
    out.tables.append(("samples", _etable(ctx, models, headers=headers, title=out.title)))
    return out


def _sample_warnings(ctx: Context, out: StepOutput, name: str, r: Any) -> None:
    """A robustness sample's warnings, named after it ("[sample: name] ..."; the report
    writes "Sample "name": ..."); those the main model already gave are not repeated."""
    said = set(_baseline(ctx)[0].warnings)
    for w in r.warnings:
        tagged = Message("study.in_sample", name=name, text=w)
        if w not in said and tagged not in out.warnings:
            out.warnings.append(tagged)


def _mediation_runs(ctx: Context) -> dict[tuple[str, str], Any]:
    """MediationResults per (variant, outcome): "lag" is the spec's model (mediators with
    their lags), "same_year" the lagged mediators without the lag (the run that motivates
    the lag in the carbon study)."""
    from policylab.estimators.mediation import mediation

    m = ctx.spec.battery.mediation
    variants = [("lag", list(m.mediators), dict(m.lags))]
    if m.same_year and m.lags:
        variants.append(("same_year", list(m.lags), {}))
    runs = {}
    for variant, meds, lags in variants:
        for y in ctx.spec.model.outcomes:
            runs[(variant, y)] = mediation(model_design(ctx), y=y, mediators=meds, lags=lags,
                                           draws=m.draws, seed=ctx.seed,
                                           executor=ctx.cache.get("executor"))
    return runs


def _mediation_table(ctx: Context, runs: dict[tuple[str, str], Any], med: str) -> Any:
    """One mediator in the three-equation layout: M on D (a), then per outcome Y on D
    and M (b, c'), with c, a*b, Sobel p, the CI and the share below; a lagged mediator
    has its same-year columns first."""
    from policylab.report.labels import word
    from policylab.study.paper import add_rows, mediation_rows

    m, outcomes, lab = ctx.spec.battery.mediation, ctx.spec.model.outcomes, _labels(ctx)
    k = m.lags.get(med)
    variants = [("same_year", med)] if k and ("same_year", outcomes[0]) in runs else []
    variants.append(("lag", f"{med}_lag{k}" if k else med))
    cols, per_col, groups, keep = [], [], [], []
    for variant, term in variants:
        first = runs[(variant, outcomes[0])]
        cols.append(first.step_results[term][1])
        per_col.append((None, term))
        for y in outcomes:
            cols.append(runs[(variant, y)].step_results[term][2])
            per_col.append((runs[(variant, y)], term))
        keep += [first.meta["treat_term"], term] if not keep else [term]
        groups.append((word("med_same_year", ctx.lang) if variant == "same_year" else
                       word("med_lag", ctx.lang, k=k) if k else "", 1 + len(outcomes)))
    title = word("t_mediation", ctx.lang, m=lab.get(med, med))
    table = _etable(ctx, cols, keep=list(dict.fromkeys(keep)), title=title,
                    group_headers=groups if len(groups) > 1 else None)
    return add_rows(table, mediation_rows(per_col, ctx.lang, ctx.spec.output.digits))


def step_mediation(ctx: Context) -> StepOutput:
    m = ctx.spec.battery.mediation
    if not m.mediators:
        return skipped(ctx, "mediation", Message("study.no_mediators"))
    out = StepOutput("mediation", _title(ctx, "mediation"))
    runs = _mediation_runs(ctx)
    outcomes = ctx.spec.model.outcomes
    res = runs[("lag", outcomes[0])]
    out.results["mediation"] = res
    for (variant, y), r in runs.items():
        if r is not res:
            out.results[f"mediation {variant} {y}"] = r
    totals = [steps[0] for steps in getattr(res, "step_results", {}).values()]
    d = model_design(ctx)
    # mediation refits on the design's rows (rebuilt from its 0/1 column): name them so
    out.numbers["design"] = {**(_used(totals[0]) if totals else d.record()),
                             "sample": d.sample, "treatment": d.treatment}
    # the summary the papers' text cites; every column stays in results.json
    keep = ["term", "a", "b", "c", "c_prime", "estimate", "sobel_p", "conf_low", "conf_high",
            "share"]
    eff = res.tidy()[keep].rename(columns={"estimate": "a×b", "sobel_p": "p_value"})
    from policylab.report.labels import word

    eff["term"] = [_labels(ctx).get(t, t) if not t.startswith("joint:") else
                   word("med_joint", ctx.lang, m=_labels(ctx).get(t[6:].strip(), t[6:].strip()))
                   for t in eff["term"]]

    out.tables.append(("mediation_effects", _frame_table(
        ctx, eff, out.title, labels={
            **_labels(ctx), "p_value": word("med_sobel_p", ctx.lang),
            "a×b": word("med_indirect", ctx.lang), "term": word("mediator", ctx.lang),
            "c_prime": "c'", "conf_low": word("ci_low", ctx.lang),
            "conf_high": word("ci_high", ctx.lang), "share": word("med_share", ctx.lang)})))
    for med in m.mediators:
        out.tables.append((f"mediation_{med}", _mediation_table(ctx, runs, med)))
    if "joint" in res.step_results:
        out.tables.append(("mediation_joint", _etable(
            ctx, list(res.step_results["joint"]),
            title=_subtitle(ctx, out.title, word("t_mediation_joint", ctx.lang)))))
    if m.diagram:
        _mediation_diagrams(ctx, out, runs)
    out.text.extend(getattr(res, "notes", []) or [])
    _collect_warnings(out, *runs.values())
    return out


def _mediation_diagrams(ctx: Context, out: StepOutput, runs: dict[tuple[str, str], Any]
                        ) -> None:
    from policylab.report.figures.mediation_path import mediation_path_figure
    from policylab.study.paper import path_entry

    lab = _labels(ctx)
    for i, y in enumerate(ctx.spec.model.outcomes):
        r = runs[("lag", y)]
        paths = [p for med, name in zip(ctx.spec.battery.mediation.mediators, r.meta["mediators"])
                 if (p := path_entry(r, name, lab.get(name, lab.get(med, med)))) is not None]
        fig = mediation_path_figure(paths, treatment=lab.get(r.meta["treat_term"], "DID"),
                                    outcome=lab.get(y, y), lang=ctx.lang,
                                    digits=ctx.spec.output.digits)
        out.figures.append(("mediation_path" if i == 0 else f"mediation_path_{y}", fig))


def step_moderation(ctx: Context) -> StepOutput:
    from policylab.estimators.moderation import moderation

    m = ctx.spec.battery.moderation
    if not m.moderators:
        return skipped(ctx, "moderation", Message("study.no_moderators"))
    out = StepOutput("moderation", _title(ctx, "moderation"))
    y = ctx.spec.model.outcomes[0]
    for mod in m.moderators:
        r = moderation(model_design(ctx), y=y, moderator=mod)
        out.results[mod] = r
        # the moderator's two terms join the design's controls
        out.numbers["design"] = {**_used(r), "controls": list(model_design(ctx).controls)}
        try:
            out.figures.append((f"moderation_{mod}", r.plot(lang=ctx.lang,
                                                            label=_labels(ctx).get(mod))))
        except NotImplementedError:
            pass
    out.tables.append(("moderation", _moderation_table(ctx, out)))
    return out


def _moderation_table(ctx: Context, out: StepOutput) -> Any:
    """One column per moderator, as the papers show moderation: the treatment, its
    interaction with the (centered) moderator, the moderator, then the controls."""
    from policylab.report.labels import VALUES, word
    from policylab.report.tables import etable

    lab = dict(_labels(ctx))
    order: list[str] = []
    for mod, r in out.results.items():
        D = r.meta["treat_term"]
        inter, cen = f"{D}_x_{mod}", f"{mod}_c"
        times = word("times", ctx.lang)
        lab.setdefault(inter, f"{lab.get(D, D)}{times}{lab.get(mod, mod)}")
        lab.setdefault(cen, VALUES.get(ctx.lang, VALUES["en"])["centered"].format(
            x=lab.get(mod, mod)))
        order += [t for t in (D, inter, cen) if t not in order]
    return etable(list(out.results.values()), labels=lab, lang=ctx.lang,
                  digits=ctx.spec.output.digits, keep=order, title=out.title,
                  headers=[lab.get(m, m) for m in out.results])


def _outcome_on(d: Design, y: str, mech: str) -> Any:
    """The outcome on a mechanism variable, the controls and the design's fixed effects,
    clustered as the design (the energy study's Table 4 columns (2), (4), (6))."""
    from policylab.estimators.feols import feols

    rhs = " + ".join([mech, *d.controls])
    fml = f"{y} ~ {rhs}" + (f" | {' + '.join(d.fe)}" if d.fe else "")
    vcov = {"CRV1": d.cluster_col} if d.cluster_col else "hetero"
    r = feols(fml, d.df, vcov=vcov, weights=d.weights)
    r.meta.setdefault("controls", list(d.controls))
    return r


def _unit_constant(d: Design, cols: list[str]) -> list[str]:
    """The columns of ``cols`` that never change within a unit of the design's sample
    (a firm's industry, a resource-based-city flag): as an outcome the unit FE absorb
    them, so the policy's effect on them is not identified."""
    from policylab.engine.passes import varies_within

    codes = pd.factorize(d.df[d.unit])[0]
    out = []
    for c in cols:
        v = pd.to_numeric(d.df[c], errors="coerce").to_numpy(float)
        if not varies_within(codes, v):
            out.append(c)
    return out


def step_mechanisms(ctx: Context) -> StepOutput:
    from policylab.estimators.did import did

    b = ctx.spec.battery
    mechs = list(b.mechanisms.variables or b.moderation.moderators)
    if not mechs:
        return skipped(ctx, "mechanisms", Message("study.no_mechanisms"))
    d, y = model_design(ctx), ctx.spec.model.outcomes[0]
    fixed = _unit_constant(d, mechs)
    mechs = [m for m in mechs if m not in fixed]
    if not mechs:
        return skipped(ctx, "mechanisms", Message("study.mechanisms_fixed", columns=fixed))
    out = StepOutput("mechanisms", _title(ctx, "mechanisms"))
    for m in fixed:
        out.warnings.append(Message("study.mechanism_left_out", column=m))
    cols = []
    for mech in mechs:
        a = did(d, y=mech)
        on = _outcome_on(d, y, mech)
        out.results[f"{mech}: policy"] = a
        out.results[f"{mech}: outcome"] = on
        cols += [a, on]
    out.numbers["design"] = _used(cols[0])
    _collect_warnings(out, *cols)
    out.tables.append(("mechanisms", _etable(
        ctx, cols, keep=[cols[0].meta["treat_term"], *mechs], title=out.title,
        controls=[bool(ctx.spec.model.controls)] * len(cols))))
    return out


def _pooled_results(ctx: Context, out: StepOutput, col: str, y: str) -> list[Any]:
    """The DID on each pooled group of levels of ``col`` (e.g. resource-based cities)."""
    from policylab.data.panel import Panel
    from policylab.estimators.did import did

    models = []
    df = ctx.panel.df
    for pool in ctx.spec.battery.heterogeneity.pooled.get(col, []):
        sub = df[df[col].astype(str).isin([str(v) for v in pool.levels])]
        panel = Panel(sub, ctx.spec.data.unit, ctx.spec.data.time)
        r = did(build_model_design(ctx, panel, sample_name=pool.label), y=y)
        out.results[f"{col}: {pool.label}"] = r
        models.append(r)
    return models


def step_heterogeneity(ctx: Context) -> StepOutput:
    from policylab.estimators.heterogeneity import heterogeneity
    from policylab.study.paper import ordered_levels

    h = ctx.spec.battery.heterogeneity
    if not h.by:
        return skipped(ctx, "heterogeneity", Message("study.no_subgroups"))
    out = StepOutput("heterogeneity", _title(ctx, "heterogeneity"))
    y = ctx.spec.model.outcomes[0]
    res = heterogeneity(model_design(ctx), y=y, by=list(h.by),
                        permutation_draws=h.permutation_draws,
                        bootstrap_draws=h.bootstrap_draws, seed=ctx.seed,
                        executor=ctx.cache.get("executor"))
    out.results["heterogeneity"] = res
    out.numbers["design"] = _used(res)
    lab = _labels(ctx)
    for col in h.by:
        names = h.levels.get(col, {})
        subs = {lv: r for (c, lv), r in res.subgroup_results.items() if c == col}
        order = ordered_levels(list(subs), names)
        pooled = _pooled_results(ctx, out, col, y)
        heads = [p.label for p in h.pooled.get(col, [])] + [
            names.get(str(lv), lab.get(f"{col}={lv}", f"{lab.get(col, col)}={lv}"))
            for lv in order]
        tests = res.tests[res.tests["by"] == col]
        from policylab.report.labels import columns, report_word, word

        # the recommended difference test first, named as such (issue 18)
        tnames, sep = columns(ctx.lang), report_word("colon", ctx.lang)
        rec = report_word("recommended", ctx.lang)
        rec = word("in_parens", ctx.lang, x=rec)
        first = tests.sort_values("recommended", ascending=False, kind="stable") \
            if "recommended" in tests else tests
        notes = [f"{tnames.get(t.test, t.test)}{rec if t.recommended else ''}"
                 f"{sep}{p_is(t.p_value)}" for t in first.itertuples()]
        out.tables.append((f"heterogeneity_{col}", _etable(
            ctx, [*pooled, *(subs[lv] for lv in order)], headers=heads,
            title=_subtitle(ctx, out.title, lab.get(col, col)), notes=notes)))
    out.tables.append(("heterogeneity_tests", _frame_table(ctx, res.tests, out.title)))
    _collect_warnings(out, res)
    return out


def step_spec_curve(ctx: Context) -> StepOutput:
    from policylab.estimators.spec_curve import spec_curve

    sc = ctx.spec.battery.spec_curve
    design = model_design(ctx)
    sets = dict(sc.control_sets) or {"none": [], "baseline": list(design.controls)}
    samples: dict[str, str | None] = {"full": None}
    for s in ctx.spec.battery.samples:
        if s.query:
            samples[s.name] = s.query
    try:
        res = spec_curve(design, list(ctx.spec.model.outcomes), controls=sets,
                         samples=samples, inference=sc.inference, draws=sc.draws,
                         seed=ctx.seed, executor=ctx.cache.get("executor"))
    except DesignNotHonoured as exc:
        return skipped(ctx, "spec_curve", reason_of(exc))
    out = StepOutput("spec_curve", _title(ctx, "spec_curve"))
    out.results["spec_curve"] = res
    # the curve varies the controls and the sample on purpose; the rest is the design's
    out.numbers["design"] = {**design.record(), "controls": list(design.controls),
                             "varied": {"controls": sets, "samples": samples}}
    out.numbers["joint_test"] = res.joint
    out.numbers["median_estimate"] = res.median_estimate
    out.numbers["share_significant"] = res.share_significant
    out.tables.append(("spec_curve", _frame_table(ctx, res.tidy().drop(columns=["term"]),
                                                  out.title)))
    out.figures.append(("spec_curve", res.plot(lang=ctx.lang, labels=_labels(ctx))))
    _collect_warnings(out, res)
    return out


STEPS: dict[str, Callable[[Context], StepOutput]] = {
    "overview": step_overview,
    "descriptives": step_descriptives,
    "baseline": step_baseline,
    "event_study": step_event_study,
    "pretrends": step_pretrends,
    "staggered": step_staggered,
    "psm_did": step_psm_did,
    "placebo": step_placebo,
    "wild_bootstrap": step_wild_bootstrap,
    "samples": step_samples,
    "mediation": step_mediation,
    "moderation": step_moderation,
    "mechanisms": step_mechanisms,
    "heterogeneity": step_heterogeneity,
    "spec_curve": step_spec_curve,
}
