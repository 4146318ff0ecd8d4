"""Settings travel to the worker's child processes as environment variables and come back unchanged;
the previous release's variable names still work, and say which name replaces them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afterword import settings as settings_module
from afterword.settings import DEPRECATED_ENV_VARS, ENV_VARS, Settings

ports = st.integers(min_value=1, max_value=65535)
names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


@given(
    data_dir=st.sampled_from([Path("/srv/afterword"), Path("/var/lib/afterword data")]),
    policy_dir=st.none() | st.just(Path("/etc/afterword/policies")),
    org=names,
    address=st.none() | st.just("temporal.internal:7233"),
    namespace=st.sampled_from(["default", "payments.acme"]),
    port=ports,
    metrics_port=st.integers(min_value=0, max_value=65535),
    intake_port=st.integers(min_value=0, max_value=65535),
)
def test_to_env_round_trips_through_from_env(
    data_dir: Path,
    policy_dir: Path | None,
    org: str,
    address: str | None,
    namespace: str,
    port: int,
    metrics_port: int,
    intake_port: int,
) -> None:
    settings = Settings(
        data_dir=data_dir,
        policy_dir=policy_dir,
        default_org=org,
        temporal_address=address,
        namespace=namespace,
        embedded_port=port,
        embedded_metrics_port=metrics_port,
        intake_port=intake_port,
    )
    env = settings.to_env()
    assert set(env) <= set(ENV_VARS) | set(DEPRECATED_ENV_VARS)
    assert Settings.from_env(env).model_dump() == settings.model_dump()


def test_every_environment_variable_names_a_field() -> None:
    assert set(ENV_VARS.values()) <= set(Settings.model_fields)
    assert set(DEPRECATED_ENV_VARS.values()) - set(ENV_VARS) == {  # the TLS ones are Temporal's own
        "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    }


def test_the_old_metrics_port_variable_still_works_warns_once_and_a_child_reads_the_new_one(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="afterword.settings"):
        settings = Settings.from_env({"AFTERWORD_METRICS_PORT": "9123"})
        Settings.from_env({"AFTERWORD_METRICS_PORT": "9123"})
    assert settings.embedded_metrics_port == 9123
    assert [r.getMessage() for r in caplog.records] == [
        "AFTERWORD_METRICS_PORT is deprecated and will be removed in the next release: "
        "set AFTERWORD_EMBEDDED_METRICS_PORT instead"
    ]
    child = settings.to_env()
    assert child["AFTERWORD_EMBEDDED_METRICS_PORT"] == "9123" and child["AFTERWORD_METRICS_PORT"] == ""

    caplog.clear()
    monkeypatch.setattr(settings_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="afterword.settings"):  # the worker's child: old name blanked
        assert Settings.from_env({"AFTERWORD_METRICS_PORT": "9123", **child}).embedded_metrics_port == 9123
    assert caplog.records == []
    assert Settings.from_env({"AFTERWORD_METRICS_PORT": "9123", "AFTERWORD_EMBEDDED_METRICS_PORT": "9200"}
                             ).embedded_metrics_port == 9200
