"""The HTML report's screen-resolution copy of a figure, made by the process that wrote
the 300-dpi PNG from the pixels it had drawn, is the copy the report would make by
decoding and scaling the file."""

from __future__ import annotations

import numpy as np
from PIL import Image

from policylab.report.html import _downscaled, screen_png
from policylab.report.raster import rasterize
from policylab.report.style import write_png


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1, 3, 2], label="估计")
    ax.set_title("A title wider than the axes, for the tight bounding box")
    return fig


def test_screen_copy_from_the_drawn_pixels_equals_the_scaled_file(tmp_path):
    raster = rasterize(_figure(), 300)
    png = write_png(raster, tmp_path / "f.png")
    screen = screen_png(raster)
    assert screen is not None
    assert screen == _downscaled(png)


def test_screen_copy_is_every_2x2_block_of_the_file_averaged(tmp_path):
    raster = rasterize(_figure(), 300)
    png = write_png(raster, tmp_path / "f.png")
    with Image.open(png) as im:
        full = np.asarray(im).astype(int)
    with Image.open(__import__("io").BytesIO(screen_png(raster))) as im:
        small, dpi = np.asarray(im).astype(int), im.info["dpi"][0]
    h, w = full.shape[0] // 2, full.shape[1] // 2
    blocks = full[:2 * h, :2 * w].reshape(h, 2, w, 2, -1).mean(axis=(1, 3))
    # a last odd row or column makes a block of its own
    assert small.shape == (-(-full.shape[0] // 2), -(-full.shape[1] // 2), 3)
    assert round(dpi) == 150
    assert np.abs(small[:h, :w] - blocks).max() <= 1  # rounding only


def test_no_screen_copy_at_screen_resolution():
    assert screen_png(rasterize(_figure(), 150)) is None
