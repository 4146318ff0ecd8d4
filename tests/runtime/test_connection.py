"""Connection settings: each mistake is reported with the setting that fixes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
from temporalio.client import Client, TLSConfig
from temporalio.service import GrpcCompression

from afterword.runtime.connection import TemporalConnectionError, connect, target_address, tls_config
from afterword.settings import Settings


def test_address_defaults_to_the_embedded_port() -> None:
    settings = Settings(embedded_port=7999)
    assert target_address(settings) == "127.0.0.1:7999"
    assert target_address(settings.model_copy(update={"temporal_address": "t.example:7233"})) == "t.example:7233"
    assert target_address(settings, "other:1") == "other:1"


def test_tls_files_are_read_into_the_tls_config(tmp_path: Path) -> None:
    cert, key, ca = (tmp_path / name for name in ("client.pem", "client.key", "ca.pem"))
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")
    config = tls_config(Settings(tls_cert=cert, tls_key=key, tls_ca=ca))
    assert isinstance(config, TLSConfig)
    assert (config.client_cert, config.client_private_key, config.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")


def test_tls_flag_uses_system_roots_and_no_tls_is_plain() -> None:
    assert tls_config(Settings(tls=True)) is True
    assert tls_config(Settings()) is None


def test_missing_tls_file_names_the_variable(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_bytes(b"KEY")
    with pytest.raises(TemporalConnectionError, match=r"TEMPORAL_TLS_CERT=.*no such file"):
        tls_config(Settings(tls_cert=tmp_path / "absent.pem", tls_key=key))


def test_certificate_without_key_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_bytes(b"CERT")
    with pytest.raises(TemporalConnectionError, match="TEMPORAL_TLS_CERT is set but TEMPORAL_TLS_KEY is not"):
        tls_config(Settings(tls_cert=cert))


async def test_unreachable_cluster_names_temporal_address(free_port: Callable[[], int]) -> None:
    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}")
    with pytest.raises(TemporalConnectionError, match="TEMPORAL_ADDRESS"):
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
    with pytest.raises(pydantic.ValidationError, match="'auto', 'gzip' or 'none'"):
        Settings.from_env({"TEMPORAL_GRPC_COMPRESSION": "zstd"})
