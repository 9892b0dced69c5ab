"""Two calibrated synthetic studies shaped like the reference papers, with known truth.

``carbon_pilot``: 30 provinces x 2000-2018, fuel-level energy use from which CO2 is
accounted, six carbon-trading pilots from 2011, three mediators (energy structure;
technology and industry structure acting with a two-year lag).

``energy_rights_pilot``: 256 prefecture cities x 2006-2019 in 30 provinces, cities of
four pilot provinces treated from 2017, outcome new-energy technology transfer per 10k
people (domestic and abroad), controls, mechanism variables, city types, and an
overlapping carbon-trading pilot indicator.

Both return a :class:`~policylab.data.panel.Panel` whose ``truth`` dict holds the true
parameters; options create the hard cases (staggered adoption with dynamic effects,
violated parallel trends, unbalanced panels, missing values).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from policylab.data.factors import CO2_PER_C, carbon_per_unit, factor_table
from policylab.data.panel import Panel
from policylab.data.reference import provinces

__all__ = ["carbon_pilot", "energy_rights_pilot"]

CARBON_PILOTS = ("Beijing", "Tianjin", "Shanghai", "Chongqing", "Hubei", "Guangdong")
# market-opening years (2013-2014), used when adoption is staggered
CARBON_OPENING = {"Beijing": 2013, "Tianjin": 2013, "Shanghai": 2013, "Guangdong": 2013,
                  "Hubei": 2014, "Chongqing": 2014}
ENERGY_PILOTS = {"Zhejiang": 11, "Fujian": 9, "Henan": 17, "Sichuan": 18}

_FUEL_SHARES = {  # share of carbon from each non-coal fuel (rest is coal)
    "coke": 0.10, "crude_oil": 0.06, "gasoline": 0.05, "kerosene": 0.01, "diesel": 0.07,
    "fuel_oil": 0.02, "natural_gas": 0.04,
}


def _degrade(df: pd.DataFrame, rng: np.random.Generator, unbalanced: float, missing: float,
             cols: list[str]) -> pd.DataFrame:
    if unbalanced > 0:
        df = df.drop(index=df.sample(frac=unbalanced, random_state=rng.integers(2**31)).index)
    if missing > 0:
        df = df.copy()
        for c in cols:
            df.loc[rng.random(len(df)) < missing, c] = np.nan
    return df.reset_index(drop=True)


def carbon_pilot(
    seed: int = 2011,
    *,
    effect: float = -0.12,
    structure_effect: float = -0.04,
    tech_effect: float = 0.30,
    industry_effect: float = -0.02,
    staggered: bool = False,
    dynamic: float = 0.0,
    pretrend: float = 0.0,
    unbalanced: float = 0.0,
    missing: float = 0.0,
) -> Panel:
    """Synthetic carbon-trading study: 30 provinces x 2000-2018 (570 rows).

    Data-generating process (i province, t year, D = pilot x post)::

        coal_share_it  = a_i + 0.6 - 0.004 (t - 2000) + structure_effect D_it + e
        tech_it        = b_i + u_i + 0.5 + 0.06 (t - 2000) + tech_effect D_it + e (% of GDP)
        sec_share_it   = c_i + 46 - 0.3 (t - 2000) + industry_effect*100 D_it + e (% of GDP)
        ln CO2_it      = f_i + g_t + 0.55 ln GDP_it + 1.5 coal_share_it - 0.10 (tech_i,t-2 - u_i)
                         + 0.02 sec_share_i,t-2 + effect D_it (+ dynamic x years since)
                         + pretrend x (t - 2011) x pilot_i (before 2011) + e

    u_i >= 0 is the pilots' technology-market premium (lognormal, 0 for non-pilots);
    f_i, b_i ~ normal. GDP, population, FDI/GDP are not affected by the policy (valid
    controls). CO2 is then
    split across eight fuels and converted to physical consumption with the carbon-
    trading study's factors, so ``co2_emissions(panel)`` reproduces the ``co2`` column.

    Parameters
    ----------
    seed : int
    effect : float
        Direct effect of the pilot on ln CO2.
    structure_effect, tech_effect, industry_effect : float
        Effects of the pilot on coal share (share), technology (% of GDP) and the
        secondary share (share; x100 in percent).
    staggered : bool
        Pilots treated from their market-opening year (2013/2014) instead of 2011.
    dynamic : float
        Extra effect per year since adoption (dynamic effects).
    pretrend : float
        Differential linear pre-trend of pilots (violates parallel trends when != 0).
    unbalanced, missing : float
        Share of rows dropped at random; share of control values set missing.

    Returns
    -------
    Panel with unit "province", time "year"; ``.truth`` has the effects, the mediated
    parts (a x b per channel, long-run) and ``att`` (average effect over post years).
    """
    rng = np.random.default_rng(seed)
    prov = provinces()
    years = np.arange(2000, 2019)
    n, T = len(prov), len(years)
    df = pd.DataFrame({
        "province": np.repeat(prov["name_en"].to_numpy(), T),
        "province_zh": np.repeat(prov["name_zh"].to_numpy(), T),
        "code": np.repeat(prov["code"].to_numpy(), T),
        "region": np.repeat(prov["region"].to_numpy(), T),
        "municipality": np.repeat(prov["municipality"].to_numpy(), T),
        "year": np.tile(years, n),
    })
    i = np.repeat(np.arange(n), T)
    tt = df["year"].to_numpy() - 2000
    pilot = df["province"].isin(CARBON_PILOTS).to_numpy()
    if staggered:
        cohort_of = {p: CARBON_OPENING[p] for p in CARBON_PILOTS}
    else:
        cohort_of = {p: 2011 for p in CARBON_PILOTS}
    cohort = df["province"].map(cohort_of).fillna(0).astype(int).to_numpy()
    D = (cohort > 0) & (df["year"].to_numpy() >= cohort)
    since = np.where(D, df["year"].to_numpy() - cohort, 0)

    # economy: real GDP (100 million yuan, 2000 prices), deflator, population (10k)
    size = rng.normal(0, 0.45, n) + np.where(prov["name_en"].isin(CARBON_PILOTS), 0.27, 0.0)
    growth = rng.normal(0.10, 0.012, n)
    ln_gdp_real = 7.2 + size[i] + growth[i] * tt - 0.0018 * tt**2 + rng.normal(0, 0.02, len(df))
    deflator = 100 * np.exp(0.03 * tt + rng.normal(0, 0.01, n)[i] * tt)
    pop = np.exp(8.1 + rng.normal(0, 0.6, n))[i] * (1 + 0.006 * tt)
    fdi = np.clip(rng.normal(0.03, 0.01, n)[i] * np.exp(-0.04 * tt)
                  + rng.normal(0, 0.003, len(df)), 0.001, None)
    # mediators
    a_i = rng.normal(0, 0.08, n) - np.where(prov["municipality"] == 1, 0.15, 0)
    coal_share = np.clip(0.62 + a_i[i] - 0.004 * tt + structure_effect * D
                         + rng.normal(0, 0.015, len(df)), 0.05, 0.95)
    tech = np.clip(0.5 + rng.normal(0, 0.3, n)[i] + 0.06 * tt + tech_effect * D
                   + rng.normal(0, 0.08, len(df)), 0.01, None)
    sec = 46 + rng.normal(0, 5, n)[i] - 0.3 * tt + 100 * industry_effect * D \
        + rng.normal(0, 0.8, len(df))
    frame = pd.DataFrame({"i": i, "t": tt, "tech": tech, "sec": sec})
    lag = frame.groupby("i")[["tech", "sec"]].shift(2)
    # before 2002 the lagged mediators are unobserved in the data but exist in reality;
    # use the contemporaneous value so the outcome is defined for every year
    tech_l2 = lag["tech"].fillna(frame["tech"]).to_numpy()
    sec_l2 = lag["sec"].fillna(frame["sec"]).to_numpy()
    b_coal, b_tech, b_sec = 1.5, -0.10, 0.02
    f_i = rng.normal(0, 0.25, n) + np.where(prov["name_en"].isin(CARBON_PILOTS), -0.80, -0.74)
    g_t = 0.045 * tt - 0.0035 * np.maximum(tt - 11, 0) ** 2 + rng.normal(0, 0.01, T)[tt]
    pre = pretrend * np.where(pilot & (df["year"].to_numpy() < 2011),
                              df["year"].to_numpy() - 2011, 0)
    ln_co2 = (3.15 + f_i[i] + g_t + 0.55 * ln_gdp_real + b_coal * coal_share + b_tech * tech_l2
              + b_sec * sec_l2 + effect * D + dynamic * since + pre
              + rng.normal(0, 0.03, len(df)))
    co2 = np.exp(ln_co2)

    # fuels: split carbon by fuel, then back out physical consumption
    per_unit = carbon_per_unit(factor_table("carbon_trading_study")) * CO2_PER_C
    other = 1 - coal_share
    w = np.array(list(_FUEL_SHARES.values()))
    w = w / w.sum()
    jitter = rng.dirichlet(w * 200, size=n)[i]
    df["coal"] = co2 * coal_share / per_unit["coal"]
    for k, fuel in enumerate(_FUEL_SHARES):
        df[fuel] = co2 * other * jitter[:, k] / per_unit[fuel]
    fuels = ["coal", *list(_FUEL_SHARES)]
    df["co2"] = sum(df[f] * per_unit[f] for f in fuels)
    gdp_nominal = np.exp(ln_gdp_real) * deflator / 100
    df["gdp"] = gdp_nominal
    df["deflator"] = deflator
    df["gdp_real"] = np.exp(ln_gdp_real)
    df["pop"] = pop
    df["pgdp"] = df["gdp_real"] / df["pop"] * 1e4  # yuan per person, 2000 prices
    df["co2_intensity"] = df["co2"] / df["gdp_real"]
    df["ln_co2"] = np.log(df["co2"])
    df["ln_intensity"] = np.log(df["co2_intensity"])
    df["ln_gdp"] = ln_gdp_real
    df["ln_pgdp"] = np.log(df["pgdp"])
    df["ln_pop"] = np.log(pop)
    df["fdi"] = fdi
    df["coal_share"] = coal_share
    # the pilots' technology markets are far larger (published means 3.0 % vs 0.5 % of
    # GDP, Beijing above 10 %): a permanent premium u_i >= 0 per pilot, drawn from its
    # own stream so the other columns do not depend on it. ln CO2 responds to tech
    # net of u_i (u_i is part of the province effect), so FE estimands are unchanged.
    prem_rng = np.random.default_rng([seed, 7])
    premium = np.where(prov["name_en"].isin(CARBON_PILOTS),
                       np.exp(prem_rng.normal(0.35, 0.7, n)), 0.0)
    df["tech"] = tech + premium[i]
    df["sec_share"] = sec
    # the study's mediators enter in logs (lnes, lntech_gdp_l2, lnis_2_l2)
    df["ln_coal_share"] = np.log(df["coal_share"])
    df["ln_tech"] = np.log(df["tech"])
    df["ln_sec_share"] = np.log(df["sec_share"])
    df["treat"] = pilot.astype(int)
    df["post"] = (df["year"] >= 2011).astype(int)
    df["cohort"] = cohort
    df["did"] = D.astype(int)
    df = _degrade(df, rng, unbalanced, missing, ["fdi", "ln_pop", "tech"])

    post_years = np.arange(2011, 2019)
    lag_share = np.mean(post_years >= 2013)  # lagged channels act from 2013
    ind = {"coal_share": b_coal * structure_effect, "tech_lag2": b_tech * tech_effect,
           "sec_share_lag2": b_sec * 100 * industry_effect}
    total_lr = effect + sum(ind.values())
    truth: dict[str, Any] = {
        "effect_direct": effect,
        "effect_on_mediators": {"coal_share": structure_effect, "tech": tech_effect,
                                "sec_share": 100 * industry_effect},
        "mediator_slopes": {"coal_share": b_coal, "tech_lag2": b_tech, "sec_share_lag2": b_sec},
        "indirect": ind,
        "total_long_run": total_lr,
        # shares of a zero total are undefined (a generator run without any effect)
        "share_long_run": {k: (v / total_lr if total_lr else None) for k, v in ind.items()},
        "att": (effect + ind["coal_share"]
                + lag_share * (ind["tech_lag2"] + ind["sec_share_lag2"]) if not staggered
                else None),
        "dynamic_per_year": dynamic,
        "pretrend_slope": pretrend,
        "staggered": staggered,
        "pilots": list(CARBON_PILOTS),
        "units": {"co2": "10k t CO2", "gdp": "100 million yuan (current)",
                  "gdp_real": "100 million yuan (2000 prices)", "co2_intensity":
                  "t CO2 per 10k yuan (2000 prices)", "pop": "10k persons",
                  "fuels": "10k t; natural_gas 100 million m3"},
    }
    return Panel(df, unit="province", time="year", truth=truth)


def energy_rights_pilot(
    seed: int = 2016,
    *,
    effect: float = 0.15,
    first_year: int = 2017,
    staggered: bool = False,
    dynamic: float = 0.0,
    pretrend: float = 0.0,
    unbalanced: float = 0.0,
    missing: float = 0.0,
) -> Panel:
    """Synthetic energy-use-rights study: 256 cities x 2006-2019 (3,584 rows).

    Cities of Zhejiang, Fujian, Henan and Sichuan (55 cities) are treated from
    ``first_year``. The outcome is ln(new-energy technology transfer per 10k people),
    ``ln_ntt = log(ntt)`` (the transfer is always positive here, so no ``1 +`` is
    needed), split into domestic and abroad transfer::

        ln_ntt_it = city_i + year_t + 0.3 ln_pgdp + 0.5 urban + 0.8 fiscal + 0.4 tertiary
                    + (effect + 0.10 old_industrial_i + type effect_i) D_it
                    (+ dynamic x years since) + pretrend x (t - first_year) x treat_i + e

    Mechanism variables respond to the policy: electricity share (+0.03), energy
    intensity (-0.05), marketization index (+0.25). ``carbon_pilot`` flags cities in the
    six carbon-trading pilot provinces from 2013 (an overlapping policy that also raises
    the outcome by 0.05 — excluding it is a robustness check).

    Old-industrial status (probability 0.6 in Liaoning, Jilin, Heilongjiang and Henan,
    0.3 elsewhere) and the resource type are drawn per city, so the average effect on
    the treated varies from draw to draw: ``att`` is that of the cities drawn (the
    sample ATT), ``att_population`` its expectation over the draws (the estimand a
    cluster-robust interval is built for; intervals cover the sample ATT more often
    than their nominal level, because their SE also counts the spread of city effects).

    Returns
    -------
    Panel with unit "city", time "year"; ``.truth`` has the average effect on the
    treated (``att``, ``att_population``), the subgroup effects and the mechanism
    effects.
    """
    rng = np.random.default_rng(seed)
    prov = provinces()
    years = np.arange(2006, 2020)
    # cities per province: pilot provinces at their real prefecture counts, the other
    # 201 spread over the remaining 26 provinces (municipalities count as one city)
    counts = {p: ENERGY_PILOTS.get(p, 0) for p in prov["name_en"]}
    others = [p for p in prov["name_en"] if p not in ENERGY_PILOTS]
    munis = set(prov.loc[prov["municipality"] == 1, "name_en"])
    for p in munis:
        counts[p] = 1
    rest = [p for p in others if p not in munis]
    base = rng.multinomial(201 - len(munis) - 2 * len(rest), np.ones(len(rest)) / len(rest))
    for p, b in zip(rest, base):
        counts[p] = 2 + int(b)
    rows = []
    k = 0
    for p in prov["name_en"]:
        for j in range(counts[p]):
            k += 1
            rows.append((f"C{k:03d}", f"{p} city {j + 1}", p))
    cities = pd.DataFrame(rows, columns=["city", "city_name", "province"])
    n, T = len(cities), len(years)
    zh = dict(zip(prov["name_en"], prov["name_zh"]))
    df = pd.DataFrame({
        "city": np.repeat(cities["city"].to_numpy(), T),
        "city_name": np.repeat(cities["city_name"].to_numpy(), T),
        "province": np.repeat(cities["province"].to_numpy(), T),
        "year": np.tile(years, n),
    })
    df["province_zh"] = df["province"].map(zh)
    i = np.repeat(np.arange(n), T)
    tt = df["year"].to_numpy() - 2006
    treat_c = cities["province"].isin(list(ENERGY_PILOTS)).to_numpy()
    if staggered:
        start = {"Zhejiang": first_year - 1, "Fujian": first_year, "Henan": first_year + 1,
                 "Sichuan": first_year}
    else:
        start = dict.fromkeys(ENERGY_PILOTS, first_year)
    cohort_c = cities["province"].map(start).fillna(0).astype(int).to_numpy()
    cohort = cohort_c[i]
    D = (cohort > 0) & (df["year"].to_numpy() >= cohort)
    since = np.where(D, df["year"].to_numpy() - cohort, 0)
    p_old = np.where(np.isin(cities["province"], ["Liaoning", "Jilin", "Heilongjiang",
                                                  "Henan"]), 0.6, 0.3)
    old = (rng.random(n) < p_old).astype(int)
    types = np.array(["growing", "mature", "declining", "regenerating", "non-resource"])
    p_type = np.array([0.05, 0.25, 0.08, 0.06, 0.56])
    rtype = types[rng.choice(5, size=n, p=p_type)]
    type_eff = {"growing": 0.05, "mature": 0.0, "declining": -0.05, "regenerating": 0.08,
                "non-resource": 0.0}
    tau_c = effect + 0.10 * old + np.array([type_eff[r] for r in rtype])
    carbon_prov = cities["province"].isin(CARBON_PILOTS).to_numpy()
    cp = (carbon_prov[i] & (df["year"].to_numpy() >= 2013)).astype(int)

    ln_pgdp = 10.2 + rng.normal(0, 0.4, n)[i] + 0.08 * tt + rng.normal(0, 0.03, len(df))
    urban = np.clip(0.45 + rng.normal(0, 0.12, n)[i] + 0.012 * tt
                    + rng.normal(0, 0.01, len(df)), 0.15, 0.98)
    fiscal = np.clip(0.16 + rng.normal(0, 0.05, n)[i] + 0.002 * tt
                     + rng.normal(0, 0.01, len(df)), 0.05, None)
    tertiary = np.clip(0.38 + rng.normal(0, 0.06, n)[i] + 0.008 * tt
                       + rng.normal(0, 0.015, len(df)), 0.2, 0.8)
    elec = np.clip(0.20 + rng.normal(0, 0.05, n)[i] + 0.004 * tt + 0.03 * D
                   + rng.normal(0, 0.01, len(df)), 0.02, 0.9)
    eint = np.clip(0.9 + rng.normal(0, 0.2, n)[i] - 0.03 * tt - 0.05 * D
                   + rng.normal(0, 0.02, len(df)), 0.1, None)
    market = 6 + rng.normal(0, 1.2, n)[i] + 0.12 * tt + 0.25 * D + rng.normal(0, 0.1, len(df))
    pre = pretrend * np.where(treat_c[i] & (df["year"].to_numpy() < first_year),
                              df["year"].to_numpy() - first_year, 0)
    ln_ntt = (-2.8 + rng.normal(0, 0.35, n)[i] + 0.06 * tt + rng.normal(0, 0.02, T)[tt]
              + 0.3 * ln_pgdp + 0.5 * urban + 0.8 * fiscal + 0.4 * tertiary
              + tau_c[i] * D + dynamic * since + pre + 0.05 * cp
              + rng.normal(0, 0.06, len(df)))
    ntt = np.exp(ln_ntt)
    abroad_share = np.clip(0.25 + rng.normal(0, 0.05, n)[i] + 0.02 * D, 0.05, 0.6)
    df["ntt"] = ntt
    df["ntt_domestic"] = ntt * (1 - abroad_share)
    df["ntt_abroad"] = ntt * abroad_share
    df["ln_ntt"] = np.log(ntt)
    df["ln_ntt_domestic"] = np.log(df["ntt_domestic"])
    df["ln_ntt_abroad"] = np.log(df["ntt_abroad"])
    df["ln_pgdp"] = ln_pgdp
    df["urban"] = urban
    df["fiscal"] = fiscal
    df["tertiary"] = tertiary
    df["elec_share"] = elec
    df["energy_intensity"] = eint
    df["market"] = market
    df["old_industrial"] = old[i]
    df["resource_type"] = rtype[i]
    df["carbon_pilot"] = cp
    df["treat"] = treat_c[i].astype(int)
    df["post"] = (df["year"] >= first_year).astype(int)
    df["cohort"] = cohort
    df["did"] = D.astype(int)
    df = _degrade(df, rng, unbalanced, missing, ["ln_pgdp", "urban", "fiscal", "tertiary"])
    treated_cities = treat_c
    on = df["did"].to_numpy() == 1
    tau_obs = (np.array([dict(zip(cities["city"], tau_c))[c] for c in df.loc[on, "city"]])
               + dynamic * (df.loc[on, "year"].to_numpy() - df.loc[on, "cohort"].to_numpy()))
    truth = {
        # average effect over treated city-years: the estimand of imputation / CS "simple"
        # style averages (with dynamic effects TWFE weights these cells differently)
        "att_treated_obs": float(tau_obs.mean()),
        "att": float(np.mean(tau_c[treated_cities])) if not staggered and dynamic == 0 else None,
        "att_population": (float(effect + 0.10 * p_old[treated_cities].mean()
                                 + p_type @ np.array([type_eff[t] for t in types]))
                           if not staggered and dynamic == 0 else None),
        "effect_by_city": dict(zip(cities["city"], np.where(treated_cities, tau_c, 0.0))),
        "effect_old_industrial": {0: float(np.mean(tau_c[treated_cities & (old == 0)])),
                                  1: float(np.mean(tau_c[treated_cities & (old == 1)]))},
        "mechanisms": {"elec_share": 0.03, "energy_intensity": -0.05, "market": 0.25},
        "overlapping_carbon_pilot_effect": 0.05,
        "dynamic_per_year": dynamic,
        "pretrend_slope": pretrend,
        "staggered": staggered,
        "pilot_provinces": list(ENERGY_PILOTS),
        "units": {"ntt": "citations per 10k people", "market": "index",
                  "energy_intensity": "t ce per 10k yuan"},
    }
    return Panel(df, unit="city", time="year", truth=truth)
