"""`afterword lint`, `afterword redact`, `afterword check` as a person or a script uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from afterword.cli import main

EXAMPLE_POLICY = Path(__file__).parents[2] / "examples" / "policies" / "startup.toml"

DRAFT = """# Postmortem

## Summary

Checkout failed for 40 minutes. Dave broke production; Priya Raman rolled back.
The config held password = "Winter2026!42" and the Globex dashboard showed errors from 10.20.30.40.

## Impact

TBD
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    draft = tmp_path / "draft.md"
    draft.write_text(DRAFT, encoding="utf-8")
    policy = tmp_path / "startup.toml"
    policy.write_text(
        EXAMPLE_POLICY.read_text(encoding="utf-8")
        + '\n[language.rules.naming]\nseverity = "warning"\n\n[redaction]\nterms = ["Globex"]\n',
        encoding="utf-8",
    )
    return draft, policy


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_lint_reports_findings_and_fails_on_errors(files) -> None:
    draft, _ = files
    code, out, err = run("lint", str(draft))
    assert code == 1
    assert f"{draft}:5:" in out and "[naming]" in out and "suggestion:" in out
    assert "error(s)" in err


def test_lint_json_and_policy_severity(files) -> None:
    draft, policy = files
    code, out, _ = run("lint", str(draft), "--policy", str(policy), "--format", "json")
    findings = json.loads(out)
    assert code == 0  # the policy turned naming into a warning
    assert {f["rule"] for f in findings} == {"naming"}
    assert {f["severity"] for f in findings} == {"warning"}
    assert any("Priya Raman" in f["message"] for f in findings)  # a roster name from the policy


def test_redact_writes_markdown_to_stdout_and_a_report_without_values(files, tmp_path: Path) -> None:
    draft, policy = files
    report_path = tmp_path / "report.json"
    code, out, err = run(
        "redact", str(draft), "--audience", "external", "--policy", str(policy), "--report", str(report_path)
    )
    assert code == 0
    assert "Winter2026!42" not in out and "10.20.30.40" not in out and "Globex" not in out
    assert "Priya Raman" not in out and "rolled back" in out
    assert out.startswith("# Postmortem\n")
    report = json.loads(report_path.read_text())
    assert report["audience"] == "external"
    assert report["counts"] == {"password-assignment": 1, "ipv4": 1, "term": 1, "person": 1}
    assert "Winter2026!42" not in report_path.read_text()
    assert "redacted for external" in err


def test_internal_redaction_keeps_names_and_addresses(files) -> None:
    draft, policy = files
    code, out, _ = run("redact", str(draft), "--audience", "internal", "--policy", str(policy))
    assert code == 0
    assert "Winter2026!42" not in out and "10.20.30.40" in out and "Priya Raman" in out


def test_check_prints_findings_and_completeness(files) -> None:
    draft, policy = files
    code, out, _ = run("check", str(draft), "--policy", str(policy))
    assert code == 1
    assert "[missing-section]" in out and "[empty-section]" in out
    assert "completeness" in out and "would be refused" in out
    code, out, _ = run("check", str(draft), "--policy", str(policy), "--format", "json")
    result = json.loads(out)
    assert result["ok"] is False and 0 < result["completeness"] < 0.5


def test_bad_input_says_what_to_fix(tmp_path: Path, files) -> None:
    draft, _ = files
    broken = tmp_path / "broken.toml"
    broken.write_text('[language]\nrules = { naming = { severity = "fatal" } }\n', encoding="utf-8")
    code, _, err = run("lint", str(draft), "--policy", str(broken))
    assert code == 1 and "the policy does not load" in err and "severity" in err
    code, _, err = run("redact", str(draft))
    assert code == 2 and "--audience" in err
    code, _, err = run("check", str(tmp_path / "missing.md"))
    assert code == 2 and "does not exist" in err


def test_lint_json_gives_each_finding_its_span_rule_message_and_suggestion(tmp_path: Path) -> None:
    draft = tmp_path / "pm.md"
    draft.write_bytes(
        b"# PM\r\n\r\n## Summary\r\n\r\nThe cache expired.\r\n```\r\nkey = 1\r\n```\r\nThe queue grew.\r\n"
        b"Priya's mistake took the site down.\r\n"
    )
    code, out, _ = run("lint", str(draft), "--format", "json")
    assert code == 1
    [finding] = json.loads(out)
    assert {k: finding[k] for k in ("line", "column", "end_column", "rule")} == {
        "line": 10,
        "column": 1,
        "end_column": 16,
        "rule": "naming",
    }
    assert finding["message"] and finding["suggestion"]


def test_lint_explain_says_which_rule_fired_and_why(tmp_path: Path) -> None:
    draft = tmp_path / "pm.md"
    draft.write_text("Root cause: Kofi restarted the wrong cluster.\n", encoding="utf-8")
    code, out, _ = run("lint", str(draft), "--explain")
    assert code == 1
    assert f"{draft}:1:13-17: error [root-cause]" in out
    assert "why: root-cause label" in out and "[rule set en]" in out
    code, out, _ = run("lint", str(draft), "--explain", "--format", "json")
    assert json.loads(out)[0]["explanation"].startswith("root-cause label")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"The caf\xe9 was closed.\n", "not UTF-8 text: byte 0xe9 on line 1"),
    ],
)
def test_lint_refuses_bad_input_with_exit_status_2(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "input.md"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert result.exit_code == 2 and says in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr


def test_lint_refuses_a_50_mb_file_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "export.md"
    with path.open("wb") as handle:
        handle.truncate(50 * 1000 * 1000)  # sparse: 50 MB on paper
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert result.exit_code == 2 and "50.0 MB" in result.stderr and "Traceback" not in result.stderr


def test_policy_check_refuses_a_language_rule_that_does_not_compile(tmp_path: Path) -> None:
    policy = tmp_path / "acme.toml"
    policy.write_text(
        'org = "acme"\n\n[[language.exceptions]]\npattern = "rogue (deploy"\nreason = "a product name"\n',
        encoding="utf-8",
    )
    code, out, _ = run("policy", "check", str(policy))
    assert code == 1
    assert f"{policy}:4: language.exceptions[0].pattern: not a valid regular expression" in out


def test_a_hex_api_key_written_in_a_draft_is_redacted_by_the_command(tmp_path: Path) -> None:
    draft = tmp_path / "config.md"
    draft.write_text('    api_key = "26aa728a53b8ae7c867b9aac337858e2"  # vendor monitoring key\n', encoding="utf-8")
    code, out, err = run("redact", str(draft), "--audience", "external")
    assert code == 0
    assert "26aa728a53b8ae7c867b9aac337858e2" not in out
    assert out == '    api_key = "[REDACTED:secret-assignment]"  # vendor monitoring key\n'
    assert "secret-assignment 1" in err
