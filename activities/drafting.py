"""Drafting: the first Markdown draft, rendered from the policy's template, the incident's facts and
the timeline reconstructed from its evidence. Sections the machine cannot know carry prompts that the
completeness gate counts as empty, so a draft cannot be submitted until a person has written them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from importlib import resources

import jinja2
from temporalio import activity

from afterword.activities.capture import latest_manifest_ref
from afterword.evidence.blobs import ContentStore
from afterword.evidence.timeline import reconstruct_timeline
from afterword.gates.outbound import redact_text
from afterword.settings import Settings
from afterword.workflows.models import DocumentRef, RenderRequest, TimelineRow

GUIDANCE = {
    "Impact": "<fill in: who was affected, for how long, how badly (users, requests, revenue, SLOs)>",
    "Root cause analysis": "<fill in: the contributing factors and the conditions that made the failure "
    "possible (5 Whys); systems and processes, not people>",
    "Detection": "<fill in: how and when the problem was detected; what signal could have caught it earlier>",
    "Resolution": "<fill in: what restored service and why it worked>",
    "What went well": "<fill in>",
    "What went poorly": "<fill in>",
    "Where we got lucky": "<fill in>",
    "Lessons learned": "<fill in>",
    "Missed signals": "<fill in: alerts, dashboards or reports that showed the problem before it was noticed>",
}


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: str) -> str:
    """Keep a value inside one Markdown table cell."""
    return value.replace("|", "\\|").replace("\n", " ")


def _environment(templates_dir: str | None) -> jinja2.Environment:
    loader: jinja2.BaseLoader = jinja2.FunctionLoader(
        lambda name: resources.files("afterword.policies").joinpath("templates", name).read_text("utf-8")
    )
    if templates_dir:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates_dir), loader])
    env = jinja2.Environment(loader=loader, autoescape=False, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["utc"] = _utc
    env.filters["cell"] = _cell
    return env


def render(req: RenderRequest, timeline: list[TimelineRow]) -> str:
    template_name = req.rules.template
    if not template_name.endswith(".j2"):
        template_name += ".j2"
    templates_dir = req.rules.policy.get("document", {}).get("templates_dir")
    template = _environment(templates_dir).get_template(template_name)
    return template.render(
        postmortem_id=req.postmortem_id, incident=req.incident, rules=req.rules, owner=req.owner,
        evidence=req.evidence, sections=req.rules.required_sections, timeline=timeline,
        action_items=req.action_items, guidance=GUIDANCE,
    )


class DraftingActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = ContentStore(settings.store_dir)
        self.drafts = settings.data_dir / "drafts"

    @activity.defn
    async def render_draft(self, req: RenderRequest) -> DocumentRef:
        return await asyncio.to_thread(self._render, req)

    def _render(self, req: RenderRequest) -> DocumentRef:
        timeline: list[TimelineRow] = []
        # attachments added with `afterword evidence add` seal newer manifests than the workflow has seen
        manifest = latest_manifest_ref(self.settings, req.postmortem_id) or (
            req.evidence.manifest_ref if req.evidence else None
        )
        if manifest is not None:
            timeline = reconstruct_timeline(self.store, manifest, req.timeline_edits)
        text = render(req, timeline)
        ref = self.store.put_bytes(text.encode("utf-8"))
        # a working copy people can edit and submit with `afterword draft submit`: outside the content store,
        # so redacted for internal readers (a secret in the alert's title or annotations stays in the evidence)
        self.drafts.mkdir(parents=True, exist_ok=True)
        path = self.drafts / f"{req.postmortem_id}.md"
        path.write_text(redact_text(text, req.rules.policy), encoding="utf-8")
        return DocumentRef(ref=ref, path=str(path))
