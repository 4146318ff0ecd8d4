"""prepare_namespace against a cluster that refuses changes (as Temporal Cloud does for some clients).

No refusing cluster runs here, so a small stand-in for the two gRPC services answers the way such a
cluster does; the embedded server's happy path is covered in test_embedded_server.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import ListSearchAttributesResponse
from temporalio.api.workflowservice.v1 import DescribeNamespaceResponse
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from afterword.runtime.connection import NamespaceSetupError, prepare_namespace
from afterword.settings import Settings
from afterword.workflows import search_attributes

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
BOOL = IndexedValueType.INDEXED_VALUE_TYPE_BOOL


class RefusingCluster:
    """Answers describe/list; refuses update_namespace and add_search_attributes with `status`."""

    def __init__(self, status: RPCStatusCode, attributes: dict[str, IndexedValueType.ValueType] | None = None) -> None:
        self.status = status
        self.attributes = dict(attributes or {})
        self.workflow_service = self
        self.operator_service = self

    async def describe_namespace(self, request: Any, **_: Any) -> DescribeNamespaceResponse:
        return DescribeNamespaceResponse(
            config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=30 * 86400))
        )

    async def update_namespace(self, request: Any, **_: Any) -> None:
        raise RPCError("Request unauthorized.", self.status, b"")

    async def list_search_attributes(self, request: Any, **_: Any) -> ListSearchAttributesResponse:
        return ListSearchAttributesResponse(custom_attributes=self.attributes)

    async def add_search_attributes(self, request: Any, **_: Any) -> None:
        raise RPCError("Request unauthorized.", self.status, b"")


def _all_registered() -> dict[str, IndexedValueType.ValueType]:
    return {key.name: BOOL if key is search_attributes.OVERDUE else KEYWORD for key in search_attributes.ALL}


def _cluster_settings() -> Settings:
    return Settings(temporal_address="ns.acct.tmprl.cloud:7233", namespace="ns.acct", retention_days=365)


async def test_refused_retention_on_a_cluster_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    cluster = RefusingCluster(RPCStatusCode.PERMISSION_DENIED, _all_registered())
    with caplog.at_level(logging.WARNING, logger="afterword.runtime.connection"):
        report = await prepare_namespace(cast(Client, cluster), _cluster_settings())

    assert report.retention == timedelta(days=30)
    assert not report.retention_changed
    assert report.retention_warning is not None
    assert "30 days" in report.retention_warning and "AFTERWORD_RETENTION_DAYS" in report.retention_warning
    assert report.retention_warning in caplog.text


async def test_refused_retention_on_the_embedded_server_is_an_error() -> None:
    cluster = RefusingCluster(RPCStatusCode.PERMISSION_DENIED, _all_registered())
    with pytest.raises(NamespaceSetupError, match="AFTERWORD_RETENTION_DAYS"):
        await prepare_namespace(cast(Client, cluster), Settings(retention_days=365))


async def test_unregistrable_search_attributes_stop_with_the_operator_commands() -> None:
    registered = _all_registered()
    del registered["AfterwordOverdue"]
    cluster = RefusingCluster(RPCStatusCode.PERMISSION_DENIED, registered)

    with pytest.raises(NamespaceSetupError) as refused:
        await prepare_namespace(cast(Client, cluster), _cluster_settings())

    message = str(refused.value)
    assert "AfterwordOverdue" in message
    assert "temporal operator search-attribute create --namespace ns.acct --name AfterwordOverdue --type Bool" in (
        message
    )
    assert "AfterwordState" not in message  # only what is actually missing


async def test_search_attribute_of_another_type_is_a_conflict() -> None:
    registered = _all_registered()
    registered["AfterwordOverdue"] = KEYWORD
    cluster = RefusingCluster(RPCStatusCode.PERMISSION_DENIED, registered)

    with pytest.raises(NamespaceSetupError, match="AfterwordOverdue is INDEXED_VALUE_TYPE_KEYWORD"):
        await prepare_namespace(cast(Client, cluster), _cluster_settings())
