"""`afterword` commands for people: open, inspect and move postmortems and their action items."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from afterword.client import Postmortems
from afterword.commands.remote import run
from afterword.gates.check_syntax import CheckSyntaxError, format_check, parse_check
from afterword.gates.outbound import redact_text
from afterword.policies import PolicyError, parse_duration
from afterword.settings import Settings
from afterword.store_client import WorkerStores
from afterword.workflows.fix_checks import is_automatic, progress_line
from afterword.workflows.models import (
    MAX_DOCUMENT_BYTES,
    ActionItemSpec,
    ActionItemState,
    ActionType,
    Actor,
    AddActionRequest,
    ApproveRequest,
    AssignRequest,
    ChangesRequest,
    CompleteRequest,
    DraftSubmission,
    DropRequest,
    Incident,
    PostmortemStatus,
    ResolveRequest,
    SignoffRequest,
    TimelineEdit,
    UpdateResult,
    ValidateRequest,
    WaiveRequest,
    size_text,
)

console = Console(highlight=False)


def _me() -> str:
    return os.environ.get("AFTERWORD_USER") or os.environ.get("USER") or "unknown"


by_option = click.option("--by", default=_me, show_default="$AFTERWORD_USER or $USER", help="who takes this step")
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


def emit(result: BaseModel | list[Any] | dict[str, Any], as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


def show_update(result: UpdateResult, as_json: bool) -> None:
    def human() -> None:
        console.print(f"[bold]{result.state}[/bold]: {result.message}")
        for f in result.findings:
            where = f"line {f.line}: " if f.line else ""
            console.print(f"  {f.severity} [{f.gate}/{f.rule}] {where}{f.message}")
            if f.suggestion:
                console.print(f"      suggestion: {f.suggestion}")

    emit(result, as_json, human)


def parse_when(value: str, *, future: bool = False) -> datetime:
    """An ISO date/time (UTC when no zone is given) or, with `future`, a duration from now ("14d", "2w")."""
    if future and re.fullmatch(r"\s*\d+(\.\d+)?\s*[a-z]+", value):
        try:
            span = parse_duration(value)
        except (ValueError, PolicyError):
            span = None
        if span is not None and not span.business:
            return datetime.now(UTC) + span.wall
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        hint = " or a duration such as 14d" if future else ""
        raise click.BadParameter(f"{value!r} is not a date/time like 2026-12-01 or 2026-12-01T09:30Z{hint}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------
# start, status, list
# ---------------------------------------------------------------------------------------------------


@click.command("start")
@click.option("--title", help="what happened, in a line (required unless --from-alert)")
@click.option("--from-alert", "from_alert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="start from a saved alert payload, as the intake would (same as `afterword replay-alert`, "
              "and like it, run where the intake runs)")
@click.option("--severity", default="", help="e.g. SEV2; omitted: the policy maps it from --label severity=...")
@click.option("--service", default="unknown", show_default=True)
@click.option("--key", help="the incident's key (default: a new one); the same key reaches the same postmortem")
@click.option("--org", help="organisation (default: AFTERWORD_ORG)")
@click.option("--team", help="team whose policy overrides apply")
@click.option("--description", default="", help="a first summary")
@click.option("--started", help="when the incident started (ISO; default now)")
@click.option("--resolved", "resolved", help="when it was resolved (ISO), if it already is")
@click.option("--security", is_flag=True, help="a security incident (adds the CIRT/legal sign-off)")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE facts the policy reads (e.g. slo_breached=true)")
@click.option("--force", is_flag=True, help="open one even if the policy says no postmortem is needed")
@by_option
@json_option
@click.pass_context
def start_cmd(ctx: click.Context, title: str | None, from_alert: Path | None, severity: str, service: str,
              key: str | None, org: str | None, team: str | None, description: str, started: str | None,
              resolved: str | None, security: bool, labels: tuple[str, ...], force: bool, by: str,
              as_json: bool) -> None:
    """Open a postmortem by hand (idempotent per --key), or from a saved alert payload.

    The org's policy is resolved here, from AFTERWORD_POLICY_DIR: point it at the policies the workers use."""
    from afterword.commands.intake_cli import replay_alert_cmd
    from afterword.intake.api import open_postmortem
    from afterword.intake.moments import check_times

    if from_alert is not None:
        ctx.invoke(replay_alert_cmd, file=from_alert, source=None, org=org, url=None, headers=(), as_json=as_json)
        return
    if not title:
        raise click.UsageError("give --title (what happened), or --from-alert FILE")

    label_map: dict[str, str] = {}
    for item in labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--label")
        label_map[name] = value
    settings = Settings.from_env()
    try:
        incident = Incident(
            org=org or settings.default_org, key=key or f"manual-{uuid.uuid4().hex[:12]}", title=title,
            severity=severity or label_map.get("severity", ""), service=service, team=team, labels=label_map,
            started_at=parse_when(started) if started else datetime.now(UTC),
            resolved_at=parse_when(resolved) if resolved else None, security=security, description=description,
        )
        check_times({"--started": incident.started_at, "--resolved": incident.resolved_at})
    except (ValidationError, ValueError) as err:
        raise click.ClickException(f"the incident is not valid: {err}") from None

    async def go(pm: Postmortems, s: Settings) -> Any:
        return await open_postmortem(pm.client, s, incident, opened_by=by, force=force)

    opened = run(go)
    if opened.workflow_id is None:
        raise click.ClickException(
            f"the policy needs no postmortem for this incident ({'; '.join(opened.reasons)}); "
            "use --force to open one anyway"
        )
    result = {"workflow_id": opened.workflow_id, "created": opened.created, "severity": opened.severity,
              "requirement": opened.requirement, "reasons": opened.reasons}

    def human() -> None:
        verb = "opened" if opened.created else "already open:"
        console.print(f"{verb} [bold]{opened.workflow_id}[/bold] ({opened.severity}, {opened.requirement})")
        for reason in opened.reasons:
            console.print(f"  - {reason}")

    emit(result, as_json, human)


