"""What the intake tells a sender when Temporal refuses or fails, through the real client facade: only a
request Temporal calls invalid is a 400 (retrying cannot help); any other failure is a 503, so the sender
keeps the alert and retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from afterword.client import Postmortems
from afterword.evidence.blobs import ContentStore
from afterword.intake.dispatch import Dispatcher
from afterword.intake.refusals import Malformed, TemporalUnavailable
from afterword.intake.sources import alertmanager
from afterword.settings import Settings

from .fakes import FakePolicies, example


class FailingClient:
    """A Temporal client whose start call fails with one gRPC status."""

    def __init__(self, status: RPCStatusCode) -> None:
        self.status = status

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        raise RPCError(f"server says {self.status.name}", self.status, b"")


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (RPCStatusCode.INTERNAL, TemporalUnavailable),
        (RPCStatusCode.UNKNOWN, TemporalUnavailable),
        (RPCStatusCode.PERMISSION_DENIED, TemporalUnavailable),
        (RPCStatusCode.UNAVAILABLE, TemporalUnavailable),
        (RPCStatusCode.INVALID_ARGUMENT, Malformed),
    ],
)
async def test_only_an_invalid_request_is_refused_everything_else_is_retried(
    tmp_path: Path, status: RPCStatusCode, answer: type[Exception]
) -> None:
    postmortems = Postmortems(FailingClient(status), Settings(data_dir=tmp_path))  # type: ignore[arg-type]
    dispatcher = Dispatcher(postmortems, FakePolicies(), ContentStore(tmp_path / "store"))
    body = example("alertmanager-firing.json")
    with pytest.raises(answer, match=status.name if answer is TemporalUnavailable else "server says"):
        await dispatcher.accept("acme", alertmanager.parse(body), body)
