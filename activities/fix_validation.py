"""Activities that check a fix: examine a check when an item is added, sample it, store what decided it.

Sampling is where the load is: a thousand items checking at once ask one Prometheus. Items with the
same check wake on the same grid (workflows/fix_checks.wake_every) and ask the same range, so the
worker answers identical questions once (`SharedAnswers`: concurrent askers wait for one request,
later ones within a short time reuse its answer). Each distinct answer is stored once in the content
store as a small record (query, time, source, the raw answer); its sha256 travels back in the batch,
and the records of the sample set that decided an item become evidence items of the postmortem, with
a custody entry, when the item passes or fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from afterword.activities.adapters.base import SourceRejected, SourceUnavailable
from afterword.activities.adapters.check_probes import (
    AlertmanagerApi,
    Answer,
    PrometheusApi,
    host_allowed,
    probe,
    selector,
)
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, ItemRecord, items_digest, now_local
from afterword.gates.check_syntax import format_check
from afterword.workflows.fix_checks import (
    AlertRuleCheck,
    AlertSilentCheck,
    CheckPoint,
    CheckProgress,
    FixCheck,
    HttpCheck,
    ManualCheck,
    PrometheusCheck,
    SampleBatch,
    SampleRequest,
)

RECORD_FORMAT = "afterword-check-answer/1"
EVIDENCE_FORMAT = "afterword-check-evidence/1"


@dataclass(frozen=True)
class ValidationTargets:
    """What one organisation's checks may ask: its Prometheus, its Alertmanager, the hosts it allows."""

    prometheus: PrometheusApi | None = None
    alertmanager: AlertmanagerApi | None = None
    allow_hosts: tuple[str, ...] = ()


TargetsFor = Callable[[str], ValidationTargets]


class CheckUnavailable(Exception):
    """The check's server did not answer: the activity is retried, the check is not failed."""


@dataclass
class SharedAnswers:
    """One request per distinct question: concurrent askers share it, later ones reuse it for `ttl` s."""

    ttl: float = 120.0
    limit: int = 4096
    asked: int = 0
    fetched: int = 0
    _done: OrderedDict[Hashable, tuple[float, Any]] = field(default_factory=OrderedDict)
    _pending: dict[Hashable, asyncio.Future[Any]] = field(default_factory=dict)

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        self.asked += 1
        hit = self._done.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self.fetched += 1
            value = await fetch()
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(value)
        self._done[key] = (time.monotonic() + self.ttl, value)
        while len(self._done) > self.limit:
            self._done.popitem(last=False)
        return value


def grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    instants: list[datetime] = []
    at = start
    while at <= end:
        instants.append(at)
        at += step
    return instants


def _ms(ts: float | datetime) -> int:
    return round((ts.timestamp() if isinstance(ts, datetime) else ts) * 1000)


def matrix_at(body: Any) -> dict[int, list[float]]:
    """Values of every series of a query_range answer, by instant (milliseconds)."""
    values: dict[int, list[float]] = {}
    result = body.get("data", {}).get("result", []) if isinstance(body, dict) else []
    for series in result if isinstance(result, list) else []:
        for ts, value in series.get("values", []) if isinstance(series, dict) else []:
            try:
                values.setdefault(_ms(float(ts)), []).append(float(value))
            except (TypeError, ValueError):
                continue
    return values


