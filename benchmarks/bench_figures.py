"""The example studies' figures, drawn and saved the plain matplotlib way and policylab's
way, in one process: CPU seconds, the ratio, the file sizes and how far the pictures
differ.

    python benchmarks/bench_figures.py [--reps 3] [--study carbon_trading_pilot ...]

First (untimed) each example study runs once in this process, steps serial, and every
call of a figure function in ``policylab.report.figures`` is recorded with its
arguments: the figure set a study draws (13 figures for carbon, 16 for energy). Then,
for each rep, both routes draw and save every recorded figure:

* plain: the figure function (``plt.subplots``, ``tight_layout``), then what a user
  writes, ``fig.savefig(path, dpi=300, bbox_inches="tight")``, and a screen copy for an
  HTML page at 150 dpi the cheap way (the file read back with Pillow, every 2 x 2 block
  averaged, saved with Pillow's defaults);
* previous: policylab before (main at 15aa3ab): the same savefig, and the report's
  copy from the pixels the canvas still held after it;
* policylab: the figure function, then :func:`policylab.report.raster.rasterize`
  (drawn once, cropped to the tight box), the PNG written from those pixels, and the
  report's screen copy from the same pixels (``screen_png``), as ``policylab run`` does.

CPU seconds (``time.process_time``, the machine is shared) are the best of the reps;
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import pkgutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("carbon_trading_pilot", "energy_rights_pilot")


def record(studies: list[str]) -> list[tuple]:
    """Run each study once (serial, in this process) and return its figure calls."""
    os.environ["POLICYLAB_STEPS"] = "serial"
    os.environ["POLICYLAB_WRITERS"] = "inline"
    import policylab.report.figures as figures
    from policylab.study.pipeline import run_study

    calls: list[tuple] = []
    for info in pkgutil.iter_modules(figures.__path__):
        mod = importlib.import_module(f"policylab.report.figures.{info.name}")
        for name in dir(mod):
            fn = getattr(mod, name)
            if name.endswith("_figure") and getattr(fn, "__module__", "") == mod.__name__:
                def recorded(*a, _fn=fn, _mod=mod.__name__, _name=name, **k):
                    calls.append((_mod, _name, a, k))
                    return _fn(*a, **k)
                setattr(mod, name, recorded)
    for study in studies:
        with tempfile.TemporaryDirectory() as tmp:
            run_study(ROOT / "examples" / f"{study}.toml", Path(tmp) / "out", progress=False)
    for info in pkgutil.iter_modules(figures.__path__):  # the real functions again
        importlib.reload(importlib.import_module(f"policylab.report.figures.{info.name}"))
    return calls


def _draw(call: tuple):
    mod, name, args, kwargs = call
    return getattr(importlib.import_module(mod), name)(*args, **kwargs)


def _timed(calls: list[tuple], out: Path, prefix: str, save) -> dict[str, float]:
    """Draw every recorded figure and save it by ``save(fig, path)``, which writes the
    300-dpi file and returns it with a callable making the 150-dpi screen copy: CPU
    seconds of drawing, the file and the copy, and their sizes."""
    import matplotlib.pyplot as plt

    t = {"draw": 0.0, "file": 0.0, "screen": 0.0, "bytes": 0, "screen_bytes": 0}
    for i, call in enumerate(calls):
        c0 = time.process_time()
        fig = _draw(call)
        c1 = time.process_time()
        path, screen = save(fig, out / f"{prefix}_{i:02d}.png")
        c2 = time.process_time()
        copy = screen()
        c3 = time.process_time()
        plt.close(fig)
        t["draw"] += c1 - c0
        t["file"] += c2 - c1
        t["screen"] += c3 - c2
        t["bytes"] += path.stat().st_size
        t["screen_bytes"] += len(copy or b"")
    return t


def _plain_save(fig, path: Path):
    from PIL import Image

    fig.savefig(path, dpi=300, bbox_inches="tight")

    def screen() -> bytes:
        buf = io.BytesIO()
        with Image.open(path) as im:
            im.reduce(2).save(buf, format="PNG", dpi=(150, 150))
        return buf.getvalue()

    return path, screen


def _previous_save(fig, path: Path):
    from PIL import Image

    fig.savefig(path, dpi=300, bbox_inches="tight")

    def screen() -> bytes:
        buf = io.BytesIO()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        Image.fromarray(rgba, "RGBA").reduce(2).save(buf, format="PNG", dpi=(150, 150),
                                                     optimize=False)
        return buf.getvalue()

    return path, screen


def _policylab_save(fig, path: Path):
    from policylab.report.html import screen_png
    from policylab.report.raster import rasterize
    from policylab.report.style import write_png

    raster = rasterize(fig, 300)
    return write_png(raster, path), lambda: screen_png(raster)


def plain(calls: list[tuple], out: Path) -> dict[str, float]:
    """Draw, savefig(dpi=300, bbox_inches="tight"), a 150-dpi copy with Pillow."""
    return _timed(calls, out, "plain", _plain_save)


def previous(calls: list[tuple], out: Path) -> dict[str, float]:
    """policylab before this route (main at 15aa3ab): savefig(dpi=300,
    bbox_inches="tight") and the report's copy from the pixels the canvas still held
    (RGBA, Pillow's reduce and default PNG settings)."""
    return _timed(calls, out, "previous", _previous_save)


def policylab_route(calls: list[tuple], out: Path) -> dict[str, float]:
    """Draw, rasterize once, write the PNG, the report's copy from the same pixels."""
    return _timed(calls, out, "policylab", _policylab_save)


def compare(out: Path, n: int) -> str:
    """How the two routes' files differ: sizes equal? mean and worst absolute level
    difference, share of pixels more than 64 levels apart (anti-aliased edges)."""
    from PIL import Image

    same, means, far = 0, [], []
    for i in range(n):
        with Image.open(out / f"plain_{i:02d}.png") as a, \
                Image.open(out / f"policylab_{i:02d}.png") as b:
            x = np.asarray(a.convert("RGB")).astype(int)
            y = np.asarray(b.convert("RGB")).astype(int)
        if x.shape != y.shape:
            continue
        same += 1
        d = np.abs(x - y)
        means.append(d.mean())
        far.append((d.max(axis=2) > 64).mean())
    return (f"{same}/{n} files the same pixel size; mean |difference| "
            f"{np.mean(means):.2f} levels of 255 (worst file {max(means):.2f}); pixels "
            f"> 64 levels apart: {100 * np.mean(far):.2f}% (worst file "
            f"{100 * max(far):.2f}%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--study", nargs="*", default=list(EXAMPLES), choices=EXAMPLES)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    calls = record(args.study)
    print(f"{len(calls)} figures from {', '.join(args.study)}; load average "
          "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plain(calls[:2], out)  # warm: fonts, imports
        policylab_route(calls[:2], out)
        for _ in range(args.reps):
            for name, route in (("plain", plain), ("previous", previous),
                                ("policylab", policylab_route)):
                t = route(calls, out)
                total = t["draw"] + t["file"] + t["screen"]
                if name not in best or total < best[name]["total"]:
                    best[name] = {**t, "total": total}
        quality = compare(out, len(calls))
    print(f"{'route':<11}{'draw':>8}{'file':>8}{'screen':>8}{'total':>8}  (CPU s, best of "
          f"{args.reps})   300-dpi files   screen copies")
    for name, t in best.items():
        print(f"{name:<11}{t['draw']:>8.2f}{t['file']:>8.2f}{t['screen']:>8.2f}"
              f"{t['total']:>8.2f}   {t['bytes'] / 1e6:>8.2f} MB   "
              f"{t['screen_bytes'] / 1e6:>8.2f} MB")
    q = best["policylab"]
    for name in ("plain", "previous"):
        p = best[name]
        print(f"ratio {name} / policylab: total {p['total'] / q['total']:.2f}x, saving "
              f"(file + screen) {(p['file'] + p['screen']) / (q['file'] + q['screen']):.2f}x")
    print(quality)
    print("load average after {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
