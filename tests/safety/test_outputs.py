"""Output folders: policylab only ever replaces what policylab wrote.

Every test runs a tiny battery (descriptives + baseline on the bundled carbon panel,
Markdown and CSV tables only) so the whole file stays fast. Refusals are checked to
happen before any computing by making ``prepare`` fail loudly if it is reached.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import policylab.study.prepare as prepare_mod
from policylab.cli import app
from policylab.data.datasets import carbon_pilot
from policylab.errors import OutputError
from policylab.report.tables import Table
from policylab.study.outdir import MARKER, read_marker, safe_filename
from policylab.study.pipeline import run_study

TINY = """
[study]
title = "Tiny"
seed = 1
[data]
{data}
unit = "province"
time = "year"
[treatment]
column = "did"
group = "treat"
[model]
outcomes = ["ln_co2"]
controls = ["ln_gdp"]
[battery.event_study]
enabled = false
[battery.pretrends]
enabled = false
[battery.placebo]
enabled = false
[battery.wild_bootstrap]
enabled = false
{extra}
[output]
formats = {formats}
"""


def tiny_spec(folder: Path, *, data: str | None = None, formats: str = '["md", "csv"]',
              extra: str = "", name: str = "study.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    line = f'path = "{data}"' if data else 'dataset = "carbon_pilot"'
    spec = folder / name
    spec.write_text(TINY.format(data=line, formats=formats, extra=extra), encoding="utf-8")
    return spec


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes (hidden files included)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_compute(monkeypatch):
    """Make any attempt to prepare data (the first computing step) fail the test."""
    def boom(*_a, **_k):
        raise AssertionError("prepare() was reached: the output folder was not checked first")

    monkeypatch.setattr(prepare_mod, "prepare", boom)


@pytest.fixture
def project(tmp_path):
    """A user's project folder: spec, data and a paper, none written by policylab."""
    proj = tmp_path / "project"
    proj.mkdir()
    carbon_pilot().df.head(5).to_csv(proj / "data.csv", index=False)
    (proj / "paper.docx").write_bytes(os.urandom(4096))
    spec = tiny_spec(proj, data="data.csv")
    return proj, spec


# --- refusals, before any computing -------------------------------------------------


def test_cli_out_at_project_folder_is_refused_and_nothing_changes(project, no_compute):
    proj, spec = project
    before = snapshot(proj)
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(proj)])
    assert r.exit_code == 2, r.output
    assert str(proj.resolve()) in r.output and "--out" in r.output
    assert snapshot(proj) == before
    # --force never overrides these refusals
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(proj), "--force"])
    assert r.exit_code == 2 and snapshot(proj) == before


def test_cli_out_dot_is_refused(project, no_compute, monkeypatch):
    proj, spec = project
    monkeypatch.chdir(proj)
    before = snapshot(proj)
    r = CliRunner().invoke(app, ["run", "study.toml", "--out", "."])
    assert r.exit_code == 2 and "--out" in r.output
    assert snapshot(proj) == before


@pytest.mark.parametrize("case", ["dot", "spec_folder", "home", "file", "below_file",
                                  "data_ancestor", "cwd_parent", "root"])
@pytest.mark.parametrize("force", [False, True])
def test_refused_before_computing(tmp_path, monkeypatch, no_compute, case, force):
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("mine")
    monkeypatch.setenv("HOME", str(home))
    store = tmp_path / "store"
    (store / "deep").mkdir(parents=True)
    (store / "deep" / "d.csv").write_text("province,year\n")
    spec = tiny_spec(tmp_path / "specs", data=str(store / "deep" / "d.csv"))
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    out, says = {
        "dot": (Path("."), "current folder"),
        "spec_folder": (spec.parent, "holds"),
        "home": (home, "home folder"),
        "file": (afile, "is an existing file"),
        "below_file": (afile / "results", "which is a file"),
        "data_ancestor": (store, "contains"),
        "cwd_parent": (work.parent, "parent of the current folder"),
        "root": (Path("/"), "root"),
    }[case]
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=says) as info:
        run_study(spec, out, progress=False, force=force)
    assert str(out.resolve()) in str(info.value)
    assert snapshot(tmp_path) == before


