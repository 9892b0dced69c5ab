"""Words used in tables and reports, in English and Chinese."""

from __future__ import annotations

from policylab.messages import Message, render

WORDS = {
    "en": {
        "controls": "Controls", "yes": "Yes", "no": "No", "N": "N", "r2": "R-squared",
        "r2_within": "Within R-squared", "n_clusters": "Clusters", "ymean": "Mean of y",
        "fe": "{name} FE", "unit_fe": "Unit FE", "time_fe": "Year FE",
        "note_se": "Standard errors in parentheses", "note_t": "t statistics in parentheses",
        "note_p": "p-values in parentheses", "note_ci": "95% confidence intervals in brackets",
        "note_stars": "*** p<{c}, ** p<{b}, * p<{a}",
        "clustered": "clustered by {by}", "robust": "heteroskedasticity-robust",
        "iid": "conventional", "note": "Note", "term": "",
        "note_from": "{what}, based on standard errors ({kind}).",
        "boot_clustered": "multiplier bootstrap, clustered by {by}",
        "note_cols": "{kind} in {cols}", "unstated": "not stated",
        "note_mixed": "{what} ({parts}).",
        "note_from_mixed": "{what}, based on standard errors ({parts}).",
    },
    "zh": {
        "controls": "控制变量", "yes": "是", "no": "否", "N": "观测值", "r2": "R²",
        "r2_within": "组内R²", "n_clusters": "聚类数", "ymean": "被解释变量均值",
        "fe": "{name}固定效应", "unit_fe": "个体固定效应", "time_fe": "年份固定效应",
        "note_se": "括号内为{kind}标准误", "note_t": "括号内为t值", "note_p": "括号内为p值",
        "note_ci": "方括号内为95%置信区间",
        "note_stars": "***、**、*分别表示在{c_pct}、{b_pct}、{a_pct}的水平上显著",
        "clustered": "聚类到{by}层面的稳健", "robust": "异方差稳健", "iid": "普通",
        "note": "注", "term": "", "note_from": "{what}，基于{kind}标准误。",
        "boot_clustered": "聚类到{by}层面的乘数自助法", "note_cols": "{cols}为{kind}标准误",
        "unstated": "未注明的", "note_mixed": "括号内为标准误（{parts}）。",
        "note_from_mixed": "{what}，基于标准误（{parts}）。",
    },
}


def word(key: str, lang: str = "en", **kw: object) -> str:
    """A label in the chosen language."""
    table = WORDS.get(lang, WORDS["en"])
    return table.get(key, WORDS["en"].get(key, key)).format(**kw)


COLUMNS_ZH = {
    "term": "变量", "label": "变量", "variable": "变量", "estimate": "估计值",
    "std_error": "标准误", "statistic": "统计量", "p_value": "p值", "conf_low": "置信下限",
    "conf_high": "置信上限", "rel_time": "相对时间", "n_obs": "观测值", "n": "样本量",
    "mean": "均值", "sd": "标准差", "min": "最小值", "max": "最大值", "nobs": "观测值",
    "group": "组别", "by": "分组", "weight": "权重", "type": "类型", "draws": "抽样次数",
    "p_left": "左侧p值", "p_right": "右侧p值", "p_value_coef": "p值（系数）",
    "p_value_t": "p值（t统计量）", "exact": "精确枚举", "kind": "类型", "weights": "权重类型", "weights_type": "权重类型",
    "enumerated": "完全枚举", "clusters": "聚类数", "outcome": "被解释变量", "power": "检验功效",
    "slope": "斜率", "restriction": "约束", "M": "M", "excludes_zero": "不含零",
    "a": "a", "b": "b", "c": "c", "c_prime": "c'", "share": "中介效应占比",
    "boot_low": "自助法下限", "boot_high": "自助法上限", "moderator": "调节变量",
    "estimator": "估计方法", "n_treated_units": "处理组个体数", "level": "层级",
    "error": "未运行原因",
}


