"""Every class of policy error, with the line and key path a person needs to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterword.policies import PolicyError, load_policy, load_text

HEAD = 'extends = "default"\norg = "acme"\n'  # lines 1-2

CASES: list[tuple[str, str, int, str, str]] = [
    # (case, body after HEAD, line, key, message fragment)
    ("syntax", "[review]\nquorum = = 2\n", 4, "(syntax)", "TOML syntax error"),
    ("syntax unclosed table", "[review\nquorum = 2\n", 3, "(syntax)", "TOML syntax error"),
    ("duplicate key", "[review]\nquorum = 1\nquorum = 2\n", 5, "(syntax)", "TOML syntax error"),
    ("unknown top-level key", "colour = \"blue\"\n", 3, "colour", "unknown key 'colour'; allowed here: org,"),
    ("unknown table", "\n[tool.setuptools]\nx = 1\n", 4, "tool", "unknown key 'tool'"),
    ("unknown nested key", "[review]\nquorom = 2\n", 4, "review.quorom", "allowed here: reviewer_roles, quorum"),
    ("wrong type", "[review]\nquorum = \"two\"\n", 4, "review.quorum", "valid integer"),
    ("out of range", "[review]\nquorum = 0\n", 4, "review.quorum", "greater than or equal to 1"),
    ("bad duration", "[deadlines.draft]\nafter = \"resolved\"\nuntil = \"draft\"\nwithin = \"3 fortnights\"\n",
     6, "deadlines.draft.within", "unknown unit 'fortnights'"),
    ("mixed duration", "[deadlines.draft]\nafter = \"resolved\"\nuntil = \"draft\"\nwithin = \"1d 2 business days\"\n",
     6, "deadlines.draft.within", "mixes business time"),
    ("missing key", "[deadlines.review_call]\nafter = \"resolved\"\nuntil = \"approved\"\n",
     3, "deadlines.review_call.within", "required key is missing"),
    ("bad anchor", "[deadlines.owner]\nafter = \"lunch\"\nuntil = \"owner\"\nwithin = \"1h\"\n",
     4, "deadlines.owner.after", "'triggered'"),
    ("bad timezone", "timezone = \"Mars/Olympus\"\n", 3, "timezone", "unknown timezone 'Mars/Olympus'"),
    ("bad weekday", "[calendar]\nworkdays = [\"mon\", \"funday\"]\n", 4, "calendar.workdays[1]", "unknown weekday"),
    ("bad time of day", "[calendar]\nstart = 9\n", 4, "calendar.start", "not a time of day"),
    ("calendar order", "[calendar]\nstart = 18:00:00\nend = 09:00:00\n", 5, "calendar.end", "must end after"),
    ("unknown severity", "[severities.requirement]\nSEV9 = \"required\"\n", 4, "severities.requirement.SEV9",
     "unknown severity 'SEV9'"),
    ("bad requirement", "[severities.requirement]\nSEV1 = \"mandatory\"\n", 4, "severities.requirement.SEV1",
     "'required', 'optional' or 'none'"),
    ("map to unknown severity", "[severities.map.priority]\nP0 = \"SEV0\"\n", 4, "severities.map.priority.P0",
     "unknown severity 'SEV0'"),
    ("unknown role on a person",
     "[[people]]\nname = \"A\"\nhandle = \"a\"\nroles = [\"reviewer\"]\n\n[[people]]\nname = \"B\"\nhandle = \"b\"\n"
     "roles = [\"reviewer\", \"wizard\"]\n[[people]]\nname = \"C\"\nhandle = \"c\"\nroles = [\"cirt\", \"reviewer\"]\n",
     11, "people[1].roles[1]", "unknown role 'wizard'"),
    ("duplicate handle",
     "[[people]]\nname = \"A\"\nhandle = \"a\"\nroles = [\"reviewer\", \"cirt\"]\n"
     "[[people]]\nname = \"A2\"\nhandle = \"a\"\nroles = [\"reviewer\"]\n",
     9, "people[1].handle", "already used by people[0]"),
    ("unknown escalation person", "[escalation]\nchain = [\"role:manager\", \"zed\"]\n", 4, "escalation.chain[1]",
     "unknown person 'zed'"),
    ("unknown escalation role", "[escalation]\nchain = [\"role:overlord\"]\n", 4, "escalation.chain[0]",
     "unknown role 'overlord'"),
    ("quorum cannot be met", "[review.by_severity.SEV2]\nquorum = 5\n", 4, "review.by_severity.SEV2.quorum",
     "cannot be met: only 3 people"),
    ("required role held by no reviewer", "[review]\nrequired_roles = [\"legal\"]\n", 4, "review.required_roles",
     "held by no reviewer"),
    ("deadlines out of order", "[deadlines.publish]\nafter = \"resolved\"\nuntil = \"published\"\nwithin = \"24h\"\n",
     6, "deadlines.publish.within", "falls due before 'draft'"),
    ("business reminder", "[deadline_options]\nreminders = [\"1 business day\"]\n", 4, "deadline_options.reminders[0]",
     "wall-clock"),
    ("inline secret", "[integrations.tickets]\nadapter = \"github\"\n[integrations.tickets.settings]\n"
     "token = \"hunter2hunter2\"\n", 6, "integrations.tickets.settings.token", "never written inline"),
    ("secret-looking value", "[integrations.notifications]\nadapter = \"slack\"\n"
     "settings = { channel = \"https://hooks.slack.com/services/T000/B000/XXXX\" }\n", 5,
     "integrations.notifications.settings.channel", "inline secret"),
    ("bad secret reference", "[integrations.tickets]\nadapter = \"jira\"\n[integrations.tickets.settings]\n"
     "api_token = \"env:not a name\"\n", 6, "integrations.tickets.settings.api_token", "not a valid secret reference"),
    ("unknown adapter", "[integrations.tickets]\nadapter = \"trello\"\n", 4, "integrations.tickets.adapter",
     "unknown adapter for tickets 'trello'"),
    ("unknown concern", "[integrations.pager]\nadapter = \"x\"\n", 3, "integrations.pager",
     "unknown integration concern 'pager'"),
    ("missing template", "[document]\ntemplate = \"nope.md\"\n", 4, "document.template",
     "template 'nope.md' not found"),
    ("unknown team on person", "[teams.core]\n[[people]]\nname = \"A\"\nhandle = \"a\"\nteam = \"mobile\"\n"
     "roles = [\"reviewer\", \"cirt\"]\n", 7, "people[0].team", "unknown team 'mobile'"),
    ("team overrides forbidden key", "[teams.core]\norg = \"other\"\n", 4, "teams.core.org", "cannot override 'org'"),
    ("team override invalid", "[teams.core]\ndescription = \"core\"\n[teams.core.review]\nquorum = 9\n", 6,
     "teams.core.review.quorum", "cannot be met"),
    ("team override unknown key", "[teams.core.review]\nquorom = 2\n", 4, "teams.core.review.quorom",
     "unknown key 'quorom'"),
    ("extends missing file", "", 1, "extends", "cannot read 'missing.toml'"),
]


@pytest.mark.parametrize(("case", "body", "line", "key", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_error_names_line_key_and_fix(tmp_path: Path, case: str, body: str, line: int, key: str,
                                      fragment: str) -> None:
    head = HEAD if case != "extends missing file" else 'extends = "missing.toml"\n'
    path = tmp_path / "acme.toml"
    path.write_text(head + body)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    problems = [p for p in err.value.problems if p.key == key]
    assert problems, f"no problem at {key}; got:\n{err.value}"
    assert problems[0].line == line, str(err.value)
    assert problems[0].file == str(path)
    assert fragment in problems[0].message, str(err.value)
    assert f"{path}:{line}: {key}: " in str(err.value)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(HEAD + "[review]\nquorom = 2\n[waivers]\nmin_reason_length = -1\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert [(p.line, p.key) for p in err.value.problems] == [(4, "review.quorom"), (6, "waivers.min_reason_length")]


def test_problem_in_extended_file_names_that_file(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text('extends = "default"\n\n[review]\nquorum = 7\n')
    child = tmp_path / "acme.toml"
    child.write_text('extends = "base.toml"\n')
    with pytest.raises(PolicyError) as err:
        load_policy(child)
    assert f"{base}:4: review.quorum:" in str(err.value)


def test_extends_loop(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(PolicyError, match="inheritance loops back"):
        load_policy(tmp_path / "a.toml")


def test_unreadable_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "absent.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe org = 1")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(tmp_path / "bin.toml")


def test_standalone_policy_without_extends_uses_schema_defaults() -> None:
    text = (
        'org = "solo"\n'
        '[[people]]\nname = "Solo"\nhandle = "solo"\nroles = ["reviewer", "cirt", "security"]\n'
    )
    policy = load_text(text, "solo.toml")
    assert policy.deadlines == {}  # nothing inherited: only what the file says
    assert policy.review.quorum == 1


def test_schema_and_cross_field_problems_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(
        'extends = "default"\n\n[review]\nquorom = 2\n\n[[people]]\nname = "Ann"\nhandle = "ann"\n'
        'roles = ["reviewer", "wizard"]\n\n[integrations.tickets]\nadapter = "github"\n'
        'settings = { token = "ghp_abcdefghijklmnopqrstuvwxyz0123" }\n'
    )
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    found = {(p.file, p.line, p.key) for p in err.value.problems}
    assert (str(path), 4, "review.quorom") in found  # schema
    assert (str(path), 9, "people[0].roles[1]") in found  # cross-field, despite the schema error
    assert (str(path), 13, "integrations.tickets.settings.token") in found
    inherited = next(p for p in err.value.problems if p.key == "review.by_severity.SEV1.quorum")
    assert inherited.file == str(path)  # the shipped file is not the one to edit
    assert "inherited from the shipped default" in inherited.message
