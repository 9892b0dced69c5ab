"""One way to write an output file: atomically, with ordinary permissions.

Every writer in ``policylab.report`` goes through :func:`write_atomic`. The content goes
to a hidden temporary file beside the target and is then renamed over it
(``os.replace``), so a reader never sees half a file and an interrupted run leaves the
previous version in place. The temporary file is created with mode ``0o666`` filtered by
the process umask (0644 under the usual umask 022), as ``open()`` would: not the
``0600`` of :func:`tempfile.mkstemp`, which would leave report.html unreadable to
co-authors and web servers once renamed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic", "write_text"]


def write_atomic(path: str | Path, save: Callable[[str], object]) -> Path:
    """Write ``path`` by calling ``save(tmp_path)`` and renaming the result into place.

    Parameters
    ----------
    path : str or Path
        The file to create or replace. Its folder must exist.
    save : callable
        Writes the whole content to the path it is given (``doc.save``, ``wb.save``,
        ``lambda p: fig.savefig(p, format="pdf")``...).

    Returns
    -------
    Path
        ``path``. On any error (or KeyboardInterrupt) the temporary file is removed and
        an existing ``path`` is left untouched.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}")
    # O_EXCL: never write through a file or link someone else put there
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        save(str(tmp))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) atomically to ``path``."""

    def save(p: str) -> None:
        with open(p, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return write_atomic(path, save)
