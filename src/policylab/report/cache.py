"""policylab's own cache folder: results that are slow to make and the same every run.

The one user now is the CJK font subset of an HTML report in Chinese (the 16 MB Noto
Sans CJK font parsed and cut down to the report's characters: about half a second of
every rerun). An entry's name is a hash of everything that makes it (the font file,
its size and time stamp, the fontTools version, the characters), so a changed input
is a new entry and a stale one is never read. Entries are written atomically; the
folder keeps the newest :data:`KEEP` entries and removes older ones, and only files
whose names it gives (``cjk-<hash>.otf``) are ever removed.

The folder is ``$POLICYLAB_CACHE_DIR`` when set (set it empty to use no cache), else
the platform's user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) + ``/policylab``. A
folder that cannot be made or written means no cache, never an error.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from policylab.report.io import write_atomic

__all__ = ["cache_dir", "cached_bytes", "KEEP"]

#: entries kept per kind; older ones (by last use) are removed
KEEP = 32
_NAME = re.compile(r"^(?P<kind>[a-z]+)-[0-9a-f]{64}\.(?P<ext>[a-z]+)$")


def cache_dir() -> Path | None:
    """policylab's cache folder (not created here), or None when caching is off."""
    env = os.environ.get("POLICYLAB_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base) / "policylab" / "Cache" if base else None
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "policylab"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "policylab"


def cached_bytes(kind: str, ext: str, key: list[str], make: Callable[[], bytes],
                 valid: Callable[[bytes], bool] = bool) -> bytes:
    """``make()``, or the bytes an earlier call with the same ``key`` stored.

    Parameters
    ----------
    kind, ext : str
        The entry's kind and extension (lower-case letters): ``cjk``, ``otf``.
    key : list of str
        Everything the bytes depend on; hashed into the entry's name.
    make : callable
        Makes the bytes when there is no entry (or the cache is off or unusable).
    valid : callable
        Whether stored bytes may be used (a truncated or foreign file is made again).
    """
    folder = cache_dir()
    digest = hashlib.sha256("\x00".join([kind, ext, *key]).encode("utf-8")).hexdigest()
    path = folder / f"{kind}-{digest}.{ext}" if folder is not None else None
    if path is not None and path.is_file():
        try:
            data = path.read_bytes()
            if valid(data):
                os.utime(path)  # last use: the pruning keeps what is used
                return data
        except OSError:  # unreadable: make it again
            pass
    data = make()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lambda p: Path(p).write_bytes(data))
            _prune(path.parent, kind, ext)
        except OSError:  # read-only home, full disk: no cache this time
            pass
    return data


def _prune(folder: Path, kind: str, ext: str) -> None:
    """Remove this kind's entries beyond the newest KEEP (only names this module gives)."""
    mine = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and m["kind"] == kind and m["ext"] == ext and p.is_file():
            mine.append((p.stat().st_mtime, p))
    for _, p in sorted(mine, reverse=True)[KEEP:]:
        p.unlink(missing_ok=True)
