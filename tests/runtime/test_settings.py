"""Settings travel to the worker's child processes as environment variables and come back unchanged."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from afterword.settings import ENV_VARS, Settings

ports = st.integers(min_value=1, max_value=65535)
names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


@given(
    data_dir=st.sampled_from([Path("/srv/afterword"), Path("/var/lib/afterword data")]),
    policy_dir=st.none() | st.just(Path("/etc/afterword/policies")),
    org=names,
    address=st.none() | st.just("temporal.internal:7233"),
    tls=st.booleans(),
    port=ports,
    metrics_port=st.integers(min_value=0, max_value=65535),
    intake_port=st.integers(min_value=0, max_value=65535),
)
def test_to_env_round_trips_through_from_env(
    data_dir: Path,
    policy_dir: Path | None,
    org: str,
    address: str | None,
    tls: bool,
    port: int,
    metrics_port: int,
    intake_port: int,
) -> None:
    settings = Settings(
        data_dir=data_dir,
        policy_dir=policy_dir,
        default_org=org,
        temporal_address=address,
        tls=tls,
        embedded_port=port,
        embedded_metrics_port=metrics_port,
        intake_port=intake_port,
    )
    env = settings.to_env()
    assert set(env) <= set(ENV_VARS)
    assert Settings.from_env(env) == settings


def test_every_environment_variable_names_a_field() -> None:
    assert set(ENV_VARS.values()) <= set(Settings.model_fields)
