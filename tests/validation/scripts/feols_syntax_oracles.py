"""Oracle: pyfixest 0.60 and linearmodels 7.1 on fixest syntax (stepwise, IV, predict).

Generates tests/validation/data/feols_syntax.csv (seeded) and writes
tests/validation/oracles/feols_syntax.json:

* ``stepwise``: pyfixest ``feols`` on csw/csw0/sw/sw0 formulas, every model;
* ``iv``: pyfixest 2SLS ``y ~ x | fe | endog ~ instr`` (iid, hetero, CRV1; weights),
  with the first-stage F (``_f_stat_1st_stage``);
* ``iv_linearmodels``: linearmodels ``IV2SLS`` (``debiased=True``), fixed effects as
  dummies; its first-stage ``f.stat`` is Wald / q for "unadjusted" and Wald for the
  robust kinds (so the test divides those by q);
* ``slopes``: pyfixest with explicit ``i(unit, t)`` interactions, the coefficients of
  the other regressors (fixest's ``unit[t]``; pyfixest has no varying slopes);
* ``slopes_absorbing``: linearmodels ``AbsorbingLS`` with the slopes absorbed as an
  ``Interaction`` (it counts a slope collinear with the year FE in K; the test states
  the factor);
* ``predict``: pyfixest ``resid()``, ``predict()``, ``predict(newdata)`` and ``fixef()``
  (lsqr at atol = btol = 1e-14; formulaic drops the first level of every fixed
  effect after the first, the normalisation policylab uses).

    python tests/validation/scripts/feols_syntax_oracles.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import linearmodels
import numpy as np
import pandas as pd
import pyfixest as pf
from linearmodels.iv import IV2SLS

HERE = Path(__file__).resolve().parents[1]
DATA = HERE / "data" / "feols_syntax.csv"

STEPWISE = [
    ("y ~ csw(x1, x2, x3) | unit + year", "hetero"),
    ("y ~ csw0(x1, x2) | unit", {"CRV1": "unit"}),
    ("y + y2 ~ sw(x1, x2) | sw0(unit, year)", "iid"),
    ("y ~ x1 + sw0(x2, x3)", "iid"),
]
IV = [
    ("y ~ x1 | unit + year | d ~ z1 + z2", "iid", None),
    ("y ~ x1 | unit + year | d ~ z1 + z2", "hetero", None),
    ("y ~ x1 | unit + year | d ~ z1 + z2", {"CRV1": "unit"}, None),
    ("y ~ x1 + x2 | unit | d ~ z1", {"CRV1": "region"}, None),
    ("y ~ x1 | unit + year | d ~ z1 + z2", {"CRV1": "unit"}, "w"),
    ("y ~ x1 | d ~ z1 + z2", "hetero", None),
]
# linearmodels: exogenous design with dummies; policylab with the "sandwich" preset
LM_IV = [
    ("y ~ x1 | d ~ z1 + z2", "unadjusted", None),
    ("y ~ x1 | d ~ z1 + z2", "robust", None),
    ("y ~ x1 | d ~ z1 + z2", "clustered", "region"),
    ("y ~ x1 | unit | d ~ z1 + z2", "unadjusted", None),
    ("y ~ x1 | unit | d ~ z1 + z2", "robust", None),
    ("y ~ x1 | unit | d ~ z1 + z2", "clustered", "region"),
    # two endogenous regressors (pyfixest allows one)
    ("y ~ x1 | unit | d + x2 ~ z1 + z2 + x3", "unadjusted", None),
    ("y ~ x1 | unit | d + x2 ~ z1 + z2 + x3", "clustered", "region"),
]
# fixest's varying slopes 'unit[t]' against the explicit interactions i(unit, t)
# (pyfixest has no varying slopes; by FWL the other coefficients are the same)
SLOPES = [
    ("y ~ x1 + x2 | unit[t] + year", "y ~ x1 + x2 + i(unit, t) | unit + year", "iid"),
    ("y ~ x1 + x2 | unit[t] + year", "y ~ x1 + x2 + i(unit, t) | unit + year",
     {"CRV1": "unit"}),
    ("y ~ x1 + x2 | unit[[t]] + year", "y ~ x1 + x2 + i(unit, t) | year", "hetero"),
    ("y ~ x1 | region[t, t2] + unit", "y ~ x1 + i(region, t) + i(region, t2) | unit + region",
     "iid"),
]
# linearmodels AbsorbingLS absorbs unit x t as an Interaction (slopes never explicit);
# (formula, absorbed categorical columns, cov_type, cluster); not its clustered kind,
# which drops every level of an effect nested in the clusters (Stata's count) where
# fixest's count keeps one
SLOPES_ABSORBING = [
    ("y ~ x1 + x2 | unit[t]", ["unit"], "unadjusted", None),
    ("y ~ x1 + x2 | unit[t]", ["unit"], "robust", None),
    ("y ~ x1 + x2 | unit[t] + year", ["unit", "year"], "unadjusted", None),
    ("y ~ x1 + x2 | unit[t] + year", ["unit", "year"], "robust", None),
]
PREDICT = [
    ("y ~ x1 + x2 | unit", None),
    ("y ~ x1 + x2 | unit + year", None),
    ("y ~ x1 + x2 | unit + year", "w"),
    ("y ~ x1 + x2", None),
]


def make_data(seed: int = 20261202) -> pd.DataFrame:
    """40 units x 7 years, 5 regions; d endogenous (shares u with y); some NaN."""
    rng = np.random.default_rng(seed)
    units, years = 40, 7
    unit = np.repeat(np.arange(units), years)
    year = np.tile(np.arange(2010, 2010 + years), units)
    region = unit % 5
    a_i = rng.normal(size=units)[unit]
    g_t = rng.normal(size=years)[year - 2010]
    n = units * years
    x1, x2, x3 = rng.normal(size=(3, n))
    z1, z2 = rng.normal(size=(2, n))
    u = rng.normal(size=n)
    d = 0.8 * z1 - 0.5 * z2 + 0.3 * x1 + 0.5 * a_i + 0.7 * u + rng.normal(size=n)
    y = 1.0 + 0.5 * d + 0.4 * x1 - 0.3 * x2 + 0.2 * x3 + a_i + g_t + u
    y2 = 0.3 * x1 + 0.6 * x2 + a_i + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    df = pd.DataFrame({"unit": unit, "year": year, "region": region, "y": y, "y2": y2,
                       "x1": x1, "x2": x2, "x3": x3, "d": d, "z1": z1, "z2": z2, "w": w})
    df.loc[[3, 50, 111], "y"] = np.nan
    df.loc[[7, 200], "x2"] = np.nan
    df.loc[[90], "z2"] = np.nan
    return df


def _fit(m) -> dict:
    return {"fml": m._fml, "coef": m.coef().to_dict(), "se": m.se().to_dict(),
            "nobs": int(m._N)}


def stepwise(df: pd.DataFrame) -> list:
    out = []
    for fml, vcov in STEPWISE:
        fit = pf.feols(fml, df, vcov=vcov, fixef_tol=1e-13)
        out.append({"fml": fml, "vcov": vcov,
                    "models": [_fit(m) for m in fit.all_fitted_models.values()]})
    return out


def iv(df: pd.DataFrame) -> list:
    out = []
    for fml, vcov, w in IV:
        m = pf.feols(fml, df, vcov=vcov, weights=w, fixef_tol=1e-13)
        out.append({"fml": fml, "vcov": vcov, "weights": w, **_fit(m),
                    "first_stage_f": float(m._f_stat_1st_stage)})
    return out


def iv_linearmodels(df: pd.DataFrame) -> list:
    out = []
    for fml, cov, cl in LM_IV:
        exog_part = fml.split("~")[1].split("|")
        exog = [t.strip() for t in exog_part[0].split("+")]
        fe = exog_part[1].strip() if len(exog_part) == 3 else None
        endog = [t.strip() for t in exog_part[-1].split("+")]
        instr = [t.strip() for t in fml.split("~")[2].split("+")]
        need = ["y", *endog, *instr, *exog] + ([fe] if fe else []) + ([cl] if cl else [])
        sub = df.dropna(subset=need)
        X = sub[exog].assign(const=1.0)
        if fe:
            X = pd.concat([X, pd.get_dummies(sub[fe], prefix=fe, drop_first=True,
                                             dtype=float)], axis=1)
        kw = {"clusters": sub[cl]} if cl else {}
        r = IV2SLS(sub["y"], X, sub[endog], sub[instr]).fit(
            cov_type=cov, debiased=True, **kw)
        diag = r.first_stage.diagnostics
        names = [*exog, *endog]
        out.append({"fml": fml, "cov_type": cov, "cluster": cl, "nobs": int(r.nobs),
                    "coef": {k: float(r.params[k]) for k in names},
                    "se": {k: float(r.std_errors[k]) for k in names},
                    "first_stage_fstat": {k: float(diag.loc[k, "f.stat"]) for k in endog},
                    "q": len(instr)})
    return out


def slopes(df: pd.DataFrame) -> list:
    df = df.assign(t=df["year"] - 2010, t2=(df["year"] - 2010) ** 2)
    out = []
    for ours, explicit, vcov in SLOPES:
        m = pf.feols(explicit, df, vcov=vcov, fixef_tol=1e-13)
        keep = [t for t in m.coef().index if "::" not in t]
        out.append({"fml": ours, "explicit": explicit, "vcov": vcov, "nobs": int(m._N),
                    "coef": m.coef()[keep].to_dict(), "se": m.se()[keep].to_dict()})
    return out


def slopes_absorbing(df: pd.DataFrame) -> list:
    from linearmodels.iv.absorbing import AbsorbingLS, Interaction

    sub = df.dropna(subset=["y", "x1", "x2"]).assign(t=lambda d: d["year"] - 2010.0)
    out = []
    for fml, absorb, cov, cl in SLOPES_ABSORBING:
        cats = pd.DataFrame({c: pd.Categorical(sub[c]) for c in absorb}, index=sub.index)
        inter = Interaction(cat=pd.DataFrame({"unit": pd.Categorical(sub["unit"])},
                                             index=sub.index), cont=sub[["t"]])
        kw = {"clusters": sub[cl]} if cl else {}
        r = AbsorbingLS(sub["y"], sub[["x1", "x2"]], absorb=cats,
                        interactions=[inter]).fit(cov_type=cov, debiased=True, **kw)
        out.append({"fml": fml, "cov_type": cov, "cluster": cl, "nobs": int(r.nobs),
                    "df_absorbed": int(r.df_absorbed),
                    "coef": r.params.to_dict(), "se": r.std_errors.to_dict()})
    return out


def predict(df: pd.DataFrame) -> list:
    new = df.iloc[::9].copy()
    new.loc[new.index[:2], "unit"] = 999  # unseen level: NaN prediction
    out = []
    for fml, w in PREDICT:
        m = pf.feols(fml, df, vcov="iid", weights=w, fixef_tol=1e-13)
        case = {"fml": fml, "weights": w, "rows": [int(i) for i in m._data.index],
                "resid": m.resid().tolist(), "predict": np.asarray(m.predict()).tolist(),
                "new_rows": [int(i) for i in new.index],
                "predict_new": np.asarray(m.predict(newdata=new, atol=1e-14, btol=1e-14))
                .tolist()}
        if "|" in fml:
            fx = m.fixef(atol=1e-14, btol=1e-14)
            case["fixef"] = {k[2:-1]: {str(int(float(lv))): v for lv, v in d.items()}
                             for k, d in fx.items()}
        out.append(case)
    return out


def main() -> None:
    df = make_data()
    DATA.write_text(df.to_csv(index=False, float_format="%.17g"))
    df = pd.read_csv(DATA)  # the oracle sees exactly what the test reads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"pyfixest": pf.__version__, "linearmodels": linearmodels.__version__,
               "stepwise": stepwise(df), "iv": iv(df),
               "iv_linearmodels": iv_linearmodels(df), "slopes": slopes(df),
               "slopes_absorbing": slopes_absorbing(df),
               "predict": predict(df)}
    path = HERE / "oracles" / "feols_syntax.json"
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
