"""`afterword lint`, `afterword redact`, `afterword check`: the quality gates on a Markdown file.

They run the same code as the workflow's gates, with the policy given by `--policy` (a TOML file),
else the organisation's policy from AFTERWORD_POLICY_DIR / AFTERWORD_ORG, else the shipped default.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import ValidationError

from afterword.workflows.models import Finding

FILE_ARG = click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
POLICY_OPT = click.Path(exists=True, dir_okay=False, path_type=Path)


def _policy(path: Path | None) -> dict[str, Any]:
    """The whole effective policy as the workflow sees it (`rules.policy`)."""
    from afterword.policies import PolicyError, load_org_policy, load_policy
    from afterword.settings import Settings

    try:
        if path is not None:
            policy = load_policy(path)
        else:
            settings = Settings.from_env()
            policy = load_org_policy(settings.default_org, settings.policy_dir)
    except PolicyError as err:
        raise click.ClickException(f"the policy does not load:\n{err}") from None
    return policy.model_dump(mode="json")


# A postmortem is rarely over 1 MB; a file this large is an export or a log, not a document to lint.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def _refuse(message: str) -> NoReturn:
    """Bad input: say what to fix, exit status 2 (1 means "findings")."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _read(path: Path) -> str:
    """The document as text, or a clear refusal: too large, empty, binary, not UTF-8."""
    name = "standard input" if str(path) == "-" else str(path)
    if str(path) == "-":
        raw = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
    else:
        try:
            size = path.stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                _refuse(
                    f"{name} is {size / 1e6:.1f} MB; documents of up to {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB "
                    "are checked (split it, or check the postmortem rather than an export or a log)"
                )
            raw = path.read_bytes()
        except OSError as exc:
            _refuse(f"cannot read {name}: {exc.strerror or exc}")
    if len(raw) > MAX_DOCUMENT_BYTES:
        _refuse(f"{name} is over {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB; split it")
    if not raw.strip():
        _refuse(f"{name} is empty: there is nothing to check")
    if b"\0" in raw:
        _refuse(f"{name} is a binary file (it holds NUL bytes), not Markdown text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        _refuse(
            f"{name} is not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded "
            "(save the file as UTF-8)"
        )


def _required_sections(policy: dict[str, Any], severity: str | None) -> list[str]:
    document = policy.get("document") or {}
    sections = list(document.get("required_sections") or [])
    if severity:
        override = (document.get("by_severity") or {}).get(severity) or {}
        if override.get("required_sections") is not None:
            sections = list(override["required_sections"])
    return sections


def _print_findings(name: str, findings: list[Finding], explanations: list[str] | None = None) -> None:
    for index, f in enumerate(findings):
        where = f"{name}:{f.line or 0}:{f.column or 0}"
        if f.end_column:
            where += f"-{f.end_column}"
        click.echo(f"{where}: {f.severity} [{f.rule}] {f.message}")
        if f.suggestion:
            click.echo(f"    suggestion: {f.suggestion}")
        if explanations is not None:
            click.echo(f"    why: {explanations[index]}")


def _summary(findings: list[Finding]) -> str:
    errors = sum(f.severity == "error" for f in findings)
    return f"{errors} error(s), {len(findings) - errors} warning(s)"


def _bad_policy(exc: ValidationError) -> click.ClickException:
    return click.ClickException(f"the policy's [language]/[redaction] settings do not validate:\n{exc}")


def _json_finding(finding: Finding) -> dict[str, Any]:
    return {
        "line": finding.line,
        "column": finding.column,
        "end_column": finding.end_column,
        "rule": finding.rule,
        "severity": finding.severity,
        "message": finding.message,
        "suggestion": finding.suggestion,
    }


@click.command("lint")
@click.argument("file", type=FILE_ARG)
@click.option("--policy", "policy_path", type=POLICY_OPT, help="policy TOML file (default: the org's policy)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--explain", is_flag=True, help="say for each finding which rule fired and why")
def lint_cmd(file: Path, policy_path: Path | None, fmt: str, explain: bool) -> None:
    """Check FILE for blaming language; exit status 1 when any finding is an error, 2 on bad input.

    Each finding has its line, column and end column (the column after its last character; columns count
    characters, tabs as one), the rule, a message and a suggested rewording.
    """
    from afterword.gates.lint import linter_for

    text = _read(file)
    policy = _policy(policy_path)
    try:
        located = linter_for(policy).located(text)
    except ValidationError as exc:
        raise _bad_policy(exc) from None
    findings = [finding for finding, _ in located]
    if fmt == "json":
        rows = []
        for finding, hit in located:
            row = _json_finding(finding)
            if explain:
                row.update({"text": hit.text, "explanation": hit.why, "rule_set": hit.language or None})
            rows.append(row)
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        why = [f"{hit.why} [rule set {hit.language}]" if hit.language else hit.why for _, hit in located]
        _print_findings(str(file), findings, why if explain else None)
        click.echo(_summary(findings), err=True)
    if any(f.severity == "error" for f in findings):
        sys.exit(1)


@click.command("redact")
@click.argument("file", type=FILE_ARG)
@click.option("--audience", type=click.Choice(["internal", "external"]), required=True)
@click.option("--policy", "policy_path", type=POLICY_OPT, help="policy TOML file (default: the org's policy)")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the redaction report (JSON: categories, places, counts; never values) here",
)
def redact_cmd(file: Path, audience: str, policy_path: Path | None, report_path: Path | None) -> None:
    """Write FILE redacted for AUDIENCE to stdout: internal removes secrets; external also removes
    personal data, roster names (replaced by role labels), internal hostnames and listed terms."""
    from afterword.activities.document_gates import redact_text

    policy = _policy(policy_path)
    try:
        redacted, report = redact_text(_read(file), "external" if audience == "external" else "internal", policy)
    except ValidationError as exc:
        raise _bad_policy(exc) from None
    click.echo(redacted, nl=False)
    data = report.model_dump(mode="json", exclude={"redacted_ref"})
    if report_path is not None:
        report_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing"
    click.echo(f"redacted for {audience}: {counts}", err=True)


@click.command("check")
@click.argument("file", type=FILE_ARG)
@click.option("--policy", "policy_path", type=POLICY_OPT, help="policy TOML file (default: the org's policy)")
@click.option("--severity", help="use this severity's required sections (document.by_severity)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check_cmd(file: Path, policy_path: Path | None, severity: str | None, fmt: str) -> None:
    """Run the draft gates on FILE: required sections, action items, blameless language.

    Prints the findings and the completeness score; exit status 1 when the draft would be refused.
    """
    from afterword.activities.document_gates import check_text

    policy = _policy(policy_path)
    try:
        result = check_text(_read(file), _required_sections(policy, severity), policy)
    except ValidationError as exc:
        raise _bad_policy(exc) from None
    if fmt == "json":
        click.echo(result.model_dump_json(indent=2))
    else:
        _print_findings(str(file), result.findings)
        verdict = "passes" if result.ok else "would be refused"
        click.echo(f"completeness {result.completeness:.0%}; {_summary(result.findings)}; the draft {verdict}")
    if not result.ok:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add this area's commands to the `afterword` group."""
    main.add_command(lint_cmd)
    main.add_command(redact_cmd)
    main.add_command(check_cmd)
