"""Proof of origin: HMAC signatures (PagerDuty v1, Grafana with and without timestamp), bearer/basic
tokens, secret rotation, constant-time comparison, and secrets that are never inline."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

import pytest

from afterword.intake import auth
from afterword.intake.auth import Credentials, build_credentials, verify
from afterword.intake.configuration import ConfigError, IntakeConfig, SourceConfig, load_config, resolve_secret
from afterword.intake.refusals import Unauthorized

BODY = b'{"event": {"id": "1"}}'


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def pagerduty(*secrets: str) -> Credentials:
    return Credentials(source="pagerduty", hmac_secrets=tuple(s.encode() for s in secrets))


def test_pagerduty_signature_over_the_raw_body() -> None:
    verify(pagerduty("s3cret"), {"X-PagerDuty-Signature": f"v1={sign('s3cret', BODY)}"}, BODY)
    with pytest.raises(Unauthorized, match="does not match"):
        verify(pagerduty("s3cret"), {"X-PagerDuty-Signature": f"v1={sign('s3cret', BODY)}"}, BODY + b" ")
    with pytest.raises(Unauthorized, match="missing"):
        verify(pagerduty("s3cret"), {}, BODY)
    with pytest.raises(Unauthorized, match="v1="):
        verify(pagerduty("s3cret"), {"X-PagerDuty-Signature": f"v0={sign('s3cret', BODY)}"}, BODY)


def test_pagerduty_rotation_accepts_any_listed_signature_from_any_secret() -> None:
    header = f"v1={sign('old', BODY)},v1={sign('new', BODY)}"
    verify(pagerduty("new"), {"X-PagerDuty-Signature": header}, BODY)  # PagerDuty signs with both
    verify(pagerduty("old"), {"X-PagerDuty-Signature": header}, BODY)
    verify(pagerduty("old", "new"), {"X-PagerDuty-Signature": f"v1={sign('new', BODY)}"}, BODY)  # we hold both
    with pytest.raises(Unauthorized):
        verify(pagerduty("other"), {"X-PagerDuty-Signature": header}, BODY)


def test_comparisons_are_constant_time_and_check_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    verify(pagerduty("a", "b", "c"), {"X-PagerDuty-Signature": f"v1={sign('a', BODY)}"}, BODY)
    assert len(compared) == 3  # the first secret matched, the other two were still compared


def grafana(timestamp_header: str | None = None, header: str | None = None) -> Credentials:
    config = SourceConfig(
        signing_secrets=["env:GRAFANA_SECRET"], timestamp_header=timestamp_header, signature_header=header
    )
    return build_credentials("grafana", config, False, {"GRAFANA_SECRET": "gf"})


def test_grafana_signature_default_and_legacy_header() -> None:
    verify(grafana(), {"X-Grafana-Alerting-Signature": sign("gf", BODY)}, BODY)
    verify(grafana(), {"X-Grafana-Alert-Signature": sign("gf", BODY)}, BODY)
    with pytest.raises(Unauthorized):
        verify(grafana(), {"X-Grafana-Alerting-Signature": sign("gf", BODY + b"x")}, BODY)


def test_grafana_configurable_header() -> None:
    creds = grafana(header="X-Hub-Sig")
    verify(creds, {"X-Hub-Sig": sign("gf", BODY)}, BODY)
    with pytest.raises(Unauthorized, match="X-Hub-Sig"):
        verify(creds, {"X-Grafana-Alerting-Signature": sign("gf", BODY)}, BODY)


def test_grafana_timestamp_window() -> None:
    creds = grafana(timestamp_header="X-Grafana-Alerting-Signature-Timestamp")
    now = int(time.time())
    good = {
        "X-Grafana-Alerting-Signature": sign("gf", f"{now}:".encode() + BODY),
        "X-Grafana-Alerting-Signature-Timestamp": str(now),
    }
    verify(creds, good, BODY, now=now)
    with pytest.raises(Unauthorized, match="away from now"):
        verify(creds, good, BODY, now=now + 600)  # a replay ten minutes later
    with pytest.raises(Unauthorized, match="Timestamp"):
        verify(creds, {"X-Grafana-Alerting-Signature": good["X-Grafana-Alerting-Signature"]}, BODY, now=now)
    forged = dict(good, **{"X-Grafana-Alerting-Signature-Timestamp": str(now + 1)})
    with pytest.raises(Unauthorized, match="does not match"):
        verify(creds, forged, BODY, now=now)


def test_bearer_and_basic_for_alertmanager() -> None:
    config = SourceConfig.model_validate(
        {
            "bearer_tokens": ["env:AM_TOKEN", "env:AM_TOKEN_NEXT"],
            "basic_auth": [{"username": "alertmanager", "password": "env:AM_PASS"}],
        }
    )
    env = {"AM_TOKEN": "tok-1", "AM_TOKEN_NEXT": "tok-2", "AM_PASS": "pw"}
    creds = build_credentials("alertmanager", config, False, env)
    verify(creds, {"Authorization": "Bearer tok-1"}, BODY)
    verify(creds, {"Authorization": "Bearer tok-2"}, BODY)
    verify(creds, {"Authorization": "Basic " + base64.b64encode(b"alertmanager:pw").decode()}, BODY)
    for bad in ("Bearer tok-3", "Basic " + base64.b64encode(b"alertmanager:no").decode(), "Basic !!", "Token x", ""):
        with pytest.raises(Unauthorized):
            verify(creds, {"Authorization": bad} if bad else {}, BODY)


def test_opsgenie_header_token() -> None:
    config = SourceConfig(token_header="X-Opsgenie-Token", tokens=["env:OG"])
    creds = build_credentials("opsgenie", config, False, {"OG": "og-secret"})
    verify(creds, {"X-Opsgenie-Token": "og-secret"}, BODY)
    with pytest.raises(Unauthorized):
        verify(creds, {"X-Opsgenie-Token": "og-secreT"}, BODY)
    with pytest.raises(Unauthorized, match="missing X-Opsgenie-Token"):
        verify(creds, {}, BODY)


def test_unconfigured_source_is_open_only_where_allowed() -> None:
    verify(build_credentials("generic", SourceConfig(), True), {}, BODY)
    with pytest.raises(Unauthorized, match="no credentials are configured"):
        verify(build_credentials("generic", SourceConfig(), False), {}, BODY)
    assert IntakeConfig().unauthenticated_allowed("127.0.0.1")
    assert not IntakeConfig().unauthenticated_allowed("0.0.0.0")
    assert not IntakeConfig(allow_unauthenticated=False).unauthenticated_allowed("127.0.0.1")


def test_secrets_are_references_never_inline(tmp_path: Path) -> None:
    secret_file = tmp_path / "pd"
    secret_file.write_text("from-file\n")
    assert resolve_secret(f"file:{secret_file}") == "from-file"
    assert resolve_secret("env:X", {"X": "from-env"}) == "from-env"
    with pytest.raises(ConfigError, match="inline"):
        resolve_secret("hunter2")
    with pytest.raises(ConfigError, match="not set"):
        resolve_secret("env:NOPE", {})
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_secret(f"file:{tmp_path / 'missing'}")
    config = tmp_path / "intake.toml"
    config.write_text('[intake.sources.pagerduty]\nsigning_secrets = ["hunter2"]\n')
    with pytest.raises(ConfigError, match=r"sources.pagerduty.signing_secrets.0.*inline"):
        load_config(config)


def test_config_file_is_validated_with_the_key_named(tmp_path: Path) -> None:
    config = tmp_path / "intake.toml"
    config.write_text('[intake]\nmax_body_bytes = 65536\ntemporal_timeout = "3s"\n[intake.sources.nagios]\n')
    with pytest.raises(ConfigError, match=r"unknown source.*nagios"):
        load_config(config)
    config.write_text('[intake]\nmax_body_bytes = 65536\ntemporal_timeout = "3s"\n')
    loaded = load_config(config)
    assert loaded.max_body_bytes == 65536 and loaded.temporal_timeout.total_seconds() == 3


def test_a_source_that_will_refuse_everything_is_said_loudly_at_start_with_what_to_configure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from afterword.intake.server import build_app
    from afterword.settings import Settings

    from .fakes import FakePolicies, FakeStarter

    def warnings_for(host: str, config: IntakeConfig) -> list[str]:
        caplog.clear()
        with caplog.at_level("WARNING", logger="afterword.intake"):
            build_app(FakeStarter(), Settings(data_dir=tmp_path, intake_host=host), FakePolicies(), config=config,
                      env={"T": "token"})
        return [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")]

    exposed = warnings_for("0.0.0.0", IntakeConfig(sources={"opsgenie": SourceConfig(enabled=False)}))
    refusing = [w for w in exposed if "REFUSES EVERY DELIVERY" in w]
    assert [w.split()[2] for w in refusing] == ["alertmanager", "pagerduty", "grafana", "generic"]  # not opsgenie
    pagerduty_warning = next(w for w in refusing if " pagerduty " in w)
    assert "0.0.0.0" in pagerduty_warning and '[intake.sources.pagerduty] signing_secrets = ["env:' in pagerduty_warning
    assert any("accepts no alerts at all" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")

    configured = IntakeConfig(sources={name: SourceConfig(bearer_tokens=["env:T"]) for name in (
        "alertmanager", "grafana", "generic")} | {"pagerduty": SourceConfig(signing_secrets=["env:T"]),
                                                 "opsgenie": SourceConfig(tokens=["env:T"])})
    assert warnings_for("0.0.0.0", configured) == []
    one_missing = IntakeConfig(sources={**configured.sources, "generic": SourceConfig()})
    assert [w.split()[2] for w in warnings_for("0.0.0.0", one_missing)] == ["generic"]  # but others accept
    assert warnings_for("127.0.0.1", configured) == []


def test_grafana_signing_without_a_timestamp_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from afterword.intake.server import build_app
    from afterword.settings import Settings

    from .fakes import FakePolicies, FakeStarter

    config = IntakeConfig(sources={"grafana": SourceConfig(signing_secrets=["env:T"])}, allow_unauthenticated=True)
    with caplog.at_level("WARNING", logger="afterword.intake"):
        build_app(FakeStarter(), Settings(data_dir=tmp_path), FakePolicies(), config=config, env={"T": "t"})
    assert any("signs without a timestamp" in r.getMessage() and "timestamp_header" in r.getMessage()
               for r in caplog.records)