def test_foreign_folder_refused_with_the_way_out(tmp_path, no_compute):
    spec = tiny_spec(tmp_path / "specs")
    dest = tmp_path / "results"
    dest.mkdir()
    (dest / "paper.docx").write_bytes(b"draft")
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(dest)])
    assert r.exit_code == 2
    assert str(dest.resolve()) in r.output
    assert "--force" in r.output and "new folder" in r.output
    assert snapshot(dest) == {"paper.docx": b"draft"}


# --- writing into our own folder, and --force ---------------------------------------


def test_rerun_replaces_ours_and_keeps_user_files(tmp_path):
    spec = tiny_spec(tmp_path / "s", formats='["md", "csv"]')
    out = tmp_path / "out"
    run_study(spec, out, progress=False)
    first = read_marker(out)
    assert first is not None and "results.json" in first["files"]
    assert "tables/baseline_baseline.csv" in first["files"]
    (out / "notes.txt").write_text("user notes")
    (out / "tables" / "my_table.csv").write_text("a,b\n1,2\n")
    (out / "manifest.json").write_text("{}")  # ours: a rerun replaces it
    # the second run writes no CSV: the CSVs the first run wrote are stale and go
    spec.write_text(spec.read_text().replace('["md", "csv"]', '["md"]'))
    run_study(spec, out, progress=False)
    assert (out / "notes.txt").read_text() == "user notes"
    assert (out / "tables" / "my_table.csv").read_text() == "a,b\n1,2\n"
    assert not (out / "tables" / "baseline_baseline.csv").exists()
    assert (out / "tables" / "baseline_baseline.md").is_file()
    assert json.loads((out / "manifest.json").read_text())["spec"] == str(spec)
    second = read_marker(out)
    assert set(second["files"]) == {p.relative_to(out).as_posix()
                                    for p in out.rglob("*") if p.is_file()} - {
        MARKER, "notes.txt", "tables/my_table.csv"}
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_stale_cleanup_touches_only_unchanged_files_the_marker_lists(tmp_path):
    spec = tiny_spec(tmp_path / "s", formats='["md", "csv"]')
    out = tmp_path / "out"
    run_study(spec, out, progress=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("outside")
    (out / "tables" / "descriptives_descriptives.csv").write_text("edited by the user")
    marker = json.loads((out / MARKER).read_text())
    # a tampered marker: entries outside the folder or in odd places are not trusted
    marker["files"]["../victim.txt"] = "0" * 64
    marker["files"]["/etc/hostname"] = "0" * 64
    marker["files"]["tables/../../victim.txt"] = "0" * 64
    (out / "user.csv").write_text("mine")
    marker["files"]["user.csv"] = "0" * 64  # listed, but not what we wrote
    (out / MARKER).write_text(json.dumps(marker))
    spec.write_text(spec.read_text().replace('["md", "csv"]', '["md"]'))
    run_study(spec, out, progress=False)
    assert victim.read_text() == "outside"
    assert (out / "user.csv").read_text() == "mine"
    # a stale file the user edited stays; an unchanged stale file goes
    assert (out / "tables" / "descriptives_descriptives.csv").read_text() == "edited by the user"
    assert not (out / "tables" / "baseline_baseline.csv").exists()


def test_force_into_foreign_folder_keeps_unrelated_files(tmp_path):
    spec = tiny_spec(tmp_path / "s")
    dest = tmp_path / "shared"
    (dest / "tables").mkdir(parents=True)
    (dest / "paper.docx").write_bytes(b"draft")
    (dest / "tables" / "mine.csv").write_text("x\n1\n")
    (dest / "results.json").write_text("old")  # a name policylab writes: replaced
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(dest), "--force", "--quiet"])
    assert r.exit_code == 0, r.output
    assert (dest / "paper.docx").read_bytes() == b"draft"
    assert (dest / "tables" / "mine.csv").read_text() == "x\n1\n"
    assert json.loads((dest / "results.json").read_text())["baseline"]["status"] == "ok"
    owned = read_marker(dest)["files"]
    assert "paper.docx" not in owned and "tables/mine.csv" not in owned
    # now ours: a rerun needs no --force and still keeps the user's files
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(dest), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (dest / "paper.docx").read_bytes() == b"draft"
    assert (dest / "tables" / "mine.csv").read_text() == "x\n1\n"


