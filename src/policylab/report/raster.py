"""A figure's print pixels, drawn once, and the PNG files made from them.

``fig.savefig(path, dpi=300, bbox_inches="tight")`` lays the figure out twice (once to
find the tight bounding box, once more on a canvas of that size), keeps a fresh 300-dpi
pixel buffer on the figure's canvas and encodes RGBA with Pillow's adaptive row filters
at zlib level 6: most of a study's figure time. :func:`rasterize` draws the whole
figure once at the print resolution, measures the tight bounding box with the same
renderer (whose text extents are cached from the draw) and crops the pixels to it;
:func:`encode_png` writes them as RGB when every pixel is opaque (a figure on a white
page always is), with no row filter at a fast zlib level. The picture is the one
savefig writes: same size to a pixel, the content at most half a pixel (1/600 inch)
away from where the second layout would put it.
"""

from __future__ import annotations

import struct
import threading
import zlib
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Raster", "rasterize", "encode_png"]

# no row filter, zlib level 3: a plot is mostly flat colour, which deflate's own
# matching packs well; measured on the example studies' 29 figures (benchmarks/
# bench_figures.py) 8% larger files than Pillow's filtered level 6, in a fifth of the time
_ZLIB_LEVEL = 3


@dataclass(frozen=True)
class Raster:
    """A figure's pixels as a file holds them.

    Attributes
    ----------
    pixels : numpy.ndarray
        uint8, shape (height, width, 3) for RGB or (height, width, 4) for RGBA, the top
        row first.
    dpi : float
        Pixels per inch (written into the PNG, so Word and LaTeX size it right).
    """

    pixels: np.ndarray
    dpi: float

    def png(self) -> bytes:
        """The pixels as a PNG file's bytes (see :func:`encode_png`)."""
        return encode_png(self.pixels, self.dpi)

    def reduced(self, k: int) -> Raster:
        """Every k x k block of pixels averaged (rounded), at ``dpi / k``; what
        Pillow's ``Image.reduce(k)`` gives."""
        from PIL import Image

        mode = "RGB" if self.pixels.shape[2] == 3 else "RGBA"
        small = np.asarray(Image.fromarray(self.pixels, mode).reduce(k))
        return Raster(small, self.dpi / k)


def _opaque(rgba: np.ndarray) -> np.ndarray:
    """The RGB planes of ``rgba`` as a new contiguous array (copied plane by plane:
    numpy copies three bytes of every four five times slower in one go)."""
    rgb = np.empty((*rgba.shape[:2], 3), np.uint8)
    for i in range(3):
        rgb[..., i] = rgba[..., i]
    return rgb


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def encode_png(pixels: np.ndarray, dpi: float) -> bytes:
    """PNG bytes of ``pixels`` (uint8 RGB or RGBA, top row first) at ``dpi``.

    RGBA whose alpha is 255 everywhere is written as RGB: the same picture in three
    bytes a pixel instead of four. The file carries the resolution (``pHYs``) and
    matplotlib's ``Software`` text, as ``savefig`` writes them.
    """
    import matplotlib

    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"pixels must be uint8 (height, width, 3 or 4), got "
                         f"{pixels.dtype} {pixels.shape}")
    if pixels.shape[2] == 4 and pixels[..., 3].min() == 255:
        pixels = _opaque(pixels)
    h, w, c = pixels.shape
    rows = np.empty((h, w * c + 1), np.uint8)
    rows[:, 0] = 0  # filter type "None" on every row
    rows[:, 1:] = pixels.reshape(h, w * c)
    ppm = int(dpi / 0.0254 + 0.5)  # pixels per metre, rounded as Pillow does
    software = f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/"
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 6, 0, 0, 0)),
        _chunk(b"tEXt", b"Software\x00" + software.encode("latin-1")),
        _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
        _chunk(b"IDAT", zlib.compress(rows, _ZLIB_LEVEL)),
        _chunk(b"IEND", b""),
    ))


# One Agg renderer of each size for all figures of this process: a new 300-dpi buffer
# per figure costs its page faults, and text extents are cached per renderer, so tick
# labels and axis titles that recur across figures are laid out once.
_RENDERERS: dict[tuple[int, int, float], Any] = {}
_LOCK = threading.Lock()


