"""Freezing the startup heap: full collections stop walking what startup left alive, and nothing that
was already garbage is kept alive by it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from afterword.runtime.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def _walked(obj: object) -> bool:
    return any(candidate is obj for candidate in gc.get_objects())


@pytest.mark.usefixtures("unfrozen_afterwards")
def test_startup_objects_leave_the_collectors_walk_and_later_ones_do_not() -> None:
    startup_tables = [[1, 2], [3]]
    assert _walked(startup_tables)

    assert freeze_startup_heap() > 0

    assert not _walked(startup_tables)
    per_request = [[4]]
    assert _walked(per_request)


@pytest.mark.usefixtures("unfrozen_afterwards")
def test_garbage_from_startup_is_collected_not_frozen() -> None:
    first, second = _Node(), _Node()
    first.other, second.other = second, first  # a cycle: only the collector can free it
    gone = weakref.ref(first)
    del first, second

    freeze_startup_heap()

    assert gone() is None