def _shown(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{len(values)} series, {min(values):.4g}..{max(values):.4g}"


def prometheus_points(check: PrometheusCheck, instants: list[datetime], body: Any) -> list[CheckPoint]:
    by_instant = matrix_at(body)
    points: list[CheckPoint] = []
    for at in instants:
        values = by_instant.get(_ms(at), [])
        if check.condition == "empty":
            ok, shown = not values, "no data" if not values else _shown(values)
        elif not values:
            ok, shown = False, "no data"
        elif check.condition == "above":
            assert check.threshold is not None
            ok, shown = all(v > check.threshold for v in values), _shown(values)
        elif check.condition == "below":
            assert check.threshold is not None
            ok, shown = all(v < check.threshold for v in values), _shown(values)
        else:
            ok, shown = True, _shown(values)
        points.append(CheckPoint(at=at, ok=ok, value=shown))
    return points


def matching_rules(check: AlertRuleCheck, body: Any) -> list[dict[str, Any]]:
    """The alerting rules of a /api/v1/rules answer that the check describes."""
    found: list[dict[str, Any]] = []
    groups = body.get("data", {}).get("groups", []) if isinstance(body, dict) else []
    for group in groups if isinstance(groups, list) else []:
        for rule in group.get("rules", []) if isinstance(group, dict) else []:
            if not isinstance(rule, dict) or rule.get("type", "alerting") != "alerting":
                continue
            if rule.get("name") != check.name:
                continue
            if check.expr and check.expr not in str(rule.get("query", "")):
                continue
            labels = rule.get("labels") or {}
            if any(labels.get(k) != v for k, v in check.labels.items()):
                continue
            found.append(rule)
    return found


def _stored(store: ContentStore, record: dict[str, Any]) -> str:
    ref: str = store.put_bytes(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
    return ref


def _record(query: str, source: str, answer: Any, **extra: Any) -> dict[str, Any]:
    return {"format": RECORD_FORMAT, "query": query, "source": source, "asked_at": datetime.now(UTC).isoformat(),
            **extra, "answer": answer}


class CheckSampler:
    """Samples checks against the targets of their organisation; shares identical questions."""

    def __init__(self, store: ContentStore, targets_for: TargetsFor, shared: SharedAnswers | None = None) -> None:
        self.store = store
        self.targets_for = targets_for
        self.shared = shared or SharedAnswers()

    def _prometheus(self, org: str) -> PrometheusApi:
        api = self.targets_for(org).prometheus
        if api is None:
            raise SourceRejected(f"the policy of {org!r} has no metrics integration ([integrations.metrics])")
        return api

    async def _range(self, api: PrometheusApi, expr: str, start: datetime, end: datetime,
                     step: timedelta) -> tuple[str, Any]:
        async def fetch() -> tuple[str, Any]:
            answer = await api.query_range(expr, start, end, step)
            record = _record(expr, api.base_url, answer.body, start=start.isoformat(), end=end.isoformat(),
                             step=step.total_seconds())
            return await asyncio.to_thread(_stored, self.store, record), answer.body

        key = ("range", api.base_url, expr, _ms(start), _ms(end), step.total_seconds())
        result: tuple[str, Any] = await self.shared.get(key, fetch)
        return result

    async def sample(self, org: str, req: SampleRequest) -> SampleBatch:
        check = req.check
        if isinstance(check, ManualCheck):
            raise SourceRejected("a manual check is signed off by a person, not sampled")
        asked = datetime.now(UTC)
        if isinstance(check, PrometheusCheck):
            api = self._prometheus(org)
            ref, body = await self._range(api, check.expr, req.start, req.end, check.interval)
            points = prometheus_points(check, grid(req.start, req.end, check.interval), body)
            return SampleBatch(points=points, query=check.expr, source=api.base_url, answer_ref=ref, asked_at=asked)
        if isinstance(check, AlertRuleCheck):
            return await self._alert_rule(org, check, req, asked)
        if isinstance(check, AlertSilentCheck):
            return await self._alert_silent(org, check, req, asked)
        return await self._http(org, check, req, asked)

    async def _alert_rule(self, org: str, check: AlertRuleCheck, req: SampleRequest, asked: datetime) -> SampleBatch:
        api = self._prometheus(org)

        async def fetch_rules() -> Answer:
            return await api.alerting_rules()

        # rules change only when someone deploys them: one answer serves every item for a few seconds
        rules: Answer = await self.shared.get(("rules", api.base_url, _ms(req.end)), fetch_rules)
        exists = bool(matching_rules(check, rules.body))
        firing_query = selector(check.name, check.labels, {"alertstate": "firing"})
        instants = grid(req.start, req.end, check.interval)
        answers: dict[str, Any] = {"rules": rules.body}
        firing: dict[int, list[float]] = {}
        source = api.base_url
        if check.fired and check.source == "prometheus":
            _, body = await self._range(api, firing_query, req.start, req.end, check.interval)
            answers["alerts"] = body
            firing = matrix_at(body)
        elif check.fired:
            manager = self._alertmanager(org)
            alerts = await manager.active_alerts({"alertname": check.name, **check.labels})
            answers["alerts"] = alerts.body
            source = f"{api.base_url} + {manager.base_url}"
            instants = [req.end]
            firing = {_ms(req.end): [1.0]} if alerts.body else {}
        ref = await asyncio.to_thread(_stored, self.store, _record(f"rules name={check.name}; {firing_query}",
                                                                    source, answers))
        points = []
        for at in instants:
            fired = bool(firing.get(_ms(at)))
            shown = ("firing" if fired else "rule found") if exists else "no such rule"
            points.append(CheckPoint(at=at, ok=exists, value=shown, firing=fired and exists))
        return SampleBatch(points=points, query=f"rules name={check.name}", source=source, answer_ref=ref,
                           asked_at=asked)

    def _alertmanager(self, org: str) -> AlertmanagerApi:
        manager = self.targets_for(org).alertmanager
        if manager is None:
            raise SourceRejected("source=alertmanager needs an Alertmanager URL in the policy's validation settings")
        return manager

    async def _alert_silent(self, org: str, check: AlertSilentCheck, req: SampleRequest,
                            asked: datetime) -> SampleBatch:
        if check.source == "prometheus":
            api = self._prometheus(org)
            query = selector(check.alertname, check.labels, {"alertstate": "firing"})
            ref, body = await self._range(api, query, req.start, req.end, check.interval)
            by_instant = matrix_at(body)
            firing = [bool(by_instant.get(_ms(at))) for at in grid(req.start, req.end, check.interval)]
            points = [CheckPoint(at=at, ok=not fired, value="firing" if fired else "silent")
                      for at, fired in zip(grid(req.start, req.end, check.interval), firing, strict=True)]
            return SampleBatch(points=points, query=query, source=api.base_url, answer_ref=ref, asked_at=asked)
        manager = self._alertmanager(org)
        matchers = dict(check.labels)
        if check.alertname:
            matchers["alertname"] = check.alertname

        async def fetch() -> Answer:
            return await manager.active_alerts(matchers)

        alerts: Answer = await self.shared.get(("am", manager.base_url, tuple(sorted(matchers.items())), _ms(req.end)),
                                               fetch)
        active = [a for a in alerts.body if isinstance(a, dict)
                  and (check.fingerprint is None or a.get("fingerprint") == check.fingerprint)]
        query = "alerts " + ", ".join(f'{k}="{v}"' for k, v in sorted(matchers.items()))
        if check.fingerprint:
            query += f" fingerprint={check.fingerprint}"
        ref = await asyncio.to_thread(_stored, self.store, _record(query, manager.base_url, alerts.body))
        point = CheckPoint(at=req.end, ok=not active, value=f"{len(active)} firing" if active else "silent")
        return SampleBatch(points=[point], query=query, source=manager.base_url, answer_ref=ref, asked_at=asked)

    async def _http(self, org: str, check: HttpCheck, req: SampleRequest, asked: datetime) -> SampleBatch:
        allowed = self.targets_for(org).allow_hosts
        if not host_allowed(check.url, allowed):
            raise SourceRejected(f"{check.url}: its host is not on the policy's allow-list")
        timeout = check.within.total_seconds() if check.within else 10.0

        async def fetch() -> Any:
            return await probe(check.url, seconds=timeout, body_pattern=check.body)

        result = await self.shared.get(("http", check.url, check.body, timeout, _ms(req.end)), fetch)
        problems: list[str] = []
        if result.error is not None:
            problems.append(result.error)
        elif result.status != check.status:
            problems.append(f"HTTP {result.status}, expected {check.status}")
        if result.body_matched is False:
            problems.append("body did not match")
        if check.within is not None and result.seconds > check.within.total_seconds():
            problems.append(f"slower than {check.within.total_seconds():g} s")
        shown = f"HTTP {result.status} in {result.seconds:.3g} s" if result.status else f"{result.seconds:.3g} s"
        record = _record(f"GET {check.url}", check.url, {"status": result.status, "seconds": result.seconds,
                                                        "body_matched": result.body_matched, "error": result.error})
        ref = await asyncio.to_thread(_stored, self.store, record)
        point = CheckPoint(at=req.end, ok=not problems, value="; ".join([shown, *problems]))
        return SampleBatch(points=[point], query=f"GET {check.url}", source=check.url, answer_ref=ref, asked_at=asked)


# ------------------------------------------------------------------------------------------ examine


class ExamineRequest(BaseModel):
    """A check about to be added to an item: can it run for this organisation?"""

    model_config = ConfigDict(extra="forbid")

    org: str
    check: FixCheck


class ExamineResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problem: str | None = Field(default=None, description="why the check cannot be added, with the fix")
    note: str = Field(default="", description="what could not be verified now")


async def examine(targets: ValidationTargets, check: FixCheck) -> ExamineResult:
    """Refuse at add time what would fail later: a missing integration, a URL off the allow-list, an
    expression Prometheus's parser rejects."""
    if isinstance(check, ManualCheck):
        return ExamineResult()
    if isinstance(check, HttpCheck):
        if not targets.allow_hosts:
            return ExamineResult(problem="check.url: the policy allows no hosts for HTTP checks; add the host to "
                                 "[integrations.validation.settings] http_allow_hosts")
        if not host_allowed(check.url, targets.allow_hosts):
            return ExamineResult(problem=f"check.url: {check.url} is not on the policy's allow-list "
                                 f"({', '.join(targets.allow_hosts)}); use an allowed host or add it to "
                                 "[integrations.validation.settings] http_allow_hosts")
        return ExamineResult()
    if targets.prometheus is None:
        return ExamineResult(problem=f"check: a {check.kind} check needs the policy's metrics integration; add "
                             "[integrations.metrics] with the Prometheus URL, or use a manual check")
    source = getattr(check, "source", "prometheus")
    if source == "alertmanager" and targets.alertmanager is None:
        return ExamineResult(problem="check.source: the policy names no Alertmanager; add alertmanager_url to "
                             "[integrations.validation.settings] or use source=prometheus")
    expr = check.expr if isinstance(check, PrometheusCheck) else None
    if expr is None:
        return ExamineResult()
    try:
        problem = await targets.prometheus.parse_problem(expr)
    except (SourceUnavailable, SourceRejected) as err:
        return ExamineResult(note=f"the expression could not be parsed now ({err}); sampling will refuse it if "
                             "Prometheus does")
    if problem is not None:
        return ExamineResult(problem=f"check.expr: Prometheus cannot parse `{expr}`: {problem}")
    return ExamineResult()


# ------------------------------------------------------------------------------------------ evidence


class CheckEvidenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    postmortem_id: str
    item_id: str
    check: FixCheck
    progress: CheckProgress


class CheckEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_ref: str
    manifest_ref: str | None = None


def record_evidence(store: ContentStore, evidence_dir: Any, req: CheckEvidenceRequest, who: str) -> CheckEvidence:
    """Store the deciding sample set as one record, and add it with its answers to the postmortem's
    evidence (a new manifest version) with a custody entry."""
    p = req.progress
    answers = p.run_answers if p.verdict == "passed" else (p.failed_answers or p.run_answers)
    record = {
        "format": EVIDENCE_FORMAT,
        "postmortem_id": req.postmortem_id,
        "item_id": req.item_id,
        "check": format_check(req.check),
        "verdict": p.verdict,
        "reason": p.reason,
        "started_at": p.started_at.isoformat(),
        "window_end": p.window_end.isoformat(),
        "samples": p.samples,
        "failed_samples": p.failed_points,
        "failures": [f.model_dump(mode="json") for f in p.failures],
        "last": p.last.model_dump(mode="json") if p.last else None,
        "query": p.last_query,
        "source": p.last_source,
        "answers": answers,
    }
    ref = _stored(store, record)
    archive = EvidenceArchive(evidence_dir, store, req.postmortem_id)
    detail = f"{req.item_id} check {p.verdict}: {p.reason}"[:500]
    with archive.locked():
        head = archive.head()
        if head is None:  # no capture sealed anything for this postmortem: custody still records the proof
            archive.append_custody_locked(who, "check-recorded", ref=ref, item=f"validation/{req.item_id}",
                                          detail=detail)
            return CheckEvidence(record_ref=ref)
        previous = archive.load_manifest(head.ref)
        base = f"validation/{req.item_id}/{p.verdict}-{p.started_at:%Y%m%dT%H%M%S}"
        if any(item.id == f"{base}/record.json" for item in previous.items):
            return CheckEvidence(record_ref=ref, manifest_ref=head.ref)  # a retried activity
        collected = now_local()
        new_items = [_item(store, f"{base}/record.json", ref, req, collected, who, "the deciding samples")]
        new_items += [_item(store, f"{base}/answer-{n:03d}.json", answer, req, collected, who, "a server's answer")
                      for n, answer in enumerate(answers, 1) if store.exists(answer)]
        archive.append_custody_locked(who, "check-recorded", ref=ref, item=new_items[0].id,
                                      where=archive.where(ref), detail=detail)
        items = [*previous.items, *new_items]
        manifest = previous.model_copy(update={
            "version": previous.version + 1, "phase": "validation", "supersedes": head.ref,
            "created_at": collected, "collector": who, "items": items, "items_digest": items_digest(items, head.ref),
        })
        manifest_ref = archive.seal_locked(manifest, who)
    return CheckEvidence(record_ref=ref, manifest_ref=manifest_ref)


def _item(store: ContentStore, item_id: str, ref: str, req: CheckEvidenceRequest, at: datetime, who: str,
          note: str) -> ItemRecord:
    return ItemRecord(
        id=item_id, source="validation", kind="check-evidence", target=format_check(req.check)[:500],
        start=req.progress.started_at, end=req.progress.covered_until or req.progress.started_at,
        collected_at=at, collector=who, size=store.path(ref).stat().st_size, sha256=ref,
        media_type="application/json", note=note, phase="validation",
    )


# ------------------------------------------------------------------------------------------ activities


class ValidationActivities:
    """`sample_check`, `examine_check` and `record_check_evidence` for the worker."""

    def __init__(self, store: ContentStore, evidence_dir: Any, targets_for: TargetsFor,
                 shared: SharedAnswers | None = None) -> None:
        self.store = store
        self.evidence_dir = evidence_dir
        self.targets_for = targets_for
        self.sampler = CheckSampler(store, targets_for, shared)

    @activity.defn
    async def sample_check(self, req: SampleRequest) -> SampleBatch:
        try:
            return await self.sampler.sample(req.org, req)
        except SourceUnavailable as err:  # retried by the activity's policy; the check is not failed
            raise ApplicationError(str(err), type="CheckSourceUnavailable") from None
        except SourceRejected as err:
            query = getattr(req.check, "expr", None) or req.check.kind
            return SampleBatch(query=str(query), source="", asked_at=datetime.now(UTC), refused=str(err))

    @activity.defn
    async def examine_check(self, req: ExamineRequest) -> ExamineResult:
        return await examine(self.targets_for(req.org), req.check)

    @activity.defn
    async def record_check_evidence(self, req: CheckEvidenceRequest) -> CheckEvidence:
        who = f"afterword-worker check {req.item_id}"
        return await asyncio.to_thread(record_evidence, self.store, self.evidence_dir, req, who)



# ------------------------------------------------------------------------------------------ from the policy


class ValidationSettings(BaseModel):
    """`[integrations.validation.settings]` of the `prometheus` validation adapter. Prometheus itself is the
    metrics integration's (`[integrations.metrics]`, the one evidence capture asks)."""

    model_config = ConfigDict(extra="forbid")

    http_allow_hosts: list[str] = Field(default_factory=list, description="hosts HTTP checks may probe")
    alertmanager_url: str | None = Field(default=None, description="Alertmanager for source=alertmanager checks")
    alertmanager_token: str | None = Field(default=None, description='"env:NAME" or "file:/path" of a bearer token')


def targets_from_policy(integrations: dict[str, Any]) -> ValidationTargets:
    """Build an organisation's targets from its `[integrations]`; secrets are resolved here, never stored."""
    from afterword.policies.integrations import SecretError, resolve_secret

    def secret(ref: str | None) -> str | None:
        if ref is None:
            return None
        try:
            return resolve_secret(ref)
        except SecretError as err:
            raise SourceRejected(str(err)) from None

    metrics = integrations.get("metrics")
    prometheus = None
    if metrics is not None and getattr(metrics, "adapter", None) == "prometheus":
        url = metrics.settings.get("url")
        if url:
            prometheus = PrometheusApi(str(url), token=secret(metrics.settings.get("bearer_token")))
    validation = integrations.get("validation")
    options = ValidationSettings.model_validate(validation.settings if validation is not None else {})
    alertmanager = None
    if options.alertmanager_url:
        alertmanager = AlertmanagerApi(options.alertmanager_url, token=secret(options.alertmanager_token))
    return ValidationTargets(prometheus=prometheus, alertmanager=alertmanager,
                             allow_hosts=tuple(options.http_allow_hosts))


def policy_targets(policy_dir: Any) -> TargetsFor:
    """Each organisation's targets from its policy file, built once per worker."""
    import functools

    from afterword.policies import load_org_policy

    @functools.cache
    def targets(org: str) -> ValidationTargets:
        return targets_from_policy(dict(load_org_policy(org, policy_dir).integrations))

    return targets
