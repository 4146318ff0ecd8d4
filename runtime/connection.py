"""Connecting to Temporal (embedded dev server, a cluster, or Temporal Cloud) and preparing the namespace.

Where to connect comes from Temporal's client configuration (a temporal.toml profile and TEMPORAL_*
variables, settings.py); every afterword client uses the pydantic data converter. `prepare_namespace`
makes the namespace fit for afterword: the search attributes its workflows set, and a retention long
enough that closed postmortems stay visible.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import GrpcCompression, RPCError, RPCStatusCode

from afterword.runtime.payload_codec import PayloadEncryption, PayloadKeyError, data_converter
from afterword.settings import DEFAULT_CONFIG_FILE, Settings, SettingsError, is_loopback
from afterword.workflows import search_attributes

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = timedelta(seconds=10)
RPC_TIMEOUT = timedelta(seconds=10)

# Statuses a managed cluster (e.g. Temporal Cloud) answers when this client may not change the namespace.
_NOT_PERMITTED = {RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.UNAUTHENTICATED}


class TemporalConnectionError(RuntimeError):
    """Temporal cannot be reached or the connection settings are wrong; the message names the setting."""


class NamespaceSetupError(RuntimeError):
    """The namespace cannot be made fit for afterword; the message says what an operator has to do."""


def target_address(settings: Settings, address: str | None = None) -> str:
    """Explicit address, else the configured one (TEMPORAL_ADDRESS or the profile's), else the embedded
    server's loopback port."""
    return address or settings.temporal_address or f"127.0.0.1:{settings.embedded_port}"


# profile TLS field -> the environment variable that sets it, for messages
_TLS_VARIABLES = {
    "client_cert": "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "client_private_key": "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "server_root_ca_cert": "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
}
_TOML_KEYS = {
    "client_cert": "client_cert_path",
    "client_private_key": "client_key_path",
    "server_root_ca_cert": "server_ca_cert_path",
}


def tls_config(settings: Settings, profile: ClientConfigProfile) -> TLSConfig | bool:
    """TLS as the profile says (client certificate and key, server CA, server name; `TEMPORAL_TLS=true` or
    `tls.disabled = false`: the system roots); with no TLS settings, TLS exactly when an API key is given
    (Temporal Cloud). Certificate files are read here, so a missing one is named before connecting."""
    tls = profile.tls
    if tls is None:
        return profile.api_key is not None
    if tls.disabled:
        return False
    cert, key = tls.client_cert, tls.client_private_key
    if (cert is None) != (key is None):
        given, missing = ("client_cert", "client_private_key") if key is None else ("client_private_key", "client_cert")
        raise TemporalConnectionError(
            f"{_origin(settings, given)} is set but {_origin(settings, missing)} is not: mTLS needs both the "
            "client certificate and its key."
        )
    if cert is None and tls.server_root_ca_cert is None and tls.server_name is None:
        return True
    return TLSConfig(
        domain=tls.server_name,
        client_cert=_pem(settings, "client_cert", cert),
        client_private_key=_pem(settings, "client_private_key", key),
        server_root_ca_cert=_pem(settings, "server_root_ca_cert", tls.server_root_ca_cert),
    )


def _origin(settings: Settings, field_name: str) -> str:
    """Which setting holds a TLS field: its variable if the process has it, else the profile's key."""
    variable = _TLS_VARIABLES[field_name]
    if settings.temporal_client_profile_env().get(variable):
        return variable
    where = settings.temporal_config_file or DEFAULT_CONFIG_FILE
    return f"tls.{_TOML_KEYS[field_name]} of profile {settings.temporal_profile or 'default'!r} ({where})"


def _pem(settings: Settings, field_name: str, source: Path | str | bytes | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    if isinstance(source, str):  # inline PEM data
        return source.encode()
    try:
        return source.expanduser().read_bytes()
    except OSError as exc:
        origin = _origin(settings, field_name)
        if isinstance(exc, FileNotFoundError):
            raise TemporalConnectionError(f"{origin}={source}: no such file. Point it at a PEM file.") from None
        raise TemporalConnectionError(f"{origin}={source}: cannot read it ({exc.strerror}).") from None


def grpc_compression(settings: Settings, target: str) -> GrpcCompression:
    """gzip saves bandwidth across a network; to a server on this machine it only costs CPU at both ends
    (a tenth to a quarter of the CPU of a postmortem start, client and server alike, on the embedded server)."""
    choice = settings.grpc_compression
    if choice == "auto":
        choice = "none" if is_loopback(target.rsplit(":", 1)[0]) else "gzip"  # target is host:port
    return GrpcCompression.NONE if choice == "none" else GrpcCompression.GZIP


async def connect(
    settings: Settings, address: str | None = None, *, codec: PayloadEncryption | None = None
) -> Client:
    """A client for settings.namespace with the pydantic converter and the payload codec (runtime/payload_codec.py;
    `codec`: one already built), and the profile's TLS, API key and gRPC metadata (none of them towards the
    embedded server, which listens in plain text on loopback)."""
    target = target_address(settings, address)
    embedded = address is None and settings.temporal_address is None
    try:
        profile = ClientConfigProfile() if embedded else settings.temporal_client_profile()
        converter = data_converter(settings, codec)
    except (SettingsError, PayloadKeyError) as exc:
        raise TemporalConnectionError(str(exc)) from None
    tls = tls_config(settings, profile)
    try:
        return await Client.connect(
            target,
            namespace=settings.namespace,
            data_converter=converter,
            tls=tls,
            api_key=profile.api_key,
            rpc_metadata=dict(profile.grpc_meta),
            connect_timeout=CONNECT_TIMEOUT,
            grpc_compression=grpc_compression(settings, target),
        )
    except RuntimeError as exc:
        raise TemporalConnectionError(_unreachable_message(settings, target, address, exc)) from exc


def _unreachable_message(settings: Settings, target: str, address: str | None, exc: Exception) -> str:
    if address is not None:
        where = f"Temporal at {target}"
        hint = "Check that the server is running."
    elif settings.temporal_address:
        where = f"Temporal at {target} ({settings.address_origin()})"
        hint = (
            "Check the address; for a TLS endpoint set TEMPORAL_TLS=true or TEMPORAL_TLS_CLIENT_CERT_PATH and "
            "TEMPORAL_TLS_CLIENT_KEY_PATH (or the profile's [tls]); for Temporal Cloud with an API key set "
            "TEMPORAL_API_KEY (or the profile's api_key)."
        )
    else:
        where = f"the embedded Temporal server at {target} (AFTERWORD_TEMPORAL_PORT)"
        hint = (
            "Is `python worker.py` running? Or set TEMPORAL_ADDRESS, or TEMPORAL_PROFILE (a temporal.toml profile), "
            "to use another Temporal server."
        )
    return f"cannot reach {where}: {exc}. {hint}"


@dataclass
class NamespaceReport:
    """What prepare_namespace found and changed."""

    namespace: str
    retention: timedelta | None
    retention_changed: bool = False
    retention_warning: str | None = None
    added_search_attributes: list[str] = field(default_factory=list)


async def prepare_namespace(client: Client, settings: Settings) -> NamespaceReport:
    """Set the namespace retention to settings.retention_days and register afterword's search attributes.

    Idempotent: a second call changes nothing. On the embedded server both always succeed. On a cluster
    that refuses the retention change, a warning is logged (retention is an operator decision there);
    missing search attributes that cannot be registered are an error, because workflows setting them
    would fail.
    """
    report = await _ensure_retention(client, settings)
    report.added_search_attributes = await _ensure_search_attributes(
        client, settings, search_attributes.ALL
    )
    return report


async def _ensure_retention(client: Client, settings: Settings) -> NamespaceReport:
    namespace = settings.namespace
    wanted = timedelta(days=settings.retention_days)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace), timeout=RPC_TIMEOUT
    )
    current = described.config.workflow_execution_retention_ttl.ToTimedelta()
    report = NamespaceReport(namespace=namespace, retention=current)
    if current == wanted:
        return report
    try:
        await client.workflow_service.update_namespace(
            UpdateNamespaceRequest(
                namespace=namespace,
                config=NamespaceConfig(workflow_execution_retention_ttl=_duration(wanted)),
            ),
            timeout=RPC_TIMEOUT,
        )
    except RPCError as exc:
        refused = exc.status in _NOT_PERMITTED or exc.status == RPCStatusCode.INVALID_ARGUMENT
        if settings.temporal_address is None or not refused:
            raise NamespaceSetupError(
                f"cannot set the retention of namespace {namespace!r} to {settings.retention_days} days "
                f"(AFTERWORD_RETENTION_DAYS): {exc.message}"
            ) from exc
        report.retention_warning = (
            f"namespace {namespace!r} keeps closed workflows for {_days(current)}, not the "
            f"{settings.retention_days} days of AFTERWORD_RETENTION_DAYS, and this client may not change it "
            f"({exc.message}). Ask the cluster operator to set it (Temporal Cloud: the namespace's "
            "retention setting; self-hosted: `temporal operator namespace update --retention`)."
        )
        log.warning("%s", report.retention_warning)
        return report
    log.info("namespace %r retention set to %s (was %s)", namespace, _days(wanted), _days(current))
    report.retention = wanted
    report.retention_changed = True
    return report


