"""policylab's cache folder: an entry is made once per key, reused after, remade when
its input changes or the stored file is bad; a cache that cannot be written is no
cache, never an error; pruning removes only entries the cache itself named."""

from __future__ import annotations

import os
import sys

import pytest

from policylab.report import cache


class Maker:
    def __init__(self, data: bytes = b"OTTOfont") -> None:
        self.calls, self.data = 0, data

    def __call__(self) -> bytes:
        self.calls += 1
        return self.data


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYLAB_CACHE_DIR", str(tmp_path / "c"))
    return tmp_path / "c"


def test_an_entry_is_made_once_and_read_after(folder):
    make = Maker()
    assert cache.cached_bytes("cjk", "otf", ["a"], make) == b"OTTOfont"
    assert cache.cached_bytes("cjk", "otf", ["a"], make) == b"OTTOfont"
    assert make.calls == 1
    assert len(list(folder.glob("cjk-*.otf"))) == 1
    other = Maker(b"OTTOother")
    assert cache.cached_bytes("cjk", "otf", ["b"], other) == b"OTTOother"  # new key
    assert other.calls == 1


def test_a_bad_stored_entry_is_made_again(folder):
    make = Maker()
    cache.cached_bytes("cjk", "otf", ["a"], make)
    (entry,) = folder.glob("cjk-*.otf")
    entry.write_bytes(b"<html>")  # truncated, replaced, not ours any more
    assert cache.cached_bytes("cjk", "otf", ["a"], make,
                              valid=lambda b: b[:4] == b"OTTO") == b"OTTOfont"
    assert make.calls == 2 and entry.read_bytes() == b"OTTOfont"


def test_an_empty_setting_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYLAB_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    make = Maker()
    for _ in range(2):
        assert cache.cached_bytes("cjk", "otf", ["a"], make) == b"OTTOfont"
    assert make.calls == 2 and cache.cache_dir() is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="permissions are not enforced for this user")
def test_an_unwritable_folder_is_no_cache_and_no_error(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("POLICYLAB_CACHE_DIR", str(ro / "c"))
    try:
        assert cache.cached_bytes("cjk", "otf", ["a"], Maker()) == b"OTTOfont"
    finally:
        ro.chmod(0o700)


def test_pruning_keeps_the_newest_and_leaves_other_files_alone(folder, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 3)
    folder.mkdir(parents=True)
    foreign = [folder / "notes.txt", folder / "cjk-mine.otf", folder / f"png-{'0' * 64}.png"]
    for f in foreign:
        f.write_text("not the cache's")
    for i in range(5):
        before = set(folder.iterdir())
        cache.cached_bytes("cjk", "otf", [str(i)], Maker())
        (new,) = set(folder.iterdir()) - before
        os.utime(new, (1_000_000 + i, 1_000_000 + i))  # entry i last used at time i
    ages = sorted(int(p.stat().st_mtime) - 1_000_000 for p in folder.iterdir()
                  if p not in foreign)
    assert ages == [2, 3, 4]
    assert all(f.is_file() for f in foreign)


def test_the_cjk_face_is_the_same_from_the_cache(folder, monkeypatch):
    from policylab.report import html
    from policylab.report.style import bundled_cjk_font

    if bundled_cjk_font() is None:
        pytest.skip("no bundled CJK font")
    text = "<p>碳排放权交易试点 2013</p>"
    first = html._cjk_font_face(text)
    assert first and len(list(folder.glob("cjk-*.otf"))) == 1
    monkeypatch.setattr(html, "_cjk_subset", lambda *a: pytest.fail("not from the cache"))
    assert html._cjk_font_face(text) == first
    monkeypatch.undo()  # the real subsetter again, with the cache off: the same face
    monkeypatch.setenv("POLICYLAB_CACHE_DIR", "")
    assert html._cjk_font_face(text) == first
