"""Output folders: which folder a run may write into, and how outputs reach it.

The rule is that policylab only ever replaces what policylab wrote. A folder a run
writes is marked as ours by a small marker file (:data:`MARKER`) that lists every file
the run wrote with its SHA-256. A later run into that folder replaces those files,
removes the ones it no longer writes (only when they are unchanged since we wrote
them) and leaves every other file alone. A folder that is not ours and not empty is
refused unless the caller forces it; forcing replaces only files policylab itself
writes and never deletes anything. Folders that can never be an output folder (the
current folder, the spec's folder, any folder holding the spec or data, the home
folder, the filesystem root, a file or a path below one) are refused before any
computing starts.

Outputs are built in a hidden folder beside the destination and then moved into
place; signals are held back while files are moved, so a run leaves either the old
outputs or the new ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from policylab.errors import OutputError

__all__ = ["MARKER", "OutFolder", "claim_out_dir", "read_marker", "safe_filename", "Staging"]

MARKER = ".policylab-output.json"
_FORMAT = 1
# the only places a run writes; a marker naming anything else is not trusted
_SUBDIRS = ("tables", "figures")
_PARTIAL = ".partial-"


@dataclass
class OutFolder:
    """A destination that passed the checks, and what a previous run left there.

    Attributes
    ----------
    path : Path
        The destination, absolute.
    state : str
        "new" (does not exist), "empty", "ours" (holds our marker) or "forced" (a
        foreign folder the caller chose to write into anyway).
    owned : dict
        Files (relative POSIX path -> SHA-256) the previous run wrote, from its marker.
    """

    path: Path
    state: str
    owned: dict[str, str] = field(default_factory=dict)


def _refuse(path: Path, why: str, fix: str) -> OutputError:
    return OutputError(f"output folder {path} {why}; {fix}")


def _safe_rel(rel: Any) -> bool:
    """A marker entry names a file a run could have written: no '..', no absolute path."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        return False
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
        return False
    return len(parts) == 1 or (len(parts) == 2 and parts[0] in _SUBDIRS)


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker of an output folder, or None when the folder is not ours.

    Entries that could point outside the folder are dropped, so a tampered marker can
    never make policylab replace or remove a file elsewhere.
    """
    path = Path(folder) / MARKER
    try:
        if path.is_symlink() or not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != "policylab":
        return None
    files = data.get("files")
    files = files if isinstance(files, dict) else {}
    data["files"] = {k: v for k, v in files.items() if _safe_rel(k) and isinstance(v, str)}
    return data


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hard_refusals(dest: Path, protect: Sequence[Path]) -> None:
    """Refuse folders that can never be an output folder, whatever their content."""
    for anc in (dest, *dest.parents):
        if anc.exists() and not anc.is_dir():
            if anc == dest:
                raise _refuse(dest, "is an existing file, not a folder",
                              "choose a folder name for --out")
            raise _refuse(dest, f"lies below {anc}, which is a file",
                          "choose a folder that is not inside a file for --out")
    if dest == dest.parent:
        raise _refuse(dest, "is the filesystem root", "choose a new folder for --out")
    with contextlib.suppress(RuntimeError, OSError):  # no home folder known: nothing to guard
        if dest == Path.home().resolve():
            raise _refuse(dest, "is your home folder", "choose a new folder for --out, "
                          "e.g. --out ~/policylab-results")
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the current folder was removed: nothing there to protect
        cwd = None
    if cwd is not None and (dest == cwd or dest in cwd.parents):
        what = "the current folder" if dest == cwd else f"a parent of the current folder {cwd}"
        raise _refuse(dest, f"is {what}", "choose a new folder for --out, e.g. --out results")
    for p in protect:
        p = p.resolve()
        if dest == p.parent or dest in p.parents:
            where = "is the folder that holds" if dest == p.parent else "contains"
            raise _refuse(dest, f"{where} {p}", "choose a new folder for --out, e.g. "
                          f"--out {p.parent / (p.stem + '-results')}")


def claim_out_dir(out_dir: str | Path, *, protect: Sequence[str | Path] = (),
                  force: bool = False) -> OutFolder:
    """Check that a run may write into ``out_dir``; call before any computing.

    Parameters
    ----------
    out_dir : path
        The destination folder.
    protect : paths
        Input files (spec, data, merge files): neither their folders nor any folder
        above them may be the destination.
    force : bool
        Accept an existing folder that is not ours and not empty; only files policylab
        writes itself are then replaced, nothing is deleted.

    Raises
    ------
    OutputError
        With the path at fault and the way out.
    """
    dest = Path(out_dir).expanduser().resolve()
    _hard_refusals(dest, [Path(p).expanduser() for p in protect])
    if not dest.exists():
        return OutFolder(dest, "new")
    marker = read_marker(dest)
    if marker is not None:
        return OutFolder(dest, "ours", dict(marker["files"]))
    if not any(dest.iterdir()):
        return OutFolder(dest, "empty")
    if force:
        return OutFolder(dest, "forced")
    raise _refuse(dest, f"exists, is not empty and was not written by policylab (it has no "
                  f"{MARKER})", "choose a new folder for --out, or pass --force to write "
                  "into it anyway (only files policylab writes are replaced; nothing is "
                  "deleted)")


_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def safe_filename(text: str, taken: set[str] | None = None, max_bytes: int = 96) -> str:
    """A file-name stem made from user text (column names, category labels).

    Letters of any script (Chinese included), digits, '-', '_' and '.' are kept; path
    separators, '..', control and shell-special characters become '_'. Long names are
    cut and given a short hash so they stay distinct. With ``taken`` (lower-cased
    stems already used; updated in place) the result is made unique by a suffix.
    """
    s = unicodedata.normalize("NFC", str(text))
    s = re.sub(r"[^\w.\-]", "_", s, flags=re.UNICODE)
    s = re.sub(r"\.{2,}", "_", s).strip("._ ") or "unnamed"
    if s.split(".")[0].lower() in _WINDOWS_RESERVED:
        s = "_" + s
    if len(s.encode("utf-8")) > max_bytes:
        digest = hashlib.sha256(str(text).encode("utf-8")).hexdigest()[:8]
        cut = s.encode("utf-8")[: max_bytes - 9].decode("utf-8", "ignore").rstrip("._")
        s = f"{cut}_{digest}"
    if taken is not None:
        base, n = s, 2
        while s.lower() in taken:
            s, n = f"{base}_{n}", n + 1
        taken.add(s.lower())
    return s


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while outputs are moved, then deliver them."""
    caught: list[int] = []
    old: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, lambda s, _f: caught.append(s))
    except ValueError:  # not the main thread: signals cannot be held, go on
        pass
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _write_marker(folder: Path, files: dict[str, str], state: str) -> None:
    from policylab import __version__

    body = {"written_by": "policylab", "format": _FORMAT, "policylab": __version__,
            "state": state, "pid": os.getpid(), "host": socket.gethostname(),
            "files": dict(sorted(files.items()))}
    tmp = folder / f"{MARKER}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / MARKER)


