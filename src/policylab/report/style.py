"""One publication style for every figure, in English or Chinese.

Chinese labels need a CJK-capable font or they render as empty boxes ("tofu"). We use a
system Simplified-Chinese font when one is installed (Noto Sans CJK SC, Source Han Sans
SC, WenQuanYi) and otherwise the Noto Sans CJK font shipped by the ``notojp-matplotlib``
wheel (SIL Open Font License; the font covers all CJK ideographs), so a fresh machine
with only pip renders Chinese correctly.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from policylab.errors import SpecError
from policylab.report.io import write_atomic

__all__ = ["cjk_font", "style_rc", "styled", "figure_builder", "new_figure", "save_figure",
           "PALETTE", "write_png"]

PALETTE = ["#1f4e79", "#c00000", "#7f7f7f", "#548235", "#bf9000", "#7030a0"]
_SYSTEM_CJK = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
               "WenQuanYi Zen Hei", "Noto Sans CJK JP", "SimHei", "Microsoft YaHei")


def bundled_cjk_font() -> Path | None:
    """Path of the Noto Sans CJK font shipped by ``notojp-matplotlib`` (None if absent).

    Found without importing the package: its ``__init__`` sets the global
    ``font.family`` rcParam, which would change the user's matplotlib settings.
    """
    spec = importlib.util.find_spec("notojp_matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / "NotoSansCJKjp-Regular.otf"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of a CJK-capable font registered with matplotlib (None if none)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for fam in _SYSTEM_CJK:
        if fam in names:
            return fam
    path = bundled_cjk_font()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        return font_manager.FontProperties(fname=str(path)).get_name()
    return None


def style_rc(lang: str = "en") -> dict[str, Any]:
    """The policylab style as rcParams (fonts with a CJK face for Chinese, thin axes)."""
    import matplotlib

    families = ["DejaVu Sans"]
    if lang == "zh":
        f = cjk_font()
        if f:
            families = [f, "DejaVu Sans"]
    return {
        # concrete names, not "sans-serif": a Text keeps its family list, and a generic
        # name would be looked up in the user's rcParams when the figure is drawn later
        "font.family": families,
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
        **_SAVE_RC,
    }


# read when a figure is saved, not when it is drawn: save_figure sets them again
_SAVE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path"}


@contextmanager
def styled(lang: str = "en") -> Iterator[None]:
    """Draw inside the policylab style; the user's rcParams and backend are untouched
    afterwards (a context, never ``matplotlib.use`` or a global ``rcParams.update``)."""
    import matplotlib

    with matplotlib.rc_context(style_rc(lang)):
        yield


def figure_builder(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a figure function ``f(..., lang=..., ax=None)``: it draws inside
    :func:`styled`, and the finished figure gets a tight layout only when policylab made
    it (a figure the user passed through ``ax=`` keeps its own layout)."""
    sig = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind_partial(*args, **kwargs)
        lang = bound.arguments.get("lang", "en")
        with styled(lang):
            fig = func(*args, **kwargs)
            if bound.arguments.get("ax") is None:
                fig.tight_layout()
        return fig

    return wrapper


def new_figure(lang: str = "en", size: tuple[float, float] = (6.4, 4.0), nrows: int = 1,
               ncols: int = 1, ax: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """A styled ``(fig, ax)`` pair (``ax`` an array when nrows or ncols > 1).

    With ``ax`` given (the user's Axes, or a sequence of nrows * ncols Axes for a
    figure of several panels), draws there instead of making a new figure. Call it
    inside :func:`styled` (figure functions are wrapped by :func:`figure_builder`).
    """
    import numpy as np

    if ax is not None:
        axes = np.asarray(ax, dtype=object)
        if axes.size != nrows * ncols:
            raise SpecError(f"ax= must be {nrows * ncols} matplotlib Axes for this figure "
                            f"({nrows} x {ncols} panels), got {axes.size}")
        first = axes.flat[0]
        if not hasattr(first, "figure"):
            raise SpecError(f"ax= must be a matplotlib Axes, got {type(first).__name__}")
        if nrows * ncols == 1:
            return first.figure, first
        shaped = axes.reshape(nrows, ncols) if kwargs.get("squeeze") is False else (
            axes.reshape(-1) if 1 in (nrows, ncols) else axes.reshape(nrows, ncols))
        return first.figure, shaped
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=size, **kwargs)


def save_figure(fig: Any, path: str | Path, formats: Sequence[str] = ("png",),
                dpi: int = 300) -> list[Path]:
    """Write ``fig`` as ``path.<fmt>`` for each of png, pdf, svg, atomically.

    PNG at ``dpi`` (300: print resolution), cropped to the tight bounding box as
    ``savefig(bbox_inches="tight")`` crops it (see :mod:`policylab.report.raster`);
    PDF and SVG are vector, with TrueType fonts embedded in the PDF. Returns the paths
    written.
    """
    import matplotlib

    from policylab.report.raster import rasterize

    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad:
        raise SpecError(f"figure format must be png, pdf or svg, got {bad[0]!r} "
                        "(output.figure_formats)")
    out = []
    for fmt in formats:
        target = base.with_name(base.name + f".{fmt}") if base.suffix != f".{fmt}" else base
        if fmt == "png":
            out.append(write_png(rasterize(fig, dpi), target))
            continue
        with matplotlib.rc_context(_SAVE_RC):
            out.append(write_atomic(target, lambda p, f=fmt: fig.savefig(
                p, format=f, dpi=dpi, bbox_inches="tight")))
    return out


def write_png(raster: Any, path: str | Path) -> Path:
    """Write a :class:`~policylab.report.raster.Raster` as the PNG file ``path``,
    atomically (its folder is made if missing)."""
    data = raster.png()
    Path(path).parent.mkdir(parents=True, exist_ok=True)

    def save(p: str) -> None:
        with open(p, "wb") as fh:
            fh.write(data)

    return write_atomic(path, save)
