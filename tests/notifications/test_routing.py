"""Routing (who hears of what, where), quiet hours and business hours, and organisation templates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afterword.notifications.message_render import TemplateProblem, Templates
from afterword.notifications.quiet_hours import end_of_quiet, release_time
from afterword.notifications.routing import Hop, plan
from afterword.workflows.models import BusinessCalendar
from afterword.workflows.notices import ChannelInfo, NoticeKind, QuietHours, Route
from tests.notifications.builders import NOW, facts, rules

CHANNELS = {
    "slack": ChannelInfo(name="slack", adapter="slack", address="slack"),
    "email": ChannelInfo(name="email", adapter="smtp", address="email"),
    "incidents": ChannelInfo(name="incidents", adapter="slack", address="none"),
}


def test_the_first_route_with_channels_decides_and_every_route_adds_its_recipients() -> None:
    routes = [
        Route(name="sev1-to-incidents", events=[NoticeKind.DRAFT_OVERDUE], severities=["SEV1"],
              to=["channel:incidents"]),
        Route(name="payments", teams=["payments"], to=["role:manager"], channels=["slack", "email"]),
        Route(name="default", channels=["email"]),
    ]
    routed = plan(NoticeKind.DRAFT_OVERDUE, "SEV1", "payments", ["alice", "role:incident-commander"],
                  rules(CHANNELS, routes))
    by = {t.recipient: t for t in routed.targets}
    assert list(by) == ["alice", "channel:incidents", "bob"]  # alice once, though named twice
    assert by["alice"].hops == (Hop("slack", "U0ALICE"), Hop("email", "alice@example.com"))
    assert by["alice"].route == "payments" and by["alice"].zone == "Europe/Berlin"
    # bob has no Slack id: e-mail only, and the plan says why
    assert by["bob"].hops == (Hop("email", "bob@example.com"),)
    assert "bob: no slack address for channel slack" in routed.problems
    assert by["channel:incidents"].hops == (Hop("incidents", None),)
    # another severity and team: only the default route
    other = plan(NoticeKind.DRAFT_OVERDUE, "SEV3", "platform", ["carol"], rules(CHANNELS, routes))
    assert [(t.recipient, t.hops) for t in other.targets] == [("carol", (Hop("outbox", "carol"),))]
    assert "carol: no email address for channel email" in other.problems


def test_unknown_references_and_no_route_fall_back_to_the_outbox() -> None:
    routed = plan(NoticeKind.APPROVED, "SEV2", None, ["role:nobody", "channel:nowhere", "alice"], rules(CHANNELS, []))
    assert [(t.recipient, t.hops) for t in routed.targets] == [("alice", (Hop("outbox", "alice"),))]
    assert any("role:nobody" in p for p in routed.problems) and any("channel:nowhere" in p for p in routed.problems)


def test_a_digest_route_gathers_overdue_items_but_not_review_requests() -> None:
    routes = [Route(name="weekly", events=[NoticeKind.ACTION_OVERDUE, NoticeKind.REVIEW_REQUESTED],
                    teams=["payments"], channels=["email"], digest="weekly")]
    overdue = plan(NoticeKind.ACTION_OVERDUE, "SEV2", "payments", ["bob"], rules(CHANNELS, routes))
    assert overdue.digest == "weekly" and overdue.targets == ()
    review = plan(NoticeKind.REVIEW_REQUESTED, "SEV2", "payments", ["bob"], rules(CHANNELS, routes))
    assert review.digest is None and review.targets[0].hops == (Hop("email", "bob@example.com"),)
    digest = plan(NoticeKind.DIGEST, "SEV2", "payments", ["team:payments"], rules(CHANNELS, routes))
    assert [t.recipient for t in digest.targets] == ["alice", "bob"] and digest.digest is None


BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours(start=time(20, 0), end=time(8, 0))


def test_quiet_hours_hold_a_message_until_morning_in_the_recipients_zone() -> None:
    late = datetime(2025, 3, 4, 21, 30, tzinfo=BERLIN)
    assert end_of_quiet(late, "Europe/Berlin", NIGHT) == datetime(2025, 3, 5, 8, 0, tzinfo=BERLIN)
    assert end_of_quiet(datetime(2025, 3, 4, 12, 0, tzinfo=BERLIN), "Europe/Berlin", NIGHT) is None
    weekend = QuietHours(start=time(20, 0), end=time(8, 0), weekends=True)
    friday_night = datetime(2025, 3, 7, 22, 0, tzinfo=BERLIN)
    assert end_of_quiet(friday_night, "Europe/Berlin", weekend) == datetime(2025, 3, 10, 8, 0, tzinfo=BERLIN)


def test_business_hours_and_holidays_hold_a_reminder_until_the_next_working_morning() -> None:
    calendar = BusinessCalendar(timezone="Europe/Berlin", holidays=[date(2025, 3, 5)])
    tuesday_evening = datetime(2025, 3, 4, 18, 0, tzinfo=BERLIN)
    until = release_time(tuesday_evening, zone="Europe/Berlin", quiet=None, calendar=calendar, business_hours=True)
    assert until == datetime(2025, 3, 6, 9, 0, tzinfo=BERLIN)  # Wednesday is a holiday
    assert release_time(tuesday_evening, zone="Europe/Berlin", quiet=None, calendar=calendar,
                        business_hours=False) is None


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)),
       st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
       st.times(), st.times(), st.booleans())
def test_a_held_message_is_released_outside_quiet_hours_and_never_early(
        moment: datetime, zone: str, start: time, end: time, weekends: bool) -> None:
    quiet = QuietHours(start=start, end=end, weekends=weekends)
    until = end_of_quiet(moment, zone, quiet)
    if until is None:
        return
    assert until > moment
    assert until - moment <= timedelta(days=3, hours=1)
    assert end_of_quiet(until, zone, quiet) is None


def test_an_organisation_template_overrides_one_block(tmp_path: Path) -> None:
    (tmp_path / "draft_overdue.md.j2").write_text(
        '{% extends "shipped/draft_overdue.md.j2" %}\n'
        "{% block subject %}[{{ n.severity }}] Postmortem late, please help: {{ n.title }}{% endblock %}\n")
    mine = Templates(tmp_path).render(NoticeKind.DRAFT_OVERDUE, facts(), now=NOW + timedelta(hours=1),
                                      recipient_name="Alice", recipient_handle="alice", zone="UTC", web_link=None)
    shipped = Templates().render(NoticeKind.DRAFT_OVERDUE, facts(), now=NOW + timedelta(hours=1),
                                 recipient_name="Alice", recipient_handle="alice", zone="UTC", web_link=None)
    assert mine.subject == "[SEV2] Postmortem late, please help: Checkout errors"
    assert mine.text == shipped.text and mine.command == shipped.command == \
        "afterword draft submit pm-acme-checkout-1a2b FILE"


def test_a_broken_template_is_reported_with_its_file(tmp_path: Path) -> None:
    (tmp_path / "approved.md.j2").write_text("{% extends \"_layout.md.j2\" %}{% block subject %}{{ n.nope }}"
                                             "{% endblock %}")
    (tmp_path / "waived.md.j2").write_text("Waived, no layout")
    problems = Templates(tmp_path).check(facts(), NOW)
    assert any(str(tmp_path / "approved.md.j2") in p and "nope" in p for p in problems)
    assert any("waived.md.j2 does not extend _layout.md.j2" in p for p in problems)
    with pytest.raises(TemplateProblem):
        Templates(tmp_path).render(NoticeKind.WAIVED, facts(), now=NOW, recipient_name="A", recipient_handle="a",
                                   zone="UTC", web_link=None)


def test_values_from_outside_cannot_become_links_or_html() -> None:
    hostile = facts(title="<img src=x onerror=alert(1)> [win](https://evil.example)")
    rendered = Templates().render(NoticeKind.APPROVED, hostile, now=NOW, recipient_name="A", recipient_handle="a",
                                  zone="UTC", web_link=None)
    assert "<img" not in rendered.html and "&lt;img" in rendered.html
    assert 'href="https://evil.example"' not in rendered.html
    assert "[win](https://evil.example)" in rendered.text  # the plain text part shows it as written