def _fmt(dt: datetime | None, *, seconds: bool = False) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC") if dt else "-"


def print_status(s: PostmortemStatus) -> None:
    overdue = " [red]OVERDUE[/red]" if s.overdue else ""
    console.print(f"[bold]{s.postmortem_id}[/bold]  {s.incident.title}")
    console.print(f"state [bold]{s.state}[/bold]{overdue}  severity {s.severity}  service {s.incident.service}  "
                  f"owner {s.owner or '-'}  policy {s.policy_name} {s.policy_hash[:12]}")
    if s.open_gates:
        console.print("open gates: " + "; ".join(s.open_gates))
    if s.resolution_steps_at:
        console.print(f"storm pacing: evidence capture and draft at {_fmt(s.resolution_steps_at, seconds=True)}")
    deadlines = Table("deadline", "due", "met", "breached", "reminders", title=None, box=None)
    for d in s.deadlines:
        deadlines.add_row(d.name, _fmt(d.due_at), _fmt(d.met_at), "[red]yes[/red]" if d.breached else "no",
                          str(d.reminders_sent))
    console.print(deadlines)
    if s.action_items:
        items = Table("item", "status", "owner", "due", "title", box=None)
        for i in s.action_items:
            flag = " [red](overdue)[/red]" if i.overdue else ""
            items.add_row(i.item_id, i.status.value + flag, i.spec.owner, _fmt(i.spec.due), i.spec.title)
        console.print(items)
        for i in s.action_items:
            if i.check is not None and i.spec.check is not None and is_automatic(i.spec.check):
                console.print(f"  {i.item_id} {progress_line(i.check, i.spec.check)}")  # type: ignore[arg-type]
    if s.findings:
        console.print(f"draft findings ({len(s.findings)}), completeness {s.completeness or 0:.0%}:")
        for f in s.findings[:20]:
            console.print(f"  {f.severity} [{f.gate}/{f.rule}] {f.message}")
    if s.publication:
        console.print(f"published: {s.publication.archive_path} (commit {s.publication.commit[:10]})")
    if s.waiver_reason:
        console.print(f"waived: {s.waiver_reason}")


@click.command("status")
@click.argument("postmortem_id")
@click.option("--audit", is_flag=True, help="also print the audit trail")
@json_option
def status_cmd(postmortem_id: str, audit: bool, as_json: bool) -> None:
    """Where a postmortem stands: state, gates, deadlines, action items."""
    status = run(lambda pm, s: pm.status(postmortem_id))

    def human() -> None:
        print_status(status)
        if audit:
            for entry in status.audit:
                console.print(f"  {_fmt(entry.at)}  {entry.by}: {entry.event} {entry.detail}")

    emit(status, as_json, human)