def test_empty_existing_folder_is_used(tmp_path):
    spec = tiny_spec(tmp_path / "s")
    (tmp_path / "out").mkdir()
    summary = run_study(spec, tmp_path / "out", progress=False)
    assert (summary.out_dir / "results.json").is_file() and read_marker(summary.out_dir)


def test_interrupted_run_keeps_old_outputs_and_no_partial_folder(tmp_path, monkeypatch):
    import policylab.study.render as render

    spec = tiny_spec(tmp_path / "s")
    out = tmp_path / "out"
    run_study(spec, out, progress=False)
    before = snapshot(out)

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, out, progress=False)
    assert snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_partial_folders_of_dead_runs_are_swept_but_foreign_ones_kept(tmp_path):
    spec = tiny_spec(tmp_path / "s")
    dead = tmp_path / ".out.partial-4194303-deadbeef"  # above Linux's pid_max: not running
    dead.mkdir()
    (dead / MARKER).write_text(json.dumps({
        "written_by": "policylab", "state": "partial", "pid": 4194303,
        "host": __import__("socket").gethostname(), "files": {}}))
    foreign = tmp_path / ".out.partial-mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    run_study(spec, tmp_path / "out", progress=False)
    assert not dead.exists()
    assert (foreign / "keep.txt").read_text() == "x"


def test_output_folder_and_files_get_ordinary_permissions(tmp_path):
    spec = tiny_spec(tmp_path / "s")
    old = os.umask(0o022)
    try:
        run_study(spec, tmp_path / "out", progress=False)
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert out.stat().st_mode & 0o777 == 0o755
    for name in ("results.json", "manifest.json", MARKER):
        assert (out / name).stat().st_mode & 0o777 == 0o644


# --- one failed output does not lose the run ----------------------------------------


def test_failing_writer_still_yields_results_and_manifest(tmp_path, monkeypatch):
    def broken(self):
        raise OSError("disk quota exceeded")

    monkeypatch.setattr(Table, "to_markdown", broken)
    spec = tiny_spec(tmp_path / "s", formats='["md", "csv"]')
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(out), "--json"])
    assert r.exit_code == 1, r.output
    summary = json.loads(r.stdout)
    failed = {f["file"] for f in summary["output_failures"]}
    assert "tables/baseline_baseline.md" in failed
    results = json.loads((out / "results.json").read_text())
    assert results["baseline"]["status"] == "ok" and results["baseline"]["results"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["file"] for f in manifest["output_failures"]} == failed
    assert any("disk quota exceeded" in w for w in manifest["warnings"])
    assert (out / "tables" / "baseline_baseline.csv").is_file()
    assert not list((out / "tables").glob("*.md"))


def test_failing_writer_is_reported_on_the_console(tmp_path, monkeypatch):
    monkeypatch.setattr(Table, "to_markdown", lambda self: 1 / 0)
    spec = tiny_spec(tmp_path / "s")
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert "could not write tables/baseline_baseline.md" in r.output


# --- names built from user data -----------------------------------------------------

HOSTILE = ["a/b", "a_b", "..", "../../etc/passwd", "区域/地区", "CON", "", ".hidden",
           "x" * 300, "a\x00b", "A/B", "C:\\win", "tab\there", "省份"]


def test_safe_filename_is_safe_and_unique():
    taken: set[str] = set()
    names = [safe_filename(t, taken) for t in HOSTILE]
    assert len({n.lower() for n in names}) == len(names)
    for n in names:
        assert n and not n.startswith(".") and ".." not in n
        assert not set(n) & set('/\\:*?"<>|\x00\t ')
        assert len(n.encode("utf-8")) <= 96 + 4
        assert n.split(".")[0].lower() not in {"con", "nul", "prn", "aux"}
    assert names[HOSTILE.index("省份")] == "省份"
    assert "区域" in names[HOSTILE.index("区域/地区")]


