"""The vcov and small-sample-correction arguments of feols-type estimators.

fixest's spellings (``vcov="hetero"``, ``{"CRV1": "unit+year"}``, ``cluster="~unit"``,
a column name as shorthand, ``"cluster"`` / ``"twoway"``) are read here once, into a
variance kind and clustering columns the engine's :func:`policylab.engine.vcov.variance`
understands.
"""

from __future__ import annotations

from typing import Any

from policylab.data.names import unquote_name
from policylab.engine import vcov as vc
from policylab.errors import SpecError
from policylab.estimators.formula import fe_label, split_terms

__all__ = ["parse_vcov", "resolve_vcov", "resolve_ssc"]


def parse_vcov(vcov: Any, fe: list[str], columns: Any = ()) -> tuple[str, list[str]]:
    """Normalise a vcov argument to (kind, cluster columns).

    Accepts "iid", "hetero"/"HC1"/"robust", {"CRV1": "unit"}, {"CRV1": "unit+year"},
    {"CRV3": "unit"}, or None (CRV1 by the first fixed effect, else iid, as fixest).
    A cluster that is exactly the name of one of ``columns`` is that column; otherwise
    two columns are joined by ``+`` (odd names between backticks).
    """
    if vcov is None:
        return ("CRV1", [fe_label(fe[0])]) if fe else ("iid", [])
    if isinstance(vcov, str):
        key = vcov.strip().lower()
        if key == "iid":
            return "iid", []
        if key in ("hetero", "hc1", "robust"):
            return "hetero", []
        raise SpecError(
            f"vcov={vcov!r} is not known; use 'iid', 'hetero' (= 'HC1', Stata 'robust'), "
            "{'CRV1': 'unit'} or {'CRV1': 'unit+year'} (two-way), or {'CRV3': 'unit'}"
        )
    if isinstance(vcov, dict) and len(vcov) == 1:
        (kind, cl), = vcov.items()
        kind = str(kind).upper()
        if kind not in ("CRV1", "CRV3"):
            raise SpecError(f"vcov={vcov!r}: the key must be 'CRV1' or 'CRV3'")
        cols = [cl] if isinstance(cl, str) and cl in columns else [unquote_name(c) for c in split_terms(str(cl))]
        if not 1 <= len(cols) <= 2:
            raise SpecError(f"vcov={vcov!r}: give one or two clustering columns, e.g. 'unit+year'")
        if kind == "CRV3" and len(cols) > 1:
            raise SpecError("CRV3 supports one-way clustering only")
        return kind, cols
    raise SpecError(f"vcov={vcov!r} is not understood; e.g. vcov={{'CRV1': 'province'}}")


def resolve_ssc(ssc: Any) -> vc.SSC:
    """A small-sample correction from a preset name ("fixest", "reghdfe", "plm",
    "sandwich", "none"), a dict of :class:`policylab.engine.SSC` fields, an SSC, or None
    (fixest's default)."""
    if ssc is None:
        return vc.SSC()
    if isinstance(ssc, vc.SSC):
        return ssc
    if isinstance(ssc, str):
        if ssc not in vc.PRESETS:
            raise SpecError(f"ssc={ssc!r} is not a preset; choose from {sorted(vc.PRESETS)}")
        return vc.PRESETS[ssc]
    if isinstance(ssc, dict):
        return vc.SSC(**ssc)
    raise SpecError(f"ssc must be a preset name, a dict or policylab.engine.SSC, got {ssc!r}")


_VCOV_WORDS = ("iid", "hetero", "hc1", "robust", "cluster", "twoway")


def _cluster_columns(cluster: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(cluster, str):
        text = cluster.strip().lstrip("~")
        return [c.strip() for c in text.split("+") if c.strip()]
    if isinstance(cluster, (list, tuple)) and all(isinstance(c, str) for c in cluster):
        return [c.strip() for c in cluster]
    raise SpecError(
        f"cluster={cluster!r} is not understood; give a column name, 'unit + year' or a "
        "list of column names"
    )


def resolve_vcov(
    vcov: Any, cluster: str | list[str] | None, fe: list[str], columns: Any,
) -> tuple[str, list[str], bool]:
    """The vcov kind, clustering columns, and whether the default was used.

    Adds fixest's spellings to :func:`parse_vcov`: ``cluster="unit"`` (or
    ``"~unit + year"``, a list), ``vcov="unit"`` as shorthand for ``{"CRV1": "unit"}``,
    ``vcov="cluster"`` (first fixed effect) and ``vcov="twoway"`` (first two).
    """
    if cluster is not None:
        # a cluster that is exactly a column's name is that column (names are names)
        cols = [cluster] if isinstance(cluster, str) and cluster in columns else (
            _cluster_columns(cluster))
        key = vcov.strip().upper() if isinstance(vcov, str) else None
        if vcov is not None and key not in ("CRV1", "CRV3", "CLUSTER"):
            raise SpecError(
                f"vcov={vcov!r} and cluster={cluster!r} disagree; give cluster= alone "
                "(CRV1), or vcov='CRV3' with cluster="
            )
        kind, cl = parse_vcov({"CRV3" if key == "CRV3" else "CRV1": "+".join(cols)}, fe)
        return kind, (cols if len(cols) == 1 else cl), False
    if isinstance(vcov, str) and vcov.strip().lower() in ("cluster", "twoway"):
        need = 1 if vcov.strip().lower() == "cluster" else 2
        if len(fe) < need:
            raise SpecError(
                f"vcov={vcov!r} clusters by the first {need} fixed effect(s), but the "
                f"formula has {len(fe)}; name the columns, e.g. vcov={{'CRV1': 'unit'}}"
            )
        kind, cl = parse_vcov({"CRV1": "+".join(fe[:need])}, fe)
        return kind, cl, False
    if isinstance(vcov, str) and vcov.strip().lower() not in _VCOV_WORDS:
        cols = [c.strip() for c in vcov.split("+") if c.strip()]
        if cols and all(c in columns for c in cols):
            kind, cl = parse_vcov({"CRV1": "+".join(cols)}, fe)
            return kind, cl, False
    kind, cl = parse_vcov(vcov, fe, columns)
    return kind, cl, vcov is None
