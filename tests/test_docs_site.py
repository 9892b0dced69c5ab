"""The documentation site's sources are complete: every page is in the nav, and the API
reference (generated) lists every public name. `make test` then builds the site with
`mkdocs build --strict`, which fails on a broken link or an unreadable docstring."""

import importlib.util
import re
from pathlib import Path

import policylab

ROOT = Path(__file__).resolve().parents[1]


def _api_script():
    spec = importlib.util.spec_from_file_location("api_reference",
                                                  ROOT / "scripts" / "api_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_reference_is_current():
    # regenerate with: python scripts/api_reference.py
    assert (ROOT / "docs" / "api.md").read_text(encoding="utf-8") == _api_script().api_reference()


def test_api_reference_covers_the_public_api():
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = {line.rsplit(".", 1)[1] for line in page.splitlines()
                  if line.startswith("::: ")}
    public = {n for n in policylab.__all__ if n in policylab._LAZY}
    assert public == documented
    assert "etable" in documented and "write_dta" in documented


def test_every_page_is_in_the_nav():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", text, re.M))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert nav == pages