# ------------------------------------------------------------------ the report's frame
# Captions, the headline summary, figure titles and notes, step statuses. Keys only in
# code; every sentence a reader sees is here, in both languages.
REPORT = {
    "en": {
        "table_caption": "Table {n}. {title}", "figure_caption": "Figure {n}. {title}",
        "section": "{n}. {title}",
        "headline": "Main results at a glance", "outcome": "Outcome",
        "estimate": "Estimate", "recommended_ci": "Recommended 95% CI",
        "crv1_ci": "95% CI (CRV1, cluster-robust)", "p_recommended": "p (recommended)",
        "ci_wild": "wild cluster bootstrap", "ci_crv1": "cluster-robust (CRV1)",
        "why_wild": ("With {g} treated assignment groups (fewer than 10), cluster-robust "
                     "(CRV1) intervals under-cover and the plain Wald pre-trend test "
                     "over-rejects; the wild cluster bootstrap and randomization inference "
                     "are reported first, the CRV1 interval only for comparison."),
        "why_crv1": ("With {g} treated assignment groups, cluster-robust (CRV1) inference "
                     "is reported first."),
        "crv1_note": ("Standard errors in this table are cluster-robust (CRV1). With {g} "
                      "treated assignment groups they are too optimistic (docs/validity.md "
                      "measures it on designs like this one); the recommended interval is "
                      "the wild cluster bootstrap's, shown in the main results at a glance "
                      "and in the wild cluster bootstrap section."),
        "checks": "Robustness checks", "check": "Check", "result": "Result",
        "pretrend": "Joint pre-trend test ({method})", "placebo_p": "Placebo test p",
        "wild_p": "Wild cluster bootstrap p", "balance": "PSM balance after matching",
        "balanced": "balanced on all covariates",
        "unbalanced": "not balanced: {vars}", "steps": "Steps",
        "steps_count": "{ok} run, {warned} warned, {skipped} skipped, {failed} failed",
        "method_wald": "cluster-robust Wald F", "method_wild": "wild cluster bootstrap",
        "method_ri": "randomization inference",
        "pretrend_line": "{method}: F = {stat}, {p}",
        "pretrend_line_ri": "{method}: statistic = {stat}, {p}",
        "pretrend_note": "Joint test that all leads are zero (H0: parallel pre-trends), "
                         "{k} leads.",
        "recommended": "recommended", "not_recommended": "for comparison",
        "placebo_note": "Placebo test: {draws} {how} of the treatment; "
                        "two-sided randomization {p}.",
        "exact": " (exact enumeration)", "how_exact": "possible reassignments (every one, "
        "exact enumeration)", "how_random": "random reassignments",
        "wild_note": "Wild cluster bootstrap ({weights_type} weights, {draws} draws): "
                     "{p}, 95% CI [{lo}, {hi}].",
        "balance_ok": "Balance after matching: |standardized bias| < 10% for every covariate.",
        "balance_bad": "Balance after matching not reached (|standardized bias| >= 10%) for: "
                       "{vars}.",
        "rubin": "Rubin's B = {b0} -> {b1}; R = {r0} -> {r1}.",
        "sample": "Sample: {n} observations, {units} units, {t0}-{t1}.",
        "frame_note": "Estimates as computed; p-values below 0.001 shown as <0.001.",
        "stars_off": "Significance stars omitted for columns {cols}: fewer than 2 treated "
                     "clusters.",
        "identity": ("Columns {a} and {b} are identical by construction: {y1} = {y2} "
                     "- {c} in the data, and {c} is a control, so the treatment "
                     "coefficient is the same in both."),
        "no_figure": "Figure not drawn: {why}.",
        "no_points": "the figure would have no data",
        "one_point": "it would show a single point",
        "status_ok": "ok", "status_warned": "warned", "status_skipped": "skipped",
        "status_failed": "failed", "warned": "This step's own check failed",
        "warnings": "Warnings", "contents": "Contents",
        "diagnostics": "Diagnostics and warnings", "provenance": "Provenance",
        "prov_panel": "Panel", "prov_seed": "Seed", "prov_balanced": "Balanced panel.",
        "prov_unbalanced": "Unbalanced panel.",
        "failed": "This step failed", "none": "None raised.", "colon": ": ",
        "default_title": "Policy evaluation",
        # the console summary of `policylab run` / `demo`
        "console_warning": "{n} warning", "console_warnings": "{n} warnings",
        "console_step_seconds": "{seconds}s",
        "console_status_with": "{status}, {warnings}",
        "console_warning_label": "warning",
        "console_not_written": "could not write {file}: {error}",
        "console_report": "report: {path}",
        "console_split": " (computing {computing}s, figures {figures}s, writing {writing}s)",
        "console_finished": "finished in {seconds}s{split}; outputs in {out}",
        "console_demo": "running the {study} example ({spec})",
    },
    "zh": {
        "table_caption": "表{n} {title}", "figure_caption": "图{n} {title}",
        "section": "{n}. {title}",
        "headline": "主要结果概览", "outcome": "被解释变量",
        "estimate": "估计值", "recommended_ci": "推荐的95%置信区间",
        "crv1_ci": "95%置信区间（CRV1聚类稳健）", "p_recommended": "p值（推荐方法）",
        "ci_wild": "野聚类自助法", "ci_crv1": "聚类稳健（CRV1）",
        "why_wild": ("处理组仅有{g}个分配单位（少于10个），聚类稳健（CRV1）置信区间覆盖率"
                     "偏低，普通Wald平行趋势检验过度拒绝；因此优先报告野聚类自助法与随机化"
                     "推断的结果，CRV1区间仅供对照。"),
        "why_crv1": "处理组有{g}个分配单位，优先报告聚类稳健（CRV1）推断。",
        "crv1_note": ("本表标准误为聚类稳健（CRV1）标准误。处理组仅有{g}个分配单位，CRV1推断"
                      "偏乐观（docs/validity.md 在同类设计上的模拟结果）；推荐的置信区间为"
                      "野聚类自助法区间，见“主要结果概览”与野自助法部分。"),
        "checks": "稳健性检验", "check": "检验", "result": "结果",
        "pretrend": "平行趋势联合检验（{method}）", "placebo_p": "安慰剂检验p值",
        "wild_p": "野聚类自助法p值", "balance": "PSM匹配后平衡性",
        "balanced": "所有协变量均平衡", "unbalanced": "未平衡：{vars}", "steps": "分析步骤",
        "steps_count": "完成{ok}项，警示{warned}项，跳过{skipped}项，失败{failed}项",
        "method_wald": "聚类稳健Wald F检验", "method_wild": "野聚类自助法",
        "method_ri": "随机化推断",
        "pretrend_line": "{method}：F = {stat}，{p}",
        "pretrend_line_ri": "{method}：统计量 = {stat}，{p}",
        "pretrend_note": "联合检验全部{k}个政策前系数均为零（原假设：处理前趋势平行）。",
        "recommended": "推荐", "not_recommended": "仅供对照",
        "placebo_note": "安慰剂检验：{how}{draws}次；双侧随机化推断{p}。",
        "how_exact": "完全枚举全部可能的处理分配，共", "how_random": "随机重新分配处理",
        "exact": "（完全枚举）",
        "wild_note": "野聚类自助法（{weights_type}权重，{draws}次抽样）：{p}，"
                     "95%置信区间[{lo}, {hi}]。",
        "balance_ok": "匹配后平衡性：所有协变量的标准化偏差绝对值均小于10%。",
        "balance_bad": "匹配后未达到平衡（标准化偏差绝对值≥10%）的协变量：{vars}。",
        "rubin": "Rubin's B：{b0} → {b1}；R：{r0} → {r1}。",
        "sample": "样本：{n}个观测值，{units}个个体，{t0}—{t1}年。",
        "frame_note": "p值小于0.001时记为<0.001。",
        "stars_off": "第{cols}列的处理组聚类少于2个，不标注显著性星号。",
        "identity": ("第{a}列与第{b}列的结果因构造而相同：数据中{y1} = {y2} - {c}，"
                     "且{c}为控制变量，故两列的处理效应系数必然相等。"),
        "no_figure": "未绘制该图：{why}。", "no_points": "没有可绘制的数据",
        "one_point": "图中只有一个点",
        "status_ok": "完成", "status_warned": "警示", "status_skipped": "跳过",
        "status_failed": "失败", "warned": "本步骤的自检未通过", "warnings": "警示",
        "contents": "目录", "diagnostics": "诊断与警示", "provenance": "运行信息",
        "prov_panel": "面板数据", "prov_seed": "随机数种子", "prov_balanced": "平衡面板。",
        "prov_unbalanced": "非平衡面板。",
        "failed": "此步骤运行失败", "none": "无。", "colon": "：",
        "default_title": "政策评估",
        "console_warning": "{n}项警示", "console_warnings": "{n}项警示",
        "console_step_seconds": "{seconds}秒",
        "console_status_with": "{status}，{warnings}",
        "console_warning_label": "警告",
        "console_not_written": "未能写出{file}：{error}",
        "console_report": "报告：{path}",
        "console_split": "（计算{computing}秒，绘图{figures}秒，写出{writing}秒）",
        "console_finished": "用时{seconds}秒{split}；输出目录：{out}",
        "console_demo": "运行示例研究 {study}（{spec}）",
    },
}

