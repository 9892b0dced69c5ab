import numpy as np
import pytest

from policylab.errors import SpecError
from policylab.report.style import cjk_font, new_figure, save_figure, styled


def _render(text: str, lang: str = "zh") -> np.ndarray:
    with styled(lang):
        fig, ax = new_figure(lang, size=(1.2, 0.8))
        ax.axis("off")
        ax.text(0.5, 0.5, text, fontsize=28, ha="center", va="center")
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(axis=2)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return img


def test_a_cjk_font_is_available():
    assert cjk_font() is not None


def test_chinese_glyphs_render_as_distinct_shapes_not_tofu():
    blank = _render("")
    glyphs = {c: _render(c) for c in "碳排放试点"}
    # a code point no font has renders as the missing-glyph box
    with pytest.warns(UserWarning, match="missing from font"):
        tofu = _render("\U000f0000")
    for c, img in glyphs.items():
        assert (img < 128).sum() > 30, f"{c} rendered blank"
        assert not np.array_equal(img, blank)
        assert np.abs(img - tofu).sum() > 0, f"{c} rendered as the missing-glyph box"
    imgs = list(glyphs.values())
    for a in range(len(imgs)):
        for b in range(a + 1, len(imgs)):
            assert np.abs(imgs[a] - imgs[b]).sum() > 1000  # different characters differ


def test_save_figure_writes_every_format_atomically(tmp_path):
    fig, ax = new_figure("en")
    ax.plot([0, 1], [0, 1])
    paths = save_figure(fig, tmp_path / "fig", ("png", "pdf", "svg"))
    assert [p.name for p in paths] == ["fig.png", "fig.pdf", "fig.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    import matplotlib.image as mpimg

    assert mpimg.imread(paths[0]).shape[1] > 1500  # 300 dpi: print resolution
    assert paths[1].read_bytes().startswith(b"%PDF")
    assert b"<svg" in paths[2].read_bytes()[:2000]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["fig.pdf", "fig.png", "fig.svg"]
    with pytest.raises(SpecError, match="figure_formats"):
        save_figure(fig, tmp_path / "x", ("gif",))
