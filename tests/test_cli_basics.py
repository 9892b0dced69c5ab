"""The command's housekeeping: `python -m policylab`, `--version`, the typing marker."""

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import policylab


def test_python_m_policylab_prints_the_installed_version():
    out = subprocess.run([sys.executable, "-m", "policylab", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"policylab {metadata.version('policylab')}"


def test_package_version_matches_the_distribution():
    assert policylab.__version__ == metadata.version("policylab")


def test_package_ships_a_typing_marker():
    assert (Path(policylab.__file__).parent / "py.typed").is_file()