# captions of the figures the battery draws, by figure name (or its prefix)
FIGURES = {
    "en": {
        "event_study": "Event study: dynamic effects", "parallel_trends": "Raw trends of "
        "the treated and control groups", "placebo": "Placebo test: distribution of "
        "placebo estimates", "bias": "Standardized bias before and after matching",
        "psm": "Propensity-score distributions", "honest_did": "Sensitivity to violations "
        "of parallel trends (HonestDiD)", "comparison": "Event-study estimators compared",
        "bacon": "Goodman-Bacon decomposition", "spec_curve": "Specification curve",
        "moderation": "Marginal effect by moderator", "figure": "Figure",
        "att_gt_dynamic": "Callaway-Sant'Anna event study (dynamic aggregation)",
        "mediation_path": "Mediation path diagram",
    },
    "zh": {
        "event_study": "事件研究：动态效应", "parallel_trends": "处理组与对照组的原始趋势",
        "placebo": "安慰剂检验：安慰剂估计值的分布", "bias": "匹配前后的标准化偏差",
        "psm": "倾向得分分布", "honest_did": "平行趋势偏离的敏感性分析（HonestDiD）",
        "comparison": "各事件研究估计量的比较", "bacon": "Goodman-Bacon分解",
        "spec_curve": "设定曲线", "moderation": "调节变量的边际效应", "figure": "图",
        "att_gt_dynamic": "Callaway-Sant'Anna事件研究（动态加总）",
        "mediation_path": "中介效应路径图",
    },
}


def report_words(lang: str = "en") -> dict[str, str]:
    """Every word of the report's frame in ``lang`` (unformatted), for templates."""
    return {**REPORT["en"], **REPORT.get(lang, {})}


def report_word(key: str, lang: str = "en", **kw: object) -> str:
    """A sentence or label of the report's frame (captions, headline, notes)."""
    table = REPORT.get(lang, REPORT["en"])
    return table.get(key, REPORT["en"][key]).format(**kw)


def figure_title(name: str, lang: str = "en", labels: dict[str, str] | None = None,
                 outcomes: tuple[str, ...] | list[str] = ()) -> str:
    """Caption text of a battery figure from its name.

    The longest known caption key the name starts with gives the caption; what follows
    it (``event_study_ln_intensity`` -> ``ln_intensity``) is a column and is added in
    brackets by its label. With several outcomes, a per-outcome figure without a suffix
    belongs to the first outcome and says so.
    """
    table = FIGURES.get(lang, FIGURES["en"])
    labels = labels or {}
    key = next((k for k in sorted(table, key=len, reverse=True)
                if name == k or name.startswith(k + "_")), None)
    if key is None:
        return table["figure"]
    rest = name[len(key) + 1:]
    if not rest and len(outcomes) > 1 and key in _PER_OUTCOME:
        rest = outcomes[0]
    if not rest:
        return table[key]
    what = labels.get(rest, rest)
    return f"{table[key]}（{what}）" if lang == "zh" else f"{table[key]} ({what})"


# figures the battery draws once per outcome (the first outcome's has no suffix)
_PER_OUTCOME = ("event_study", "parallel_trends", "mediation_path")


# words for common assignment / cluster levels, when the spec gives no label for them
_LEVEL_ZH = {"province": "省份", "city": "城市", "county": "县", "firm": "企业",
             "unit": "个体", "region": "地区", "year": "年份"}


def level_label(value: str, lang: str, labels: dict[str, str] | None = None) -> str:
    """An assignment or cluster level's display name: the spec's label, else in Chinese
    the catalogue's word for common levels ("province" -> 省份), else the name."""
    labels = labels or {}
    return labels.get(value, _LEVEL_ZH.get(value, value) if lang == "zh" else value)


# category values the bundled data use, when the spec gives no label for them
CATEGORIES_ZH = {"declining": "衰退型", "growing": "成长型", "mature": "成熟型",
                 "regenerating": "再生型", "non-resource": "非资源型",
                 "resource": "资源型", "east": "东部", "central": "中部", "west": "西部",
                 "northeast": "东北"}


def category_label(value: object, column: str, lang: str,
                   labels: dict[str, str] | None = None) -> str:
    """A category's display name: the spec's label for "column=value" or "value", then
    the catalogue's Chinese name for the bundled data's categories."""
    labels = labels or {}
    v = str(value)
    out = labels.get(f"{column}={v}", labels.get(v, v))
    return CATEGORIES_ZH.get(out, out) if lang == "zh" else out


