"""One publication style for every figure, in English or Chinese.

Chinese labels need a CJK-capable font or they render as empty boxes ("tofu"). We use a
system Simplified-Chinese font when one is installed (Noto Sans CJK SC, Source Han Sans
SC, WenQuanYi) and otherwise the Noto Sans CJK font shipped by the ``notojp-matplotlib``
wheel (SIL Open Font License; the font covers all CJK ideographs), so a fresh machine
with only pip renders Chinese correctly.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["cjk_font", "apply_style", "new_figure", "save_figure", "PALETTE"]

PALETTE = ["#1f4e79", "#c00000", "#7f7f7f", "#548235", "#bf9000", "#7030a0"]
_SYSTEM_CJK = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
               "WenQuanYi Zen Hei", "Noto Sans CJK JP", "SimHei", "Microsoft YaHei")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of a CJK-capable font registered with matplotlib (None if none)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for fam in _SYSTEM_CJK:
        if fam in names:
            return fam
    try:
        path = resources.files("notojp_matplotlib").joinpath("fonts",
                                                             "NotoSansCJKjp-Regular.otf")
        if path.is_file():
            font_manager.fontManager.addfont(str(path))
            return font_manager.FontProperties(fname=str(path)).get_name()
    except ModuleNotFoundError:
        pass
    return None


def apply_style(lang: str = "en") -> None:
    """Set matplotlib's rcParams to the policylab style (Agg backend, serif-free, thin)."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        matplotlib.use("Agg")
    rc = matplotlib.rcParams
    families = ["DejaVu Sans"]
    if lang == "zh":
        f = cjk_font()
        if f:
            families = [f, "DejaVu Sans"]
    rc.update({
        "font.family": "sans-serif",
        "font.sans-serif": families,
        "axes.unicode_minus": False,
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.8,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "xtick.direction": "out",
        "ytick.direction": "out",
        "legend.frameon": False,
        "figure.dpi": 100,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,
        "svg.fonttype": "path",
    })


def new_figure(lang: str = "en", size: tuple[float, float] = (6.4, 4.0), nrows: int = 1,
               ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """A styled ``(fig, ax)`` pair (``ax`` an array when nrows or ncols > 1)."""
    apply_style(lang)
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=size, **kwargs)


def save_figure(fig: Any, path: str | Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Write ``fig`` as ``path.<fmt>`` for each format, atomically; returns the paths."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise ValueError(f"figure format must be png, pdf or svg, got {fmt!r}")
        target = base.with_name(base.name + f".{fmt}") if base.suffix != f".{fmt}" else base
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=f".{fmt}")
        os.close(fd)
        try:
            fig.savefig(tmp, format=fmt)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        out.append(target)
    return out
