"""Connection settings: each mistake is reported with the setting that fixes it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, TLSConfig
from temporalio.service import GrpcCompression

from afterword import settings as settings_module
from afterword.runtime.connection import TemporalConnectionError, connect, target_address, tls_config
from afterword.settings import Settings, SettingsError


def test_address_defaults_to_the_embedded_port() -> None:
    settings = Settings(embedded_port=7999)
    assert target_address(settings) == "127.0.0.1:7999"
    assert target_address(settings.model_copy(update={"temporal_address": "t.example:7233"})) == "t.example:7233"
    assert target_address(settings, "other:1") == "other:1"


def _pems(tmp_path: Path) -> tuple[Path, Path, Path]:
    cert, key, ca = (tmp_path / name for name in ("client.pem", "client.key", "ca.pem"))
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")
    return cert, key, ca


def _tls(env: dict[str, str]) -> TLSConfig | bool:
    settings = Settings.from_env({"TEMPORAL_ADDRESS": "temporal.internal:7233", **env})
    return tls_config(settings, settings.temporal_client_profile())


def test_tls_files_named_by_temporals_variables_are_read_into_the_tls_config(tmp_path: Path) -> None:
    cert, key, ca = _pems(tmp_path)
    config = _tls({"TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert), "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key),
                   "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca), "TEMPORAL_TLS_SERVER_NAME": "temporal.internal"})
    assert isinstance(config, TLSConfig)
    assert (config.client_cert, config.client_private_key, config.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")
    assert config.domain == "temporal.internal"


def test_tls_files_of_a_temporal_toml_profile_are_read(tmp_path: Path) -> None:
    cert, key, _ = _pems(tmp_path)
    toml = tmp_path / "temporal.toml"
    toml.write_text(f'[profile.prod]\naddress = "temporal.internal:7233"\nnamespace = "payments"\n'
                    f'[profile.prod.tls]\nclient_cert_path = "{cert}"\nclient_key_path = "{key}"\n')
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "prod"})
    assert (settings.temporal_address, settings.namespace) == ("temporal.internal:7233", "payments")
    config = tls_config(settings, settings.temporal_client_profile())
    assert isinstance(config, TLSConfig) and (config.client_cert, config.client_private_key) == (b"CERT", b"KEY")

    key.unlink()
    with pytest.raises(TemporalConnectionError, match=r"tls.client_key_path of profile 'prod' \(.*temporal.toml\)=.*no such"):
        tls_config(settings, settings.temporal_client_profile())


def test_tls_flag_uses_system_roots_an_api_key_implies_tls_and_nothing_is_plain() -> None:
    assert _tls({"TEMPORAL_TLS": "true"}) is True
    assert _tls({"TEMPORAL_API_KEY": "k"}) is True
    assert _tls({"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "false"}) is False
    assert _tls({}) is False


def test_missing_tls_file_names_the_variable(tmp_path: Path) -> None:
    _, key, _ = _pems(tmp_path)
    with pytest.raises(TemporalConnectionError, match=r"TEMPORAL_TLS_CLIENT_CERT_PATH=.*absent.pem: no such file"):
        _tls({"TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "absent.pem"), "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key)})


def test_certificate_without_key_is_refused(tmp_path: Path) -> None:
    cert, _, _ = _pems(tmp_path)
    with pytest.raises(TemporalConnectionError,
                       match=r"TEMPORAL_TLS_CLIENT_CERT_PATH is set but tls.client_key_path of profile 'default'"):
        _tls({"TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert)})


def test_the_previous_tls_variables_still_work_and_warn_naming_the_new_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings_module, "_warned", set())
    cert, key, ca = _pems(tmp_path)
    with caplog.at_level(logging.WARNING, logger="afterword.settings"):
        config = _tls({"TEMPORAL_TLS_CERT": str(cert), "TEMPORAL_TLS_KEY": str(key), "TEMPORAL_TLS_CA": str(ca)})
    assert isinstance(config, TLSConfig)
    assert (config.client_cert, config.client_private_key, config.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")
    warnings = [r.getMessage() for r in caplog.records]
    assert "TEMPORAL_TLS_CERT is deprecated and will be removed in the next release: set " \
           "TEMPORAL_TLS_CLIENT_CERT_PATH instead" in warnings
    assert any("TEMPORAL_TLS_KEY" in w and "TEMPORAL_TLS_CLIENT_KEY_PATH" in w for w in warnings)
    assert any("TEMPORAL_TLS_CA" in w and "TEMPORAL_TLS_SERVER_CA_CERT_PATH" in w for w in warnings)

    caplog.clear()
    monkeypatch.setattr(settings_module, "_warned", set())
    other = tmp_path / "other.pem"
    other.write_bytes(b"NEW")
    with caplog.at_level(logging.WARNING, logger="afterword.settings"):
        config = _tls({"TEMPORAL_TLS_CERT": str(cert), "TEMPORAL_TLS_CLIENT_CERT_PATH": str(other),
                       "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key)})
    assert isinstance(config, TLSConfig) and config.client_cert == b"NEW"  # the new name wins
    assert [r.getMessage() for r in caplog.records] == [
        "TEMPORAL_TLS_CERT is deprecated and ignored, since TEMPORAL_TLS_CLIENT_CERT_PATH is set as well: "
        "remove TEMPORAL_TLS_CERT"
    ]


def test_a_missing_config_file_or_profile_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"TEMPORAL_CONFIG_FILE=.*absent.toml: no such file"):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")})
    toml = tmp_path / "temporal.toml"
    toml.write_text('[profile.default]\naddress = "a:1"\n')
    with pytest.raises(SettingsError, match=r"cannot load Temporal profile 'prod' \(TEMPORAL_PROFILE\) from .*temporal"
                                            r".toml \(TEMPORAL_CONFIG_FILE\): Profile 'prod' not found"):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "prod"})
    toml.write_text("[profile.default\n")
    with pytest.raises(SettingsError, match="TOML parse error"):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": str(toml)})


async def test_unreachable_cluster_names_temporal_address(free_port: Callable[[], int]) -> None:
    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}")
    with pytest.raises(TemporalConnectionError, match="TEMPORAL_ADDRESS"):
        await connect(settings)


async def test_unreachable_cluster_of_a_profile_names_the_profile(free_port: Callable[[], int], tmp_path: Path) -> None:
    toml = tmp_path / "temporal.toml"
    toml.write_text(f'[profile.staging]\naddress = "127.0.0.1:{free_port()}"\n')
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "staging"})
    with pytest.raises(TemporalConnectionError, match=r"\(profile 'staging' in .*temporal.toml\)"):
        await connect(settings)


async def test_unreachable_embedded_server_names_its_port_setting(free_port: Callable[[], int]) -> None:
    with pytest.raises(TemporalConnectionError, match="AFTERWORD_TEMPORAL_PORT"):
        await connect(Settings(embedded_port=free_port()))


@pytest.mark.parametrize(
    ("env", "compression"),
    [
        ({}, GrpcCompression.NONE),  # the embedded server, on this machine
        ({"TEMPORAL_ADDRESS": "localhost:7233"}, GrpcCompression.NONE),
        ({"TEMPORAL_ADDRESS": "[::1]:7233"}, GrpcCompression.NONE),
        ({"TEMPORAL_ADDRESS": "acme.a1b2c.tmprl.cloud:7233"}, GrpcCompression.GZIP),
        ({"TEMPORAL_ADDRESS": "10.0.4.7:7233"}, GrpcCompression.GZIP),
        ({"TEMPORAL_ADDRESS": "10.0.4.7:7233", "TEMPORAL_GRPC_COMPRESSION": "none"}, GrpcCompression.NONE),
        ({"TEMPORAL_GRPC_COMPRESSION": "gzip"}, GrpcCompression.GZIP),
    ],
)
async def test_grpc_compression_is_gzip_across_a_network_and_off_on_this_machine(
    env: dict[str, str], compression: GrpcCompression, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: dict[str, Any] = {}

    async def fake_connect(target: str, **options: Any) -> str:
        used.update(options, target=target)
        return "client"

    monkeypatch.setattr(Client, "connect", fake_connect)
    await connect(Settings.from_env(env))
    assert used["grpc_compression"] == compression


def test_an_unknown_grpc_compression_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"TEMPORAL_GRPC_COMPRESSION='zstd': .*'auto', 'gzip' or 'none'"):
        Settings.from_env({"TEMPORAL_GRPC_COMPRESSION": "zstd"})