async def _ensure_search_attributes(
    client: Client, settings: Settings, keys: Sequence[SearchAttributeKey[Any]]
) -> list[str]:
    namespace = settings.namespace
    wanted = {key.name: _proto_type(key.indexed_value_type) for key in keys}
    existing = await _custom_search_attributes(client, namespace)
    conflicts = [
        f"{name} is {IndexedValueType.Name(existing[name])}, afterword needs {IndexedValueType.Name(kind)}"
        for name, kind in wanted.items()
        if name in existing and existing[name] != kind
    ]
    if conflicts:
        raise NamespaceSetupError(
            f"namespace {namespace!r} has search attributes of the wrong type: {'; '.join(conflicts)}. "
            "Use another TEMPORAL_NAMESPACE, or have an operator remove them."
        )
    missing = {name: kind for name, kind in wanted.items() if name not in existing}
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing), timeout=RPC_TIMEOUT
        )
    except RPCError as exc:
        # Another worker may have registered them at the same moment; only what is still missing counts.
        still_missing = sorted(set(missing) - set(await _custom_search_attributes(client, namespace)))
        if still_missing:
            commands = "; ".join(
                f"temporal operator search-attribute create --namespace {namespace} --name {name} "
                f"--type {_cli_type(missing[name])}"
                for name in still_missing
            )
            raise NamespaceSetupError(
                f"cannot register search attributes {', '.join(still_missing)} in namespace {namespace!r} "
                f"({exc.message}). An operator can add them: {commands}"
            ) from exc
    log.info("namespace %r: registered search attributes %s", namespace, ", ".join(sorted(missing)))
    await _wait_until_usable(client, namespace, sorted(missing))
    return sorted(missing)


