"""Writer processes: a study's figures and tables written beside the computing.

The writers fork (Linux); elsewhere, or with ``POLICYLAB_WRITERS=inline``, the same jobs
run in the process. Both ways must give the same files, and a writer that fails or dies
must cost only its own files, recorded as failures.
"""

from __future__ import annotations

import json
import os
import signal
import zipfile
from pathlib import Path

import pytest

from policylab.report.tables import Table
from policylab.study.pipeline import run_study
from policylab.study.workers import WorkerDied, Workers, forking_available

needs_fork = pytest.mark.skipif(not forking_available(), reason="writers fork on Linux only")

SPEC = """
[study]
title = "Writers"
seed = 3
[data]
dataset = "carbon_pilot"
unit = "province"
time = "year"
[treatment]
column = "did"
group = "treat"
[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp"]
[battery.event_study]
window = [-3, 3]
[battery.pretrends]
enabled = false
[battery.placebo]
enabled = false
[battery.wild_bootstrap]
enabled = false
[output]
formats = ["md", "csv", "xlsx", "docx", "html"]
figure_formats = ["png"]
"""


def _spec(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s.toml").write_text(SPEC, encoding="utf-8")
    return folder / "s.toml"


def _content(folder: Path) -> dict[str, bytes]:
    """Every output's content; zip members of docx/xlsx without their time stamps."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if not p.is_file() or rel in ("manifest.json", ".policylab-output.json"):
            continue
        if p.suffix in (".docx", ".xlsx"):
            with zipfile.ZipFile(p) as z:
                for n in sorted(z.namelist()):
                    if n != "docProps/core.xml":
                        out[f"{rel}:{n}"] = z.read(n)
        else:
            out[rel] = p.read_bytes()
    return out


@needs_fork
def test_forked_writers_give_the_files_of_inline_writing(tmp_path, monkeypatch):
    spec = _spec(tmp_path / "s")
    forked = run_study(spec, tmp_path / "forked", progress=False)
    monkeypatch.setenv("POLICYLAB_WRITERS", "inline")
    inline = run_study(spec, tmp_path / "inline", progress=False)
    assert not forked.output_failures and not inline.output_failures
    a, b = _content(tmp_path / "forked"), _content(tmp_path / "inline")
    assert any(k.startswith("figures/") and k.endswith(".png") for k in a)
    assert any(k.startswith("tables/") and ".xlsx:" in k for k in a)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    split = json.loads((tmp_path / "forked" / "manifest.json").read_text())["split_seconds"]
    assert split["figures"] > 0 and split["tables"] > 0


@needs_fork
def test_a_failing_writer_in_a_child_is_recorded_and_the_rest_written(tmp_path, monkeypatch):
    def broken(self, path):
        raise OSError("disk quota exceeded")

    monkeypatch.setattr(Table, "to_excel", broken)  # the child inherits the patch
    summary = run_study(_spec(tmp_path / "s"), tmp_path / "out", progress=False)
    failed = {f["file"] for f in summary.output_failures}
    assert "tables/baseline_baseline.xlsx" in failed
    assert all(f.endswith(".xlsx") for f in failed)
    out = tmp_path / "out"
    assert (out / "tables" / "baseline_baseline.docx").is_file()
    assert not (out / "tables" / "baseline_baseline.xlsx").exists()
    assert (out / "report.html").is_file() and (out / "report.docx").is_file()


@needs_fork
def test_a_writer_that_dies_costs_its_files_only(tmp_path, monkeypatch):
    import policylab.study.render as render

    def killed(root, files):  # the table writer is killed outright (OOM killer, kill -9)
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(render, "_write_tables", killed)
    summary = run_study(_spec(tmp_path / "s"), tmp_path / "out", progress=False)
    failed = {f["file"]: f["error"] for f in summary.output_failures}
    assert "tables/baseline_baseline.md" in failed
    assert "signal 9" in failed["tables/baseline_baseline.md"]
    assert not list((tmp_path / "out" / "tables").glob("*"))
    assert list((tmp_path / "out" / "figures").glob("*.png"))
    assert summary.report_html is not None and summary.report_html.is_file()


@needs_fork
def test_the_two_reports_are_written_apart(tmp_path, monkeypatch):
    import policylab.report.docx as docx

    def killed(*args, **kwargs):  # the Word report's writer dies; the HTML one does not
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(docx, "write_report", killed)
    summary = run_study(_spec(tmp_path / "s"), tmp_path / "out", progress=False)
    failed = {f["file"]: f["error"] for f in summary.output_failures}
    assert list(failed) == ["report.docx"] and "signal 9" in failed["report.docx"]
    assert summary.report_docx is None
    assert summary.report_html is not None and summary.report_html.is_file()
    assert (tmp_path / "out" / "tables" / "baseline_baseline.docx").is_file()


@pytest.mark.parametrize("fork", [False, pytest.param(True, marks=needs_fork)])
def test_jobs_return_values_and_report_errors(fork):
    with Workers(fork=fork) as w:
        ok = w.submit(lambda: {"n": 41 + 1})
        bad = w.submit(lambda: 1 / 0)
        assert ok.result() == {"n": 42}
        with pytest.raises(WorkerDied, match="ZeroDivisionError"):
            bad.result()


@needs_fork
def test_leaving_the_pool_stops_running_writers():
    import time

    with Workers(fork=True) as w:
        job = w.submit(lambda: time.sleep(600))
        pid = job.pid
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(pid, 0)
    with pytest.raises(WorkerDied, match="stopped"):
        job.result()


def test_a_figure_on_a_gui_canvas_is_saved_in_the_process(tmp_path, monkeypatch):
    """A figure on a canvas other than plain Agg (an interactive backend's) never goes to
    a forked writer: the child would share the parent's window-system connection."""
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure

    from policylab.study.context import StepOutput
    from policylab.study.render import FigureFiles, Rendered

    class NotAgg(FigureCanvasPdf):  # stands in for TkAgg / QtAgg
        pass

    fig = Figure()
    fig.add_subplot().plot([0, 1, 2], [1, 3, 2])
    NotAgg(fig)
    forked = Workers(fork=True)
    monkeypatch.setattr(forked, "submit", lambda fn: pytest.fail("forked a GUI figure"))
    files = FigureFiles(tmp_path, ["png"], forked)
    out = StepOutput(key="k", title="K", figures=[("f", fig)])
    files.start(out)
    files.collect(out, done := Rendered())
    assert not done.failures
    assert files.planned(out)[0]["png"] == tmp_path / "figures" / "k_f.png"
    assert (tmp_path / "figures" / "k_f.png").stat().st_size > 0


@needs_fork
def test_reports_that_draw_a_gui_figure_are_written_in_the_process(tmp_path, monkeypatch):
    """Without PNG files (figure_formats = ["pdf"]) the reports draw the figures
    themselves; a figure on a GUI canvas keeps them out of forked writers."""
    import policylab.study.render as render

    spec = _spec(tmp_path / "s")
    spec.write_text(SPEC.replace('figure_formats = ["png"]', 'figure_formats = ["pdf"]'),
                    encoding="utf-8")
    here: list[str] = []  # appended to only by calls in this process
    real = render._report

    def report(fmt, *args):
        here.append(fmt)
        return real(fmt, *args)

    monkeypatch.setattr(render, "_report", report)
    monkeypatch.setattr(render, "_headless", lambda fig: False)  # as if on TkAgg
    summary = run_study(spec, tmp_path / "out", progress=False)
    assert sorted(here) == ["docx", "html"]
    assert not summary.output_failures
    assert summary.report_html.is_file() and summary.report_docx.is_file()
    monkeypatch.setattr(render, "_headless", lambda fig: True)  # plain Agg: forked
    here.clear()
    run_study(spec, tmp_path / "out2", progress=False)
    assert here == []


LANES_SPEC = SPEC.replace("""[battery.pretrends]
enabled = false
[battery.placebo]
enabled = false
[battery.wild_bootstrap]
enabled = false
""", """[battery.placebo]
draws = 49
[battery.wild_bootstrap]
draws = 99
""")


@needs_fork
@pytest.mark.parametrize("keep_fits", [True, False])
def test_steps_in_forked_lanes_give_the_numbers_and_files_of_a_serial_run(tmp_path,
                                                                          monkeypatch,
                                                                          keep_fits):
    """Steps run beside each other in forked lanes on a small panel, each lane writing
    its steps' figures; results.json, the figures, the tables and the reports are those
    of the serial run (POLICYLAB_STEPS=serial), byte for byte, and every step comes
    back from its lane (none is run again here). Without keep_fits (the CLI) the lanes'
    Figure objects stay in the lanes."""
    import policylab.study.pipeline as pipeline

    (tmp_path / "s").mkdir()
    spec = tmp_path / "s" / "s.toml"
    spec.write_text(LANES_SPEC, encoding="utf-8")
    assert "event_study" in spec.read_text() and "placebo" in spec.read_text()
    here: list[str] = []
    real = pipeline._run_step

    def recorded(ctx, key, required):
        here.append(key)  # only calls in this process land here
        return real(ctx, key, required)

    monkeypatch.setattr(pipeline, "_run_step", recorded)
    lanes = run_study(spec, tmp_path / "lanes", progress=True, keep_fits=keep_fits)
    assert here == ["overview", "descriptives", "baseline"]
    monkeypatch.setenv("POLICYLAB_STEPS", "serial")
    here.clear()
    serial = run_study(spec, tmp_path / "serial", progress=False, keep_fits=keep_fits)
    lane_figures = [f for o in lanes.steps[3:] for _, f in o.figures]
    assert lane_figures and all((f is None) == (not keep_fits) for f in lane_figures)
    assert here == [o.key for o in serial.steps]
    assert [o.key for o in lanes.steps] == here
    assert {"event_study", "pretrends", "placebo", "wild_bootstrap"} <= set(here)
    assert [o.status for o in lanes.steps] == [o.status for o in serial.steps]
    a, b = _content(tmp_path / "lanes"), _content(tmp_path / "serial")
    assert a["results.json"] == b["results.json"]
    assert any(k.startswith("figures/") for k in a)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


def test_lanes_only_for_small_panels_without_a_scheduler(monkeypatch):
    import policylab.study.pipeline as pipeline
    from policylab.study.workers import fork_usable

    class Panel:
        def __init__(self, rows):
            import pandas as pd

            self.df = pd.DataFrame({"x": [0.0] * rows})

    class Ctx:
        panel = Panel(100)

    assert pipeline._lanes(Ctx, executor="tcp://host:8786") == 1
    monkeypatch.setenv("POLICYLAB_STEPS", "serial")
    assert pipeline._lanes(Ctx, executor=None) == 1
    monkeypatch.delenv("POLICYLAB_STEPS")
    assert (pipeline._lanes(Ctx, executor=None) > 1) == fork_usable()
    monkeypatch.setattr(pipeline, "LANE_MAX_BYTES", 10)
    assert pipeline._lanes(Ctx, executor=None) == 1


def test_a_step_and_the_steps_reading_its_cache_share_a_lane():
    from policylab.study.pipeline import _step_groups

    plan = [(k, k == "baseline") for k in ("overview", "baseline", "event_study",
                                            "pretrends", "placebo", "spec_curve")]
    head, groups = _step_groups(plan)
    assert [k for k, _ in head] == ["overview", "baseline"]
    assert [[k for k, _ in g] for g in groups] == [["event_study", "pretrends"],
                                                   ["placebo"], ["spec_curve"]]


def test_a_lane_that_dies_costs_no_step_and_no_hang(tmp_path, monkeypatch):
    """A lane process that dies hard (os._exit, as a crash or an OOM kill would) does
    not leave the run waiting for ever: its steps, and those queued behind it, run again
    in the run's own process, with the numbers of a serial run."""
    import os

    import policylab.study.pipeline as pipeline

    (tmp_path / "s").mkdir()
    spec = tmp_path / "s" / "s.toml"
    spec.write_text(LANES_SPEC, encoding="utf-8")
    parent = os.getpid()
    here: list[str] = []
    real = pipeline._run_step

    def dies_in_a_lane(ctx, key, required):
        if key == "placebo" and os.getpid() != parent:
            os._exit(3)
        if os.getpid() == parent:
            here.append(key)
        return real(ctx, key, required)

    monkeypatch.setattr(pipeline, "_run_step", dies_in_a_lane)
    lanes = run_study(spec, tmp_path / "lanes", progress=False)
    assert "placebo" in here[3:]  # run again here after its lane died
    monkeypatch.setenv("POLICYLAB_STEPS", "serial")
    serial = run_study(spec, tmp_path / "serial", progress=False)
    assert [(o.key, o.status) for o in lanes.steps] == [(o.key, o.status)
                                                       for o in serial.steps]
    a, b = _content(tmp_path / "lanes"), _content(tmp_path / "serial")
    assert a["results.json"] == b["results.json"]


def test_a_lane_stopped_while_writing_leaves_no_temporary_file(tmp_path, monkeypatch):
    """The run stops lanes with SIGTERM (an error, Ctrl-C, or the pool after one lane
    died): a lane caught writing a figure removes its hidden temporary file before it
    exits, so nothing half-written reaches the outputs being built."""
    import multiprocessing
    import os
    import signal

    import policylab.study.pipeline as pipeline
    from policylab.report.io import write_atomic

    def save(path):
        with open(path, "wb") as fh:
            fh.write(b"half a figure")
        os.kill(os.getpid(), signal.SIGTERM)  # the run stops this lane now

    def steps(i):
        write_atomic(tmp_path / "figure.png", save)
        return "ok", []

    monkeypatch.setattr(pipeline, "_lane_steps", steps)
    lane = multiprocessing.get_context("fork").Process(target=pipeline._lane_group, args=(0,))
    lane.start()
    lane.join(30)
    assert lane.exitcode == 143
    assert list(tmp_path.iterdir()) == []


@needs_fork
def test_table_files_are_written_while_the_lanes_compute(tmp_path, monkeypatch):
    """With the steps in lanes, the table files of the steps handed on are written
    whenever the run waits for a lane, not after the last step: the first steps' before
    the first lane's steps are handed on; the baseline's, whose notes quote the wild
    bootstrap, not before that step is handed on. The writers run in the run's process
    here (POLICYLAB_WRITERS=inline), so a file is there as soon as it is handed to a
    writer. The finished folder is checked against a serial run by
    test_steps_in_forked_lanes_give_the_numbers_and_files_of_a_serial_run."""
    monkeypatch.setenv("POLICYLAB_WRITERS", "inline")
    (tmp_path / "s").mkdir()
    spec = tmp_path / "s" / "s.toml"
    spec.write_text(LANES_SPEC, encoding="utf-8")
    seen: dict[str, set[str]] = {}

    def tables_now(out):
        staged = [p for p in tmp_path.glob(".lanes*") if p.is_dir()]
        assert len(staged) == 1  # the hidden folder the run builds its outputs in
        seen[out.key] = {p.name for p in (staged[0] / "tables").glob("*")}

    summary = run_study(spec, tmp_path / "lanes", progress=False, on_step=tables_now)
    keys = [o.key for o in summary.steps]
    final = {p.name for p in (tmp_path / "lanes" / "tables").glob("*")}
    first_lane_step = keys[keys.index("baseline") + 1]
    assert any(n.startswith("descriptives_") for n in seen[first_lane_step])
    assert all(n.startswith(("overview_", "descriptives_")) for n in seen[first_lane_step])
    for k in keys[:keys.index("wild_bootstrap")]:
        assert not any(n.startswith("baseline_") for n in seen[k])
    assert all(seen[k] <= final for k in keys)
    assert any(n.startswith("baseline_") for n in final)


def test_sections_built_step_by_step_are_those_built_at_the_end(tmp_path, monkeypatch):
    """The report's sections and table files built as each step is handed on (in the
    plan's order) are those built from all the steps at once: numbers, captions, notes
    (the baseline's quotes the wild bootstrap, a later step) and file names."""
    from policylab.study import render
    from policylab.study.context import Context
    from policylab.study.prepare import prepare
    from policylab.study.spec import load_spec
    from policylab.study.steps import STEPS, planned_steps

    monkeypatch.setenv("POLICYLAB_STEPS", "serial")
    spec_path = _spec(tmp_path / "s")
    spec_path.write_text(LANES_SPEC, encoding="utf-8")
    spec = load_spec(spec_path)
    panel, _ = prepare(spec, spec_path.parent)
    ctx = Context(spec=spec, panel=panel, base_dir=spec_path.parent, lang="en", seed=3)
    outputs = [STEPS[k](ctx) for k, _ in planned_steps(spec)]
    assert "wild_bootstrap" in [o.key for o in outputs]

    def built(step_by_step: bool) -> tuple[list, list, list]:
        root = tmp_path / f"out{step_by_step}"
        root.mkdir()
        figs = render.FigureFiles(root, ["png"], Workers(fork=False))
        s = render.Sections(root, spec, ctx, figs, [o.key for o in outputs])
        for o in outputs:
            s.add(o)
            if step_by_step:
                s.write_early()
        left = s.finish()
        return ([(x["number"], [t.title for t in x["tables"]], [t.notes for t in x["tables"]],
                  [f.get("caption") for f in x["figures"]]) for x in s.sections],
                [(f[0], f[1].name, f[3]) for f in s.files], left)

    early, at_end = built(True), built(False)
    assert early[:2] == at_end[:2]
    assert early[2] == [] and len(at_end[2]) == len(at_end[1])
    base = early[0][[o.key for o in outputs].index("baseline")]
    assert any("bootstrap" in n.lower() for notes in base[2] for n in notes)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@needs_fork
def test_lanes_end_when_the_run_is_killed_outright(tmp_path):
    """A run killed outright (SIGKILL, as the OOM killer does) cannot stop its lanes;
    they end anyway instead of waiting for work for ever."""
    import subprocess
    import sys
    import time

    (tmp_path / "s").mkdir()
    spec = tmp_path / "s" / "s.toml"
    spec.write_text(LANES_SPEC, encoding="utf-8")
    pids = tmp_path / "lanes.txt"
    script = f"""
import os, signal, time
import policylab.study.pipeline as pipeline
real, run = pipeline._run_step, os.getpid()
def step(ctx, key, required):
    if os.getpid() != run:
        with open({str(pids)!r}, "a") as fh:
            fh.write(f"{{os.getpid()}}\\n")
        if key == "placebo":
            os.kill(run, signal.SIGKILL)
            time.sleep(120)
    return real(ctx, key, required)
pipeline._run_step = step
pipeline.run_study({str(spec)!r}, {str(tmp_path / "out")!r}, progress=False)
"""
    proc = subprocess.run([sys.executable, "-c", script], timeout=600)
    assert proc.returncode == -signal.SIGKILL
    lanes = {int(p) for p in pids.read_text().split()}
    assert lanes
    deadline = time.monotonic() + 60
    while any(map(_alive, lanes)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(map(_alive, lanes))
