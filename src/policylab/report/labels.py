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
    },
    "zh": {
        "controls": "控制变量", "yes": "是", "no": "否", "N": "观测值", "r2": "R²",
        "r2_within": "组内R²", "n_clusters": "聚类数", "ymean": "被解释变量均值",
        "fe": "{name}固定效应", "unit_fe": "个体固定效应", "time_fe": "年份固定效应",
        "note_se": "括号内为{kind}标准误", "note_t": "括号内为t值", "note_p": "括号内为p值",
        "note_ci": "方括号内为95%置信区间",
        "note_stars": "***、**、*分别表示在{c_pct}、{b_pct}、{a_pct}的水平上显著",
        "clustered": "聚类到{by}层面的稳健", "robust": "异方差稳健", "iid": "普通",
        "note": "注", "term": "",
    },
}


def word(key: str, lang: str = "en", **kw: object) -> str:
    """A label in the chosen language."""
    table = WORDS.get(lang, WORDS["en"])
    return table.get(key, WORDS["en"].get(key, key)).format(**kw)
