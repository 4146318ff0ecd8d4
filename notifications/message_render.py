"""Messages from Jinja templates: one file per event kind, which an organisation may override.

A template (`<kind>.md.j2`) extends `_layout.md.j2` and fills its blocks: `subject` (one line), `command`
(the exact `afterword` command of the next step), `body` (Markdown) and `why`. An organisation puts its own
`<kind>.md.j2` files in the folder its policy names (`[notifications] templates_dir`); such a file may
extend the shipped one (`{% extends "shipped/<kind>.md.j2" %}`) and change a single block.

A template renders Markdown in which the values that come from outside (an alert's title, a reviewer's
comment) are escaped so that they cannot form links or HTML. The plain text (the e-mail's text part, every
chat's fallback) is that Markdown with those escapes taken out again. The HTML part is that Markdown through
cmark (GitHub's C implementation of CommonMark, via cmarkgfm: fifty times faster here than markdown-it,
and its safe mode drops raw HTML and script links). Times are shown in the recipient's time zone (the
roster's, else the organisation's).
"""

from __future__ import annotations

import functools
import html
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cmarkgfm
import jinja2
from markupsafe import Markup

from afterword.notifications.channel_base import Link, Rendered
from afterword.workflows.notices import NoticeFacts, NoticeKind

SHIPPED = Path(__file__).parent / "templates"
SEP = "\x1e"  # separates subject, command and body in one rendering
_MD_SPECIAL = str.maketrans({"[": "\\[", "]": "\\]", "<": "\\<", ">": "\\>"})
_MD_UNESCAPE = (("\\[", "["), ("\\]", "]"), ("\\<", "<"), ("\\>", ">"))


class TemplateProblem(ValueError):
    """An organisation's template that cannot be used; the message names the file and what is wrong."""


def template_name(kind: NoticeKind) -> str:
    return f"{kind.value}.md.j2"


def _markdown_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup):  # template text passed on from a block: already in its final form
        return str(value)
    return str(value).translate(_MD_SPECIAL)


def format_when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "(no date)"
    local = moment.astimezone(zone)
    return local.strftime("%a %d %b %Y %H:%M ") + (local.tzname() or zone.key)