async def _wait_until_usable(client: Client, namespace: str, names: list[str], within: float = 30.0) -> None:
    """Registered is not yet usable: a server that caches search attributes (a cluster, or the embedded
    server with its cache on) refuses them for a few seconds, and a workflow started then would fail.
    A visibility query naming them all is refused the same way, and is cheap to repeat."""
    query = " AND ".join(f"{name} IS NULL" for name in names)
    deadline = time.monotonic() + within
    while True:
        try:
            await client.workflow_service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=namespace, query=query), timeout=RPC_TIMEOUT
            )
            return
        except RPCError as exc:
            if not any(name in exc.message for name in names):
                return  # refused for another reason (this server's query language): nothing to wait for here
            if time.monotonic() > deadline:
                log.warning(
                    "namespace %r: search attributes %s are registered but not yet usable (%s); "
                    "postmortems started now may be refused until the server has them",
                    namespace, ", ".join(names), exc.message,
                )
                return
        await asyncio.sleep(0.2)


async def _custom_search_attributes(
    client: Client, namespace: str
) -> dict[str, IndexedValueType.ValueType]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace), timeout=RPC_TIMEOUT
    )
    return dict(listed.custom_attributes)


def _proto_type(kind: SearchAttributeIndexedValueType) -> IndexedValueType.ValueType:
    # The SDK enum mirrors the API enum's numbers (KEYWORD = 2, BOOL = 5, ...).
    return IndexedValueType.ValueType(int(kind))


def _cli_type(proto_type: IndexedValueType.ValueType) -> str:
    # INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList
    words = IndexedValueType.Name(proto_type).removeprefix("INDEXED_VALUE_TYPE_").split("_")
    return "".join(word.capitalize() for word in words)


def _duration(value: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(value)
    return duration


def _days(value: timedelta | None) -> str:
    if value is None:
        return "an unknown time"
    if value % timedelta(days=1) == timedelta(0):
        return "1 day" if value.days == 1 else f"{value.days} days"
    return str(value)