@click.command("list")
@click.option("--query", help="a Temporal visibility query, e.g. \"AfterwordSeverity = 'SEV1'\"")
@click.option("--state", help="only this state (e.g. in_review)")
@click.option("--severity", help="only this severity")
@click.option("--overdue", is_flag=True, help="only overdue postmortems")
@click.option("--limit", default=200, show_default=True)
@json_option
def list_cmd(query: str | None, state: str | None, severity: str | None, overdue: bool, limit: int,
             as_json: bool) -> None:
    """List postmortems (filters combine), e.g. `afterword list --overdue --severity SEV1 --state in_review`."""
    clauses = [f"({query})"] if query else []
    for name, value in (("AfterwordState", state), ("AfterwordSeverity", severity)):
        if value:
            clauses.append(f"{name} = '{value.replace(chr(39), '')}'")
    if overdue:
        clauses.append("AfterwordOverdue = true")
    rows = run(lambda pm, s: pm.list(" AND ".join(clauses) or None, limit=limit))

    def human() -> None:
        table = Table("postmortem", "state", "severity", "service", "owner", "overdue", "opened")
        for r in rows:
            table.add_row(r.workflow_id, r.state, r.severity, r.service, r.owner or "-",
                          "[red]yes[/red]" if r.overdue else "", _fmt(r.started))
        console.print(table)

    emit([r.__dict__ for r in rows], as_json, human)


# ---------------------------------------------------------------------------------------------------
# human steps on the postmortem
# ---------------------------------------------------------------------------------------------------


def _update(postmortem_id: str, step: str, request: BaseModel, as_json: bool) -> None:
    async def go(pm: Postmortems, s: Settings) -> UpdateResult:
        method: Callable[[str, Any], Awaitable[UpdateResult]] = getattr(pm, step)
        return await method(postmortem_id, request)

    show_update(run(go), as_json)


@click.command("resolve")
@click.argument("postmortem_id")
@click.option("--at", help="when the incident was resolved (ISO; default now)")
@by_option
@json_option
def resolve_cmd(postmortem_id: str, at: str | None, by: str, as_json: bool) -> None:
    """The incident is over: the draft clock starts."""
    _update(postmortem_id, "resolve", ResolveRequest(by=by, resolved_at=parse_when(at) if at else None), as_json)


@click.command("reopen")
@click.argument("postmortem_id")
@by_option
@json_option
def reopen_cmd(postmortem_id: str, by: str, as_json: bool) -> None:
    """The incident came back before the draft was submitted."""
    _update(postmortem_id, "reopen", Actor(by=by), as_json)


@click.command("assign")
@click.argument("postmortem_id")
@click.argument("owner")
@by_option
@json_option
def assign_cmd(postmortem_id: str, owner: str, by: str, as_json: bool) -> None:
    """Make OWNER responsible for the postmortem."""
    _update(postmortem_id, "assign", AssignRequest(by=by, owner=owner), as_json)


@click.group("draft")
def draft_group() -> None:
    """Read and submit the postmortem document."""


@draft_group.command("show")
@click.argument("postmortem_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write it to a file to edit")
def draft_show(postmortem_id: str, out: Path | None) -> None:
    """Print the current draft (the rendered first draft, or the last one submitted), as the worker holds it."""

    async def fetch(pm: Postmortems, s: Settings) -> tuple[PostmortemStatus, str | None]:
        status = await pm.status(postmortem_id)
        if status.draft_ref is None:
            return status, None
        text = await WorkerStores(pm.client, s).read(postmortem_id, ref=status.draft_ref)
        # printed or written to a working copy: outside the document store, so without its secrets
        return status, redact_text(text.decode("utf-8", errors="replace"))

    status, text = run(fetch)
    if text is None:
        due = status.resolution_steps_at
        paced = f"; storm pacing renders it at {_fmt(due, seconds=True)}" if due else ""
        raise click.ClickException(f"{postmortem_id} has no draft yet (it is {status.state}{paced})")
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"written to {out}; edit it, then `afterword draft submit {postmortem_id} {out}`")
    else:
        click.echo(text, nl=False)


