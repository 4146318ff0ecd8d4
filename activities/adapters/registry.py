"""Which sources run for an incident (per policy and service), and which extractor reads each kind."""

from __future__ import annotations

from collections.abc import Callable

from afterword.activities.adapters import alerts, git_changes, http_json, logs, prometheus, slack
from afterword.activities.adapters.base import Collected, Event, EvidenceSource, SourceRejected, Window
from afterword.policies.evidence_schema import EvidencePolicy, PrometheusQuery
from afterword.workflows.models import Incident

Extractor = Callable[[bytes, dict[str, str]], list[Event]]

EXTRACTORS: dict[str, Extractor] = {
    alerts.INCIDENT_KIND: alerts.incident_events,
    alerts.ALERT_KIND: alerts.alert_payload_events,
    prometheus.KIND: prometheus.range_events,
    logs.KIND: logs.log_events,
    http_json.KIND: http_json.http_json_events,
    git_changes.KIND: git_changes.git_events,
    slack.KIND: slack.slack_events,
}


class MisconfiguredSource:
    """A source the policy asks for but cannot be built: it becomes a gap that says what to set."""

    kind = "none"

    def __init__(self, name: str, target: str, problem: str, hint: str) -> None:
        self.name = name
        self.target = target
        self.problem = problem
        self.instrument_hint = hint

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        raise SourceRejected(self.problem)


def prometheus_sources(policy: EvidencePolicy, incident: Incident, payload: bytes | None) -> list[EvidenceSource]:
    config = policy.prometheus
    if config is None or not config.enabled:
        return []
    timeout = policy.timeout.total_seconds()
    expressions = alerts.alert_expressions(payload, incident.links)
    # with no url configured, ask the Prometheus that generated the alert
    default_url = config.url or (expressions[0][0] if expressions else None)
    wanted: list[tuple[str | None, str, str, PrometheusQuery | None]] = []
    if config.alert_expression:
        wanted += [(config.url or base, expr, "alert", None) for base, expr in expressions]
    wanted += [(default_url, q.expr, "query", q) for q in config.queries_for(incident.service)]
    sources: list[EvidenceSource] = []
    seen: set[tuple[str | None, str]] = set()
    for url, expr, role, query in wanted:
        if (url, expr) in seen:
            continue
        seen.add((url, expr))
        if url is None:
            sources.append(
                MisconfiguredSource(
                    f"prometheus:{query.name if query and query.name else 'query'}-unconfigured",
                    expr,
                    "no Prometheus URL: the policy sets no [evidence.prometheus] url and the alert has no generatorURL",
                    "set [evidence.prometheus] url in the policy so this query can be captured",
                )
            )
            continue
        sources.append(
            prometheus.PrometheusRangeSource(
                url,
                expr,
                role=role,
                label=query.name if query else None,
                above=query.above if query else None,
                step=config.step,
                timeout=timeout,
                token_env=config.bearer_token_env,
            )
        )
    return sources


def select_sources(policy: EvidencePolicy, incident: Incident, payload: bytes | None) -> list[EvidenceSource]:
    """The sources the policy names for this incident's service, in a stable order."""
    service = incident.service
    timeout = policy.timeout.total_seconds()
    sources: list[EvidenceSource] = prometheus_sources(policy, incident, payload)
    sources += [logs.LogFileSource(c.name, c.paths, c.timeline_pattern) for c in policy.logs if c.applies_to(service)]
    sources += [
        http_json.HttpJsonLogSource(
            c.name,
            c.url,
            records_path=c.records_path,
            time_field=c.time_field,
            message_field=c.message_field,
            headers=c.headers,
            token_env=c.bearer_token_env,
            timeline_pattern=c.timeline_pattern,
            timeout=timeout,
        )
        for c in policy.http_json
        if c.applies_to(service)
    ]
    sources += [git_changes.GitChangesSource(c.name, c.repo, c.revisions) for c in policy.git if c.applies_to(service)]
    sources += [slack.SlackExportSource(c.name, c.path, c.channels) for c in policy.slack if c.applies_to(service)]
    sources += [
        slack.SlackApiSource(c.name, c.channels, c.token_env, c.api_url, timeout)
        for c in policy.slack_api
        if c.applies_to(service)
    ]
    return sources
