"""`afterword policy ...`: check, show, init, diff, schema, explain and reapply organisation policies."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from pathlib import Path
from typing import Any

import click

from afterword.policies import PolicyError, load_org_policy, load_policy
from afterword.policies.schema import Policy
from afterword.settings import Settings

POLICY_DIR_HELP = "folder of <org>.toml files (default: AFTERWORD_POLICY_DIR)"


def _policy_dir(given: Path | None) -> Path | None:
    return given if given is not None else Settings.from_env().policy_dir


def _resolve(ref: str, policy_dir: Path | None, team: str | None = None) -> Policy:
    """An org name (looked up in the policy folder, else the shipped default) or a policy file path."""
    from afterword.policies.loader import for_team

    path = Path(ref)
    try:
        is_file = ref.endswith(".toml") or path.is_file()
        policy = load_policy(path) if is_file else load_org_policy(ref, policy_dir)
    except PolicyError as err:
        raise click.ClickException(f"the policy does not load:\n{err}") from None
    if team is not None:
        if team not in policy.teams:
            known = ", ".join(sorted(policy.teams)) or "none"
            raise click.UsageError(f"org {policy.org!r} has no team {team!r}; teams: {known}")
        policy = for_team(policy, team)
    return policy


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


@click.group("policy")
def policy_group() -> None:
    """Organisation policies: the gates, deadlines and people of the postmortem process, in TOML."""


@policy_group.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--policy-dir", type=click.Path(path_type=Path, file_okay=False), help=POLICY_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
def check_cmd(files: tuple[Path, ...], policy_dir: Path | None, as_json: bool) -> None:
    """Validate policy FILES or folders (default: every *.toml in the policy folder, and the shipped default).

    Every problem is listed with file:line and key; the exit status is 1 if any file is invalid.
    """
    from afterword.policies.loader import default_policy

    targets: list[Path] = []
    for given in files:  # a folder stands for every policy file in it
        targets.extend(sorted(given.glob("*.toml")) if given.is_dir() else [given])
    if not targets:
        folder = _policy_dir(policy_dir)
        if folder is not None:
            if not folder.is_dir():
                raise click.UsageError(f"policy folder {folder} does not exist")
            targets = sorted(folder.glob("*.toml"))
    results: list[dict[str, Any]] = []
    if not files:
        default_policy()
        results.append({"file": "(shipped default)", "ok": True, "org": "default", "problems": []})
    for path in targets:
        try:
            policy = load_policy(path)
        except PolicyError as err:
            results.append({"file": str(path), "ok": False, "org": None,
                            "problems": [{"file": p.file, "line": p.line, "key": p.key, "message": p.message}
                                         for p in err.problems]})
            continue
        results.append({"file": str(path), "ok": True, "org": policy.org, "people": len(policy.people),
                        "teams": sorted(policy.teams), "problems": []})
    bad = [r for r in results if not r["ok"]]
    if as_json:
        _echo_json(results)
    else:
        for result in results:
            if result["ok"]:
                extra = f", teams: {', '.join(result['teams'])}" if result.get("teams") else ""
                click.echo(f"ok    {result['file']} (org {result['org']}{extra})")
            else:
                click.echo(f"FAIL  {result['file']}")
                for p in result["problems"]:
                    where = f"{p['file']}:{p['line']}" if p["line"] is not None else p["file"]
                    click.echo(f"      {where}: {p['key']}: {p['message']}")
        count = sum(len(r["problems"]) for r in bad)
        if bad:
            click.echo(f"{count} problem(s) in {len(bad)} file(s)")
    if bad:
        raise SystemExit(1)


@policy_group.command("show")
@click.argument("org")
@click.option("--team", help="show that team's effective policy")
@click.option("--severity", help="fold in that severity's values and drop what does not apply to it")
@click.option("--policy-dir", type=click.Path(path_type=Path, file_okay=False), help=POLICY_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of TOML")
def show_cmd(org: str, team: str | None, severity: str | None, policy_dir: Path | None, as_json: bool) -> None:
    """The effective policy of ORG (an org name or a policy file) after inheritance, as TOML."""
    from afterword.policies.render import fold_severity, policy_data, to_toml

    policy = _resolve(org, _policy_dir(policy_dir), team)
    if severity is not None:
        names = {n.lower(): n for n in policy.severities.order}
        if severity.lower() not in names:
            raise click.UsageError(f"unknown severity {severity!r}; this policy has {', '.join(names.values())}")
        data = fold_severity(policy, names[severity.lower()])
    else:
        data = policy_data(policy)
    if team is not None:
        data.pop("teams", None)  # the team's overrides are already folded in
    if as_json:
        _echo_json(data)
    else:
        click.echo(to_toml(data), nl=False)


@policy_group.command("init")
@click.option("--org", default="example", show_default=True, help="organisation name")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="write to this file (default: print)")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init_cmd(org: str, timezone: str, output: Path | None, force: bool) -> None:
    """A commented starter policy that validates as written."""
    from afterword.policies.loader import load_text
    from afterword.policies.starter import starter

    text = starter(org, timezone)
    try:
        load_text(text, f"{org}.toml")
    except PolicyError as err:
        raise click.UsageError(f"--org/--timezone give an invalid policy:\n{err}") from None
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}; check it with `afterword policy check {output}`")


@policy_group.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--team", help="compare that team's effective policies")
@click.option("--policy-dir", type=click.Path(path_type=Path, file_okay=False), help=POLICY_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def diff_cmd(a: str, b: str, team: str | None, policy_dir: Path | None, as_json: bool) -> None:
    """Effective differences between two policies (org names or files). Exit status 1 if they differ."""
    from afterword.policies.render import diff

    folder = _policy_dir(policy_dir)
    changes = diff(_resolve(a, folder, team), _resolve(b, folder, team))
    if as_json:
        _echo_json([{"key": k, "a": old, "b": new} for k, old, new in changes])
    elif not changes:
        click.echo("no effective differences")
    else:
        for key, old, new in changes:
            if old is None:
                click.echo(f"+ {key} = {json.dumps(new)}")
            elif new is None:
                click.echo(f"- {key} = {json.dumps(old)}")
            else:
                click.echo(f"~ {key}: {json.dumps(old)} -> {json.dumps(new)}")
    if changes:
        raise SystemExit(1)


@policy_group.command("schema")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="write to this file")
def schema_cmd(output: Path | None) -> None:
    """The JSON Schema of a policy file, for editors (e.g. Taplo / Even Better TOML)."""
    text = json.dumps(Policy.model_json_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@policy_group.command("explain")
@click.argument("org")
@click.option("--alert", "alert_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="an alert payload (Alertmanager, PagerDuty, Grafana, Opsgenie, generic) or an Incident JSON")
@click.option("--source", help="the alert's source, if guessing is not enough")
@click.option("--team", help="treat the incident as this team's (default: the alert's team label)")
@click.option("--policy-dir", type=click.Path(path_type=Path, file_okay=False), help=POLICY_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def explain_cmd(org: str, alert_file: Path, source: str | None, team: str | None, policy_dir: Path | None,
                as_json: bool) -> None:
    """Which rules of ORG's policy apply to an alert, and why: required or not, each deadline's due time."""
    from afterword.policies.explain import AlertFileError, explain, format_explanation, incident_from_file

    policy = _resolve(org, _policy_dir(policy_dir))
    try:
        incident = incident_from_file(alert_file, policy.org, policy, source)
    except AlertFileError as err:
        raise click.ClickException(str(err)) from None
    if team is not None:
        if team not in policy.teams:
            known = ", ".join(sorted(policy.teams)) or "none"
            raise click.UsageError(f"org {policy.org!r} has no team {team!r}; teams: {known}")
        incident = incident.model_copy(update={"team": team})
    result = explain(policy, incident)
    if as_json:
        _echo_json(result.as_json())
    else:
        click.echo(format_explanation(result))


@policy_group.command("reapply")
@click.argument("postmortem_id")
@click.option("--by", default=lambda: os.environ.get("AFTERWORD_USER") or getpass.getuser(),
              help="who re-applies it (default: AFTERWORD_USER or the login name)")
@click.option("--policy-dir", type=click.Path(path_type=Path, file_okay=False), help=POLICY_DIR_HELP)
@click.option("--dry-run", is_flag=True, help="show what would change, change nothing")
def reapply_cmd(postmortem_id: str, by: str, policy_dir: Path | None, dry_run: bool) -> None:
    """Move one postmortem to its org's current policy (it keeps the version it started with otherwise)."""
    settings = Settings.from_env()
    if policy_dir is not None:
        settings = settings.model_copy(update={"policy_dir": policy_dir})
    from afterword.runtime.payload_codec import MissingPayloadKey

    try:
        message = asyncio.run(_reapply(settings, postmortem_id, by, dry_run))
    except MissingPayloadKey as err:
        raise click.ClickException(str(err)) from None
    click.echo(message)


