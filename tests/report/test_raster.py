"""The 300-dpi PNG drawn once (policylab.report.raster) is the picture
``savefig(dpi=300, bbox_inches="tight")`` writes: same pixel size, same content, an
opaque figure stored as RGB, byte for byte the same file on every save; and saving
leaves the figure as it was."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from policylab.report.figures.event_study import event_study_figure
from policylab.report.raster import encode_png, rasterize
from policylab.report.style import save_figure


def _tidy() -> pd.DataFrame:
    rel = np.arange(-4, 5)
    est = np.where(rel < 0, 0.01 * rel, 0.05 + 0.02 * rel)
    return pd.DataFrame({"rel_time": rel, "estimate": est, "conf_low": est - 0.03,
                         "conf_high": est + 0.03})


def _savefig(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=300, bbox_inches="tight")
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def _read(path) -> tuple[np.ndarray, str, float]:
    with Image.open(path) as im:
        return np.asarray(im).astype(int), im.mode, im.info["dpi"][0]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_png_is_savefigs_tight_300_dpi_picture_in_rgb(tmp_path, lang):
    fig = event_study_figure(_tidy(), lang=lang, title="A title for the tight box")
    (png,) = save_figure(fig, tmp_path / "f", ("png",))
    pixels, mode, dpi = _read(png)
    reference = _savefig(fig)
    assert mode == "RGB"  # the white page is opaque: no alpha channel stored
    assert round(dpi) == 300
    assert pixels.shape == reference.shape  # the same bounding box, to the pixel
    assert pixels.shape[1] > 1800  # 6.4 inches at 300 dpi, less the margins
    # the same picture: drawn once instead of twice, it may sit a fraction of a pixel
    # apart, which moves anti-aliased edges by a few levels and nothing else
    diff = np.abs(pixels - reference)
    assert diff.mean() < 2
    assert (diff.max(axis=2) > 64).mean() < 0.02
    # while the picture moved by two pixels differs clearly
    shifted = np.abs(pixels[:, 2:] - reference[:, :-2])
    assert (shifted.max(axis=2) > 64).mean() > 2 * (diff.max(axis=2) > 64).mean()


def test_saving_twice_writes_the_same_bytes_whatever_was_drawn_between(tmp_path):
    fig = event_study_figure(_tidy(), lang="zh")
    (first,) = save_figure(fig, tmp_path / "a.png")
    other = event_study_figure(_tidy().assign(estimate=lambda d: -d["estimate"]))
    save_figure(other, tmp_path / "other.png")  # the same shared renderer, other pixels
    (second,) = save_figure(fig, tmp_path / "b.png")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != (tmp_path / "other.png").read_bytes()


def test_saving_leaves_the_figure_as_it_was():
    fig = event_study_figure(_tidy())
    canvas, dpi, size = fig.canvas, fig.dpi, tuple(fig.get_size_inches())
    positions = [tuple(ax.get_position().bounds) for ax in fig.axes]
    rasterize(fig, 300)
    assert fig.canvas is canvas and fig.dpi == dpi
    assert tuple(fig.get_size_inches()) == size
    assert [tuple(ax.get_position().bounds) for ax in fig.axes] == positions
    # the canvas still draws at screen resolution, into pixels of its own
    fig.canvas.draw()
    assert np.asarray(fig.canvas.buffer_rgba()).shape == (400, 640, 4)


def test_a_user_figure_keeps_its_layout_through_save(tmp_path):
    fig = Figure(figsize=(5, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.3, right=0.7)  # the user's own layout
    before = tuple(ax.get_position().bounds)
    assert event_study_figure(_tidy(), ax=ax) is fig
    save_figure(fig, tmp_path / "f.png")
    assert tuple(ax.get_position().bounds) == before


def test_content_outside_the_figure_is_kept_as_savefig_keeps_it(tmp_path):
    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.text(1.3, 0.5, "beyond the right edge", transform=ax.transAxes)
    reference = _savefig(fig)
    (png,) = save_figure(fig, tmp_path / "f.png")
    pixels, _, _ = _read(png)
    assert pixels.shape == reference.shape
    assert reference.shape[1] > 3 * 300  # wider than the figure: the text is in it


def test_a_window_canvas_and_a_transparent_save_go_through_savefig(tmp_path):
    class WindowCanvas(FigureCanvasAgg):  # stands for QtAgg, TkAgg, ipympl
        pass

    fig = Figure(figsize=(3, 2))
    WindowCanvas(fig)
    fig.add_subplot().plot([0, 1], [0, 1])
    (png,) = save_figure(fig, tmp_path / "w.png")
    assert _read(png)[0].shape == _savefig(fig).shape
    assert isinstance(fig.canvas, WindowCanvas)
    with matplotlib.rc_context({"savefig.transparent": True}):
        pixels = rasterize(fig, 100).pixels
    assert pixels.shape[2] == 4 and pixels[..., 3].min() == 0  # see-through page kept


@pytest.mark.parametrize("channels", [3, 4])
def test_encoded_png_decodes_to_the_same_pixels(channels):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
    if channels == 4:
        pixels[0, 0, 3] = 7  # one see-through pixel: the alpha channel stays
    with Image.open(io.BytesIO(encode_png(pixels, 300))) as im:
        assert im.mode == ("RGB" if channels == 3 else "RGBA")
        assert np.array_equal(np.asarray(im), pixels)
        assert round(im.info["dpi"][0]) == 300
    opaque = pixels.copy()
    if channels == 4:
        opaque[..., 3] = 255
        with Image.open(io.BytesIO(encode_png(opaque, 300))) as im:
            assert im.mode == "RGB"
            assert np.array_equal(np.asarray(im), opaque[..., :3])
    with pytest.raises(ValueError, match="uint8"):
        encode_png(pixels.astype(float), 300)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