def message_text(message: Message, lang: str = "en",
                 labels: dict[str, str] | None = None) -> str:
    """A message of an estimator in the reader's words, from its key: column names by
    the spec's ``labels``, levels and categories of the bundled data by the catalogue's
    words in Chinese (the words themselves are in :mod:`policylab.message_catalogue`)."""
    labels = labels or {}

    def name(kind: str, value: str) -> str:
        if kind == "level":
            return level_label(value, lang, labels) if lang == "zh" else value
        if kind.startswith("category:"):
            return category_label(value, kind[len("category:"):], lang, labels)
        # a column by the spec's label; an estimator or analysis by the catalogue's name
        known = ESTIMATOR_NAMES.get(lang, ESTIMATOR_NAMES["en"]).get(value)
        return labels.get(value, known or (_LEVEL_ZH.get(value, value) if lang == "zh"
                                           else value))

    return render(message, lang, name)


def translate_warning(text: str, lang: str = "en",
                      labels: dict[str, str] | None = None) -> tuple[str, bool]:
    """A warning in the reader's words: ``(text, recognised)``.

    A :class:`~policylab.messages.Message` (what policylab's estimators attach) is worded
    from the catalogue by its key; any other text (a library's, an exception's) comes
    back unchanged with ``recognised=False``, so the run can list it as untranslated. A
    message that quotes such text as its reason is worded, but not ``recognised``.
    """
    if isinstance(text, Message):
        return message_text(text, lang, labels), not _carries_foreign_text(text)
    return text, False


# params of a message that hold a reason: an exception's own text unless it is a message
_REASONS = ("why", "reason", "error", "text")


def _carries_foreign_text(message: Message) -> bool:
    """Whether a message quotes text policylab did not word (an exception's message)."""
    for k, v in message.params.items():
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, Message):
                if _carries_foreign_text(item):
                    return True
            elif k in _REASONS and isinstance(item, str):
                return True
    return False


COLUMNS_EN = {
    "term": "Term", "label": "Variable", "variable": "Variable", "estimate": "Estimate",
    "std_error": "Std. error", "statistic": "Statistic", "p_value": "p-value",
    "conf_low": "CI low", "conf_high": "CI high", "rel_time": "Event time",
    "n_obs": "Obs.", "n": "N", "mean": "Mean", "sd": "SD", "min": "Min", "max": "Max",
    "nobs": "Obs.", "group": "Group", "by": "By", "weight": "Weight", "type": "Type",
    "draws": "Draws", "p_left": "p (left)", "p_right": "p (right)",
    "p_value_coef": "p (coefficient)", "p_value_t": "p (t statistic)", "exact": "Exact",
    "kind": "Kind", "weights": "Weights", "weights_type": "Weights", "enumerated": "Enumerated",
    "clusters": "Clusters", "outcome": "Outcome", "power": "Power", "slope": "Slope",
    "restriction": "Restriction", "excludes_zero": "Excludes zero", "share": "Share mediated",
    "boot_low": "Bootstrap low", "boot_high": "Bootstrap high", "moderator": "Moderator",
    "estimator": "Estimator", "n_treated_units": "Treated units", "level": "Level",
    "error": "Not run because",
    "mean_treated_before": "Mean treated (before)", "mean_control_before":
    "Mean control (before)", "bias_before": "% bias (before)",
    "mean_treated_after": "Mean treated (after)", "mean_control_after":
    "Mean control (after)", "bias_after": "% bias (after)", "smd_before": "SMD (before)",
    "smd_after": "SMD (after)", "bias_reduction": "% bias reduction",
    "p_before": "p (before)", "p_after": "p (after)", "var_ratio_before":
    "Variance ratio (before)", "var_ratio_after": "Variance ratio (after)",
    "balanced": "Balanced", "draws_requested": "Draws requested", "test": "Test",
    "webb": "Webb", "rademacher": "Rademacher", "mammen": "Mammen",
    "wild_bootstrap": "wild cluster bootstrap (WCR)",
    "recommended": "Recommended", "stage": "Sample", "mean_treated": "Mean treated", "mean_control": "Mean control",
    "bias": "% bias", "smd": "SMD", "var_ratio": "V(T)/V(C)",
}

COLUMNS_ZH.update({
    "mean_treated_before": "处理组均值（匹配前）", "mean_control_before": "对照组均值（匹配前）",
    "bias_before": "标准化偏差%（匹配前）", "mean_treated_after": "处理组均值（匹配后）",
    "mean_control_after": "对照组均值（匹配后）", "bias_after": "标准化偏差%（匹配后）",
    "smd_before": "SMD（匹配前）", "smd_after": "SMD（匹配后）",
    "bias_reduction": "偏差降幅%", "p_before": "p值（匹配前）", "p_after": "p值（匹配后）",
    "var_ratio_before": "方差比（匹配前）", "var_ratio_after": "方差比（匹配后）",
    "balanced": "是否平衡", "draws_requested": "设定抽样次数", "test": "检验",
    "interaction": "交互项检验", "suest": "似无相关检验（SUEST）",
    "permutation": "费舍尔组合检验（置换）", "webb": "Webb", "rademacher": "Rademacher",
    "wild_bootstrap": "野聚类自助法（WCR）",
    "mammen": "Mammen", "random_units": "随机个体", "random_timing": "随机时间",
    "twfe": "双向固定效应", "recommended": "推荐", "stage": "样本", "mean_treated": "处理组均值",
    "mean_control": "对照组均值", "bias": "标准化偏差%", "smd": "SMD",
    "var_ratio": "方差比",
})


def term_label(term: str, lang: str = "en") -> str | None:
    """Display name of a generated term: event-time dummies "pre_3"/"post_0" as
    "t-3"/"t+0"; None when ``term`` is not one."""
    import re

    m = re.fullmatch(r"(pre|post)_(\d+)", str(term))
    if m is None:
        return None
    return f"t{'-' if m.group(1) == 'pre' else '+'}{int(m.group(2))}"


def columns(lang: str) -> dict[str, str]:
    """Display names of the tidy frames' column names in ``lang``."""
    return COLUMNS_ZH if lang == "zh" else COLUMNS_EN


