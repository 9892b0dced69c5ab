"""Oracle: HonestDiD sensitivity on the package README's Medicaid example (ehec data).

The ehec state panel (dins = insurance share of low-income childless adults, yexp2 =
Medicaid expansion year) ships with moderndid (moderndid/core/datasets/ehec_data.pkl.gz,
the Mixtape-Sessions Advanced-DID file the HonestDiD README reads); it is stored in
tests/validation/data/ehec.csv. As in the README: years < 2016, drop the 2015 cohort,
TWFE event study dins ~ i(year, D, ref=2013) | stfips + year clustered by state
(betahat/sigma from pyfixest), then moderndid's port of HonestDiD: smoothness (FLCI,
M = 0, 0.01, ..., 0.05) and relative magnitudes (C-LF, Mbar = 0.5, ..., 2).
The README prints (3 significant digits):
  SD:  M=0 [0.0259, 0.0607], 0.01 [0.0132, 0.0787], 0.02 [0.00286, 0.0907],
       0.03 [-0.00714, 0.101], 0.04 [-0.0171, 0.111], 0.05 [-0.0271, 0.121]
  RM:  Mbar=0.5 [0.0240, 0.0672], 1 [0.0170, 0.0720], 1.5 [0.00824, 0.0797],
       2 [-0.000916, 0.0881]

Extensions for the relative-magnitudes (C-LF) checks: Mbar = 0 for the first post
period ("rm_mbar0"), the second post period (l_vec = (0, 1), "rm_e1"), and a second
design with four leads and four post periods (three nuisance parameters) drawn here from
a fixed seed ("design2": betahat, sigma, rel_times, e, rm). moderndid's RM grid is the
identified set at betahat +- 20 SE of the target, 1000 points; the least-favourable
critical value is simulated with numpy's default_rng(0) (1000 draws). moderndid loops the
location of the largest pre-period change over all pre-period first differences but the
earliest one (HonestDiD loops over all); in the designs here the largest change is not
the earliest, and the omitted polyhedra do not change the union. The RM runs take a few
minutes (moderndid solves one linear program per simulation draw).

    pip install "moderndid[didhonest]" pyfixest
    python tests/validation/scripts/honest_did_moderndid.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyfixest as pf
from moderndid import load_ehec
from moderndid.didhonest import (
    construct_original_cs,
    create_sensitivity_results_rm,
    create_sensitivity_results_sm,
)

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    df = load_ehec().to_pandas()
    df.to_csv(HERE / "data" / "ehec.csv", index=False)
    d = df[(df.year < 2016) & (df.yexp2.isna() | (df.yexp2 != 2015))].copy()
    d["D"] = (d.yexp2 == 2014).astype(float)
    fit = pf.feols("dins ~ i(year, D, ref=2013) | stfips + year", d, vcov={"CRV1": "stfips"})
    beta = fit.coef().to_numpy()
    sigma = fit._vcov
    out = {"terms": list(fit.coef().index), "betahat": beta.tolist(),
           "sigma": np.asarray(sigma).tolist(), "rel_times": [-6, -5, -4, -3, -2, 0, 1]}
    sd = create_sensitivity_results_sm(beta, sigma, 5, 2, m_vec=np.arange(0, 0.051, 0.01))
    rm = create_sensitivity_results_rm(beta, sigma, 5, 2, m_bar_vec=np.arange(0.5, 2.01, 0.5))
    orig = construct_original_cs(beta, sigma, 5, 2)
    out["sd"] = sd.to_pandas().to_dict("list")
    out["rm"] = rm.to_pandas().to_dict("list")
    out["original"] = [float(orig.lb), float(orig.ub)]
    rm0 = create_sensitivity_results_rm(beta, sigma, 5, 2, m_bar_vec=[0.0])
    out["rm_mbar0"] = rm0.to_pandas().to_dict("list")
    rm1 = create_sensitivity_results_rm(beta, sigma, 5, 2, m_bar_vec=np.arange(0.5, 2.01, 0.5),
                                        l_vec=np.array([0.0, 1.0]))
    out["rm_e1"] = rm1.to_pandas().to_dict("list")
    out["design2"] = design2()
    out["average"] = average_target(beta, np.asarray(sigma))
    (HERE / "oracles" / "honest_did_moderndid.json").write_text(json.dumps(out, indent=1,
                                                                            default=str))
    print(out["sd"], out["rm"], out["original"])


def design2() -> dict:
    """Four leads (-5..-2, reference -1) and four post periods, the largest pre-period
    change between -4 and -3; target: the effect at e = 2."""
    rng = np.random.default_rng(20240601)
    L = rng.normal(size=(8, 8))
    sigma = 0.02**2 * (L @ L.T / 8 + np.eye(8))
    beta = np.array([0.0, 0.01, -0.02, -0.005, 0.05, 0.07, 0.06, 0.09])
    l_vec = np.array([0.0, 0.0, 1.0, 0.0])
    rm = create_sensitivity_results_rm(beta, sigma, 4, 4, m_bar_vec=[0.0, 0.5, 1.0, 2.0],
                                       l_vec=l_vec)
    return {"betahat": beta.tolist(), "sigma": sigma.tolist(),
            "rel_times": [-5, -4, -3, -2, 0, 1, 2, 3], "e": 2,
            "rm": rm.to_pandas().to_dict("list")}


def average_target(beta: np.ndarray, sigma: np.ndarray) -> dict:
    """The average of the post-period effects (l_vec = 1/2, 1/2) on the README example,
    and the average over the four post periods of design 2: smoothness FLCIs and
    relative-magnitudes C-LF intervals."""
    l2 = np.array([0.5, 0.5])
    sd = create_sensitivity_results_sm(beta, sigma, 5, 2, m_vec=np.arange(0, 0.051, 0.01),
                                       l_vec=l2)
    rm = create_sensitivity_results_rm(beta, sigma, 5, 2, m_bar_vec=np.arange(0.5, 2.01, 0.5),
                                       l_vec=l2)
    orig = construct_original_cs(beta, sigma, 5, 2, l_vec=l2)
    d2 = design2()
    b2, s2 = np.array(d2["betahat"]), np.array(d2["sigma"])
    l4 = np.full(4, 0.25)
    rm2 = create_sensitivity_results_rm(b2, s2, 4, 4, m_bar_vec=[0.0, 0.5, 1.0], l_vec=l4)
    sd2 = create_sensitivity_results_sm(b2, s2, 4, 4, m_vec=[0.0, 0.01, 0.02], l_vec=l4)
    return {"l_vec": l2.tolist(), "sd": sd.to_pandas().to_dict("list"),
            "rm": rm.to_pandas().to_dict("list"), "original": [float(orig.lb), float(orig.ub)],
            "design2": {"l_vec": l4.tolist(), "rm": rm2.to_pandas().to_dict("list"),
                        "sd": sd2.to_pandas().to_dict("list")}}


if __name__ == "__main__":
    main()
