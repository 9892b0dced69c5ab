"""The words of every message estimators and inference routines attach to a result.

One entry per key: the report's English (``en``) and Chinese (``zh``) and, where the
Python user should read something else (the functions or arguments to use), the API's
English (``api``). Estimators name only the key and its params
(:class:`policylab.messages.Message`); report/labels.py words them in the reader's
language. A key used in src/ without an entry here fails at once and in
tests/test_messages.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CATALOGUE", "Wording"]


@dataclass(frozen=True)
class Wording:
    """The words of one message key.

    Parameters
    ----------
    en, zh
        The sentence in the report's English and Chinese, as ``str.format`` templates
        over the message's params (lists are joined in the reader's way, a tuple such as
        a window is shown as it is).
    api
        The English of ``str(message)`` for the Python user when it differs from the
        report's (it may name functions and arguments, and formats params as Python
        shows them, e.g. lists in brackets); ``None``: ``en``.
    names
        Params that hold column names: the report shows the spec's labels for them.
    levels
        Params that hold an assignment or cluster level (``"province"``): shown by the
        spec's label, in Chinese by the catalogue's word for common levels.
    categories
        ``{param: column param}``: params that hold a category value of a column, shown
        by the spec's label for ``"column=value"``.
    """

    en: str
    zh: str
    api: str | None = None
    names: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    categories: Mapping[str, str] = field(default_factory=dict)



_W = Wording
_FEW_CL_EN = ("Only {n} treated {level} clusters: cluster-robust standard errors over-reject "
              "with so few treated clusters; rely on the wild cluster bootstrap and the "
              "placebo test (randomization inference).")
_FEW_CL_ZH = ("处理组仅有{n}个{level}聚类：处理组聚类过少时聚类稳健标准误会过度拒绝原假设，"
              "应以野聚类自助法和安慰剂检验（随机化推断）为准。")

CATALOGUE: dict[str, Wording] = {
    # ------------------------------------------------------------ the DID and its design
    "did.few_treated_clusters": _W(
        en=_FEW_CL_EN, zh=_FEW_CL_ZH, levels=("level",),
        api="only {n} treated {level} clusters: cluster-robust SEs over-reject with so few "
            "treated clusters; report wild_bootstrap() and placebo_test() (randomization "
            "inference)"),
    "did.staggered": _W(
        en="Staggered adoption ({k} cohorts: {cohorts}): the two-way fixed-effects estimate "
           "mixes comparisons with already-treated units; see the Goodman-Bacon "
           "decomposition and the heterogeneity-robust estimators (Callaway-Sant'Anna, "
           "Sun-Abraham, imputation).",
        zh="多期（交错）处理（{k}个处理批次：{cohorts}）：双向固定效应估计混合了以已处理个体为"
           "对照的比较；请参考Goodman-Bacon分解与异质性稳健估计量（Callaway-Sant'Anna、"
           "Sun-Abraham、插补估计量）。",
        api="staggered adoption ({k} cohorts: {cohorts}): the TWFE estimate mixes "
            "comparisons with already-treated units; show bacon_decomposition() and "
            "heterogeneity-robust estimators (att_gt, sun_abraham, did_imputation)"),
    "did.treatment_missing": _W(
        en="{n} rows with a missing treatment were dropped; code them 0/1 to keep them.",
        zh="{n}行的处理变量缺失，已删除；如需保留，请将其编码为0/1。",
        api="{n} rows with a missing treatment were dropped (meta['dropped']); code them "
            "0/1 to keep them"),
    "did.switching_off": _W(
        en="Treatment switches off for units {units}; the standard DID assumes an absorbing "
           "treatment.",
        zh="个体{units}的处理状态在处理后又取消；标准DID假定处理一旦开始便持续。",
        api="treatment switches off for units {units}; the standard DID assumes an "
            "absorbing treatment"),
    "did.always_treated": _W(
        en="Units treated in the first period ({units}) have no pre-period and do not "
           "identify the effect.",
        zh="个体{units}在样本首期即已处理，没有处理前时期，不能识别政策效应。",
        api="units treated in the first period {units} have no pre-period and do not "
            "identify the effect"),
    "did.post_treatment_controls": _W(
        en="Controls {controls} may be affected by the policy (post-treatment controls): "
           "they can absorb part of the effect; compare the model without them.",
        zh="控制变量{controls}可能受政策影响（处理后控制变量），会吸收部分政策效应；"
           "请对照不含这些变量的模型。",
        api="controls {controls} may be affected by the policy (post-treatment controls): "
            "they can absorb part of the effect; report the model without them",
        names=("controls",)),
    # ---------------------------------------------------------------- the event study
    "event.window_clipped": _W(
        en="The event window {window} reaches beyond the data: estimated on the event times "
           "observed, ({lo}, {hi}).",
        zh="事件窗口{window}超出数据范围：按实际观测到的事件时间({lo}, {hi})估计。",
        api="window={window} reaches beyond the data ({clipped} are not observed); "
            "estimated on ({lo}, {hi})"),
    "event.treatment_missing": _W(
        en="{n} rows with a missing treatment were dropped.",
        zh="{n}行的处理变量缺失，已删除。",
        api="{n} rows with a missing treatment were dropped (meta['dropped'])"),
    "event.few_treated_clusters": _W(
        en="Only {n} treated {level} clusters: cluster-robust standard errors and the Wald "
           "pre-trend test over-reject; rely on the wild cluster bootstrap and the placebo "
           "test.",
        zh="处理组仅有{n}个{level}聚类：聚类稳健标准误与Wald平行趋势检验会过度拒绝，"
           "应以野聚类自助法和安慰剂检验为准。",
        api="only {n} treated {level} clusters: cluster-robust SEs and the pre-trend test "
            "over-reject; report wild_bootstrap() and placebo_test()",
        levels=("level",)),
    "event.always_treated": _W(
        en="Units treated in the first period ({units}) have no pre-period: they identify "
           "only lags.",
        zh="个体{units}在样本首期即已处理，没有处理前时期，只能识别滞后期效应。",
        api="units treated in the first period {units} have no pre-period: they identify "
            "only lags"),
    "event.switching_off": _W(
        en="Treatment switches off for units {units}; event time is counted from the first "
           "treated period.",
        zh="个体{units}的处理状态在处理后又取消；事件时间从首个处理期起算。",
        api="treatment switches off for units {units}; event time is counted from the "
            "first treated period"),
    "event.staggered": _W(
        en="Staggered adoption: two-way fixed-effects event-study coefficients can be "
           "contaminated by effects from other periods; compare the heterogeneity-robust "
           "estimators.",
        zh="多期（交错）处理：双向固定效应事件研究系数可能受其他期效应污染，"
           "请对照异质性稳健估计量。",
        api="staggered adoption: TWFE event-study leads/lags can be contaminated by other "
            "periods' effects (Sun and Abraham 2021); compare with sun_abraham() or "
            "att_gt()"),
    # ------------------------------------------------------------------- regressions
    "feols.absorbed": _W(
        en="{term} was dropped: absorbed by the fixed effects ({fe}).",
        zh="{term}已被剔除：被固定效应（{fe}）吸收。",
        api="{term!r} was dropped: absorbed by the fixed effects ({fe})", names=("term",)),
    "feols.no_variation": _W(
        en="{term} was dropped: it does not vary.", zh="{term}已被剔除：该变量没有变异。",
        api="{term!r} was dropped: no variation", names=("term",)),
    "feols.collinear": _W(
        en="{term} was dropped: collinear with other regressors.",
        zh="{term}已被剔除：与其他解释变量共线。",
        api="{term!r} was dropped: collinear with other regressors", names=("term",)),
    "feols.few_clusters": _W(
        en="Only {n} clusters ({clusters}): cluster-robust standard errors are unreliable "
           "with few clusters; see the wild cluster bootstrap and the placebo test.",
        zh="仅有{n}个聚类（{clusters}）：聚类数过少时聚类稳健标准误不可靠，"
           "请参考野聚类自助法和安慰剂检验。",
        api="only {n} clusters in {clusters}: cluster-robust SEs are unreliable with few "
            "clusters; consider wild_bootstrap() or placebo_test()",
        levels=("clusters",)),
    "iv.weak_instruments": _W(
        en="Weak instruments for {d}: first-stage F = {F:.2f} < {threshold:g} "
           "(Staiger-Stock); 2SLS is biased towards OLS and its tests oversize.",
        zh="{d}的工具变量较弱：第一阶段F = {F:.2f} < {threshold:g}（Staiger-Stock），"
           "2SLS估计偏向OLS且检验水平失真。",
        api="weak instruments for {d!r}: first-stage F = {F:.2f} < {threshold:g} "
            "(Staiger-Stock); 2SLS is biased towards OLS and its tests oversize",
        names=("d",)),
    # ------------------------------------------------- what a Design asks and who refuses
    "design.not_honoured": _W(
        en="{what} cannot honour the design's {parts}; it is not run on a simpler model.",
        zh="{what}无法处理研究设计中的{parts}，因此未在简化的模型上运行。",
        api="{what} cannot honour the design's {parts}; drop them from the design "
            "(design.replace(...)) to run it on that simpler model"),
    "design.part_weights": _W(en="weights ({col})", zh="权重（{col}）", api="weights ({col!r})",
                              names=("col",)),
    "design.part_fe": _W(
        en="fixed effects other than {unit} + {time} ({fe})",
        zh="{unit}与{time}以外的固定效应（{fe}）",
        api="fixed effects other than {unit} + {time} ({fe})", names=("unit", "time")),
    "design.part_controls": _W(en="controls ({controls})", zh="控制变量（{controls}）",
                               api="controls ({joined})", names=("controls",)),
    "design.part_cluster": _W(en="clusters other than the unit ({col})",
                              zh="个体以外的聚类层级（{col}）",
                              api="clusters other than the unit ({col!r})", levels=("col",)),
    "design.two_way_cluster": _W(
        en="{what} cannot honour the design's two-way cluster ({col}): each specification "
           "clusters by one column; it is not run on a simpler model.",
        zh="{what}无法处理研究设计中的双向聚类（{col}）：每个设定只能按一个变量聚类，"
           "因此未在简化的模型上运行。",
        api="{what} cannot honour the design's two-way cluster ({col!r}): each "
            "specification clusters by one column; pass cluster=[...] or use "
            "design.replace(cluster=...)"),
    "name.att_gt": _W(en="Callaway-Sant'Anna", zh="Callaway-Sant'Anna估计量",
                      api="att_gt (Callaway-Sant'Anna)"),
    "name.bacon": _W(en="The Goodman-Bacon decomposition", zh="Goodman-Bacon分解",
                     api="the Bacon decomposition"),
    "name.spec_curve": _W(en="The specification curve", zh="设定曲线", api="spec_curve"),
    "name.psm_did": _W(en="PSM-DID", zh="倾向得分匹配DID", api="psm_did"),
    "name.mediation": _W(en="The mediation analysis", zh="中介效应分析", api="mediation"),
    "cs.weights_vary": _W(
        en="The weights column {weights} varies within units ({n} units); Callaway-Sant'Anna "
           "takes sampling weights constant within units: give each unit one weight.",
        zh="权重变量{weights}在个体内部变化（{n}个个体）；Callaway-Sant'Anna要求权重在个体内"
           "不变：请为每个个体指定一个权重。",
        api="weights column {weights!r} varies within units (e.g. {units}, {n} units); att_gt "
            "takes sampling weights constant within units (as R did's weightsname): give "
            "each unit one weight, e.g. its first-period value",
        names=("weights",)),
    # ------------------------------------------------------------------ heterogeneity
    "heterogeneity.few_treated_units": _W(
        en="Subgroup {col} = {value} has only {n} treated unit(s): its estimate and the "
           "difference tests rest on very few treated units.",
        zh="子样本{col} = {value}中仅有{n}个处理组个体：其估计值与组间差异检验依赖极少的"
           "处理组个体。",
        api="subgroup {col}={value} has only {n} treated unit{plural}; its estimate and the "
            "difference tests rest on very few treated units",
        names=("col",), categories={"value": "col"}),
    "heterogeneity.few_treated_clusters": _W(
        en="Subgroup {col} = {value} has only {n} treated {level} clusters: cluster-robust "
           "standard errors and the interaction/SUEST tests over-reject; rely on the "
           "recommended difference test (the wild cluster bootstrap, or the permutation "
           "test when a group has a single treated cluster).",
        zh="子样本{col} = {value}中处理组仅有{n}个{level}聚类：聚类稳健标准误及交互项/SUEST检验"
           "会过度拒绝，应以推荐的组间差异检验为准（野聚类自助法；某组仅有一个处理组聚类时"
           "为置换检验）。",
        api="subgroup {col}={value} has only {n} treated {level} clusters; cluster-robust "
            "SEs and the interaction/SUEST tests over-reject with so few treated clusters "
            "(rely on the recommended difference test)",
        names=("col",), levels=("level",), categories={"value": "col"}),
    "heterogeneity.permutations_discarded": _W(
        en="Permutation test by {by}: {n} of {draws} permutations left a group without "
           "treated (or control) units and were discarded.",
        zh="按{by}的置换检验：{draws}次置换中有{n}次使某组没有处理组（或对照组）个体，已剔除。",
        api="permutation test for {by!r}: {n} of {draws} permutations left a group without "
            "treated (or control) units and were discarded",
        names=("by",)),
    "heterogeneity.wild_not_run": _W(
        en="The wild bootstrap difference test by {by} was not run: {why}.",
        zh="按{by}的野自助法组间差异检验未运行：{why}。",
        api="wild bootstrap difference test for {by!r} not run: {why}", names=("by",)),
    # ------------------------------------------------------------- staggered adoption
    "cs.late_cohorts": _W(
        en="{n} units first treated after the last period ({last}) are treated as never "
           "treated.",
        zh="{n}个个体在最后一期（{last}）之后才首次处理，按从未处理对待。",
        api="{n} units first treated after the last period ({last}) are treated as never "
            "treated"),
    "cs.balanced": _W(
        en="Callaway-Sant'Anna on a balanced panel: {units} units with a gap or a missing "
           "outcome or covariate ({rows} rows) were dropped, as R did does by "
           "default; the imputation estimator keeps them.",
        zh="Callaway-Sant'Anna估计使用平衡面板：删除了{units}个存在缺期或被解释变量、"
           "协变量缺失的个体（共{rows}行），与R did包的默认做法相同；插补估计量可保留这些个体。",
        api="att_gt ran on a balanced panel: dropped {units} units with a gap or a missing "
            "outcome or covariate ({rows} rows), as R did does by default "
            "(allow_unbalanced_panel=FALSE); did_imputation() keeps them"),
    "cs.early_dropped": _W(
        en="{n} units already treated in the first period were dropped (no pre-treatment "
           "period to compare with).",
        zh="删除了{n}个在样本首期即已处理的个体（没有可比较的处理前时期）。",
        api="dropped {n} units already treated in the first period (no pre-treatment "
            "period to compare with)"),
    "cs.pretest_excludes": _W(
        en="The pre-tests leave out cohorts {cohorts}: a single treated cluster has no "
           "estimable variance of its own.",
        zh="预检验未包含处理批次{cohorts}：仅有一个处理组聚类时无法估计其自身的方差。",
        api="the pre-tests leave out cohorts {cohorts}: a single treated cluster has no "
            "estimable variance of its own"),
    "cs.pretest_not_computable": _W(
        en="The pre-test is not computable: {why}", zh="无法计算预检验：{why}",
        api="the pre-test is not computable: {why}"),
    # why a pre-test was not computed (a reason; the warning above quotes it)
    "cs.pretest_single_clusters": _W(
        en="every cohort with pre-treatment cells has a single treated cluster.",
        zh="每个有处理前单元格的处理批次都只有一个处理组聚类。",
        api="every cohort with pre-treatment cells has a single treated cluster"),
    "cs.pretest_no_cells": _W(
        en="there is no pre-treatment ATT(g,t).", zh="没有处理前的ATT(g,t)。",
        api="no pre-treatment ATT(g,t)"),
    "cs.pretest_boot_no_cells": _W(
        en="no pre-treatment ATT(g,t) in a cohort with two or more treated clusters.",
        zh="处理组聚类不少于两个的处理批次中没有处理前的ATT(g,t)。",
        api="no pre-treatment ATT(g,t) in a cohort with two or more treated clusters"),
    "cs.pretest_boot_no_variation": _W(
        en="no pre-treatment ATT(g,t) varies over the bootstrap draws.",
        zh="没有处理前的ATT(g,t)在自助抽样中发生变化。",
        api="no pre-treatment ATT(g,t) varies over the bootstrap draws"),
    # the randomization pre-test (inference/cs_pretest): why it cannot run on a panel
    "cs_pretest.unbalanced": _W(
        en="the randomization pre-test needs a balanced panel with {y} observed in every "
           "period.",
        zh="随机化推断预检验需要平衡面板，且{y}在每一期都有观测值。",
        api="cs_pretest_ri needs a balanced panel with {y!r} observed in every period; units "
            "such as {units} miss some (drop them or fill {y!r})", names=("y",)),
    "cs_pretest.no_comparison": _W(
        en="the randomization pre-test needs treated units and at least two never-treated "
           "units.",
        zh="随机化推断预检验需要处理组个体以及至少两个从未处理的个体。",
        api="cs_pretest_ri needs treated units and at least two never-treated units "
            "({cohort!r} 0 or missing for never treated)"),
    "cs_pretest.few_pre_periods": _W(
        en="the randomization pre-test needs at least three periods before the first "
           "adoption ({first}).",
        zh="随机化推断预检验需要首次实施（{first}）之前至少有三期。",
        api="cs_pretest_ri needs at least three periods before the first adoption "
            "({first})"),
    "cs_pretest.mixed_dates": _W(
        en="the randomization pre-test reassigns adoption dates across {assign} groups, but "
           "units of one group adopt at different dates.",
        zh="随机化推断预检验在{assign}层面重新分配实施时点，但同一{assign}内的个体实施时点不同。",
        api="cs_pretest_ri reassigns adoption dates across {assign!r} groups, but units of "
            "one group adopt at different dates; use assign= at the level where adoption is "
            "set", levels=("assign",)),
    "cs.pretest_no_variance": _W(
        en="no pre-treatment ATT(g,t) has a positive variance.",
        zh="没有方差为正的处理前ATT(g,t)。",
        api="no pre-treatment ATT(g,t) has a positive variance"),
    "imputation.not_imputable": _W(
        en="{n} treated observations cannot be imputed: their fixed effects are not "
           "identified from untreated observations ({parts}); dropped, so the estimands "
           "average over the remaining treated observations.",
        zh="{n}个处理组观测值无法插补：其固定效应无法由未处理观测值识别（{parts}）；已删除，"
           "估计量为其余处理组观测值的平均。",
        api="{n} treated observations cannot be imputed: their fixed effects are not "
            "identified from untreated observations ({parts}); dropped (autosample=True): "
            "the estimands average over the remaining treated observations"),
    "compare.fe_not_in_att_gt": _W(
        en="The fixed effects {fe} apply to the TWFE, Sun-Abraham and imputation estimates "
           "only: Callaway-Sant'Anna takes no fixed effects (its long differences remove "
           "unit and period effects; finer ones such as region-by-year are not absorbed).",
        zh="固定效应{fe}仅用于双向固定效应、Sun-Abraham与插补估计：Callaway-Sant'Anna不含"
           "固定效应（其长差分消除了个体与时期效应，但区域×年份等更细的固定效应未被吸收）。",
        api="fe={fe!r} applies to the TWFE, Sun-Abraham and imputation estimates only: "
            "att_gt (Callaway-Sant'Anna) takes no fixed effects (its long differences "
            "remove unit and period effects; finer ones such as region-by-year are not "
            "absorbed)"),
    "compare.not_run": _W(
        en="{name} was not run: {why}.", zh="{name}未运行：{why}。",
        api="{name} not run: {why}", names=("name",)),
    "bacon.forbidden_weight": _W(
        en="{share:.0%} of the two-way fixed-effects weight comes from comparisons that use "
           "already-treated units as controls; with effects that change over time the "
           "estimate is biased: see the heterogeneity-robust estimators.",
        zh="双向固定效应估计中{share:.0%}的权重来自以已处理个体为对照的比较；若效应随时间"
           "变化，该估计有偏，请参考异质性稳健估计量。",
        api="{share:.0%} of the TWFE weight comes from comparisons that use already-treated "
            "units as controls; with effects that change over time TWFE is biased: report "
            "att_gt / did_imputation"),
    # what the staggered estimators refuse (a step's "not run" reason in the report)
    "cs.unbalanced": _W(
        en="Callaway-Sant'Anna needs a balanced panel without missing outcomes; drop the "
           "units with gaps, or rely on the imputation estimator, which handles unbalanced "
           "panels.",
        zh="Callaway-Sant'Anna估计量要求平衡面板且结果变量无缺失；请删除有缺口的个体，"
           "或以可处理非平衡面板的插补估计量为准。",
        api="att_gt needs a balanced panel without missing outcomes; drop units with gaps "
            "or use did_imputation(), which handles unbalanced panels"),
    "cs.no_control_group": _W(
        en="No ATT(g,t) has a control group: there are no never-treated or not-yet-treated "
           "units to compare with.",
        zh="没有任何ATT(g,t)有对照组：不存在从未处理或尚未处理的个体可供比较。",
        api="no ATT(g,t) has a control group: no never-treated or not-yet-treated units "
            "to compare with"),
    "sunab.no_never_treated": _W(
        en="There are no never-treated units to serve as the control cohort; the last "
           "cohort to adopt can serve instead.",
        zh="不存在从未处理的个体可作对照批次；可改以最后一个处理批次为对照。",
        api="no never-treated units; use control_cohort='last'"),
    "imputation.unseen_fe": _W(
        en="{n} with a {term} level never untreated ({levels} levels)",
        zh="{n}个观测值的{term}水平从未处于未处理状态（共{levels}个水平）",
        api="{n} with a {term!r} level never untreated ({levels} levels)", names=("term",)),
    "imputation.not_identified": _W(
        en="{n} treated observations cannot be imputed: their fixed effects are not "
           "identified from untreated observations ({parts}). This happens for units "
           "treated in every period (unit effects), periods in which every unit is treated "
           "(period effects) or group-by-period cells without an untreated unit; drop them "
           "from the sample to redefine the estimands on the rest.",
        zh="{n}个处理组观测值无法插补：其固定效应无法由未处理观测值识别（{parts}）。"
           "这发生于每期都处理的个体（个体固定效应）、所有个体都已处理的时期（时期固定效应）"
           "或没有未处理个体的组别×时期单元；将其从样本中删除，估计量即定义于其余观测值。",
        api="{n} treated observations cannot be imputed: their fixed effects are not "
            "identified from untreated observations ({parts}). This happens for units "
            "treated in every period (unit FE), periods when every unit is treated (time "
            "FE) or group-by-period cells with no untreated unit (e.g. province^year). Drop "
            "them from the sample, or pass autosample=True to drop them and redefine the "
            "estimands on the rest (as Stata did_imputation's autosample)"),
    "imputation.no_treated": _W(
        en="No treated observations are left to impute.",
        zh="没有剩余的处理组观测值可供插补。",
        api="no treated observations ({time} >= {cohort} > 0) left"),
    "imputation.no_untreated": _W(
        en="There are no untreated observations to fit the imputation model on.",
        zh="没有未处理观测值可用于拟合插补模型。",
        api="no untreated observations to fit the imputation model on"),
    "bacon.switches_off": _W(
        en="The Goodman-Bacon decomposition needs a treatment that never switches off; it "
           "does for some units ({units}).",
        zh="Goodman-Bacon分解要求处理一旦开始不再撤销；部分个体的处理中途撤销（{units}）。",
        api="the Bacon decomposition needs a treatment that never switches off; it does "
            "for units {units}"),
    "bacon.outcome_missing": _W(
        en="The outcome {y} is missing in {n} rows; the Goodman-Bacon decomposition needs "
           "a balanced panel: drop those units or impute the outcome.",
        zh="结果变量{y}有{n}行缺失；Goodman-Bacon分解要求平衡面板：请删除这些个体或插补。",
        api="outcome {y!r} is missing in {n} rows (e.g. {examples}); the decomposition "
            "needs a balanced panel: drop those units or impute",
        names=("y",)),
    "bacon.unbalanced": _W(
        en="The Goodman-Bacon decomposition needs a balanced panel; some units ({units}) "
           "miss some of the {periods} periods (keep units observed in every period).",
        zh="Goodman-Bacon分解要求平衡面板；部分个体（{units}）在{periods}个时期中有缺失"
           "（请仅保留每期均有观测的个体）。",
        api="the Bacon decomposition needs a balanced panel; units {units} miss some of the "
            "{periods} periods (keep units observed in every period)"),
    "bacon.no_adopter": _W(
        en="No unit adopts the treatment inside the panel; there is nothing to decompose.",
        zh="面板期内没有个体开始接受处理，无可分解的比较。",
        api="no unit adopts the treatment inside the panel; nothing to decompose"),
    # ------------------------------------------------------------------------ matching
    "psm.off_support": _W(
        en="{off} of {n} treated observations are off the common support: overlap is poor, "
           "and the matched estimate describes a different population.",
        zh="{n}个处理组观测值中有{off}个不在共同支撑域内：重叠性差，匹配估计描述的是另一总体。",
        api="{off} of {n} treated rows are off the common support: overlap is poor; the "
            "matched estimate describes a different population"),
    "psm.unbalanced": _W(
        en="Balance not reached after matching (|standardized bias| >= 10%) for: {vars}.",
        zh="匹配后以下协变量未达到平衡（标准化偏差绝对值≥10%）：{vars}。",
        api="balance not reached (|standardized bias| >= 10% after matching) for {vars}",
        names=("vars",)),
    "psm.rubin": _W(
        en="After matching Rubin's B = {b:.1f} (should be below 25) and R = {r:.2f} (should "
           "be between 0.5 and 2).",
        zh="匹配后Rubin's B = {b:.1f}（应小于25），R = {r:.2f}（应在0.5至2之间）。",
        api="Rubin's B = {b:.1f} (want < 25) and R = {r:.2f} (want 0.5-2) after matching"),
    "psm.missing_in_base_year": _W(
        en="{n} units are not observed in the base year {year} and are dropped from the "
           "matched sample.",
        zh="{n}个个体在基期{year}年没有观测值，已从匹配样本中删除。",
        api="{n} units are not observed in the base year {year} and are dropped from the "
            "matched sample"),
    "psm.missing_covariates": _W(
        en="{n} rows of the matching data ({where}) have missing covariates ({cols}); "
           "they get no propensity score and are left out of the matching, as psmatch2 "
           "leaves them out.",
        zh="匹配数据（{where}）中有{n}行协变量（{cols}）缺失，无法计算倾向得分，已排除在匹配"
           "之外（与psmatch2的处理相同）。",
        api="{n} rows of the matching data ({where}) have missing covariates ({cols}); "
            "they get no propensity score and are left out of the matching (as psmatch2)"),
    "psm.period_matching": _W(
        en="Period-by-period matching: the matched controls change from year to year, so "
           "the DID no longer compares fixed groups.",
        zh="逐期匹配：匹配的对照组逐年变化，DID比较的不再是固定的两组。",
        api="period-by-period matching: the matched controls change from year to year, so "
            "the DID no longer compares fixed groups"),
    "psm.pooled_matching": _W(
        en="Pooled matching: unit-years are matched across years and the DID runs on the "
           "matched unit-years (an unbalanced panel); covariates of post-policy years may "
           "respond to the policy.",
        zh="混合匹配：不同年份的个体-年份观测相互匹配，DID基于匹配后的个体-年份（非平衡面板）"
           "估计；政策实施后各年的协变量可能受政策影响。",
        api="pooled matching: unit-years are matched across years and the DID runs on the "
            "matched unit-years (an unbalanced panel); covariates of post-policy years may "
            "respond to the policy, so match on pre-determined covariates or use "
            "mode='base_year'"),
    "psm.score_quasi_separation": _W(
        en="The {method} propensity-score model separates part of the sample: {n} units "
           "have a score of 0 or 1 (quasi-complete separation; some coefficients are not "
           "finite), and those units have no comparable counterpart.",
        zh="{method}倾向得分模型对部分样本完全预测：{n}个个体的倾向得分为0或1（准完全分离，部分"
           "系数趋于无穷），这些个体没有可比的匹配对象。",
        api="the {method} score model separates part of the sample: {n} units have a score "
            "of 0 or 1 (quasi-complete separation: some coefficients are not finite); drop "
            "or coarsen the covariate that predicts the treatment perfectly"),
    "psm.few_treated": _W(
        en="Matching only {n} treated units: the propensity-score model rests on a handful "
           "of observations and the balance tests have no power.",
        zh="仅对{n}个处理组个体进行匹配：倾向得分模型依赖极少观测值，平衡性检验缺乏检验功效。",
        api="matching {n} treated units is nearly meaningless: the score model rests on a "
            "handful of observations and balance tests have no power"),
    # ------------------------------------------------- matching with sampling weights
    "psm.sampling_weights": _W(
        en="Sampling weights {col}: the propensity-score model is fitted with them, the "
           "balance table is weighted by them, and the DID by the matching weights times "
           "them (as MatchIt's s.weights).",
        zh="抽样权重{col}：倾向得分模型以其加权估计，平衡性检验以其加权，DID以匹配权重乘以该"
           "权重加权（同MatchIt的s.weights）。",
        api="sampling weights {col!r}: used in the score model, the balance table and, "
            "times the matching weights, in the DID (MatchIt's s.weights)",
        names=("col",)),
    "psm.sampling_weights_unweighted_score": _W(
        en="Sampling weights {col}: the propensity-score model is fitted without them; "
           "the balance table is weighted by them, and the DID by the matching weights "
           "times them.",
        zh="抽样权重{col}：倾向得分模型不加权估计；平衡性检验以其加权，DID以匹配权重乘以该"
           "权重加权。",
        api="sampling weights {col!r}: not in the score model (score_weighted=False); "
            "used in the balance table and, times the matching weights, in the DID",
        names=("col",)),
    # --------------------------------------------------------------- specification curve
    "spec_curve.few_units": _W(
        en="Only {n} assignment units: permutation p-values are coarse.",
        zh="仅有{n}个分配单位：置换检验p值的精度有限。",
        api="only {n} assignment units: permutation p-values are coarse"),
    "spec_curve.degenerate_draws": _W(
        en="{n} of {draws} permutation draws leave some specification without a treated "
           "unit; the joint p-values use the other {used} draws.",
        zh="{draws}次置换中有{n}次使某些设定没有处理单位；联合p值基于其余{used}次置换。",
        api="{n} of {draws} permutation draws leave some specification without a treated "
            "unit; the joint p-values use the other {used} draws"),
    # ---------------------------------------------------------------------- mediation
    "mediation.lagged": _W(
        en="{mediator} enters with a {k}-period lag; {lost} observations are lost at the "
           "start of each unit's series.",
        zh="{mediator}滞后{k}期进入模型，每个个体序列开头共损失{lost}个观测值。",
        api="{mediator} enters with a {k}-period lag ({lagged}); {lost} observations lost "
            "at the start of each unit's series",
        names=("mediator",)),
    "mediation.missing_dropped": _W(
        en="{n} observations with a missing outcome, mediator or control value are dropped "
           "from every equation.",
        zh="{n}个观测值的被解释变量、中介变量或控制变量缺失，已从各方程中删除。",
        api="{n} observations with missing outcome, mediator or control values are dropped "
            "from every equation"),
    "mediation.share_not_reported": _W(
        en="The share mediated is not reported for {terms}: a×b and c differ in sign or the "
           "total effect c is not distinguishable from zero.",
        zh="{terms}的中介效应占比未报告：a×b与c符号相反，或总效应c与零无显著差异。",
        api="share mediated not reported for {terms}: a*b and c differ in sign or the total "
            "effect c is not distinguishable from zero",
        names=("terms",)),
    "mediation.critique": _W(
        en="The stepwise mediation is descriptive: the mediator is itself affected by the "
           "policy, so the outcome equation does not identify the mediator's causal effect "
           "and a*b and the share mediated have no causal meaning unless M -> Y is "
           "identified separately (see Jiang Ting 2022 on mediation in causal empirical "
           "work). Sobel or bootstrap tests do not fix this. The recommended evidence is "
           "the policy's effect on each mechanism variable estimated with the full DID "
           "design and its robustness checks (the 'a' column).",
        zh="逐步法中介效应仅具描述意义：中介变量本身受政策影响，第三步方程无法识别中介变量对"
           "结果的因果效应，除非另行识别 M→Y，否则 a×b 与中介效应占比不具因果含义（参见江艇，"
           "2022）。Sobel 检验或自助法检验不能解决这一问题。建议以完整的 DID 设计（及其稳健性"
           "检验）估计政策对机制变量的影响（即 a 列）作为机制证据。"),
    "mediation.degenerate_draws": _W(
        en="{n} of {draws} bootstrap draws contained no treated (or no control) cluster and "
           "were discarded.",
        zh="{draws}次自助抽样中有{n}次不含处理组（或对照组）聚类，已剔除。",
        api="{n} of {draws} bootstrap draws contained no treated (or no control) cluster "
            "and were discarded"),
    # ---------------------------------------------------------------------- inference
    "wild.few_clusters_rademacher": _W(
        en="Only {n} clusters: Rademacher weights allow just {distinct} distinct draws; use "
           "Webb weights.",
        zh="仅有{n}个聚类：Rademacher权重只能产生{distinct}种不同的抽样；请改用Webb权重。",
        api="only {n} clusters: Rademacher weights allow just {distinct} distinct draws; use "
            "weights_type='webb'"),
    "placebo.few_draws": _W(
        en="Only {n} placebo draws: the p-value is coarse.",
        zh="安慰剂抽样仅{n}次：p值的精度有限。",
        api="only {n} placebo draws: p-values move in steps of 1/{step}"),
    "placebo.exact_needs_one_date": _W(
        en="exact enumeration needs placebos that reassign the treated units and a common "
           "adoption date",
        zh="完全枚举仅适用于重新分配处理个体且处理时点统一的安慰剂检验",
        api="exact enumeration needs kind='units' and a common adoption date; use "
            "exact=False (sampled draws) for staggered designs"),
    "placebo.exact_too_many": _W(
        en="{total:,} possible assignments, more than the {max_exact:,} that are enumerated",
        zh="可能的分配方式共{total:,}种，超过可枚举的上限{max_exact:,}种",
        api="{total:,} assignments exceed max_exact={max_exact:,}; use sampled draws "
            "(exact=False)"),
    "placebo.exact_impossible": _W(
        en="Exact enumeration is not possible ({why}); {draws} sampled draws were used "
           "instead.",
        zh="无法完全枚举（{why}）；改用{draws}次随机抽样。",
        api="exact enumeration not possible ({why}); {draws} sampled draws used instead"),
    "bootstrap.singular_draws": _W(
        en="{n} of {draws} bootstrap draws had a singular design and were discarded.",
        zh="{draws}次自助抽样中有{n}次设计矩阵奇异，已剔除。",
        api="{n} of {draws} draws had a singular design and were discarded"),
    "honest.varying_base": _W(
        en="The Callaway-Sant'Anna event study uses the varying base period: its "
           "pre-period estimates are period-to-period changes, not deviations from event "
           "time -1; HonestDiD recommends the universal base period.",
        zh="Callaway-Sant'Anna事件研究使用变动基期：其政策前估计值是相邻期的变化，而非相对"
           "事件时间-1的偏离；HonestDiD建议使用统一基期。",
        api="the Callaway-Sant'Anna event study uses the varying base period: its "
            "pre-period estimates are period-to-period changes, not deviations from event "
            "time -1; HonestDiD recommends att_gt(..., base_period='universal')"),
    "pretrend_ri.no_adopter": _W(
        en="randomization inference needs a unit that adopts inside the sample.",
        zh="随机化推断需要样本期内有个体开始接受处理。",
        api="pretrend_ri_test: no unit adopts inside the sample"),
    "pretrend_ri.few_pre_periods": _W(
        en="randomization inference needs at least three periods before the first "
           "adoption.",
        zh="随机化推断需要首次实施之前至少有三期。",
        api="pretrend_ri_test needs at least three periods before the first adoption"),
    "pretrend_ri.mixed_dates": _W(
        en="randomization inference reassigns adoption dates across {assign} groups, but "
           "units of one group adopt at different dates.",
        zh="随机化推断在{assign}层面重新分配实施时点，但同一{assign}内的个体实施时点不同。",
        api="pretrend_ri_test reassigns adoption dates across {assign!r} groups, but units "
            "of one group adopt at different dates; use assign= at the level where "
            "adoption is set", levels=("assign",)),
    "pretrends.two_leads": _W(
        en="the sensitivity bounds need at least two leads besides the reference period.",
        zh="敏感性分析需要除基准期外至少两个政策前时期。",
        api="honest_did needs at least two leads besides the reference period"),
    "pretrends.gaps": _W(
        en="the sensitivity bounds need consecutive event times (no gaps or bins).",
        zh="敏感性分析需要连续的事件时间（不能有缺口或合并的时期）。",
        api="honest_did needs consecutive event times (no gaps or bins)"),
    "pretrends.no_leads": _W(
        en="there are no pre-period coefficients, so the pre-test has no power.",
        zh="没有政策前时期的系数，无法计算预检验的功效。",
        api="no pre-period coefficients: the pre-test has no power"),
    "wild.single_cluster": _W(
        en="the bootstrap cluster {cluster} has a single value: the wild cluster bootstrap "
           "needs at least two clusters.",
        zh="自助法的聚类变量{cluster}只有一个取值：野聚类自助法至少需要两个聚类。",
        api="bootstrap cluster {cluster!r} has a single value: the wild cluster bootstrap "
            "needs at least two clusters", levels=("cluster",)),
    "honest.rm_bonferroni": _W(
        en="{why}; relative magnitudes fell back to Bonferroni.",
        zh="{why}；相对幅度约束改用Bonferroni方法。",
        api="{why}; relative magnitudes fell back to Bonferroni"),
    "honest.rm_open": _W(
        en="Relative magnitudes: the confidence set reaches the end of the theta grid at "
           "Mbar = {mbar}.",
        zh="相对幅度约束：在Mbar = {mbar}处置信集达到θ网格的边界。",
        api="relative magnitudes: the confidence set reaches the end of the theta grid at "
            "Mbar = {mbar}"),
    "honest.rm_empty": _W(
        en="Relative magnitudes: every grid value is rejected at Mbar = {mbar} (empty "
           "confidence set).",
        zh="相对幅度约束：在Mbar = {mbar}处所有网格值均被拒绝（置信集为空）。",
        api="relative magnitudes: every grid value rejected at Mbar = {mbar} (empty "
            "confidence set)"),
    # ------------------------------------------------- the study's battery (study/steps)
    "study.not_run": _W(en="Not run: {reason}", zh="未运行：{reason}"),
    "study.estimator_not_run": _W(en="Not run: {name}: {reason}", zh="未运行：{name}：{reason}",
                                  names=("name",)),
    "study.in_sample": _W(en="Sample \u201c{name}\u201d: {text}",
                          zh="样本\u201c{name}\u201d：{text}", api="[sample: {name}] {text}"),
    "study.named_reason": _W(en="{name}: {reason}", zh="{name}：{reason}", names=("name",)),
    "study.no_robust_estimator": _W(
        en="no staggered-adoption estimator or decomposition could run.",
        zh="多期DID的各项估计量与分解均无法运行。",
        api="no staggered-adoption estimator or decomposition could run (numbers['not_run'] "
            "says why)"),
    "study.honest_cs_not_run": _W(
        en="The HonestDiD bounds and the pre-trend power use the TWFE event study: the "
           "Callaway-Sant'Anna event study was not run: {reason}",
        zh="HonestDiD敏感性分析与平行趋势检验功效改用双向固定效应事件研究，因为"
           "Callaway-Sant'Anna事件研究未运行：{reason}",
        api="Callaway-Sant'Anna not run: {reason}"),
    "study.cs_ri_lacks": _W(
        en="the randomization pre-test is not run with {lacks}.",
        zh="随机化推断预检验不适用于{lacks}。",
        api="not run with {lacks}"),
    "study.cs_ri_not_yet": _W(en="not-yet-treated comparisons", zh="以尚未处理个体为对照的比较",
                              api="not-yet-treated comparisons"),
    "study.cs_ri_fine_fe": _W(en="fixed effects other than unit and time",
                              zh="个体与时间以外的固定效应",
                              api="fixed effects other than unit and time"),
    "study.identity": _W(
        en="{y1} and {y2} differ only by the controls and fixed effects (a mechanical "
           "identity): their DID estimates with controls are equal by construction, not "
           "two findings",
        zh="{y1}与{y2}之差完全由控制变量和固定效应解释（机械恒等关系）：加入控制变量后二者的"
           "DID估计值必然相同，并非两项独立发现",
        names=("y1", "y2")),
    "study.no_overview": _W(
        en="no roster, CO2 accounting, derived columns or variable definitions in the spec.",
        zh="研究设定中没有试点名单、CO2核算、派生变量或变量定义。",
        api="no roster, CO2 accounting, [derive] or [variables] in the spec"),
    "study.no_event_study": _W(
        en="the pre-trend checks need the event study, which did not run.",
        zh="平行趋势检验需要事件研究的结果，而事件研究未运行。",
        api="the pre-trend checks need the event study, which did not run"),
    "study.no_adoption": _W(
        en="no unit adopts the treatment inside the panel.",
        zh="面板期间内没有个体开始接受处理。",
        api="no unit adopts the treatment inside the panel"),
    "study.bacon_single_date": _W(
        en="a single adoption date ({date}): the decomposition has one comparison, the DID "
           "itself.",
        zh="只有一个政策实施时点（{date}），分解只有一项比较，即DID本身。",
        api="a single adoption date ({date}): the decomposition has one comparison, the DID "
            "itself"),
    "study.no_covariates": _W(
        en="no covariates to match on in the spec.", zh="研究设定中没有用于匹配的协变量。",
        api="no covariates to match on (give battery.psm_did.covariates or model.controls)"),
    "study.no_mediators": _W(
        en="no mediators given in the spec.", zh="研究设定中未给出中介变量。",
        api="no mediators given (battery.mediation.mediators)"),
    "study.no_moderators": _W(
        en="no moderators given in the spec.", zh="研究设定中未给出调节变量。",
        api="no moderators given (battery.moderation.moderators)"),
    "study.no_mechanisms": _W(
        en="no mechanism variables given in the spec.", zh="研究设定中未给出机制变量。",
        api="no mechanism variables given (battery.mechanisms.variables or "
            "battery.moderation.moderators)"),
    "study.mechanisms_fixed": _W(
        en="{columns} never change within a unit, so the unit fixed effects absorb them: "
           "they are moderators, not mechanisms.",
        zh="{columns}在个体内部不随时间变化，被个体固定效应吸收：它们是调节变量，而非机制变量。",
        api="the columns {columns} never change within a unit, so the unit fixed effects "
            "absorb them: they are moderators, not mechanisms (name mechanism variables "
            "in battery.mechanisms.variables)",
        names=("columns",)),
    "study.mechanism_left_out": _W(
        en="The mechanism variable {column} is left out: it never changes within a unit, so "
           "the unit fixed effects absorb it (a moderator, not a mechanism).",
        zh="机制变量{column}未纳入：它在个体内部不随时间变化，被个体固定效应吸收（是调节变量，"
           "而非机制变量）。",
        api="mechanism {column!r} left out: it never changes within a unit, so the unit "
            "fixed effects absorb it (a moderator, not a mechanism)",
        names=("column",)),
    "study.no_subgroups": _W(
        en="no subgroup columns given in the spec.", zh="研究设定中未给出分组变量。",
        api="no subgroup columns given (battery.heterogeneity.by)"),
}