# words that steps put into table cells and titles (values, not column names)
VALUES = {
    "en": {"none": "No controls", "baseline": "Baseline controls", "full": "Full sample",
           "smoothness": "Smoothness", "relative_magnitudes": "Relative magnitudes",
           "relative magnitudes": "Relative magnitudes",
           "simple": "Overall", "group": "Cohort", "method": "Method",
           "difference": "Difference", "controls": "Controls", "cluster": "Cluster",
           "sample": "Sample", "fe": "Fixed effects", "outcome": "Outcome",
           "centered": "{x} (centered)",
           "bias_at": "Bias ({t})"},
    "zh": {"none": "无控制变量", "baseline": "基准控制变量", "full": "全样本",
           "smoothness": "平滑性约束", "relative_magnitudes": "相对幅度约束",
           "relative magnitudes": "相对幅度约束",
           "simple": "总体", "group": "组别", "method": "方法", "difference": "组间差异",
           "controls": "控制变量", "cluster": "聚类", "sample": "样本", "fe": "固定效应",
           "outcome": "被解释变量",
           "centered": "{x}（中心化）", "bias_at": "偏差（{t}）",
           "Pre-trend power": "平行趋势检验的功效", "Honest DiD": "HonestDiD敏感性分析",
           "Balance": "平衡性检验"},
}
VALUES["en"]["Pre-trend power"] = "Power of the pre-trend test"
# the estimators' and analyses' display names: compare_estimators' columns and legend,
# a step's "not run: name: why", the pre-trends step's analyses. A message's name param
# is looked up here, not in all of VALUES, so a column called "group" keeps its name.
ESTIMATOR_NAMES = {
    "en": {"honest_did": "HonestDiD sensitivity analysis",
           "pretrend_power": "Power of the pre-trend test"},
    "zh": {"TWFE": "双向固定效应（TWFE）", "Imputation (BJS)": "插补估计量（BJS）",
           "honest_did": "HonestDiD敏感性分析", "pretrend_power": "平行趋势检验的功效"},
}
# the Goodman-Bacon comparison types (its table and figure)
VALUES["zh"].update({
    "treated vs never treated": "处理组 vs 从未处理组",
    "earlier vs later treated": "早处理组 vs 晚处理组",
    "later vs earlier treated": "晚处理组 vs 早处理组",
    "treated vs always treated": "处理组 vs 始终处理组",
})
for _lang in VALUES:
    VALUES[_lang].update(ESTIMATOR_NAMES[_lang])


def cell_label(text: str, lang: str, labels: dict[str, str]) -> str:
    """A text cell or header a step produced, in the reader's words: catalogue values,
    "column=category", "a+b" fixed effects, "kind:x" rows, "x_c" centred variables and
    "bias_post_k" columns; anything else unchanged."""
    import re

    v = VALUES.get(lang, VALUES["en"])
    if text in labels:
        return labels[text]
    if text in v:
        return v[text]
    if lang == "zh" and text in _LEVEL_ZH:  # a level (the permutation test's "city")
        return _LEVEL_ZH[text]
    m = re.fullmatch(r"([^=]+)=(.+)", text)
    if m and lang == "zh":
        return f"{m.group(1)}={category_label(m.group(2), m.group(1), lang, labels)}"
    if re.fullmatch(r"\w+(\+\w+)+", text):
        return "+".join(labels.get(p, _LEVEL_ZH.get(p, p) if lang == "zh" else p)
                        for p in text.split("+"))
    m = re.fullmatch(r"(simple|group|dynamic|calendar):(.+)", text)
    if m:
        return f"{v.get(m.group(1), m.group(1))}: {m.group(2)}"
    m = re.fullmatch(r"bias_(pre|post)_(\d+)", text)
    if m:
        return v["bias_at"].format(t=term_label(text[5:]))
    m = re.fullmatch(r"(\w+)_c", text)
    if m and m.group(1) in labels:
        return v["centered"].format(x=labels[m.group(1)])
    return text


