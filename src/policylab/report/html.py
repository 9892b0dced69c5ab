"""The study report as one self-contained HTML file (figures embedded, no network)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from policylab.report.io import write_text

__all__ = ["write_report", "render_report"]

_SCREEN_DPI = 150


def _png_base64(fig: Any = None, png: str | Path | None = None,
                screen: bytes | None = None) -> str:
    # at screen resolution: the PNG file is 300 dpi, for print, and would make the report
    # several times larger. ``screen`` is that PNG already scaled down (by the process
    # that wrote the file, from the pixels it had drawn: see :func:`screen_png`);
    # scaling the written file down costs a decode; drawing the figure again costs a
    # draw at the screen resolution.
    if screen is not None:
        return base64.b64encode(screen).decode("ascii")
    if png is not None and Path(png).exists():
        scaled = _downscaled(Path(png))
        if scaled is not None or fig is None:
            return base64.b64encode(scaled or Path(png).read_bytes()).decode("ascii")
    from policylab.report.raster import rasterize

    return base64.b64encode(rasterize(fig, _SCREEN_DPI).png()).decode("ascii")


def _reduced(raster: Any) -> bytes | None:
    """The :class:`~policylab.report.raster.Raster` ``raster`` as PNG bytes at the
    screen resolution (None when it has no higher dpi)."""
    if raster.dpi < 1.5 * _SCREEN_DPI:
        return None
    k = round(raster.dpi / _SCREEN_DPI)  # 300 dpi: every 2 x 2 block of pixels averaged
    return raster.reduced(k).png()


def _downscaled(png: Path) -> bytes | None:
    """``png`` resampled to the screen resolution (None when it has no higher dpi)."""
    try:
        import numpy as np
        from PIL import Image  # matplotlib's own dependency

        from policylab.report.raster import Raster

        with Image.open(png) as im:
            dpi = float((im.info.get("dpi") or (0, 0))[0])
            if im.mode not in ("RGB", "RGBA"):
                im = im.convert("RGBA")
            return _reduced(Raster(np.asarray(im), dpi))
    except Exception:  # an unreadable file: draw the figure instead
        return None


def screen_png(raster: Any) -> bytes | None:
    """The report's copy of the PNG file written from ``raster`` (a
    :class:`~policylab.report.raster.Raster`), scaled down from its pixels without
    decoding the file: the same bytes :func:`_downscaled` makes from the file. None
    when it has no higher resolution than the screen's."""
    return _reduced(raster)


# tables with more columns print on a landscape A4 page, in a smaller type
_WIDE_COLUMNS = 9


def render_report(sections: list[dict[str, Any]], *, lang: str = "en", title: str = "Report",
                  provenance: dict[str, Any] | None = None, overview: str = "",
                  headline: dict[str, Any] | None = None) -> str:
    """HTML text of the report.

    Each section is a dict with key, title, status, error, text (list of paragraphs),
    tables (Table objects), figures (dicts with ``figure`` and/or ``png``, optional
    ``caption`` and ``notes``), warnings; optional ``number`` and ``status_word``.
    ``headline`` (see :func:`policylab.study.frame.headline`) opens the report.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    from policylab.report.labels import report_words

    env = Environment(loader=PackageLoader("policylab.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    prepared = []
    all_warnings: list[str] = []
    for s in sections:
        images = [{"data": _png_base64(f.get("figure"), f.get("png"), f.get("screen")),
                   "alt": f.get("caption") or f.get("name", "figure"),
                   "caption": f.get("caption", ""), "notes": f.get("notes", [])}
                  for f in s.get("figures", [])]
        tables = [{"html": t.to_html(), "wide": t.ncols > _WIDE_COLUMNS,
                   "xwide": t.ncols > 2 * _WIDE_COLUMNS}
                  for t in s.get("tables", [])]
        prepared.append({**s, "tables_html": tables, "images": images})
        for w in s.get("warnings", []):
            if w not in all_warnings:
                all_warnings.append(w)
    tpl = env.get_template("report.html.j2")
    return tpl.render(sections=prepared, lang=lang, title=title, overview=overview,
                      provenance=provenance or {}, all_warnings=all_warnings,
                      headline=headline, words=report_words(lang))


def _cjk_font_face(text: str) -> str:
    """An @font-face rule embedding just the CJK glyphs the report uses.

    Readers without a Chinese font (a bare Linux box) would otherwise see empty boxes;
    subsetting the bundled Noto Sans CJK font keeps the file small (tens of kB).
    """
    chars = {ch for ch in set(text) if ord(ch) > 0x2E7F}  # set() first: the text holds MBs of base64
    if not chars:
        return ""
    try:
        import fontTools

        from policylab.report.cache import cached_bytes
        from policylab.report.style import bundled_cjk_font

        src = bundled_cjk_font()
        if src is None:
            return ""
        glyphs = "".join(sorted(chars)) + "0123456789"
        st = src.stat()
        # the same font file, fontTools and characters give the same subset: reruns of
        # a study read it from policylab's cache instead of parsing 16 MB of font again
        key = [str(src), str(st.st_size), str(st.st_mtime_ns), fontTools.version,
               _SUBSET_OPTIONS, glyphs]
        otf = cached_bytes("cjk", "otf", key, lambda: _cjk_subset(src, glyphs),
                           valid=lambda b: b[:4] == b"OTTO")
    except Exception:  # no bundled font or fontTools: fall back to the reader's fonts
        return ""
    data = base64.b64encode(otf).decode("ascii")
    return ("@font-face { font-family: 'PolicylabCJK'; "
            f"src: url(data:font/otf;base64,{data}) format('opentype'); }}")


_SUBSET_OPTIONS = "flavor=None desubroutinize=True"  # part of the cache key


def _cjk_subset(src: Path, glyphs: str) -> bytes:
    """The bundled CJK font cut down to ``glyphs`` (OpenType/CFF bytes)."""
    from fontTools import subset

    opts = subset.Options()
    opts.flavor = None
    opts.desubroutinize = True
    font = subset.load_font(str(src), opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=glyphs)
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def write_report(sections: list[dict[str, Any]], path: str | Path, **kw: Any) -> Path:
    """Write the report atomically to ``path``; returns the path."""
    text = render_report(sections, **kw)
    face = _cjk_font_face(text)
    if face:
        text = text.replace("<style>", "<style>\n" + face, 1).replace(
            'font-family: "Noto Sans CJK SC"', "font-family: \"PolicylabCJK\", \"Noto Sans CJK SC\"", 1)
    return write_text(path, text)
