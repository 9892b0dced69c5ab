"""The mediation model as a path diagram: policy -> mediator (a), mediator -> outcome
(b), policy -> outcome (c', with the total effect c in brackets), as boxes and arrows.
Drawn inside the shared style (never changing the user's rcParams or backend)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policylab.report.style import PALETTE, figure_builder, new_figure

__all__ = ["mediation_path_figure", "stars"]


def stars(p: float, levels: Sequence[float] = (0.1, 0.05, 0.01)) -> str:
    """'***', '**', '*' or '' for a p-value (missing p: no stars)."""
    if p is None or p != p:
        return ""
    return "*" * sum(p < lv for lv in levels)


def _box(ax: Any, xy: tuple[float, float], text: str) -> Any:
    return ax.text(*xy, text, ha="center", va="center", fontsize=10,
                   bbox={"boxstyle": "round,pad=0.5", "fc": "white", "ec": PALETTE[0],
                         "lw": 1.2})


def _arrow(ax: Any, start: Any, end: Any, label: str, offset: tuple[float, float]) -> None:
    # the arrow runs from box edge to box edge (clipped by the boxes' own outlines)
    a, b = start.get_position(), end.get_position()
    ax.annotate("", xy=b, xytext=a,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.1,
                            "patchA": start.get_bbox_patch(), "patchB": end.get_bbox_patch(),
                            "shrinkA": 2, "shrinkB": 2})
    mid = ((a[0] + b[0]) / 2 + offset[0], (a[1] + b[1]) / 2 + offset[1])
    ax.text(*mid, label, ha="center", va="center", fontsize=9)


@figure_builder
def mediation_path_figure(paths: Sequence[dict[str, Any]], *, treatment: str,
                          outcome: str, lang: str = "en", digits: int = 3,
                          title: str | None = None, ax: Any = None) -> Any:
    """One path diagram per mediator, stacked.

    Parameters
    ----------
    paths : list of dict
        Each with ``mediator`` (display name), ``a``, ``a_p``, ``b``, ``b_p``,
        ``c_prime``, ``c_prime_p``, ``c``, ``c_p``.
    treatment, outcome : str
        Display names of the policy and the outcome.
    """
    n = len(paths)
    fig, axes = new_figure(lang, size=(6.4, 2.6 * n), nrows=n, ax=ax)
    axes = [axes] if n == 1 else list(axes)
    f = f"{{:.{digits}f}}"
    for axis, p in zip(axes, paths):
        axis.set_xlim(0, 10)
        axis.set_ylim(0, 4)
        axis.axis("off")
        left = _box(axis, (1.5, 0.8), treatment)
        top = _box(axis, (5.0, 3.2), p["mediator"])
        right = _box(axis, (8.5, 0.8), outcome)
        _arrow(axis, left, top, f"a = {f.format(p['a'])}{stars(p['a_p'])}", (-0.6, 0.25))
        _arrow(axis, top, right, f"b = {f.format(p['b'])}{stars(p['b_p'])}", (0.6, 0.25))
        _arrow(axis, left, right,
               f"c' = {f.format(p['c_prime'])}{stars(p['c_prime_p'])}  "
               f"(c = {f.format(p['c'])}{stars(p['c_p'])})", (0.0, -0.45))
    if title:
        fig.suptitle(title)
    return fig