# the reference studies' own tables (policylab.study.paper)
WORDS["en"].update({
    "level_province": "Province", "level_city": "City", "pilot_market": "Pilot market",
    "pilot_level": "Level", "announced": "Announced", "trading_from": "Trading from",
    "firms_covered": "Firms first covered", "fuel": "Fuel", "fuel_unit": "Unit of use",
    "coal_coefficient": "Coal-equivalent coefficient", "carbon_factor": "Carbon factor",
    "co2_factor": "CO2 emission factor", "fuel_coal": "Raw coal", "fuel_coke": "Coke",
    "fuel_crude_oil": "Crude oil", "fuel_gasoline": "Gasoline", "fuel_kerosene": "Kerosene",
    "fuel_diesel": "Diesel", "fuel_fuel_oil": "Fuel oil", "fuel_natural_gas": "Natural gas",
    "var_symbol": "Symbol", "var_name": "Variable", "var_definition": "Definition",
    "var_type": "Type", "role_outcome": "Dependent variable",
    "role_treatment": "Core explanatory variable", "role_control": "Control variables",
    "role_mechanism": "Mechanism variables", "role_moderator": "Moderators",
    "role_group": "Grouping variables", "role_other": "Other variables",
    "var_unit": "Unit", "var_source": "Source",
    "med_total": "Total effect c", "med_indirect": "Indirect effect a×b",
    "med_sobel_p": "Sobel p", "med_ci": "95% CI of a×b", "med_share": "Share mediated",
    "t_pilots": "Pilot markets", "t_factors": "Coal-equivalent coefficients and CO2 "
    "emission factors", "t_definitions": "Variable definitions",
    "med_same_year": "Same year", "med_lag": "{k}-period lag",
    "t_mediation": "Mediation through {m}: stepwise regressions",
    "t_mediation_joint": "Mediation through all mediators together",
    "med_joint": "{m} (all mediators in one model)",
    "t_mechanism": "Mechanism tests", "t_psm": "PSM-DID",
    "psm_before": "Before matching", "psm_after": "After matching",
    "no_controls": "no controls", "with_controls": "controls",
    "pooled_of": "{label}", "balance_failed": "balance not reached after matching for "
    "{vars}: the matched DID compares unlike groups",
    "pl_real": "Actual estimate", "pl_mean": "Mean of placebo estimates",
    "pl_sd": "SD of placebo estimates", "pl_range": "Placebo estimates, 2.5%-97.5%",
    "pl_p": "Randomization p (two-sided)", "pl_p_left": "Randomization p (left)",
    "pl_p_right": "Randomization p (right)", "pl_p_t": "Randomization p (t statistic)",
    "pl_draws": "Placebo assignments", "pl_exact": "Exact enumeration",
    "stage_unmatched": "Unmatched", "stage_matched": "Matched", "t_balance": "Balance test",
    "t_pretrend_tests": "Joint pre-trend tests", "initial_price": "Initial price (yuan/t)",
    "cs_simple": "Overall ATT (simple)", "cs_dynamic": "Average of event-time effects",
    "cs_group": "Average of cohort effects", "cs_calendar": "Average of calendar-time "
    "effects", "cs_event": "Event time {e}",
    "cs_pretest_boot": "sup-t multiplier bootstrap ({draws} draws)",
    "cs_pretest_wald": "Wald chi2({df})",
    "cs_pretest_ri": "randomization inference ({draws} draws, periods before the first "
                     "adoption)",
    "cs_pretest_line": "Pre-test that all pre-treatment ATT(g,t) are zero, {name}: "
    "statistic = {stat}, {p} ({rec})",
    "cs_first": "recommended", "cs_second": "for comparison",
    "cs_pretest_not_run": "The pre-test that all pre-treatment ATT(g,t) are zero by {name} "
    "was not run: {reason}", "cs_pretest_ri_name": "randomization inference",
    "cs_pretest_boot_name": "sup-t multiplier bootstrap", "cs_pretest_wald_name": "Wald chi2",
    "cs_caution": "read with care: with few treated groups it over-rejects, see "
    "docs/validity.md",
    "definition": "Definition", "control_group": "Control group",
    "treated_group": "Treated group",
    "coefficient_unit": "Coefficient unit",
})
WORDS["zh"].update({
    "level_province": "省级", "level_city": "市级", "pilot_market": "试点市场",
    "pilot_level": "级别", "announced": "获批时间", "trading_from": "开市时间",
    "firms_covered": "首批纳入企业数", "fuel": "能源种类", "fuel_unit": "计量单位",
    "coal_coefficient": "折标准煤系数", "carbon_factor": "碳排放系数",
    "co2_factor": "CO2排放系数", "fuel_coal": "原煤", "fuel_coke": "焦炭",
    "fuel_crude_oil": "原油", "fuel_gasoline": "汽油", "fuel_kerosene": "煤油",
    "fuel_diesel": "柴油", "fuel_fuel_oil": "燃料油", "fuel_natural_gas": "天然气",
    "var_symbol": "变量符号", "var_name": "变量名称", "var_definition": "变量定义",
    "var_type": "变量类型", "role_outcome": "被解释变量", "role_treatment": "核心解释变量",
    "role_control": "控制变量", "role_mechanism": "机制变量", "role_moderator": "调节变量",
    "role_group": "分组变量", "role_other": "其他变量",
    "var_unit": "单位", "var_source": "数据来源",
    "med_total": "总效应 c", "med_indirect": "间接效应 a×b", "med_sobel_p": "Sobel检验p值",
    "med_ci": "a×b的95%置信区间", "med_share": "中介效应占比",
    "t_pilots": "试点市场基本情况", "t_factors": "折标准煤系数与CO2排放系数",
    "t_definitions": "变量定义", "med_same_year": "当期", "med_lag": "滞后{k}期",
    "t_mediation": "{m}的中介效应：逐步回归结果", "t_mediation_joint": "多重中介：全部中介变量同时纳入",
    "med_joint": "{m}（全部中介变量同时纳入）", "t_mechanism": "机制检验",
    "t_psm": "PSM-DID", "psm_before": "匹配前", "psm_after": "匹配后",
    "no_controls": "无控制变量", "with_controls": "控制变量",
    "pooled_of": "{label}", "balance_failed": "匹配后以下协变量未达到平衡：{vars}，"
    "匹配样本的DID比较的是不可比的两组",
    "pl_real": "实际估计值", "pl_mean": "安慰剂估计值均值", "pl_sd": "安慰剂估计值标准差",
    "pl_range": "安慰剂估计值2.5%-97.5%分位数", "pl_p": "随机化推断p值（双侧）",
    "pl_p_left": "随机化推断p值（左侧）", "pl_p_right": "随机化推断p值（右侧）",
    "pl_p_t": "随机化推断p值（t统计量）", "pl_draws": "安慰剂分配次数", "pl_exact": "精确枚举",
    "stage_unmatched": "匹配前", "stage_matched": "匹配后", "t_balance": "平衡性检验",
    "t_pretrend_tests": "平行趋势联合检验", "initial_price": "初始碳价（元/吨）",
    "cs_simple": "总体ATT（简单加总）", "cs_dynamic": "事件时间效应的平均",
    "cs_group": "各批次效应的平均", "cs_calendar": "各日历期效应的平均",
    "cs_event": "事件时间 {e}", "cs_pretest_boot": "sup-t乘数自助法（{draws}次）",
    "cs_pretest_wald": "Wald卡方检验（自由度{df}）",
    "cs_pretest_ri": "随机化推断（{draws}次，首次实施前各期）",
    "cs_pretest_line": "政策前各期ATT(g,t)联合为零的预检验，{name}：统计量 = {stat}，"
    "{p}（{rec}）", "cs_first": "推荐", "cs_second": "仅供对照",
    "cs_pretest_not_run": "政策前各期ATT(g,t)联合为零的预检验（{name}）未运行：{reason}",
    "cs_pretest_ri_name": "随机化推断", "cs_pretest_boot_name": "sup-t乘数自助法",
    "cs_pretest_wald_name": "Wald卡方检验",
    "cs_caution": "需谨慎解读：处理组较少时该检验过度拒绝，见docs/validity.md",
    "definition": "变量定义", "control_group": "对照组", "treated_group": "处理组",
    "coefficient_unit": "系数单位",
})
WORDS["en"]["pretrend_note"] = ("Joint test that all pre-treatment coefficients are zero: "
                                "{name}({dfs}) = {stat}, p = {p}")
