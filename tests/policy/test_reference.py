"""docs/policy-reference.md is generated from the schema; this fails when the committed file is stale."""

from __future__ import annotations

from pathlib import Path

from afterword.policies.reference import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy-reference.md"


def test_committed_reference_matches_the_schema() -> None:
    assert DOC.read_text(encoding="utf-8") == reference(), (
        "docs/policy-reference.md is stale: run `python -m afterword.policies.reference > docs/policy-reference.md`"
    )


def test_reference_documents_every_section() -> None:
    text = reference()
    for section in ("`[calendar]`", "`[deadlines.<name>]`", "`[[people]]`", "`[teams.<name>]`",
                    "`[review.by_severity.<severity>]`", "`[integrations.<name>]`", "`[language]`", "`[redaction]`"):
        assert f"## {section}" in text
    assert "| `within` | duration |" in text
