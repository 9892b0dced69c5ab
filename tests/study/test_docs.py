from pathlib import Path

from policylab.study.spec import spec_reference

ROOT = Path(__file__).resolve().parents[2]


def test_spec_reference_is_current():
    # docs/spec-reference.md is generated from the schema; regenerate it with
    # python -c "from policylab.study.spec import spec_reference; print(spec_reference())"
    assert (ROOT / "docs" / "spec-reference.md").read_text(encoding="utf-8") == spec_reference()