@draft_group.command("submit")
@click.argument("postmortem_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@by_option
@json_option
def draft_submit(postmortem_id: str, file: Path, by: str, as_json: bool) -> None:
    """Submit FILE (Markdown, UTF-8) as the draft: it travels to the worker, is checked, and goes to review
    only when it passes."""
    size = file.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise click.ClickException(
            f"{file} is {size_text(size)}; a draft may be at most {size_text(MAX_DOCUMENT_BYTES)}. "
            "Move long material (logs, dumps) into evidence (`afterword evidence add`) and link it"
        )
    try:
        submission = DraftSubmission(by=by, text=file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text; save the draft as UTF-8 Markdown") from None
    except ValidationError as err:
        raise click.ClickException(f"the draft cannot be submitted: {_reasons(err)}") from None
    result = run(lambda pm, s: pm.submit_draft(postmortem_id, submission))
    show_update(result, as_json)
    if result.state == "drafting":
        raise SystemExit(1)


def _reasons(err: ValidationError) -> str:
    return "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())


@click.command("approve")
@click.argument("postmortem_id")
@click.option("--comment", default="")
@by_option
@json_option
def approve_cmd(postmortem_id: str, comment: str, by: str, as_json: bool) -> None:
    """Approve the draft under review."""
    _update(postmortem_id, "approve", ApproveRequest(by=by, comment=comment), as_json)


@click.command("request-changes")
@click.argument("postmortem_id")
@click.option("--reason", required=True)
@by_option
@json_option
def request_changes_cmd(postmortem_id: str, reason: str, by: str, as_json: bool) -> None:
    """Send the draft back to its author."""
    _update(postmortem_id, "request_changes", ChangesRequest(by=by, reason=reason), as_json)


@click.command("accept-redaction")
@click.argument("postmortem_id")
@by_option
@json_option
def accept_redaction_cmd(postmortem_id: str, by: str, as_json: bool) -> None:
    """Accept the redaction report(s): the document may be published."""
    _update(postmortem_id, "accept_redaction", Actor(by=by), as_json)


@click.command("signoff")
@click.argument("postmortem_id")
@click.option("--note", default="")
@by_option
@json_option
def signoff_cmd(postmortem_id: str, note: str, by: str, as_json: bool) -> None:
    """CIRT/legal sign-off for a security or legal incident."""
    _update(postmortem_id, "sign_off", SignoffRequest(by=by, note=note), as_json)


@click.command("waive")
@click.argument("postmortem_id")
@click.option("--reason", required=True, help="why no postmortem is needed (the policy sets a minimum length)")
@by_option
@json_option
def waive_cmd(postmortem_id: str, reason: str, by: str, as_json: bool) -> None:
    """Waive the postmortem (only people the policy allows, with a reason)."""
    _update(postmortem_id, "waive", WaiveRequest(by=by, reason=reason), as_json)


@click.group("timeline")
def timeline_group() -> None:
    """Add or correct rows of the reconstructed timeline (recorded with who changed what)."""


@timeline_group.command("add")
@click.argument("postmortem_id")
@click.option("--at", required=True, help="when (ISO, UTC unless a zone is given)")
@click.option("--event", required=True)
@by_option
@json_option
def timeline_add(postmortem_id: str, at: str, event: str, by: str, as_json: bool) -> None:
    """Add a row."""
    edit = TimelineEdit(by=by, action="add", at=parse_when(at), event=event)
    _update(postmortem_id, "edit_timeline", edit, as_json)


@timeline_group.command("correct")
@click.argument("postmortem_id")
@click.option("--at", required=True)
@click.option("--replaces", required=True, help="the text of the row being corrected")
@click.option("--event", required=True, help="the corrected text")
@click.option("--reason", default="")
@by_option
@json_option
def timeline_correct(postmortem_id: str, at: str, replaces: str, event: str, reason: str, by: str,
                     as_json: bool) -> None:
    """Correct a row."""
    edit = TimelineEdit(by=by, action="correct", at=parse_when(at), replaces=replaces, event=event, reason=reason)
    _update(postmortem_id, "edit_timeline", edit, as_json)


@timeline_group.command("remove")
@click.argument("postmortem_id")
@click.option("--at", required=True)
@click.option("--replaces", required=True, help="the text of the row being removed")
@click.option("--reason", required=True)
@by_option
@json_option
def timeline_remove(postmortem_id: str, at: str, replaces: str, reason: str, by: str, as_json: bool) -> None:
    """Remove a row that is wrong."""
    edit = TimelineEdit(by=by, action="remove", at=parse_when(at), replaces=replaces, reason=reason)
    _update(postmortem_id, "edit_timeline", edit, as_json)


# ---------------------------------------------------------------------------------------------------
# action items
# ---------------------------------------------------------------------------------------------------


@click.group("action")
def action_group() -> None:
    """Action items: each has an owner, a due date, a type and a measurable success criterion."""


@action_group.command("add")
@click.argument("postmortem_id")
@click.option("--title", required=True)
@click.option("--owner", required=True)
@click.option("--due", required=True, help="a date (2026-12-15) or a duration from now (14d, 4w)")
@click.option("--type", "kind", type=click.Choice([t.value for t in ActionType]), required=True)
@click.option("--criterion", required=True, help="how we will know it worked (measurable)")
@click.option("--ticket", help="tracker reference")
@click.option("--check", "check_text", metavar="CHECK",
              help="how afterword checks the fix itself once it is completed, e.g. "
              "'prometheus expr=`rate(errors_total[5m])` below=0.01 holds_for=24h' (docs/validation.md)")
@by_option
@json_option
def action_add(postmortem_id: str, title: str, owner: str, due: str, kind: str, criterion: str,
               ticket: str | None, check_text: str | None, by: str, as_json: bool) -> None:
    """Add an action item; it is tracked with reminders and escalation until validated or dropped."""
    try:
        check = parse_check(check_text) if check_text is not None else None
    except CheckSyntaxError as err:
        raise click.ClickException(f"--check: {err}") from None
    try:
        spec = ActionItemSpec(title=title, owner=owner, due=parse_when(due, future=True), type=ActionType(kind),
                              success_criterion=criterion, ticket=ticket, check=check)
    except ValidationError as err:
        raise click.ClickException(f"the action item is not valid: {err}") from None
    _update(postmortem_id, "add_action", AddActionRequest(by=by, item=spec), as_json)


def _item_step(postmortem_id: str, item: str, step: str, request: BaseModel, as_json: bool) -> None:
    async def go(pm: Postmortems, s: Settings) -> ActionItemState:
        method: Callable[[str, Any], Awaitable[ActionItemState]] = getattr(pm, step)
        return await method(pm.action_workflow_id(postmortem_id, item), request)

    state = run(go)
    emit(state, as_json, lambda: console.print(f"{state.item_id} is [bold]{state.status.value}[/bold]: "
                                               f"{state.spec.title}"))


@action_group.command("complete")
@click.argument("postmortem_id")
@click.argument("item")
@click.option("--note", default="")
@by_option
@json_option
def action_complete(postmortem_id: str, item: str, note: str, by: str, as_json: bool) -> None:
    """Mark ITEM (e.g. ai-1) done; its validation window starts."""
    _item_step(postmortem_id, item, "complete_action", CompleteRequest(by=by, note=note), as_json)


@action_group.command("validate")
@click.argument("postmortem_id")
@click.argument("item")
@click.option("--evidence", required=True, help="what shows the success criterion is met")
@click.option("--failed", is_flag=True, help="the fix did not work: the item reopens")
@by_option
@json_option
def action_validate(postmortem_id: str, item: str, evidence: str, failed: bool, by: str, as_json: bool) -> None:
    """Sign off that a completed fix meets its success criterion (someone other than who completed it)."""
    _item_step(postmortem_id, item, "validate_action",
               ValidateRequest(by=by, passed=not failed, evidence=evidence), as_json)


@action_group.command("drop")
@click.argument("postmortem_id")
@click.argument("item")
@click.option("--reason", required=True)
@by_option
@json_option
def action_drop(postmortem_id: str, item: str, reason: str, by: str, as_json: bool) -> None:
    """Formally drop ITEM, with a reason."""
    _item_step(postmortem_id, item, "drop_action", DropRequest(by=by, reason=reason), as_json)


@action_group.command("list")
@click.argument("postmortem_id")
@json_option
def action_list(postmortem_id: str, as_json: bool) -> None:
    """The postmortem's action items."""
    status = run(lambda pm, s: pm.status(postmortem_id))

    def human() -> None:
        table = Table("item", "status", "type", "owner", "due", "title", "success criterion", "check")
        for i in status.action_items:
            check = format_check(i.spec.check) if i.spec.check is not None else "manual"
            if i.check is not None and i.spec.check is not None and is_automatic(i.spec.check):
                check += "\n" + progress_line(i.check, i.spec.check)  # type: ignore[arg-type]
            table.add_row(i.item_id, i.status.value, i.spec.type.value, i.spec.owner, _fmt(i.spec.due),
                          i.spec.title, i.spec.success_criterion, check)
        console.print(table)

    emit([i.model_dump(mode="json") for i in status.action_items], as_json, human)


@click.command("demo")
@click.option("--org", default="demo", show_default=True)
def demo_cmd(org: str) -> None:
    """Walk one postmortem through every stage on a running worker (start one with `python worker.py`)."""
    from afterword.examples.demo import run_demo

    async def go(pm: Postmortems, s: Settings) -> None:
        await run_demo(pm.client, s, org=org)

    run(go)


def register(main: click.Group) -> None:
    """Add this area's commands to the `afterword` group."""
    for command in (start_cmd, status_cmd, list_cmd, resolve_cmd, reopen_cmd, assign_cmd, draft_group,
                    approve_cmd, request_changes_cmd, accept_redaction_cmd, signoff_cmd, waive_cmd,
                    timeline_group, action_group, demo_cmd):
        main.add_command(command)
