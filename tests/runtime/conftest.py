"""Fixtures for the runtime tests: free loopback ports and settings pointing into a tmp data dir."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from afterword.runtime.dev_server import free_port as any_free_port
from afterword.runtime.payload_codec import ensure_payload_keys
from afterword.settings import Settings


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A port nothing listens on right now (distinct on each call within a test)."""
    handed_out: set[int] = set()

    def pick() -> int:
        while (port := any_free_port()) in handed_out:
            pass
        handed_out.add(port)
        return port

    return pick


@pytest.fixture
def settings(tmp_path: Path, free_port: Callable[[], int]) -> Settings:
    settings = Settings(
        data_dir=tmp_path / "data",
        embedded_port=free_port(),
        embedded_ui_port=free_port(),
        intake_port=0,
    )
    ensure_payload_keys(settings)  # the data directory as a worker's first start leaves it
    return settings


@pytest.fixture
def listening_socket() -> Iterator[Callable[[], socket.socket]]:
    """Opens loopback sockets that listen (as another server would) and closes them after the test."""
    opened: list[socket.socket] = []

    def listen() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        opened.append(sock)
        return sock

    yield listen
    for sock in opened:
        sock.close()