def test_hostile_subgroup_column_gives_safe_files_and_original_text(tmp_path):
    df = carbon_pilot().df.copy()
    df["region"] = df["region"].map({"east": "east/沿海", "central": "../central"}).fillna("west")
    df = df.rename(columns={"region": "区域/地区"})
    proj = tmp_path / "p"
    proj.mkdir()
    df.to_csv(proj / "d.csv", index=False)
    extra = '[battery.heterogeneity]\nenabled = true\nby = ["区域/地区"]\npermutation_draws = 0\n'
    spec = tiny_spec(proj, data="d.csv", extra=extra, formats='["html", "md", "csv"]')
    summary = run_study(spec, tmp_path / "out", progress=False)
    out = summary.out_dir
    assert not summary.output_failures
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(out in p.resolve().parents for p in files)
    het = [p.name for p in (out / "tables").glob("heterogeneity_*区域*")]
    assert het and all("/" not in n for n in het)
    assert not list(tmp_path.glob("**/central*"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "区域/地区" in html


# --- default folder names -----------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["demo"], "policylab-demo-carbon_trading_pilot"),
    (["demo", "--study", "energy_rights_pilot"], "policylab-demo-energy_rights_pilot"),
    (["run", "my_study.toml"], "my_study-results"),
])
def test_default_out_is_named_after_the_study(monkeypatch, args, expected):
    import policylab.study.pipeline as pipeline

    seen = {}

    def fake_run_study(spec, out, **kw):
        seen["out"], seen["force"] = Path(out), kw.get("force")
        raise OutputError("stop here")

    monkeypatch.setattr(pipeline, "run_study", fake_run_study)
    r = CliRunner().invoke(app, [*args, "--force"])
    assert r.exit_code == 2 and "stop here" in r.output
    assert seen == {"out": Path(expected), "force": True}


def test_console_does_not_say_plain_ok_for_a_step_with_warnings(tmp_path, monkeypatch):
    from policylab.study import steps

    original = steps.STEPS["descriptives"]

    def warned(ctx):
        out = original(ctx)
        out.warnings[:] = ["first referee note", "second referee note"]
        return out

    monkeypatch.setitem(steps.STEPS, "descriptives", warned)
    spec = tiny_spec(tmp_path / "s")
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.strip().startswith("descriptives"))
    assert "ok, 2 warnings" in line


def test_ctrl_c_while_moving_outputs_leaves_the_new_set_whole(tmp_path, monkeypatch):
    import signal

    from policylab.study.outdir import Staging

    spec = tiny_spec(tmp_path / "s", formats='["md", "csv"]')
    out = tmp_path / "out"
    run_study(spec, out, progress=False)
    (out / "notes.txt").write_text("mine")
    spec.write_text(spec.read_text().replace('["md", "csv"]', '["md"]'))
    original = Staging._move

    def interrupted_move(self, files):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of moving files
        return original(self, files)

    monkeypatch.setattr(Staging, "_move", interrupted_move)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, out, progress=False)
    marker = read_marker(out)
    assert marker["state"] == "complete"
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert present - {MARKER, "notes.txt"} == set(marker["files"])
    assert not list((out / "tables").glob("*.csv"))  # the new set: Markdown only
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("clash", ["report_dir", "tables_file"])
def test_force_never_replaces_a_user_folder_or_file_in_our_way(tmp_path, clash):
    spec = tiny_spec(tmp_path / "s", formats='["html", "md"]')
    dest = tmp_path / "shared"
    dest.mkdir()
    if clash == "report_dir":  # a folder of the user's where report.html would go
        (dest / "report.html").mkdir()
        (dest / "report.html" / "draft.txt").write_text("mine")
        lost = "report.html"
    else:  # a file of the user's where the tables folder would go
        (dest / "tables").write_text("mine")
        lost = "tables/baseline_baseline.md"
    before = snapshot(dest)
    summary = run_study(spec, dest, progress=False, force=True)
    assert lost in {f["file"] for f in summary.output_failures}
    assert summary.partial
    assert (summary.report_html is None) == (clash == "report_dir")
    after = snapshot(dest)
    assert {k: after[k] for k in before} == before
    assert json.loads((dest / "manifest.json").read_text())["output_failures"]
    assert lost not in read_marker(dest)["files"]
