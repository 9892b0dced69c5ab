"""Words used in tables and reports, in English and Chinese."""

from __future__ import annotations

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
    "p_value_t": "p值（t统计量）", "exact": "精确枚举", "kind": "类型", "weights": "权重类型",
    "enumerated": "完全枚举", "clusters": "聚类数", "outcome": "被解释变量", "power": "检验功效",
    "slope": "斜率", "restriction": "约束", "M": "M", "excludes_zero": "不含零",
    "a": "a", "b": "b", "c": "c", "c_prime": "c'", "share": "中介效应占比",
    "boot_low": "自助法下限", "boot_high": "自助法上限", "moderator": "调节变量",
    "estimator": "估计方法", "n_treated_units": "处理组个体数",
}