WORDS["zh"]["pretrend_note"] = "政策实施前各期系数联合为零的检验：{name}({dfs}) = {stat}，p = {p}"
WORDS["en"].update({"mediator": "Mediator", "ci_low": "CI low", "ci_high": "CI high"})
WORDS["zh"].update({"mediator": "中介变量", "ci_low": "置信下限", "ci_high": "置信上限"})

# derived columns (the spec's [derive]) and fixed effects of the time index by its unit
WORDS["en"].update({
    "t_derived": "Derived columns", "derived_name": "Column",
    "derived_expression": "Definition (expression)",
    "time_fe_year": "Year FE", "time_fe_quarter": "Quarter FE",
    "time_fe_month": "Month FE", "time_fe_period": "Period FE",
})
WORDS["zh"].update({
    "t_derived": "派生变量", "derived_name": "变量", "derived_expression": "定义（表达式）",
    "time_fe_year": "年份固定效应", "time_fe_quarter": "季度固定效应",
    "time_fe_month": "月份固定效应", "time_fe_period": "时期固定效应",
})
_TIME_UNITS = {"year": ("year", "yr", "年"), "quarter": ("quarter", "qtr", "季"),
               "month": ("month", "mon", "月")}


def time_unit_of(name: str) -> str:
    """"year", "quarter", "month" or "period": the unit a time column's name says
    (``year``, ``qtr``, ``月份``, ...); a name that says none is a "period"."""
    low = str(name).lower()
    for unit in ("quarter", "month", "year"):
        if any(w in low for w in _TIME_UNITS[unit]):
            return unit
    return "period"


def time_fe(name: str, lang: str = "en", unit: str | None = None) -> str:
    """The fixed-effect row of the time index: Year / Quarter / Month / Period FE, by
    ``unit`` when known (e.g. quarters derived from "Q42010"), else by the name."""
    unit = unit if unit in ("year", "quarter", "month", "period") else time_unit_of(name)
    return word(f"time_fe_{unit}", lang)

# the constant row of regression tables (Stata's _cons; Chinese journals print it)
WORDS["en"]["constant"] = "Constant"
WORDS["zh"]["constant"] = "常数项"

# the event-study table's note: the recommended joint pre-trend test, then the Wald F
WORDS["en"].update({
    "pretrend_note_rec": "Joint test that all pre-treatment coefficients are zero "
                         "(recommended: {name}): {stat_name}({dfs}) = {stat}, p = {p}",
    "pretrend_note_cmp": "For comparison, {name}: {stat_name}({dfs}) = {stat}, p = {p}",
    "pretrend_draws": "{n} draws",
    "pretrend_test_not_run": "{method} was not run: {reason}",
})
WORDS["zh"].update({
    "pretrend_note_rec": "政策实施前各期系数联合为零的检验（推荐：{name}）：{stat_name}({dfs}) = "
                         "{stat}，p = {p}",
    "pretrend_note_cmp": "对照：{name}，{stat_name}({dfs}) = {stat}，p = {p}",
    "pretrend_draws": "{n}次",
    "pretrend_test_not_run": "{method}未运行：{reason}",
})

# a robustness sample's own warning, named after the sample

# the PSM-DID table's note: how the matched sample was made
WORDS["en"].update({
    "psm_note": "Matched sample: {mode}, {method}; the DID uses {sample}: {n} of {n0} "
                "observations.",
    "psm_mode_base_year": "units matched on their base-year covariates",
    "psm_mode_pooled": "unit-years matched pooled across years",
    "psm_mode_period": "units matched year by year",
    "psm_method_kernel": "kernel matching ({kernel}, bandwidth {bw})",
    "psm_method_nearest": "nearest-neighbour matching", "psm_method_radius": "radius matching",
    "psm_sample_matched": "the matched rows without weights",
    "psm_sample_weighted": "the matched rows weighted by the matching weights",
    "psm_sample_support": "the rows on the common support",
})
WORDS["zh"].update({
    "psm_note": "匹配样本：{mode}，{method}；DID基于{sample}：{n}个观测值（共{n0}个）。",
    "psm_mode_base_year": "按基期协变量匹配个体", "psm_mode_pooled": "各年份个体-年份观测混合匹配",
    "psm_mode_period": "逐年匹配个体",
    "psm_method_kernel": "核匹配（{kernel}核，带宽{bw}）", "psm_method_nearest": "近邻匹配",
    "psm_method_radius": "半径匹配", "psm_sample_matched": "匹配成功的观测值（不加权）",
    "psm_sample_weighted": "以匹配权重加权的匹配样本", "psm_sample_support": "共同支撑域内的观测值",
})

# a kernel's name in the PSM-DID note (a kernel without a word keeps its own name)
KERNELS = {"en": {"epan": "Epanechnikov"}, "zh": {"epan": "Epanechnikov", "normal": "高斯"}}


def kernel_name(kernel: str, lang: str = "en") -> str:
    """A matching kernel's name in the reader's language."""
    return KERNELS.get(lang, KERNELS["en"]).get(kernel, kernel)


# the columns of a table that a note names: "(1), (3)" / "第(1)、(3)列"
WORDS["en"].update({"note_col_list": "{cols}", "and_sep": " and ",
                    "note_se_kind": "Standard errors in parentheses ({kind})"})
