"""How people write checks: the examples of docs/validation.md read, bad ones say what to fix, and any
check written back out reads as the same check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afterword.gates.check_syntax import CheckSyntaxError, format_check, parse_check
from afterword.workflows.fix_checks import (
    AlertRuleCheck,
    AlertSilentCheck,
    HttpCheck,
    ManualCheck,
    PrometheusCheck,
)

LATENCY = (
    "prometheus expr=`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
    '{service="checkout"}[5m])))` below=0.8 holds_for=24h interval=1m'
)


def test_a_latency_criterion_reads_as_written() -> None:
    check = parse_check(LATENCY)
    assert isinstance(check, PrometheusCheck)
    assert check.expr.startswith("histogram_quantile(0.99") and '{service="checkout"}' in check.expr
    assert (check.condition, check.threshold) == ("below", 0.8)
    assert check.holds_for == timedelta(hours=24) and check.interval == timedelta(minutes=1)


def test_each_kind_has_a_short_form() -> None:
    rule = parse_check('alert_rule: name=CheckoutLatencyHigh labels=`{severity="page"}` fired=yes')
    assert rule == AlertRuleCheck(name="CheckoutLatencyHigh", labels={"severity": "page"}, fired=True)
    silent = parse_check("alert_silent for=7d")
    assert isinstance(silent, AlertSilentCheck) and silent.silent_for == timedelta(days=7) and not silent.resolved
    probe = parse_check('http url=https://status.example.com/healthz body=`"ok"` within=0.5s times=5 every=30s')
    assert probe == HttpCheck(url="https://status.example.com/healthz", body='"ok"', within=timedelta(seconds=0.5),
                              times=5, interval=timedelta(seconds=30))
    assert parse_check("manual") == ManualCheck()
    assert parse_check("prometheus expr=up nonempty for=6s every=1s") == PrometheusCheck(
        expr="up", holds_for=timedelta(seconds=6), interval=timedelta(seconds=1))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "write a kind first"),
        ("promethues expr=up holds_for=1h", "unknown check kind 'promethues'"),
        ("prometheus expr=up", "holds_for is missing"),
        ("prometheus expr=up holds_for=soon", "holds_for: cannot read 'soon' as a duration"),
        ("prometheus expr=up holds_for=`2 business days`", "counts business time; use wall-clock time"),
        ("prometheus expr=up below=fast holds_for=1h", "below: 'fast' is not a number"),
        ("prometheus expr=`up holds_for=1h", "expr: the value starting '`up' has no closing `"),
        ("prometheus expr=up holds_for=2s interval=5s", "holds_for (2 s) is shorter than the interval (5 s)"),
        ("prometheus expr=up holds_for=1h interval=0.5s", "interval must be at least 1s"),
        ("alert_rule fired=yes", "name is missing"),
        ("alert_rule name=X colour=red", "unknown key 'colour'; its keys are: name, expr, labels, fired"),
        ("alert_rule name=X labels=severity", 'write the labels as {name="value"'),
        ("alert_silent silent_for=1d fingerprint=abc", "fingerprint is Alertmanager's"),
        ("http url=ftp://files.example.com/x", "url: 'ftp://files.example.com/x' is not an http(s) URL"),
        ("http url=https://user:pw@example.com/", "credentials are never written"),
        ("http url=https://example.com/ within=300ms", "write milliseconds as seconds"),
        ("http url=https://example.com/ body=`(`", "body: '(' is not a regular expression"),
    ],
)
def test_bad_checks_say_what_to_fix(text: str, says: str) -> None:
    with pytest.raises(CheckSyntaxError) as refused:
        parse_check(text)
    assert says in str(refused.value)


durations = st.integers(min_value=1, max_value=7 * 86400).map(lambda s: timedelta(seconds=s))
words = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="_"), min_size=1,
                max_size=12)
label_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
label_values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="`\\"),
                       max_size=12)


@st.composite
def checks(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["prometheus", "alert_rule", "alert_silent", "http", "manual"]))
    interval = draw(st.integers(min_value=1, max_value=600).map(lambda s: timedelta(seconds=s)))
    span = interval * draw(st.integers(min_value=1, max_value=100))
    if kind == "prometheus":
        condition = draw(st.sampled_from(["nonempty", "empty", "above", "below"]))
        threshold = draw(st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: float(f"{f:g}"))) \
            if condition in ("above", "below") else None
        expr = draw(st.sampled_from(['up{job="api"} == 0', "sum by (le) (rate(x[5m]))", "a or b", "'quoted' x"]))
        return PrometheusCheck(expr=expr, condition=condition, threshold=threshold, holds_for=span, interval=interval)
    if kind == "alert_rule":
        return AlertRuleCheck(name=draw(words), labels=draw(st.dictionaries(label_names, label_values, max_size=3)),
                              fired=draw(st.booleans()), interval=interval,
                              source=draw(st.sampled_from(["prometheus", "alertmanager"])))
    if kind == "alert_silent":
        source = draw(st.sampled_from(["prometheus", "alertmanager"]))
        fingerprint = draw(st.one_of(st.none(), st.from_regex(r"[0-9a-f]{16}", fullmatch=True))) \
            if source == "alertmanager" else None
        return AlertSilentCheck(alertname=draw(st.one_of(st.none(), words)), fingerprint=fingerprint,
                                labels=draw(st.dictionaries(label_names, label_values, max_size=3)), silent_for=span,
                                interval=interval, source=source)
    if kind == "http":
        return HttpCheck(url=f"https://{draw(words).lower()}.example.com/health", status=draw(st.integers(100, 599)),
                         body=draw(st.one_of(st.none(), st.sampled_from(['"ok"', "ready", "a b"]))),
                         within=draw(st.one_of(st.none(), durations)), times=draw(st.integers(1, 50)),
                         interval=interval)
    return ManualCheck()


@given(checks())
def test_any_check_written_out_reads_back_the_same(check: object) -> None:
    assert parse_check(format_check(check)) == check  # type: ignore[arg-type]


def test_the_draft_gate_reads_each_rows_check() -> None:
    from afterword.gates.completeness import check_document

    draft = """## Action items

| Type | Action | Owner | Due | Success criterion | Check |
|---|---|---|---|---|---|
| prevent | Alert on checkout p99 | olivia | 2026-12-15 | the alert exists and fires in staging | `alert_rule name=CheckoutLatencyHigh fired=yes` |
| prevent | Rate limit the API | rita | 2026-12-15 | rejected requests stay under one percent | prometheus expr=`x` holds_for=soon |
| process | Runbook for pool exhaustion | rita | 2026-12-15 | the runbook section is reviewed | manual |

- Canary through payments; owner: rita; due: 2026-12-20; success criterion: canary covers payments; check: http url=ftp://x
- Health check: the canary stays green; owner: rita; due: 2026-12-20; success criterion: green for a week
"""
    result = check_document(draft, ["Action items"])
    checks = [f for f in result.findings if f.rule == "action-check"]
    assert [(f.line, f.message.split(":")[0]) for f in checks] == [(6, "action item 2"), (9, "action item 4")]
    assert "holds_for: cannot read 'soon'" in checks[0].message and "url: 'ftp://x'" in checks[1].message
    assert parse_check(result.items[0].fields["check"].strip("`")) == AlertRuleCheck(name="CheckoutLatencyHigh",
                                                                                      fired=True)
