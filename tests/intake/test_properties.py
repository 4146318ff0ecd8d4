"""Properties: whatever arrives — any body, any headers, any source — the intake answers 4xx or 2xx,
never 5xx, and nothing unauthenticated or malformed ever reaches Temporal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.intake.configuration import IntakeConfig, SourceConfig
from afterword.intake.refusals import Malformed
from afterword.intake.server import build_app
from afterword.intake.sources import PARSERS, Notification
from afterword.settings import Settings

from .fakes import EXAMPLES, FakePolicies, FakeStarter

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
EXAMPLE_BODIES = sorted(EXAMPLES.glob("*.json"))


def mutate(data: Any, path: list[int], replacement: Any) -> Any:
    """Replace one nested value (chosen by `path`) of a real payload with arbitrary JSON."""
    if not path or not isinstance(data, dict | list) or not data:
        return replacement
    keys = list(data) if isinstance(data, dict) else list(range(len(data)))
    key = keys[path[0] % len(keys)]
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[key] = mutate(copy[key], path[1:], replacement)  # type: ignore[index]
    return copy


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda example, path, value: json.dumps(mutate(json.loads(example.read_bytes()), path, value)).encode(),
        st.sampled_from(EXAMPLE_BODIES),
        st.lists(st.integers(0, 50), max_size=4),
        json_values,
    ),
    st.sampled_from(EXAMPLE_BODIES).map(lambda p: p.read_bytes()),  # valid, but unsigned
)
header_names = st.sampled_from(
    [
        "Content-Type",
        "Authorization",
        "X-PagerDuty-Signature",
        "X-Webhook-Id",
        "X-Grafana-Alerting-Signature",
        "X-Afterword-Token",
        "Content-Encoding",
        "X-Anything",
    ]
)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
headers = st.dictionaries(header_names, header_values | st.just("application/json"), max_size=5)
paths = st.sampled_from(
    [
        "/v1/alerts/alertmanager",
        "/v1/alerts/pagerduty",
        "/v1/alerts/grafana",
        "/v1/alerts/opsgenie",
        "/v1/alerts/generic",
        "/v1/alerts/unknown",
        "/v1/orgs/acme/alerts/generic",
        "/v1/alerts/generic?org=x y",
        "/v1/orgs/%00/alerts/pagerduty",
    ]
)

# every source demands credentials here, so nothing a random sender makes up may start a postmortem
LOCKED = IntakeConfig(
    max_body_bytes=4096,
    sources={
        "alertmanager": SourceConfig(bearer_tokens=["env:T"]),
        "pagerduty": SourceConfig(signing_secrets=["env:T"]),
        "grafana": SourceConfig(signing_secrets=["env:T"]),
        "opsgenie": SourceConfig(tokens=["env:T"]),
        "generic": SourceConfig(bearer_tokens=["env:T"]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, body=bodies, sent_headers=headers)
def test_no_request_gets_a_5xx_or_starts_anything(
    tmp_path: Path, path: str, body: bytes, sent_headers: dict[str, str]
) -> None:
    async def exercise() -> tuple[int, list[tuple[str, str]]]:
        starter = FakeStarter()
        app = build_app(starter, Settings(data_dir=tmp_path), FakePolicies(), config=LOCKED, env={"T": "secret-xyz"})
        async with TestClient(TestServer(app)) as client:
            response = await client.post(path, data=body, headers=sent_headers)
            await response.read()
            return response.status, starter.calls

    status, calls = asyncio.run(exercise())
    assert 400 <= status < 500, status
    assert calls == []


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(sorted(PARSERS)), body=bodies)
def test_parsers_either_map_or_refuse_with_a_reason(source: str, body: bytes) -> None:
    try:
        notification = PARSERS[source](body, {})
    except Malformed as refused:
        assert refused.reason
    else:
        assert isinstance(notification, Notification) and notification.key