WORDS["zh"].update({"note_col_list": "第{cols}列", "and_sep": "、",
                    "note_se_kind": "括号内为{kind}标准误"})
# punctuation between words: "a, b", "name, 1,000 draws", "a; b", "a × b", "test
# (recommended)", the end of a note, and what leads a note ("注：" in Chinese tables)
WORDS["en"].update({"list_sep": ", ", "clause_sep": ", ", "semi_sep": "; ", "times": " × ",
                    "in_parens": " ({x})", "stop": ".", "note_lead": ""})
WORDS["zh"].update({"list_sep": "、", "clause_sep": "，", "semi_sep": "；", "times": "×",
                    "in_parens": "（{x}）", "stop": "。", "note_lead": "注："})

# the battery's section titles, by step key
STEP_TITLES = {
    "en": {
        "overview": "Setting and variables",
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
        "mechanisms": "Mechanism tests",
        "heterogeneity": "Heterogeneity",
        "spec_curve": "Specification curve",
    },
    "zh": {
        "overview": "研究背景与变量定义",
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
        "mechanisms": "机制检验",
        "heterogeneity": "异质性分析",
        "spec_curve": "设定曲线（多重设定）",
    },
}


def step_title(lang: str, key: str) -> str:
    """A battery step's section title (the key itself, in words, for a step without one)."""
    return STEP_TITLES.get(lang, STEP_TITLES["en"]).get(key, key.replace("_", " ").capitalize())


# the words inside figures (axis labels, legends), by figure then word; {placeholders}
# are filled by the figure. Every word is in both languages (tests/test_messages.py).
FIGURE_WORDS: dict[str, dict[str, dict[str, str]]] = {
    "bacon": {
        "en": {"x": "Weight", "y": "2x2 DID estimate", "twfe": "TWFE = {v:.3f}"},
        "zh": {"x": "权重", "y": "2×2 DID估计值", "twfe": "双向固定效应 = {v:.3f}"},
    },
    "coefplot": {
        "en": {"y": "Estimate ({level} CI)", "x": "Term"},
        "zh": {"y": "估计系数（{level}置信区间）", "x": "变量"},
    },
    "event_study": {
        "en": {"x": "Years relative to the policy", "y": "Estimate (95% CI)",
               "time": "Year", "mean": "Mean outcome", "treated": "Treated",
               "control": "Control", "norm": "{y} (relative to {b})", "mean_of": "Mean of {y}"},
        "zh": {"x": "相对政策实施年份", "y": "估计系数（95%置信区间）", "time": "年份",
               "mean": "均值", "treated": "处理组", "control": "对照组",
               "norm": "{y}（相对于{b}年）", "mean_of": "{y}均值"},
    },
    "honest_did": {
        # the bound's axis, by the grid's restriction ("M smoothness", ...)
        "en": {"M smoothness": "M (smoothness bound)",
               "M relative magnitudes": "Mbar (relative magnitudes)",
               "y": "95% robust confidence interval", "orig": "original"},
        "zh": {"M smoothness": "M（平滑性约束）", "M relative magnitudes": "M̄（相对幅度约束）",
               "y": "95%稳健置信区间", "orig": "原始"},
    },
    "marginal_effect": {
        "en": {"y": "Marginal effect of the policy (95% CI)"},
        "zh": {"y": "政策的边际效应（95%置信区间）"},
    },
    "mediation_sensitivity": {
        "en": {"x": "Sensitivity parameter ρ (correlation of mediator and outcome errors)",
               "y": "Average causal mediation effect (ACME)"},
        "zh": {"x": "敏感性参数 ρ（中介方程与结果方程误差的相关系数）",
               "y": "平均因果中介效应（ACME）"},
    },
    "subgroup": {
        "en": {"x": "Effect of the policy (95% CI)"},
        "zh": {"x": "政策效应（95%置信区间）"},
    },
    "placebo": {
        "en": {"x": "Placebo estimates", "d": "Kernel density", "p": "p-value",
               "real": "Actual estimate", "pts": "p-value of each placebo", "p10": "p = 0.1"},
        "zh": {"x": "安慰剂估计系数", "d": "核密度", "p": "p值", "real": "真实估计值",
               "pts": "各安慰剂估计的p值", "p10": "p = 0.1"},
    },
    "psm": {
        "en": {"before": "Before matching", "after": "After matching", "treated": "Treated",
               "control": "Control", "score": "Propensity score", "density": "Density",
               "bias": "Standardized % bias", "unmatched": "Unmatched", "matched": "Matched"},
        "zh": {"before": "匹配前", "after": "匹配后", "treated": "处理组", "control": "对照组",
               "score": "倾向得分", "density": "核密度", "bias": "标准化偏差（%）",
               "unmatched": "匹配前", "matched": "匹配后"},
    },
    "spec_curve": {
        "en": {"estimate": "Estimate", "spec": "Specification (sorted by estimate)",
               "sig": "significant", "nonsig": "not significant"},
        "zh": {"estimate": "估计系数", "spec": "模型设定（按估计值排序）",
               "sig": "显著", "nonsig": "不显著"},
    },
    "staggered": {
        "en": {"x": "Periods relative to adoption", "y": "Estimate (95% CI)",
               "period": "Period", "cohort": "Cohort", "pre": "pre-treatment",
               "post": "post-treatment", "band": "uniform band",
               "group": "Cohort (first treated period)", "calendar": "Period"},
        "zh": {"x": "相对政策实施期", "y": "估计系数（95%置信区间）",
               "period": "时期", "cohort": "处理组（首次处理年份）", "pre": "处理前",
               "post": "处理后", "band": "一致置信带",
               "group": "处理组（首次处理年份）", "calendar": "时期"},
    },
}


def figure_words(figure: str, lang: str = "en") -> dict[str, str]:
    """The words of one figure (a key of :data:`FIGURE_WORDS`) in ``lang``, each word
    falling back to English; unformatted, the figure fills its placeholders."""
    table = FIGURE_WORDS[figure]
    return {**table["en"], **table.get(lang, {})}
