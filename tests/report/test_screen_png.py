"""The HTML report's screen-resolution copy of a figure, made by the process that wrote
the 300-dpi PNG from the pixels it had drawn, is the copy the report would make by
decoding and scaling the file."""

from __future__ import annotations

from policylab.report.html import _downscaled, screen_png
from policylab.report.style import save_figure


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
    fig = _figure()
    (png,) = save_figure(fig, tmp_path / "f.png")
    screen = screen_png(fig, png)
    assert screen is not None
    assert screen == _downscaled(png)


def test_no_screen_copy_when_the_canvas_holds_other_pixels(tmp_path):
    fig = _figure()
    (png,) = save_figure(fig, tmp_path / "f.png")
    fig.savefig(tmp_path / "other.png", dpi=72)  # drawn again, at another size
    assert screen_png(fig, png) is None