class Staging:
    """A hidden folder beside the destination where a run builds its outputs.

    Use as a context manager: the folder is created on entry (marked as a partial
    policylab folder, so a run killed outright leaves something the next run can
    recognise and remove) and removed on exit, whatever happened.
    """

    def __init__(self, target: OutFolder) -> None:
        self.target = target
        dest = target.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._sweep_dead_partials()
        while True:
            path = dest.parent / f".{dest.name}{_PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
            try:
                path.mkdir()
                break
            except FileExistsError:  # pragma: no cover - 32 random bits collided
                continue
        self.path = path
        self._moved = False  # True once the whole folder became the destination
        try:
            _write_marker(path, {}, "partial")
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._moved:
            shutil.rmtree(self.path, ignore_errors=True)

    def _sweep_dead_partials(self) -> None:
        """Remove staging folders that runs killed outright left beside the destination."""
        dest = self.target.path
        for p in dest.parent.glob(f".{_glob_escape(dest.name)}{_PARTIAL}*"):
            m = read_marker(p) if p.is_dir() and not p.is_symlink() else None
            if (m is not None and m.get("state") in ("partial", "complete")
                    and m.get("host") == socket.gethostname()
                    and isinstance(m.get("pid"), int) and not _pid_alive(m["pid"])):
                shutil.rmtree(p, ignore_errors=True)

    def files(self) -> list[str]:
        """Every file built so far (relative POSIX paths), the marker excluded."""
        out = []
        for p in self.path.rglob("*"):
            rel = p.relative_to(self.path).as_posix()
            if p.is_file() and rel != MARKER:
                out.append(rel)
        return sorted(out)

    def publish(self, last: Sequence[str],
                finish: Callable[[list[dict[str, str]]], None]) -> list[dict[str, str]]:
        """Move the built outputs into the destination.

        Every built file except those named in ``last`` is moved first; then
        ``finish(failures)`` writes the ``last`` files (the manifest) into the staging
        folder knowing which files could not be put in place, and they follow.
        Returns the failures: dicts with ``file`` and ``error``.
        """
        dest = self.target.path
        if self.target.state == "new":
            finish([])
            _write_marker(self.path, self._hashes(self.files()), "complete")
            try:
                with _signals_held():
                    os.rename(self.path, dest)
                    self._moved = True
                return []
            except OSError:  # the folder appeared meanwhile: check it again, then merge
                self.target = claim_out_dir(dest)
        with _signals_held():
            built = self._hashes(self.files())
            old = self.target.owned
            _write_marker(dest, {**old, **built}, "installing")
            failures = self._move([f for f in built if f not in last])
            finish(failures)
            built.update(self._hashes(list(last)))  # the manifest now knows the failures
            failures += self._move(list(last))
            failed = {x["file"] for x in failures}
            placed = {f: h for f, h in built.items() if f not in failed}
            self._remove_stale(set(placed), old)
            kept_old = {f: h for f, h in old.items() if f not in placed and (dest / f).is_file()
                        and _sha256(dest / f) == h}
            _write_marker(dest, {**kept_old, **placed}, "complete")
        return failures

    def _hashes(self, files: Sequence[str]) -> dict[str, str]:
        return {f: _sha256(self.path / f) for f in files if (self.path / f).is_file()}

    def _move(self, files: Sequence[str]) -> list[dict[str, str]]:
        failures = []
        for rel in files:
            src, dst = self.path / rel, self.target.path / rel
            try:
                if dst.parent != self.target.path:
                    if dst.parent.is_symlink():  # never write through a link to elsewhere
                        raise NotADirectoryError(f"{dst.parent} is a link, not a folder")
                    dst.parent.mkdir(exist_ok=True)
                if dst.is_dir() and not dst.is_symlink():
                    raise IsADirectoryError(f"{dst} is a folder")
                os.replace(src, dst)
            except OSError as exc:
                failures.append({"file": rel, "error": f"{type(exc).__name__}: {exc}"})
        return failures

    def _remove_stale(self, placed: set[str], old: dict[str, str]) -> None:
        """Delete files the previous run wrote and this one did not, if still unchanged."""
        dest = self.target.path
        for rel, digest in old.items():
            p = dest / rel
            if rel in placed or rel == MARKER or p.is_symlink() or not p.is_file():
                continue
            with contextlib.suppress(OSError):
                if _sha256(p) == digest:
                    p.unlink()
        for sub in {rel.split("/")[0] for rel in old if "/" in rel}:
            d = dest / sub
            with contextlib.suppress(OSError):
                if d.is_dir() and not d.is_symlink() and not any(d.iterdir()):
                    d.rmdir()


def _glob_escape(name: str) -> str:
    """``name`` with glob metacharacters quoted (folder names are user text)."""
    return re.sub(r"([*?\[])", r"[\1]", name)