def format_relative(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    delta = moment - now
    past = delta < timedelta(0)
    span = abs(delta)
    if span < timedelta(minutes=1):
        return "now"
    if span < timedelta(hours=2):
        amount = f"{int(span.total_seconds() // 60)} min"
    elif span < timedelta(days=2):
        amount = f"{int(span.total_seconds() // 3600)} h"
    else:
        amount = f"{span.days} days"
    return f"{amount} ago" if past else f"in {amount}"


class Templates:
    """The shipped templates, with an organisation's folder in front of them when it has one."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        shipped = jinja2.FileSystemLoader(SHIPPED)
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(override_dir))
        loaders += [shipped, jinja2.PrefixLoader({"shipped": shipped})]
        loader = jinja2.ChoiceLoader(loaders)
        # templates are read once per worker (auto_reload off: no stat of every file on every message);
        # a worker restart picks up an edited template
        options: dict[str, Any] = {"loader": loader, "undefined": jinja2.StrictUndefined, "autoescape": False,
                                   "keep_trailing_newline": False, "auto_reload": False}
        self.markdown = jinja2.Environment(finalize=_markdown_value, **options)
        self.markdown.filters.update({"safe": Markup, "when": _when, "relative": _relative, "link": _markdown_link})

    def render(self, kind: NoticeKind, facts: NoticeFacts, *, now: datetime, recipient_name: str,
               recipient_handle: str, zone: str, web_link: str | None, channel: str = "") -> Rendered:
        tz = _zone(zone)
        context: dict[str, Any] = {
            "n": facts, "kind": kind.value, "now": now, "SEP": Markup(SEP), "web_link": web_link,
            "recipient": {"name": recipient_name or recipient_handle, "handle": recipient_handle},
            "channel": channel, "timezone": tz.key, "_zone": tz,
        }
        subject, command, markdown = _split(self._render(self.markdown, kind, context), kind)
        subject, command = _unescaped(subject), _unescaped(command)
        text = _unescaped(markdown)
        links = [Link("Open in the Web UI", web_link)] if web_link else []
        links += [Link(label.capitalize(), target) for label, target in facts.links.items()
                  if target.startswith(("https://", "http://"))]
        return Rendered(
            kind=kind, subject=subject, text=text, markdown=markdown, html=to_html(subject, markdown),
            facts=tuple(_facts(facts, tz)), links=tuple(links), command=command,
            data=facts.model_dump(mode="json"),
        )

    def _render(self, env: jinja2.Environment, kind: NoticeKind, context: dict[str, Any]) -> str:
        name = template_name(kind)
        try:
            return env.get_template(name).render(context)
        except jinja2.TemplateError as err:
            raise TemplateProblem(f"{self._where(name)}: {err}") from None

    def _where(self, name: str) -> str:
        if self.override_dir is not None and (self.override_dir / name).exists():
            return str(self.override_dir / name)
        return f"the shipped template {name}"

    def check(self, sample: NoticeFacts, now: datetime) -> list[str]:
        """Problems of every template an organisation overrides, rendered with `sample` facts."""
        problems: list[str] = []
        if self.override_dir is None:
            return problems
        for kind in NoticeKind:
            if not (self.override_dir / template_name(kind)).exists():
                continue
            try:
                self.render(kind, sample, now=now, recipient_name="Alice Example", recipient_handle="alice",
                            zone="UTC", web_link="https://example.invalid/pm", channel="email")
            except TemplateProblem as err:
                problems.append(str(err))
        return problems


@jinja2.pass_context
def _when(context: jinja2.runtime.Context, moment: datetime | None) -> str:
    return format_when(moment, context["_zone"])


@jinja2.pass_context
def _relative(context: jinja2.runtime.Context, moment: datetime | None) -> str:
    return format_relative(moment, context["now"])


def _split(rendered: str, kind: NoticeKind) -> tuple[str, str, str]:
    parts = rendered.split(SEP)
    if len(parts) != 3:
        raise TemplateProblem(
            f"{template_name(kind)} does not extend _layout.md.j2 (or a shipped template): "
            "it must start with {% extends \"_layout.md.j2\" %} and fill the subject and body blocks"
        )
    subject = " ".join(parts[0].split())
    command = " ".join(parts[1].split())
    body = parts[2].strip("\n")
    if not subject:
        raise TemplateProblem(f"{template_name(kind)}: the subject block is empty")
    return subject, command, body + "\n"


def _unescaped(markdown: str) -> str:
    """The plain text of a rendering: the escapes that kept outside values from forming links taken out."""
    for escaped, plain in _MD_UNESCAPE:
        markdown = markdown.replace(escaped, plain)
    return markdown


def _markdown_link(target: str) -> Markup:
    if target.startswith(("https://", "http://")):
        return Markup(f"[{target.translate(_MD_SPECIAL)}]({target.replace(')', '%29').replace(' ', '%20')})")
    return Markup(f"`{target}`")


def _facts(facts: NoticeFacts, zone: ZoneInfo) -> list[tuple[str, str]]:
    rows = [("Severity", facts.severity), ("Service", facts.service)]
    if facts.item is not None:
        rows.append(("Action item", f"{facts.item.item_id} · owner {facts.item.owner}"))
        rows.append(("Due", format_when(facts.item.due, zone)))
    elif facts.due_at is not None:
        rows.append(("Due", format_when(facts.due_at, zone)))
    if facts.owner and facts.item is None:
        rows.append(("Owner", facts.owner))
    if facts.state:
        rows.append(("State", facts.state))
    return rows


def to_html(subject: str, markdown: str) -> str:
    # cmark's safe mode (the default) drops raw HTML and javascript: links
    body = str(cmarkgfm.markdown_to_html(markdown))
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(subject) + "</title></head>\n"
        "<body style=\"font-family: sans-serif; line-height: 1.4\">\n" + body + "</body></html>\n"
    )


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.lru_cache(maxsize=32)
def templates_for(override_dir: Path | None) -> Templates:
    """One compiled set of templates per folder (Jinja caches each compiled template)."""
    return Templates(override_dir)
