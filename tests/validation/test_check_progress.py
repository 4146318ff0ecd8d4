"""The rules that decide a check from its samples (pure, what the item's workflow runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from afterword.workflows.fix_checks import (
    AlertRuleCheck,
    CheckPoint,
    CheckProgress,
    HttpCheck,
    PrometheusCheck,
    SampleBatch,
    advance,
    can_still_pass,
    fail,
    grid_floor,
    progress_line,
    wake_every,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
SIX_SECONDS = PrometheusCheck(expr="x", condition="below", threshold=0.8, holds_for=6 * SECOND, interval=SECOND)


def batch(oks: list[bool], start: datetime = T0, ref: str | None = None) -> SampleBatch:
    points = [CheckPoint(at=start + i * SECOND, ok=ok, value="0.3" if ok else "0.95") for i, ok in enumerate(oks)]
    return SampleBatch(points=points, query="x", source="prom", answer_ref=ref, asked_at=start)


def fresh(window: timedelta = timedelta(minutes=1)) -> CheckProgress:
    return CheckProgress(started_at=T0, window_end=T0 + window)


def test_a_metric_that_holds_for_the_whole_span_passes() -> None:
    p = advance(fresh(), SIX_SECONDS, batch([True] * 7, ref="a"))
    assert p.verdict == "passed" and p.held() == 6 * SECOND and p.run_answers == ["a"]


def test_a_regression_halfway_restarts_the_span() -> None:
    p = advance(fresh(), SIX_SECONDS, batch([True, True, True, False, True, True, True], ref="a"))
    assert p.verdict == "checking" and p.failed_points == 1 and p.failures[0].value == "0.95"
    assert p.held() == 2 * SECOND
    p = advance(p, SIX_SECONDS, batch([True] * 4, start=T0 + 7 * SECOND, ref="b"))
    assert p.verdict == "passed" and p.run_answers == ["a", "b"] and p.failed_answers == ["a"]


def test_overlapping_batches_count_each_instant_once() -> None:
    p = advance(fresh(), SIX_SECONDS, batch([True] * 4))
    p = advance(p, SIX_SECONDS, batch([True] * 4))  # the same instants again: a retried range
    assert p.samples == 4 and p.verdict == "checking"


def test_a_window_too_short_for_what_is_missing_fails_early() -> None:
    p = advance(fresh(timedelta(seconds=10)), SIX_SECONDS, batch([True, True, True, True, False]))
    assert can_still_pass(p, SIX_SECONDS, T0 + 4 * SECOND) is False
    failed = fail(p, SIX_SECONDS, T0 + 4 * SECOND)
    assert failed.verdict == "failed" and "1 of 5 sample(s) failed" in failed.reason


def test_nothing_sampled_says_the_server_was_unreachable() -> None:
    p = fresh().model_copy(update={"unavailable": 3, "last_source": "http://prom:9090"})
    assert "http://prom:9090 was not reachable" in fail(p, SIX_SECONDS, T0).reason


def test_a_refused_query_decides_at_once() -> None:
    refused = SampleBatch(query="x{", source="prom", asked_at=T0, refused="Prometheus refused the query: parse error")
    assert advance(fresh(), SIX_SECONDS, refused).verdict == "failed"


def test_http_passes_on_times_in_a_row() -> None:
    check = HttpCheck(url="https://a.example.com/", times=3, interval=SECOND)
    p = advance(fresh(), check, batch([True, True, False, True, True]))
    assert p.verdict == "checking"
    p = advance(p, check, batch([True], start=T0 + 5 * SECOND))
    assert p.verdict == "passed" and "3 probe(s) in a row" in p.reason


def test_alert_rule_with_fired_waits_for_a_firing() -> None:
    check = AlertRuleCheck(name="CheckoutLatencyHigh", fired=True, interval=SECOND)
    seen = SampleBatch(points=[CheckPoint(at=T0, ok=True, value="rule found")], query="r", source="p", asked_at=T0)
    p = advance(fresh(), check, seen)
    assert p.verdict == "checking" and "waiting for it to fire" in progress_line(p, check)
    fired = SampleBatch(points=[CheckPoint(at=T0 + SECOND, ok=True, value="firing", firing=True)], query="r",
                        source="p", asked_at=T0)
    assert advance(p, check, fired).verdict == "passed"


def test_the_status_line_says_how_far_it_got() -> None:
    check = PrometheusCheck(expr="x", holds_for=timedelta(hours=24), interval=timedelta(minutes=1))
    p = fresh(timedelta(days=7)).model_copy(update={
        "run_start": T0, "run_end": T0 + timedelta(hours=14),
        "last": CheckPoint(at=T0 + timedelta(hours=14, minutes=5), ok=True, value="0.42")})
    assert progress_line(p, check).startswith("checking: 14 h of 24 h held, last sample 0.42 at 02:05:00")


def test_wake_grid_batches_long_spans_and_is_shared() -> None:
    day = PrometheusCheck(expr="x", holds_for=timedelta(hours=24), interval=timedelta(minutes=1))
    assert wake_every(day) == timedelta(minutes=15)
    assert wake_every(SIX_SECONDS) == SECOND
    assert wake_every(HttpCheck(url="https://a.example.com/", interval=timedelta(minutes=2))) == timedelta(minutes=2)
    a, b = T0 + timedelta(minutes=3, seconds=7), T0 + timedelta(minutes=14)
    assert grid_floor(a, wake_every(day)) == grid_floor(b, wake_every(day)) == T0


@given(st.lists(st.booleans(), max_size=60), st.integers(min_value=1, max_value=10))
def test_passes_exactly_when_some_unbroken_run_spans_holds_for(oks: list[bool], needed: int) -> None:
    check = PrometheusCheck(expr="x", holds_for=needed * SECOND, interval=SECOND)
    p = fresh(timedelta(hours=1))
    for i in range(0, len(oks), 7):  # in batches, as the workflow wakes
        p = advance(p, check, batch(oks[i:i + 7], start=T0 + i * SECOND))
        if p.verdict == "passed":
            break
    longest = run = 0
    for ok in oks:
        run = run + 1 if ok else 0
        longest = max(longest, run)
    assert (p.verdict == "passed") == (longest >= needed + 1)
