"""Properties of redaction (hypothesis): idempotent, every generated secret removed wherever it sits,
and nothing the report counted survives in the output."""

from __future__ import annotations

import base64
import itertools
import json
import random
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.gates.redaction import SECRET_CATEGORIES, redact

from .corpus_data import lookalikes, personal, policy, secrets

POLICY = policy()
ALNUM = string.ascii_letters + string.digits
HEXDIGITS = "0123456789abcdef"


def _random_key(rnd: random.Random, alphabet: str, size: int) -> str:
    while True:
        value = "".join(rnd.choice(alphabet) for _ in range(size))
        if any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value):
            return value


def _mixed(alphabet: str, size: int) -> st.SearchStrategy[str]:
    """Keys as key generators make them: random characters, every character class present. (Shrinking a
    key to "000...0Aa" would test a value no generator produces.)"""
    return st.integers(min_value=0, max_value=2**32).map(lambda seed: _random_key(random.Random(seed), alphabet, size))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


jwts = st.builds(
    lambda sub, sig: ".".join(
        [_b64url(b'{"alg":"RS256","typ":"JWT"}'), _b64url(json.dumps({"sub": sub}).encode()), _b64url(sig)]
    ),
    st.text(alphabet=ALNUM, min_size=1, max_size=12),
    st.binary(min_size=16, max_size=64),
)
private_keys = st.builds(
    lambda kind, lines: (
        f"-----BEGIN {kind}PRIVATE KEY-----\n" + "\n".join(lines) + f"\n-----END {kind}PRIVATE KEY-----"
    ),
    st.sampled_from(["", "RSA ", "EC ", "OPENSSH "]),
    st.lists(st.text(alphabet=ALNUM + "+/", min_size=64, max_size=64), min_size=1, max_size=6),
)

# category -> (value strategy, templates the value is written in)
GENERATED: dict[str, tuple[st.SearchStrategy[str], list[str]]] = {
    "aws-access-key": (
        st.builds(
            lambda p, b: p + b,
            st.sampled_from(["AKIA", "ASIA"]),
            st.text(alphabet=string.ascii_uppercase + "234567", min_size=16, max_size=16),
        ),
        ["{v}", "aws_access_key_id={v}", "key {v} was used"],
    ),
    "aws-secret-key": (_mixed(ALNUM + "/+", 40), ["aws_secret_access_key = {v}", '"SecretAccessKey": "{v}"']),
    "github-token": (
        st.one_of(
            st.builds(lambda k, b: f"{k}_{b}", st.sampled_from(["ghp", "gho", "ghu", "ghs", "ghr"]), _mixed(ALNUM, 36)),
            st.builds(lambda a, b: f"github_pat_{a}_{b}", _mixed(ALNUM, 22), _mixed(ALNUM, 59)),
        ),
        ["{v}", "GITHUB_TOKEN={v}", "https://x:{v}@github.com/o/r"],
    ),
    "slack-token": (
        st.builds(
            lambda p, a, b, c: f"{p}-{a}-{b}-{c}",
            st.sampled_from(["xoxb", "xoxp", "xoxa"]),
            st.text(alphabet=string.digits, min_size=10, max_size=13),
            st.text(alphabet=string.digits, min_size=10, max_size=13),
            _mixed(ALNUM, 24),
        ),
        ["{v}", "SLACK_TOKEN={v}"],
    ),
    "slack-webhook": (
        st.builds(
            lambda a, b, c: f"https://hooks.slack.com/services/T{a}/B{b}/{c}",
            st.text(alphabet=string.ascii_uppercase + string.digits, min_size=8, max_size=10),
            st.text(alphabet=string.ascii_uppercase + string.digits, min_size=8, max_size=10),
            _mixed(ALNUM, 24),
        ),
        ["{v}", "url: {v}"],
    ),
    "stripe-key": (
        st.builds(
            lambda p, b: p + b, st.sampled_from(["sk_live_", "rk_live_", "sk_test_", "rk_test_"]), _mixed(ALNUM, 24)
        ),
        ["{v}", 'stripe.api_key = "{v}"'],
    ),
    "google-api-key": (st.builds(lambda b: "AIza" + b, _mixed(ALNUM + "-_", 35)), ["{v}", "key={v}"]),
    "npm-token": (st.builds(lambda b: "npm_" + b, _mixed(ALNUM, 36)), ["{v}", "//registry.npmjs.org/:_authToken={v}"]),
    "jwt": (jwts, ["{v}", "Authorization: Bearer {v}", "jwt={v}"]),
    "private-key": (private_keys, ["\n{v}\n"]),
    "url-password": (_mixed(ALNUM + "!~*-", 12), ["postgres://app:{v}@db:5432/x", "redis://:{v}@cache:6379"]),
    "password-assignment": (
        st.text(alphabet=ALNUM + "!#%^*-_", min_size=6, max_size=24).filter(lambda v: any(c.isdigit() for c in v)),
        ["password={v}", 'DB_PASSWORD="{v}"', '"password": "{v}"', "psql --password {v}"],
    ),
    "bearer-token": (_mixed(ALNUM + "-._~", 32), ["Authorization: Bearer {v}", "bearer {v}"]),
    "secret-assignment": (_mixed(ALNUM, 32), ["api_key={v}", 'client_secret: "{v}"', "x-api-key: {v}"]),
    "datadog-key": (
        st.builds(lambda n, seed: "".join(random.Random(seed).choice(HEXDIGITS) for _ in range(n)),
                  st.sampled_from([32, 40]), st.integers(0, 2**32)),
        ["DD_API_KEY={v}", "datadog_app_key: {v}", "-H 'DD-API-KEY: {v}'"],
    ),
    "newrelic-key": (
        st.one_of(
            st.builds(lambda b: "NRAK-" + b, st.text(alphabet=string.ascii_uppercase + string.digits, min_size=27,
                                                      max_size=27)),
            st.builds(lambda b: b + "NRAL", st.text(alphabet=HEXDIGITS, min_size=36, max_size=36)),
        ),
        ["{v}", "NEW_RELIC_LICENSE_KEY={v}", "license {v} was in the image"],
    ),
    "sentry-dsn": (
        st.text(alphabet=HEXDIGITS, min_size=32, max_size=32),
        ["https://{v}@o42.ingest.sentry.io/7", "SENTRY_DSN=https://{v}@sentry.example.com/12"],
    ),
    "sentry-token": (st.builds(lambda b: "sntryu_" + b, st.text(alphabet=HEXDIGITS, min_size=64, max_size=64)),
                     ["{v}", "--auth-token {v}"]),
    "pagerduty-key": (
        _mixed(ALNUM, 32),
        ['"routing_key": "{v}"', "https://events.pagerduty.com/integration/{v}/enqueue", "service_key: {v}"],
    ),
    "pypi-token": (st.builds(lambda b: "pypi-AgEIcHlwaS5vcmc" + b, _mixed(ALNUM + "_-", 80)),
                   ["{v}", "TWINE_PASSWORD={v}"]),
    "gitlab-token": (st.builds(lambda p, b: f"{p}-{b}", st.sampled_from(["glpat", "gldt", "glrt"]), _mixed(ALNUM, 20)),
                     ["{v}", "https://oauth2:{v}@gitlab.example.com/a/b.git"]),
    "twilio-key": (st.builds(lambda b: "SK" + b, st.text(alphabet=HEXDIGITS, min_size=32, max_size=32)),
                   ["{v}", "TWILIO_API_KEY={v}"]),
    "sendgrid-key": (st.builds(lambda a, b: f"SG.{a}.{b}", _mixed(ALNUM + "_-", 22), _mixed(ALNUM + "_-", 43)),
                     ["{v}", "SENDGRID_API_KEY={v}"]),
}

