"""Machine-checkable success criteria of an action item, and the pure rules that decide them.

A check is part of an action item's spec (it crosses the Temporal boundary, so it is a pydantic model
here, beside the workflow that runs it). The item's workflow samples it durably: it wakes on a grid of
`wake` instants, asks an activity for the points since the last one it saw, and folds them into a
`CheckProgress` with `advance`. Everything in this module is deterministic: no I/O, no clock.

Kinds:
- `prometheus`: a PromQL expression that must hold (non-empty, empty, above or below a threshold)
  at every sample for `holds_for`, sampled every `interval`;
- `alert_rule`: an alerting rule with this name (and optionally expression and labels) exists, and,
  with `fired`, has fired at least once since checking began;
- `alert_silent`: an alert (alertname and labels, or an Alertmanager fingerprint) has not fired for
  `silent_for`;
- `http`: a probe (status, body match, latency bound) that passes `times` times in a row;
- `manual`: a person signs the fix off (`afterword action validate`), the only kind without a check.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# Sampling bounds: a check may not sample faster than once a second, and a wake-up batches at most this
# long a span (the status a person reads is never older than that; Prometheus answers each wake's range).
MIN_INTERVAL = timedelta(seconds=1)
MAX_WAKE = timedelta(minutes=15)
WAKES_PER_SPAN = 24  # a span is reported in about this many wake-ups, when the interval allows it
KEEP_FAILURES = 20  # failed points kept in the progress (and shown on reopening): the newest
KEEP_ANSWERS = 200  # stored answers kept for the deciding sample set: the newest


_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _label_names(labels: dict[str, str]) -> dict[str, str]:
    for name in labels:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"{name!r} is not a Prometheus label name (letters, digits and _, not first a digit)")
    return labels


Labels = Annotated[dict[str, str], AfterValidator(_label_names)]


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusCheck(_Check):
    kind: Literal["prometheus"] = "prometheus"
    expr: str = Field(min_length=1, description="the PromQL expression sampled")
    condition: Literal["nonempty", "empty", "above", "below"] = Field(
        default="nonempty", description="what must hold at every sample; above/below compare every series"
    )
    threshold: float | None = Field(default=None, description="for above / below")
    holds_for: timedelta = Field(description="how long the condition must hold without a break")
    interval: timedelta = Field(default=timedelta(minutes=1), description="time between samples")

    @model_validator(mode="after")
    def _consistent(self) -> PrometheusCheck:
        if self.condition in ("above", "below") and self.threshold is None:
            raise ValueError(f"{self.condition} needs a threshold, e.g. {self.condition}=0.8")
        if self.condition in ("nonempty", "empty") and self.threshold is not None:
            raise ValueError("a threshold needs above= or below=")
        _spans(self.holds_for, self.interval, "holds_for")
        return self


class AlertRuleCheck(_Check):
    kind: Literal["alert_rule"] = "alert_rule"
    name: str = Field(min_length=1, description="the alerting rule's name (its alertname)")
    expr: str | None = Field(default=None, description="the rule's expression must contain this text")
    labels: Labels = Field(default_factory=dict, description="labels the rule must set")
    fired: bool = Field(default=False, description="the alert must also have fired since checking began")
    interval: timedelta = Field(default=timedelta(minutes=1))
    source: Literal["prometheus", "alertmanager"] = Field(
        default="prometheus",
        description="where firing is seen: Prometheus's ALERTS series (history) or Alertmanager (now only)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AlertRuleCheck:
        _spans(self.interval, self.interval, "interval")
        return self


class AlertSilentCheck(_Check):
    kind: Literal["alert_silent"] = "alert_silent"
    alertname: str | None = Field(default=None, description="unset: the alert that opened the incident")
    labels: Labels = Field(default_factory=dict, description="the alert's labels that must match")
    fingerprint: str | None = Field(default=None, description="Alertmanager's fingerprint of the alert")
    silent_for: timedelta = Field(description="how long the alert must not fire")
    interval: timedelta = Field(default=timedelta(minutes=1))
    source: Literal["prometheus", "alertmanager"] = "prometheus"

    @model_validator(mode="after")
    def _consistent(self) -> AlertSilentCheck:
        if self.fingerprint is not None and self.source != "alertmanager":
            raise ValueError("a fingerprint is Alertmanager's: add source=alertmanager, or give the labels")
        _spans(self.silent_for, self.interval, "silent_for")
        return self

    @property
    def resolved(self) -> bool:
        """Whether it names its alert (the workflow fills in the incident's alert when it does not)."""
        return self.alertname is not None or self.fingerprint is not None


class HttpCheck(_Check):
    kind: Literal["http"] = "http"
    url: str = Field(min_length=1, description="http(s) URL on a host the policy allows")
    status: int = Field(default=200, ge=100, le=599)
    body: str | None = Field(default=None, description="a regular expression the body must match")
    within: timedelta | None = Field(default=None, description="the answer must come within this time")
    times: int = Field(default=3, ge=1, le=1000, description="passes in a row needed")
    interval: timedelta = Field(default=timedelta(minutes=1))

    @model_validator(mode="after")
    def _consistent(self) -> HttpCheck:
        _spans(self.interval, self.interval, "interval")
        if self.within is not None and self.within <= timedelta(0):
            raise ValueError("within must be a positive duration")
        return self


class ManualCheck(_Check):
    kind: Literal["manual"] = "manual"


FixCheck = Annotated[
    PrometheusCheck | AlertRuleCheck | AlertSilentCheck | HttpCheck | ManualCheck, Field(discriminator="kind")
]
AutomaticCheck = PrometheusCheck | AlertRuleCheck | AlertSilentCheck | HttpCheck


def is_automatic(check: FixCheck | None) -> bool:
    """Whether the workflow checks it itself (everything but a person's sign-off)."""
    return check is not None and not isinstance(check, ManualCheck)


def for_incident(check: FixCheck | None, labels: dict[str, str]) -> FixCheck | None:
    """An alert_silent check that names no alert watches the one that opened the incident: its alertname
    and labels (afterword's own labels left out)."""
    if not isinstance(check, AlertSilentCheck) or check.resolved:
        return check
    own = {k: v for k, v in labels.items() if k != "alertname" and not k.startswith("afterword_")}
    return check.model_copy(update={"alertname": labels.get("alertname"), "labels": {**own, **check.labels}})


def check_problem(check: FixCheck | None, window: timedelta, labels: dict[str, str]) -> str | None:
    """What makes a check impossible under the policy, before anything asks a server."""
    if not is_automatic(check):
        return None
    assert check is not None and not isinstance(check, ManualCheck)
    span = needed_span(check)
    if span > window:
        return (f"check: it must hold for {_span(span)} but the policy's validation window is {_span(window)}; "
                "shorten the span or raise [action_items] validation_window")
    if isinstance(check, AlertSilentCheck) and not check.resolved and "alertname" not in labels:
        return "check: the incident has no alertname label to watch; give alertname= (and labels=) in the check"
    return None


def _spans(span: timedelta, interval: timedelta, name: str) -> None:
    if interval < MIN_INTERVAL:
        raise ValueError(f"interval must be at least {MIN_INTERVAL.total_seconds():g}s")
    if span < interval:
        raise ValueError(f"{name} ({_span(span)}) is shorter than the interval ({_span(interval)})")


def needed_span(check: AutomaticCheck) -> timedelta:
    """How long a check must hold; zero for the kinds that pass on a count or at once."""
    if isinstance(check, PrometheusCheck):
        return check.holds_for
    if isinstance(check, AlertSilentCheck):
        return check.silent_for
    return timedelta(0)


def backfills(check: AutomaticCheck) -> bool:
    """Whether the points of past instants can be read afterwards (Prometheus keeps history; a probe or
    Alertmanager answers for now only)."""
    return isinstance(check, PrometheusCheck) or (
        isinstance(check, AlertRuleCheck | AlertSilentCheck) and check.source == "prometheus"
    )


def wake_every(check: AutomaticCheck) -> timedelta:
    """The grid the workflow wakes on: every interval for short spans and for the kinds without history,
    a whole number of intervals (about 1/24 of the span, at most 15 minutes) otherwise. Items with the same
    check wake at the same instants and ask the same range, which the worker answers once for all."""
    if not backfills(check):
        return check.interval
    span = needed_span(check) or check.interval * WAKES_PER_SPAN
    steps = max(1, int(min(span / WAKES_PER_SPAN, MAX_WAKE) / check.interval))
    return check.interval * steps


def grid_floor(moment: datetime, step: timedelta) -> datetime:
    """The last grid instant at or before `moment` (the grid is anchored at the Unix epoch)."""
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return epoch + step * ((moment - epoch) // step)


class CheckPoint(BaseModel):
    """One sampled instant: whether the criterion held, and what was seen (for people)."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    ok: bool
    value: str = Field(description='e.g. "0.42", "no data", "firing", "HTTP 503 in 1.2 s"')
    firing: bool = Field(default=False, description="alert_rule: the alert was firing at this instant")


class SampleRequest(BaseModel):
    """Sample a check over [start, end] on its interval grid (one point when start == end)."""

    model_config = ConfigDict(extra="forbid")

    org: str = Field(description="whose policy names the servers to ask")
    postmortem_id: str
    item_id: str
    check: FixCheck
    start: datetime
    end: datetime


class SampleBatch(BaseModel):
    """What one sampling answered. `answer_ref` is the sha256 of the raw answer in the content store."""

    model_config = ConfigDict(extra="forbid")

    points: list[CheckPoint] = Field(default_factory=list)
    query: str = Field(description="what was asked: PromQL, a rules lookup, a URL")
    source: str = Field(description="which server answered")
    answer_ref: str | None = None
    asked_at: datetime
    refused: str | None = Field(default=None, description="the server refused the check itself: it cannot pass")


class CheckProgress(BaseModel):
    """Where an item's automatic check stands; carried across continue-as-new."""

    model_config = ConfigDict(extra="forbid")

    started_at: datetime
    window_end: datetime
    verdict: Literal["checking", "passed", "failed"] = "checking"
    reason: str = ""
    covered_until: datetime | None = Field(default=None, description="the last instant sampled")
    run_start: datetime | None = Field(default=None, description="first point of the current unbroken run")
    run_end: datetime | None = None
    run_passes: int = 0
    fired_at: datetime | None = Field(default=None, description="alert_rule: when firing was first seen")
    samples: int = 0
    wakes: int = 0
    unavailable: int = Field(default=0, description="wake-ups whose sampling failed after its retries")
    last: CheckPoint | None = None
    failures: list[CheckPoint] = Field(default_factory=list, description="the newest failed points")
    failed_points: int = 0
    run_answers: list[str] = Field(default_factory=list, description="stored answers of the current run")
    failed_answers: list[str] = Field(default_factory=list, description="stored answers with failed points")
    last_query: str = ""
    last_source: str = ""
    evidence_ref: str | None = Field(default=None, description="the stored record of the deciding samples")

    def held(self) -> timedelta:
        if self.run_start is None or self.run_end is None:
            return timedelta(0)
        return self.run_end - self.run_start


def _keep(refs: list[str], ref: str | None, limit: int) -> list[str]:
    if ref is None or (refs and refs[-1] == ref):
        return refs
    return [*refs, ref][-limit:]


def advance(progress: CheckProgress, check: AutomaticCheck, batch: SampleBatch) -> CheckProgress:
    """Fold one batch of points into the progress, and decide when the criterion is met."""
    p = progress.model_copy(deep=True)
    p.wakes += 1
    p.last_query, p.last_source = batch.query, batch.source
    if batch.refused is not None:
        p.verdict, p.reason = "failed", batch.refused
        p.failed_answers = _keep(p.failed_answers, batch.answer_ref, KEEP_ANSWERS)
        return p
    batch_failed = False
    for point in sorted(batch.points, key=lambda q: q.at):
        if p.covered_until is not None and point.at <= p.covered_until:
            continue  # a retried or overlapping range: each instant counts once
        p.covered_until = point.at
        p.samples += 1
        p.last = point
        if point.firing and p.fired_at is None:
            p.fired_at = point.at
        if point.ok:
            if p.run_start is None:
                p.run_start, p.run_passes, p.run_answers = point.at, 0, []
            p.run_end = point.at
            p.run_passes += 1
        else:
            p.run_start = p.run_end = None
            p.run_passes = 0
            p.run_answers = []
            p.failed_points += 1
            p.failures = [*p.failures, point][-KEEP_FAILURES:]
            batch_failed = True
        if met(p, check):
            break
    if p.run_start is not None:  # this batch's answer backs the current run
        p.run_answers = _keep(p.run_answers, batch.answer_ref, KEEP_ANSWERS)
    if batch_failed:
        p.failed_answers = _keep(p.failed_answers, batch.answer_ref, KEEP_ANSWERS)
    if met(p, check):
        p.verdict, p.reason = "passed", describe_pass(p, check)
    return p


def met(p: CheckProgress, check: AutomaticCheck) -> bool:
    if p.run_start is None:
        return False
    if isinstance(check, PrometheusCheck | AlertSilentCheck):
        return p.held() >= needed_span(check)
    if isinstance(check, HttpCheck):
        return p.run_passes >= check.times
    return not check.fired or p.fired_at is not None  # alert_rule: exists now (and has fired)


def can_still_pass(p: CheckProgress, check: AutomaticCheck, now: datetime) -> bool:
    """False once the window can no longer fit what is missing (the item then fails without waiting)."""
    if now >= p.window_end:
        return False
    span = needed_span(check)
    if span:
        if p.run_start is not None:
            return p.run_start + span <= p.window_end
        return (p.covered_until or p.started_at) + check.interval + span <= p.window_end
    if isinstance(check, HttpCheck):
        missing = check.times - p.run_passes
        return now + check.interval * max(0, missing - 1) <= p.window_end
    return True


def fail(p: CheckProgress, check: AutomaticCheck, now: datetime) -> CheckProgress:
    """The verdict when the window closes (or can no longer fit a pass)."""
    failed = p.model_copy(update={"verdict": "failed"})
    if p.samples == 0:
        failed.reason = (
            f"no sample could be taken in the window ({p.unavailable} attempt(s) failed): "
            f"{p.last_source or 'the server'} was not reachable"
        )
    elif isinstance(check, AlertRuleCheck) and p.run_start is not None and check.fired:
        failed.reason = f"the rule {check.name} exists but the alert did not fire in the window"
    elif isinstance(check, AlertRuleCheck):
        failed.reason = f"no alerting rule {check.name} matching the check was found"
    else:
        failed.reason = (
            f"{p.failed_points} of {p.samples} sample(s) failed; the longest needed run did not fit "
            f"in the window ending {p.window_end.isoformat()}"
        )
    return failed


def describe_pass(p: CheckProgress, check: AutomaticCheck) -> str:
    if isinstance(check, PrometheusCheck | AlertSilentCheck):
        return f"held for {_span(p.held())} ({p.run_passes} sample(s)), last {p.last.value if p.last else '?'}"
    if isinstance(check, HttpCheck):
        return f"{p.run_passes} probe(s) in a row passed, last {p.last.value if p.last else '?'}"
    fired = f", fired at {p.fired_at.isoformat()}" if p.fired_at else ""
    return f"the alerting rule {check.name} exists{fired}"


def _span(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


def progress_line(p: CheckProgress, check: AutomaticCheck) -> str:
    """One line for `afterword status`: "checking: 14 h of 24 h held, last sample 0.42 at 10:05"."""
    last = f", last sample {p.last.value} at {p.last.at:%H:%M:%S}" if p.last else ", no sample yet"
    if p.verdict != "checking":
        return f"{p.verdict}: {p.reason}"
    span = needed_span(check)
    if span:
        done = f"{_span(p.held())} of {_span(span)} held"
    elif isinstance(check, HttpCheck):
        done = f"{p.run_passes} of {check.times} probes passed in a row"
    elif isinstance(check, AlertRuleCheck) and p.run_start is not None:
        done = f"rule {check.name} found, waiting for it to fire"
    elif isinstance(check, AlertRuleCheck):
        done = f"rule {check.name} not found yet"
    else:
        done = "sampling"
    return f"checking: {done}{last}; window ends {p.window_end:%Y-%m-%d %H:%M}"