def _set(stack: ExitStack, obj: Any, **attrs: Any) -> None:
    """Set ``attrs`` on ``obj`` until ``stack`` closes (then the old values return)."""
    for name, value in attrs.items():
        missing = not hasattr(obj, name)
        old = getattr(obj, name, None)
        setattr(obj, name, value)
        stack.callback((lambda o=obj, n=name: delattr(o, n)) if missing
                       else (lambda o=obj, n=name, v=old: setattr(o, n, v)))


@contextmanager
def _printing(fig: Any, dpi: float) -> Any:
    """``fig`` at ``dpi`` on the shared renderer, as ``savefig`` sets a figure up for
    printing (no window resized, device pixel ratio 1); all restored on exit, so the
    figure's canvas keeps neither the resolution nor the shared pixels."""
    canvas = fig.canvas
    with ExitStack() as stack:
        _set(stack, canvas, manager=None)
        _set(stack, fig, dpi=dpi)
        _set(stack, canvas, _device_pixel_ratio=1, _is_saving=True)
        w, h = canvas.get_width_height(physical=True)
        key = (w, h, fig.dpi)
        if key not in _RENDERERS:
            from matplotlib.backends.backend_agg import RendererAgg

            _RENDERERS.clear()  # keep one size: a study's figures share theirs
            _RENDERERS[key] = RendererAgg(w, h, fig.dpi)
        _set(stack, canvas, renderer=_RENDERERS[key], _lastKey=key)
        yield canvas


def _drawn_once(fig: Any) -> bool:
    """Whether :func:`rasterize` may draw ``fig`` itself: a plain Agg canvas (no window,
    nothing else overriding how it prints) and the savefig settings it copies."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rc = matplotlib.rcParams
    # a layout engine (tight, constrained) runs inside the one draw, before any pixel,
    # as it runs in savefig's first, layout-only pass
    return (type(fig.canvas) is FigureCanvasAgg
            and rc["savefig.facecolor"] == "auto" and rc["savefig.edgecolor"] == "auto"
            and not rc["savefig.transparent"]
            and isinstance(rc["savefig.pad_inches"], (int, float)))


def rasterize(fig: Any, dpi: float = 300) -> Raster:
    """The pixels ``fig.savefig(path, dpi=dpi, bbox_inches="tight")`` writes to a PNG.

    Drawn once at ``dpi`` and cropped to the tight bounding box (with savefig's
    ``pad_inches``) when the figure is on a plain Agg canvas; otherwise (a window's
    canvas, savefig colours set in the rcParams, or a bounding box
    reaching outside the figure) savefig draws them.
    """
    import matplotlib

    if _drawn_once(fig):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        pad = float(matplotlib.rcParams["savefig.pad_inches"])
        with _LOCK, _printing(fig, dpi) as canvas:
            FigureCanvasAgg.draw(canvas)
            box = fig.get_tightbbox(canvas.get_renderer()).padded(pad)
            full = np.asarray(canvas.buffer_rgba())
            # savefig's canvas for the box: its size truncated to whole pixels (but
            # 1888.9999999999998 is 1889, as matplotlib has it), the content shifted
            # by the box's corner (here rounded to a whole pixel)
            w, h = (int(v * dpi + 1e-8) for v in (box.width, box.height))
            left = round(box.x0 * dpi)
            top = round(full.shape[0] - box.y0 * dpi - h)
            if left >= 0 and top >= 0 and left + w <= full.shape[1] and top + h <= full.shape[0]:
                crop = full[top:top + h, left:left + w]
                return Raster(_opaque(crop) if crop[..., 3].min() == 255 else crop.copy(),
                              dpi)
    return _savefig_pixels(fig, dpi)


def _savefig_pixels(fig: Any, dpi: float) -> Raster:
    """What savefig writes, decoded (the route for figures :func:`rasterize` cannot
    draw itself)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    buf.seek(0)
    with Image.open(buf) as im:
        rgba = np.asarray(im.convert("RGBA"))
    return Raster(_opaque(rgba) if rgba[..., 3].min() == 255 else rgba, dpi)