# Text around a planted line: anything printable, with Markdown, Unicode and other secrets' look-alikes.
fillers = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n|#>`*-_:=@/"),
    max_size=120,
)
corpus_lines = st.sampled_from([p.text for p in [*lookalikes(), *personal(), *secrets()]])


def test_every_category_has_a_generator() -> None:
    assert set(GENERATED) == set(SECRET_CATEGORIES)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(category, value, text, the text around the planted line)."""
    category = draw(st.sampled_from(sorted(GENERATED)))
    values, templates = GENERATED[category]
    value = draw(values)
    line = draw(st.sampled_from(templates)).format(v=value)
    before, after = draw(fillers), draw(fillers)
    return category, value, f"{before}\n{line}\n{after}", f"{before}\n\n{after}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(planted(), st.sampled_from(["internal", "external"]))
def test_generated_secrets_are_always_removed(item: tuple[str, str, str, str], audience: str) -> None:
    category, value, text, around = item
    result = redact(text, audience, POLICY)  # type: ignore[arg-type]
    # the filler may happen to contain the same characters; the planted occurrence must be gone
    assert result.text.count(value) <= around.count(value), category
    assert result.hits, category


documents = st.lists(st.one_of(corpus_lines, fillers, planted().map(lambda p: p[2])), min_size=1, max_size=8).map(
    "\n".join
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from(["internal", "external"]))
def test_redaction_is_idempotent(text: str, audience: str) -> None:
    once = redact(text, audience, POLICY)  # type: ignore[arg-type]
    twice = redact(once.text, audience, POLICY)  # type: ignore[arg-type]
    assert twice.text == once.text
    assert twice.hits == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from(["internal", "external"]))
def test_nothing_the_report_counted_survives(text: str, audience: str) -> None:
    result = redact(text, audience, POLICY)  # type: ignore[arg-type]
    raw = text.encode("utf-8")
    outside = bytearray(raw)  # the text with every counted span blanked out
    for hit in result.hits:
        outside[hit.start : hit.end] = b"\0" * (hit.end - hit.start)
    for hit in result.hits:
        value = raw[hit.start : hit.end].decode("utf-8")
        if value.encode() in outside:
            continue  # the same characters also occur as ordinary text elsewhere ("000000")
        assert value not in result.text, hit.category
    # each character is replaced at most once: the counted spans are ordered and never overlap
    spans = [(hit.start, hit.end) for hit in result.hits]
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), spans