async def _reapply(settings: Settings, postmortem_id: str, by: str, dry_run: bool) -> str:
    from afterword.client import NotFound, Postmortems, Rejected, Unavailable
    from afterword.policies import rules_for
    from afterword.runtime.connection import TemporalConnectionError, connect
    from afterword.workflows.models import ReapplyRequest

    try:
        client = await connect(settings)
    except TemporalConnectionError as err:
        raise click.ClickException(str(err)) from None
    postmortems = Postmortems(client, settings)
    try:
        status = await postmortems.status(postmortem_id)
        policy = _resolve(status.incident.org, settings.policy_dir, None)
        rules = rules_for(policy, status.incident)
        if rules.policy_hash == status.policy_hash:
            return f"{postmortem_id} already runs under the current policy ({rules.policy_hash[:12]})"
        change = f"{status.policy_hash[:12]} -> {rules.policy_hash[:12]}"
        if dry_run:
            return f"would move {postmortem_id} to policy {rules.policy_name} ({change})"
        result = await postmortems.reapply_policy(postmortem_id, ReapplyRequest(by=by, rules=rules))
    except NotFound:
        raise click.ClickException(f"no postmortem {postmortem_id!r}") from None
    except Rejected as err:
        raise click.ClickException(f"refused: {err}") from None
    except Unavailable as err:
        raise click.ClickException(f"Temporal is not available, nothing changed: {err}") from None
    return f"{postmortem_id}: policy {change}; {result.message}"


def register(main: click.Group) -> None:
    """Add this area's commands to the `afterword` group."""
    main.add_command(policy_group)
