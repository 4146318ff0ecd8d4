"""The lifecycle diagram in the docs is the machine's own."""

from pathlib import Path

from afterword.workflows.lifecycle import mermaid


def test_lifecycle_doc_shows_the_current_machine() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md").read_text()
    assert mermaid() in doc, "docs/lifecycle.md is stale: paste the output of lifecycle.mermaid() into it"
