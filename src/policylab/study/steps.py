"""The battery: one function per step, each returning a StepOutput.

Steps call only the public estimator API and hand Results, tables and figures to the
renderer; they compute nothing themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from policylab.errors import SpecError
from policylab.study.pipeline import Context, StepOutput
from policylab.study.spec import StudySpec

__all__ = ["STEPS", "planned_steps"]

_ORDER = [
    "descriptives", "baseline", "event_study", "pretrends", "staggered", "psm_did",
    "placebo", "wild_bootstrap", "samples", "mediation", "moderation", "heterogeneity",
    "spec_curve",
]

TITLES = {
    "en": {
        "descriptives": "Descriptive statistics",
        "baseline": "Baseline difference-in-differences",
        "event_study": "Parallel trends and event study",
        "pretrends": "Credibility of the parallel-trend assumption",
        "staggered": "Heterogeneity-robust (staggered) estimators",
        "psm_did": "PSM-DID",
        "placebo": "Placebo test (randomization inference)",
        "wild_bootstrap": "Wild cluster bootstrap",
        "samples": "Robustness: alternative samples and overlapping policies",
        "mediation": "Mechanisms: mediation",
        "moderation": "Mechanisms: moderation",
        "heterogeneity": "Heterogeneity",
        "spec_curve": "Specification curve",
    },
    "zh": {
        "descriptives": "描述性统计",
        "baseline": "基准回归（双重差分）",
        "event_study": "平行趋势检验与事件研究",
        "pretrends": "平行趋势假设的可信度",
        "staggered": "异质性稳健估计（多期DID）",
        "psm_did": "PSM-DID",
        "placebo": "安慰剂检验（随机化推断）",
        "wild_bootstrap": "野自助法（聚类）",
        "samples": "稳健性检验：替换样本与排除其他政策",
        "mediation": "机制检验：中介效应",
        "moderation": "机制检验：调节效应",
        "heterogeneity": "异质性分析",
        "spec_curve": "设定曲线（多重设定）",
    },
}


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


def _title(ctx: Context, key: str) -> str:
    return TITLES.get(ctx.lang, TITLES["en"])[key]


def treat_kwargs(ctx: Context) -> dict[str, Any]:
    """The treatment arguments shared by every estimator call."""
    t = ctx.spec.treatment
    kw: dict[str, Any] = {}
    if t.column:
        kw["treat"] = t.column
    elif t.cohort:
        kw["cohort"] = t.cohort
    else:
        kw["roster"] = t.roster
        kw["date"] = t.date
    if t.assign:
        kw["assign"] = t.assign
    return kw


def model_kwargs(ctx: Context, controls: bool = True) -> dict[str, Any]:
    """Controls, fixed effects, cluster and weights of the baseline model."""
    m = ctx.spec.model
    kw: dict[str, Any] = {"controls": list(m.controls) if controls else []}
    if m.fe:
        kw["fe"] = list(m.fe)
    if m.cluster:
        kw["cluster"] = m.cluster
    if m.weights:
        kw["weights"] = m.weights
    return kw


def _labels(ctx: Context) -> dict[str, str]:
    lab = dict(ctx.spec.model.labels)
    # the design names its treatment column "_did" when the data already hold "did"
    lab.setdefault("_did", lab.get("did", "DID"))
    return lab


def _etable(ctx: Context, results: list[Any], **kw: Any) -> Any:
    from policylab.report.tables import etable

    return etable(results, labels=_labels(ctx), lang=ctx.lang, digits=ctx.spec.output.digits,
                  **kw)


def _frame_table(ctx: Context, df: pd.DataFrame, title: str, **kw: Any) -> Any:
    kw.setdefault("labels", _labels(ctx))
    from policylab.report.tables import table_from_frame

    return table_from_frame(df, title=title, lang=ctx.lang, digits=ctx.spec.output.digits, **kw)


def _baseline(ctx: Context) -> list[Any]:
    """Baseline DID results with controls, one per outcome (cached)."""
    if "baseline_full" not in ctx.cache:
        from policylab.estimators.did import did

        ctx.cache["baseline_full"] = [
            did(ctx.panel, y=y, **treat_kwargs(ctx), **model_kwargs(ctx))
            for y in ctx.spec.model.outcomes
        ]
    return ctx.cache["baseline_full"]


def _collect_warnings(out: StepOutput, *results: Any) -> None:
    for r in results:
        for w in getattr(r, "warnings", []) or []:
            if w not in out.warnings:
                out.warnings.append(w)


# ----------------------------------------------------------------------------- steps
def step_descriptives(ctx: Context) -> StepOutput:
    from policylab.estimators.descriptives import descriptives

    b = ctx.spec.battery.descriptives
    m = ctx.spec.model
    cols = b.columns or list(dict.fromkeys(m.outcomes + m.controls))
    by = b.by or ctx.spec.treatment.group
    res = descriptives(ctx.panel, cols, by=by, labels=_labels(ctx))
    out = StepOutput("descriptives", _title(ctx, "descriptives"), results={"descriptives": res})
    names = ({0: "control", 1: "treated", "all": "all"} if ctx.lang == "en"
             else {0: "对照组", 1: "处理组", "all": "全样本"})
    wide = res.wide(names)
    if ctx.lang == "zh":
        from policylab.report.labels import COLUMNS_ZH

        wide.columns = [
            ": ".join([c.split(": ")[0], COLUMNS_ZH.get(c.split(": ")[1], c.split(": ")[1])])
            if ": " in str(c) else c for c in wide.columns
        ]
    wide = wide[[c for c in wide.columns if not str(c).startswith(names["all"] + ":")]]
    out.tables.append(("descriptives", _frame_table(ctx, wide, _title(ctx, "descriptives"))))
    return out


def step_baseline(ctx: Context) -> StepOutput:
    from policylab.estimators.did import did

    out = StepOutput("baseline", _title(ctx, "baseline"))
    models = []
    for y in ctx.spec.model.outcomes:
        if ctx.spec.battery.baseline.without_controls and ctx.spec.model.controls:
            r0 = did(ctx.panel, y=y, **treat_kwargs(ctx), **model_kwargs(ctx, controls=False))
            out.results[f"{y} (no controls)"] = r0
            models.append(r0)
        r1 = _baseline(ctx)[ctx.spec.model.outcomes.index(y)]
        out.results[f"{y}"] = r1
        models.append(r1)
    _collect_warnings(out, *models)
    out.tables.append(("baseline", _etable(ctx, models, title=out.title)))
    return out


def step_event_study(ctx: Context) -> StepOutput:
    from policylab.estimators.event_study import event_study, parallel_trends

    es_spec = ctx.spec.battery.event_study
    out = StepOutput("event_study", _title(ctx, "event_study"))
    y = ctx.spec.model.outcomes[0]
    tk = treat_kwargs(ctx)
    mk = model_kwargs(ctx)
    mk.pop("weights", None)
    es = event_study(ctx.panel, y=y, window=tuple(es_spec.window), ref=es_spec.ref, **tk, **mk)
    ctx.cache["event_study"] = es
    out.results["event_study"] = es
    test = es.pretrend_test()
    out.numbers["pretrend_test"] = test
    out.figures.append(("event_study", es.plot(lang=ctx.lang)))
    out.tables.append(("event_study", _frame_table(ctx, es.tidy(), out.title)))
    group = ctx.spec.treatment.group
    if group:
        pt = parallel_trends(ctx.panel, y=y, treat_group=group, time=ctx.spec.data.time,
                             lang=ctx.lang)
        out.results["parallel_trends"] = pt
        out.figures.append(("parallel_trends", pt.plot(lang=ctx.lang)))
    _collect_warnings(out, es)
    return out


def step_pretrends(ctx: Context) -> StepOutput:
    from policylab.inference.pretrends import honest_did, pretrend_power

    out = StepOutput("pretrends", _title(ctx, "pretrends"))
    es = ctx.cache.get("event_study")
    if es is None:
        raise RuntimeError("the pre-trend checks need the event_study step")
    p = ctx.spec.battery.pretrends
    if p.power:
        pw = pretrend_power(es)
        out.results["pretrend_power"] = pw
        out.tables.append(("pretrend_power", _frame_table(ctx, pw.tidy(), "Pre-trend power")))
    if p.honest:
        target = p.honest_target
        hd = honest_did(es, **({"l_vec": "average"} if target == "average" else
                               {"e": int(target)}))
        out.results["honest_did"] = hd
        out.tables.append(("honest_did", _frame_table(ctx, hd.tidy(), "Honest DiD")))
        out.figures.append(("honest_did", hd.plot(lang=ctx.lang)))
    return out


def step_staggered(ctx: Context) -> StepOutput:
    out = StepOutput("staggered", _title(ctx, "staggered"))
    s = ctx.spec.battery.staggered
    y = ctx.spec.model.outcomes[0]
    cohort = ctx.spec.treatment.cohort
    panel = ctx.panel
    if cohort is None:
        # first treated period from the design (0/1 column or roster)
        from policylab.data.panel import Panel
        from policylab.estimators.design import COHORT_COL, build_design

        design = build_design(ctx.panel, **treat_kwargs(ctx))
        panel = Panel(design.df, unit=design.unit, time=design.time)
        cohort = COHORT_COL
    kw = {"unit": ctx.spec.data.unit, "time": ctx.spec.data.time, "cohort": cohort}
    window = tuple(ctx.spec.battery.event_study.window)
    robust = [e for e in s.estimators if e != "bacon"]
    if robust:
        from policylab.estimators.compare import compare_estimators

        cmp_ = compare_estimators(panel, y=y, window=window, estimators=("twfe", *robust),
                                  control_group=s.control_group, **kw)
        out.results["comparison"] = cmp_
        wide = cmp_.tidy().pivot(index="rel_time", columns="estimator",
                                 values="estimate").reset_index()
        out.tables.append(("comparison", _frame_table(ctx, wide, out.title)))
        out.figures.append(("comparison", cmp_.plot(lang=ctx.lang)))
        if "att_gt" in robust:
            from policylab.estimators.staggered import att_gt

            cs = att_gt(panel, y=y, control_group=s.control_group, **kw)
            simple = cs.aggregate("simple")
            out.results["att_gt_simple"] = simple
            out.results["att_gt_group"] = cs.aggregate("group")
            out.numbers["att_gt_pretest"] = cs.pretest
            out.tables.append(("att_gt", _frame_table(
                ctx, pd.concat([simple.tidy(), cs.aggregate("group").tidy().iloc[1:]]),
                "Callaway-Sant'Anna")))
    if "bacon" in s.estimators:
        from policylab.estimators.bacon import bacon_decomposition

        bd = bacon_decomposition(panel, y=y, **kw)
        out.results["bacon"] = bd
        out.tables.append(("bacon", _frame_table(ctx, bd.by_type().reset_index(),
                                                 "Goodman-Bacon")))
        out.figures.append(("bacon", bd.plot(lang=ctx.lang)))
    _collect_warnings(out, *out.results.values())
    return out


def step_psm_did(ctx: Context) -> StepOutput:
    from policylab.estimators.psm import psm_did

    p = ctx.spec.battery.psm_did
    out = StepOutput("psm_did", _title(ctx, "psm_did"))
    models = []
    for y in ctx.spec.model.outcomes:
        r = psm_did(ctx.panel, y=y, covariates=p.covariates or list(ctx.spec.model.controls),
                    mode=p.mode, method=p.method, sample=p.sample,
                    **treat_kwargs(ctx), **model_kwargs(ctx))
        out.results[y] = r
        models.append(r)
    _collect_warnings(out, *models)
    first = models[0]
    out.tables.append(("psm_did", _etable(ctx, [m.did for m in models], title=out.title)))
    if first.balance is not None:
        ss = first.balance.summary_stats
        notes = ([f"Rubin's B = {ss['B_before']:.1f} -> {ss['B_after']:.1f}; "
                  f"R = {ss['R_before']:.2f} -> {ss['R_after']:.2f}"] if ss else [])
        out.tables.append(("balance", _frame_table(
            ctx, first.balance.tidy(), "Balance" if ctx.lang == "en" else "平衡性检验",
            notes=notes)))
        out.figures.append(("bias", first.balance.plot(lang=ctx.lang, labels=_labels(ctx))))
    try:
        out.figures.append(("psm", first.plot(lang=ctx.lang)))
    except NotImplementedError:
        pass
    return out


def step_placebo(ctx: Context) -> StepOutput:
    from policylab.inference.placebo import placebo_test

    p = ctx.spec.battery.placebo
    out = StepOutput("placebo", _title(ctx, "placebo"))
    exact = p.exact
    base = _baseline(ctx)[0]
    try:
        res = placebo_test(base, kind=p.kind, draws=p.draws, exact=exact, seed=ctx.seed,
                           progress=False)
    except SpecError as exc:
        if exact is not True:
            raise
        # staggered adoption has too many assignments to enumerate: sample instead
        out.warnings.append(f"exact enumeration not possible ({exc}); {p.draws} sampled "
                            "draws used instead")
        res = placebo_test(base, kind=p.kind, draws=p.draws, exact=False, seed=ctx.seed,
                           progress=False)
    out.results["placebo"] = res
    out.tables.append(("placebo", _frame_table(ctx, res.tidy(), out.title)))
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
        res = wild_bootstrap(r, param=r.meta["treat_term"], draws=w.draws, weights=w.weights,
                             seed=ctx.seed, **kw)
        out.results[r.meta["depvar"]] = res
    frame = pd.concat([v.tidy().assign(outcome=k) for k, v in out.results.items()],
                      ignore_index=True)
    out.tables.append(("wild_bootstrap", _frame_table(ctx, frame, out.title)))
    return out


def step_samples(ctx: Context) -> StepOutput:
    from policylab.data.panel import Panel
    from policylab.estimators.did import did

    out = StepOutput("samples", _title(ctx, "samples"))
    models, headers = [], []
    y = ctx.spec.model.outcomes[0]
    for s in ctx.spec.battery.samples:
        df = ctx.panel.df
        if s.query:
            df = df.query(s.query)
        if s.drop_units:
            df = df[~df[ctx.spec.data.unit].isin(s.drop_units)]
        if s.years:
            tcol = ctx.spec.data.time
            df = df[(df[tcol] >= s.years[0]) & (df[tcol] <= s.years[1])]
        panel = Panel(df, ctx.spec.data.unit, ctx.spec.data.time)
        if s.winsorize:
            panel = panel.winsorize(s.winsorize, suffix="")
        mk = model_kwargs(ctx)
        mk["controls"] = mk["controls"] + list(s.extra_controls)
        r = did(panel, y=y, **treat_kwargs(ctx), **mk)
        out.results[s.name] = r
        models.append(r)
        headers.append(s.name)
    _collect_warnings(out, *models)
    out.tables.append(("samples", _etable(ctx, models, headers=headers, title=out.title)))
    return out


def step_mediation(ctx: Context) -> StepOutput:
    from policylab.estimators.mediation import mediation

    m = ctx.spec.battery.mediation
    out = StepOutput("mediation", _title(ctx, "mediation"))
    y = ctx.spec.model.outcomes[0]
    res = mediation(ctx.panel, y=y, mediators=list(m.mediators), lags=dict(m.lags),
                    bootstrap=m.bootstrap, seed=ctx.seed, **treat_kwargs(ctx),
                    **model_kwargs(ctx))
    out.results["mediation"] = res
    out.tables.append(("mediation_effects", _frame_table(ctx, res.tidy(), out.title)))
    for name, steps in getattr(res, "step_results", {}).items():
        out.tables.append((f"mediation_{name}", _etable(ctx, list(steps), title=f"{name}")))
    out.text.extend(getattr(res, "notes", []) or [])
    _collect_warnings(out, res)
    return out


def step_moderation(ctx: Context) -> StepOutput:
    from policylab.estimators.moderation import moderation

    m = ctx.spec.battery.moderation
    out = StepOutput("moderation", _title(ctx, "moderation"))
    y = ctx.spec.model.outcomes[0]
    for mod in m.moderators:
        r = moderation(ctx.panel, y=y, moderator=mod, **treat_kwargs(ctx), **model_kwargs(ctx))
        out.results[mod] = r
        try:
            out.figures.append((f"moderation_{mod}", r.plot(lang=ctx.lang,
                                                            label=_labels(ctx).get(mod))))
        except NotImplementedError:
            pass
    frame = pd.concat([v.tidy().assign(moderator=k) for k, v in out.results.items()],
                      ignore_index=True)
    out.tables.append(("moderation", _frame_table(ctx, frame, out.title)))
    return out


def step_heterogeneity(ctx: Context) -> StepOutput:
    from policylab.estimators.heterogeneity import heterogeneity

    h = ctx.spec.battery.heterogeneity
    out = StepOutput("heterogeneity", _title(ctx, "heterogeneity"))
    y = ctx.spec.model.outcomes[0]
    res = heterogeneity(ctx.panel, y=y, by=list(h.by), permutations=h.permutations,
                        seed=ctx.seed, **treat_kwargs(ctx), **model_kwargs(ctx))
    out.results["heterogeneity"] = res
    lab = _labels(ctx)
    for col in h.by:
        subs = [(lv, r) for (c, lv), r in res.subgroup_results.items() if c == col]
        tests = res.tests[res.tests["by"] == col]
        notes = [f"{t.test}: p = {t.p_value:.3f}" for t in tests.itertuples()]
        if ctx.lang == "zh":
            names = {"interaction": "交互项检验", "suest": "似无相关检验（SUEST）",
                     "permutation": "费舍尔组合检验（置换）"}
            notes = [f"{names.get(t.test, t.test)}：p = {t.p_value:.3f}"
                     for t in tests.itertuples()]
        out.tables.append((f"heterogeneity_{col}", _etable(
            ctx, [r for _, r in subs], headers=[f"{lab.get(col, col)}={lv}" for lv, _ in subs],
            title=f"{out.title}: {lab.get(col, col)}", notes=notes)))
    out.tables.append(("heterogeneity_tests", _frame_table(ctx, res.tests, out.title)))
    _collect_warnings(out, res)
    return out


def step_spec_curve(ctx: Context) -> StepOutput:
    from policylab.data.panel import Panel
    from policylab.estimators.design import build_design
    from policylab.estimators.spec_curve import spec_curve

    sc = ctx.spec.battery.spec_curve
    out = StepOutput("spec_curve", _title(ctx, "spec_curve"))
    design = build_design(ctx.panel, **treat_kwargs(ctx))
    panel = Panel(design.df, unit=design.unit, time=design.time)
    sets = dict(sc.control_sets) or {"none": [], "baseline": list(ctx.spec.model.controls)}
    samples: dict[str, str | None] = {"full": None}
    for s in ctx.spec.battery.samples:
        if s.query:
            samples[s.name] = s.query
    m = ctx.spec.model
    fe = {"+".join(m.fe): list(m.fe)} if m.fe else None
    res = spec_curve(panel, list(m.outcomes), design.treat_col, controls=sets,
                     samples=samples, fe=fe, cluster=[m.cluster or design.assign],
                     assign=design.assign, inference=sc.inference, draws=sc.draws,
                     seed=ctx.seed, executor=ctx.cache.get("executor"))
    out.results["spec_curve"] = res
    out.numbers["joint_test"] = res.joint
    out.numbers["median_estimate"] = res.median_estimate
    out.numbers["share_significant"] = res.share_significant
    out.tables.append(("spec_curve", _frame_table(ctx, res.tidy().drop(columns=["term"]),
                                                  out.title)))
    out.figures.append(("spec_curve", res.plot(lang=ctx.lang)))
    _collect_warnings(out, res)
    return out


STEPS: dict[str, Callable[[Context], StepOutput]] = {
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
    "heterogeneity": step_heterogeneity,
    "spec_curve": step_spec_curve,
}
