"""fixest's varying slopes in the fixed-effects part: ``unit[t]`` and ``unit[[t]]``.

``y ~ x | unit[t] + year`` gives every unit its own intercept and its own slope on
``t`` (state-specific linear trends when ``t`` is the year); ``unit[[t]]`` the slopes
without the intercepts; ``unit[t1, t2]`` several slopes. The slopes enter the
regression as one regressor per level (``t`` in that level, 0 elsewhere), filled
column by column without copying the data, and are then hidden from the result, as
fixest reports them among the fixed effects. By Frisch-Waugh-Lovell the other
coefficients equal those of absorbing the slopes; the degrees of freedom count every
slope that is not collinear, as the explicit specification ``i(unit, t)`` does.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from policylab.data.panel import require_columns, require_numeric
from policylab.errors import SpecError
from policylab.estimators.formula import fe_codes, split_terms

__all__ = ["has_slopes", "fit_with_slopes"]

PREFIX = "__policylab_slope_"
# n x levels cells the explicit slope columns may take (float64: 8 bytes each)
MAX_CELLS = 50_000_000
_TERM = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*(?:\s*\^\s*[A-Za-z_][A-Za-z0-9_.]*)*)\s*"
                   r"\[(\[?)([^\[\]]+)(\]?)\]$")


def _parts(fml: str) -> tuple[str, list[str]]:
    lhs, rest = fml.split("~", 1)
    return lhs, rest.split("|")


def has_slopes(fml: str) -> bool:
    """True when the fixed-effects part of ``fml`` has a varying slope ``fe[x]``."""
    if not isinstance(fml, str) or "~" not in fml:
        return False
    # a column name between backticks ("`地区[划分]`") is a name, not a slope
    _, parts = _parts(re.sub(r"`(?:[^`]|``)*`", "_", fml))
    return len(parts) >= 2 and "~" not in parts[1] and "[" in parts[1]


def _parse(fml: str) -> tuple[str, list[str], list[tuple[str, list[str], str]], list[str]]:
    """(lhs ~ rhs, plain FE terms, [(fe, slope vars, term)], other parts)."""
    lhs, parts = _parts(fml)
    plain, slopes = [], []
    for term in split_terms(parts[1]):
        if "[" not in term:
            plain.append(term)
            continue
        m = _TERM.match(term.strip())
        if not m or bool(m.group(2)) != bool(m.group(4)):
            raise SpecError(
                f"varying slope {term!r} in {fml!r} must look like 'unit[t]' (intercepts "
                "and slopes), 'unit[[t]]' (slopes only) or 'unit[t1, t2]'"
            )
        fe = "^".join(p.strip() for p in m.group(1).split("^"))
        xs = [x.strip() for x in m.group(3).split(",") if x.strip()]
        if not m.group(2):
            plain.append(fe)
        slopes.append((fe, xs, term.strip()))
    if len(parts) > 2:
        raise SpecError(f"varying slopes are not supported with an IV part ({fml!r})")
    return f"{lhs}~{parts[0]}", plain, slopes, parts[2:]


def _filler(codes: np.ndarray, g: int, x: np.ndarray) -> Callable[[np.ndarray], None]:
    def fill(out: np.ndarray) -> None:
        np.multiply(codes == g, x, out=out)
        out[codes < 0] = np.nan

    return fill


def _columns(df: pd.DataFrame, slopes: list[tuple[str, list[str], str]]
             ) -> tuple[dict[str, Any], list[str]]:
    cols: dict[str, Any] = {}
    for s, (fe, xs, term) in enumerate(slopes):
        require_columns(df, xs, f"slope variable of {term!r}")
        require_numeric(df, xs)
        codes, miss = fe_codes(df, [fe])
        c = np.where(miss, -1, codes[:, 0])
        G = int(c.max()) + 1 if c.size else 0
        if len(df) * G * len(xs) > MAX_CELLS:
            raise SpecError(
                f"{term!r} has {G:,} levels: {G * len(xs):,} slope columns over {len(df):,} "
                "rows is too large to build; use fewer levels (e.g. region[t]) or detrend "
                "the variables first"
            )
        for j, x in enumerate(xs):
            xv = pd.to_numeric(df[x]).to_numpy(dtype=float, na_value=np.nan)
            for g in range(G):
                cols[f"{PREFIX}{s}_{j}_{g}"] = _filler(c, g, xv)
    return cols, list(cols)


def _hide(res: Any, fml: str, slopes: list[tuple[str, list[str], str]], aux: Any) -> None:
    """Drop the slope coefficients from the result; restate within-R2 and F."""
    keep = [i for i, t in enumerate(res.terms) if not t.startswith(PREFIX)]
    n_slopes = len(res.terms) - len(keep)
    res.terms = [res.terms[i] for i in keep]
    res.beta = res.beta[keep]
    res.vcov_matrix = res.vcov_matrix[np.ix_(keep, keep)]
    res.meta["formula"] = fml
    res.meta["slopes"] = [term for _, _, term in slopes]
    res.meta["dropped_terms"] = {k: v for k, v in res.meta["dropped_terms"].items()
                                 if not k.startswith(PREFIX)}
    res.warnings[:] = [w for w in res.warnings if PREFIX not in w]
    # "within": after the fixed effects and the slopes (the auxiliary fit's RSS), as
    # fixest; the slopes count with the fixed effects, not among the tested terms
    tss_w, N, k = aux.rss, res.nobs, len(res.terms)
    k_fe = n_slopes + (int((res.fit.fe_levels - 1).sum() + 1) if res.meta["fe"] else 0)
    dof = N - k - k_fe
    ok = tss_w > 0 and dof > 0
    res.r2_within = 1 - res.rss / tss_w if ok else np.nan
    res.adj_r2_within = 1 - (res.rss / tss_w) * (N - k_fe) / dof if ok else np.nan
    res.f_stat = res.f_pvalue = np.nan
    if ok and k > 0 and tss_w > res.rss:
        from scipy import special

        res.f_stat = ((tss_w - res.rss) / k) / (res.rss / dof)
        res.f_pvalue = float(special.fdtrc(k, dof, res.f_stat))


def fit_with_slopes(fml: str, df: pd.DataFrame, fit: Callable[..., Any]) -> Any:
    """Fit ``fml`` with varying slopes through ``fit(formula, columns)`` (feols).

    Parameters
    ----------
    fml : str
        A formula whose fixed-effects part has ``fe[x]`` or ``fe[[x]]`` terms.
    df : DataFrame
        The data (not modified).
    fit : callable
        ``fit(formula, columns)``: feols with every other option fixed, where
        ``columns`` are regressors built here (name -> filling function).

    Returns
    -------
    FeolsResult or ResultList, the slope coefficients hidden, ``meta["slopes"]``
    naming the slope terms.
    """
    head, plain, slopes, _ = _parse(fml)
    cols, names = _columns(df, slopes)
    rhs = " + ".join(names)
    fe = (" | " + " + ".join(plain)) if plain else ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(f"{head} + {rhs}{fe}", cols)
    with warnings.catch_warnings():
        # the auxiliary fit only measures the within sum of squares
        warnings.simplefilter("ignore")
        lhs = head.split("~", 1)[0]
        aux = fit(f"{lhs} ~ {'0 + ' if plain else ''}{rhs}{fe}", cols)
    for w in caught:
        if PREFIX not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    results = res if isinstance(res, list) else [res]
    auxes = aux if isinstance(aux, list) else [aux]
    for r, a in zip(results, auxes):
        _hide(r, fml, slopes, a)
    return res
