"""`afterword policy ...` as a person or a script uses it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from afterword.cli import main
from afterword.policies import for_team, load_policy, load_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "policies"
ALERTS = ROOT / "examples" / "alerts"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["policy", *args], env={"AFTERWORD_POLICY_DIR": "", **(env or {})})
    return result.exit_code, result.output


def test_check_lists_every_problem_with_file_line_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "default"\n[review]\nquorom = 2\n[triggers]\ndowntime = "soon"\n')
    code, out = run("check", str(bad), str(EXAMPLES / "startup.toml"))
    assert code == 1
    assert f"{bad}:3: review.quorom: unknown key 'quorom'" in out
    assert f"{bad}:5: triggers.downtime:" in out
    assert "ok    " in out and "startup.toml" in out
    assert "2 problem(s) in 1 file(s)" in out


def test_check_examples_and_policy_dir(tmp_path: Path) -> None:
    code, out = run("check", *(str(p) for p in sorted(EXAMPLES.glob("*.toml"))))
    assert code == 0, out
    code, out = run("check", "--policy-dir", str(EXAMPLES), "--json")
    assert code == 0
    assert {r["org"] for r in json.loads(out)} == {"default", "startup", "fintech", "platform"}


def test_show_team_and_severity_as_toml() -> None:
    code, out = run("show", str(EXAMPLES / "platform.toml"), "--team", "payments")
    assert code == 0, out
    shown = tomllib.loads(out)
    assert shown["deadlines"]["draft"]["within"] == "48h"
    assert "teams" not in shown  # folded in
    # what is shown is a policy: it loads back to the team's effective rules
    shown_policy = load_text(out, "shown.toml")
    team_policy = for_team(load_policy(EXAMPLES / "platform.toml"), "payments")
    assert (shown_policy.deadlines, shown_policy.review, shown_policy.triggers) == (
        team_policy.deadlines, team_policy.review, team_policy.triggers)
    code, out = run("show", "platform", "--policy-dir", str(EXAMPLES), "--severity", "sev1")
    assert code == 0, out
    folded = tomllib.loads(out)
    assert folded["review"]["quorum"] == 2 and "by_severity" not in folded["review"]
    assert "external_summary" in folded["deadlines"]
    code, out = run("show", "platform", "--policy-dir", str(EXAMPLES), "--severity", "SEV2")
    assert "external_summary" not in tomllib.loads(out)["deadlines"]


def test_show_errors_say_what_exists() -> None:
    code, out = run("show", str(EXAMPLES / "platform.toml"), "--team", "mobile")
    assert code == 2 and "teams: core, data, payments, search" in out
    code, out = run("show", "default", "--severity", "SEV9")
    assert code == 2 and "SEV1, SEV2" in out


def test_init_writes_a_valid_starter(tmp_path: Path) -> None:
    target = tmp_path / "acme.toml"
    code, out = run("init", "--org", "acme", "--timezone", "Europe/Berlin", "-o", str(target))
    assert code == 0, out
    policy = load_policy(target)
    assert (policy.org, policy.timezone) == ("acme", "Europe/Berlin")
    assert "#" in target.read_text()  # commented
    code, out = run("init", "--org", "acme", "-o", str(target))
    assert code == 1 and "--force" in out
    code, out = run("init", "--timezone", "Nowhere/Land")
    assert code == 2 and "unknown timezone" in out


def test_diff(tmp_path: Path) -> None:
    code, out = run("diff", "default", "default")
    assert code == 0 and "no effective differences" in out
    changed = tmp_path / "x.toml"
    changed.write_text('extends = "default"\norg = "default"\nname = "default"\n'
                       'description = "afterword defaults: SEV1-2 need a postmortem, draft within 72 h of resolution,'
                       ' publish within 5 days"\n[review]\nquorum = 2\n')
    code, out = run("diff", "default", str(changed))
    assert code == 1
    assert out.strip() == "~ review.quorum: 1 -> 2"


def test_schema_is_json_schema() -> None:
    code, out = run("schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "afterword policy"
    assert schema["additionalProperties"] is False
    assert "deadlines" in schema["properties"]


@pytest.mark.parametrize("alert", ["alertmanager-resolved.json", "pagerduty-triggered.json",
                                   "grafana-firing.json", "opsgenie-create.json", "generic-firing.json"])
def test_explain_alert_payloads(alert: str) -> None:
    code, out = run("explain", "default", "--alert", str(ALERTS / alert))
    assert code == 0, out
    assert "postmortem: " in out and "deadlines (timezone UTC):" in out


def test_explain_shows_required_reasons_and_due_times(tmp_path: Path) -> None:
    incident = {"key": "INC-7", "title": "Checkout down", "severity": "P2", "service": "checkout",
                "labels": {"downtime_minutes": "45"}, "started_at": "2026-11-20T10:00:00Z",
                "resolved_at": "2026-11-20T11:00:00Z"}
    path = tmp_path / "incident.json"
    path.write_text(json.dumps(incident))
    code, out = run("explain", str(EXAMPLES / "startup.toml"), "--alert", str(path))
    assert code == 0, out
    assert "severity: SEV2 (alert said 'P2')" in out
    assert "postmortem: REQUIRED" in out
    assert "user-facing downtime 45 min is above 60m" not in out  # 45 < 60: only the severity rule
    # resolved Friday 03:00 in Los Angeles; 3 business days of 9 h: Fri, Mon, Tue until 18:00
    assert "due Tue 2026-11-24 18:00 PST (02:00 UTC)" in out
    code, out = run("explain", str(EXAMPLES / "startup.toml"), "--alert", str(path), "--json")
    data = json.loads(out)
    assert data["decision"]["requirement"] == "required"
    assert data["due"]["draft"] == "2026-11-25T02:00:00+00:00"
    assert data["due"]["meeting"] is None


def test_explain_bad_alert_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json")
    code, out = run("explain", "default", "--alert", str(path))
    assert code == 1 and "not valid JSON" in out
    path.write_text('{"hello": 1}')
    code, out = run("explain", "default", "--alert", str(path))
    assert code == 1 and "no source understands this payload" in out


def test_broken_policy_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[review\n")
    code, out = run("show", str(bad))
    assert code == 1 and f"{bad}:1: (syntax)" in out


def test_explain_for_a_team(tmp_path: Path) -> None:
    incident = {"key": "INC-8", "title": "Search slow", "severity": "SEV3", "started_at": "2026-11-20T14:00:00Z",
                "resolved_at": "2026-11-20T15:00:00Z"}
    path = tmp_path / "incident.json"
    path.write_text(json.dumps(incident))
    code, out = run("explain", str(EXAMPLES / "platform.toml"), "--alert", str(path))
    assert code == 0 and "postmortem: OPTIONAL" in out
    code, out = run("explain", str(EXAMPLES / "platform.toml"), "--alert", str(path), "--team", "search")
    assert code == 0, out
    assert "team search" in out and "postmortem: NONE" in out
    assert "deadlines (timezone America/New_York)" in out
    code, out = run("explain", str(EXAMPLES / "platform.toml"), "--alert", str(path), "--team", "nope")
    assert code == 2 and "teams: core, data, payments, search" in out
