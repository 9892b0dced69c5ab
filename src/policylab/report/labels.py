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
    "var_unit": "Unit", "var_source": "Source",
    "med_total": "Total effect c", "med_indirect": "Indirect effect a×b",
    "med_sobel_p": "Sobel p", "med_ci": "95% CI of a×b", "med_share": "Share mediated",
    "t_pilots": "Pilot markets", "t_factors": "Coal-equivalent coefficients and CO2 "
    "emission factors", "t_definitions": "Variable definitions",
    "med_same_year": "Same year", "med_lag": "{k}-period lag",
    "t_mediation": "Mediation through {m}: stepwise regressions",
    "t_mechanism": "Mechanism tests", "t_psm": "PSM-DID",
    "psm_before": "Before matching", "psm_after": "After matching",
    "no_controls": "no controls", "with_controls": "controls",
    "pooled_of": "{label}", "balance_failed": "balance not reached after matching for "
    "{vars}: the matched DID compares unlike groups",
    "t_path": "Mediation path diagram ({y})", "definition": "Definition",
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
    "var_symbol": "符号", "var_name": "变量名称", "var_definition": "变量定义",
    "var_unit": "单位", "var_source": "数据来源",
    "med_total": "总效应 c", "med_indirect": "间接效应 a×b", "med_sobel_p": "Sobel检验p值",
    "med_ci": "a×b的95%置信区间", "med_share": "中介效应占比",
    "t_pilots": "试点市场基本情况", "t_factors": "折标准煤系数与CO2排放系数",
    "t_definitions": "变量定义", "med_same_year": "当期", "med_lag": "滞后{k}期",
    "t_mediation": "{m}的中介效应：逐步回归结果", "t_mechanism": "机制检验",
    "t_psm": "PSM-DID", "psm_before": "匹配前", "psm_after": "匹配后",
    "no_controls": "无控制变量", "with_controls": "控制变量",
    "pooled_of": "{label}", "balance_failed": "匹配后以下协变量未达到平衡：{vars}，"
    "匹配样本的DID比较的是不可比的两组",
    "t_path": "中介效应路径图（{y}）", "definition": "变量定义",
    "coefficient_unit": "系数单位",
})
WORDS["en"]["pretrend_note"] = ("Joint test that all pre-treatment coefficients are zero: "
                                "{name}({dfs}) = {stat}, p = {p}")
WORDS["zh"]["pretrend_note"] = "政策实施前各期系数联合为零的检验：{name}({dfs}) = {stat}，p = {p}"
WORDS["en"]["identity"] = ("{y1} and {y2} differ only by the controls and fixed effects "
                           "(a mechanical identity): their DID estimates with controls are "
                           "equal by construction, not two findings")
WORDS["zh"]["identity"] = ("{y1}与{y2}之差完全由控制变量和固定效应解释（机械恒等关系）：加入控制"
                           "变量后二者的DID估计值必然相同，并非两项独立发现")
WORDS["en"].update({"mediator": "Mediator", "ci_low": "CI low", "ci_high": "CI high"})
WORDS["zh"].update({"mediator": "中介变量", "ci_low": "置信下限", "ci_high": "置信上限"})
