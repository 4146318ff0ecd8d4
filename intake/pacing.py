"""Pacing the steps of postmortems in a storm.

A start or a resolve is acknowledged by Temporal in a few milliseconds, but what follows costs the server
and the worker far more: a new postmortem's first steps (its first workflow task and the trigger-time
evidence capture), a resolved one's resolution steps (the resolution-time capture and the draft: three
workflow tasks and two activities). When an alert storm opens, or resolves, dozens of incidents within
seconds, running all of those steps at once queues the server's work, and every sender waits. The pacer
lets a burst through undelayed, then gives each further start a `start_delay`, and each further resolve
a `steps_delay`, that space those steps at a steady rate: the start or resolution itself is recorded
(durably, listed, signalled) at once; only the steps wait, at most `max_delay`. Starts and resolves
share one rate, as they share the server and the worker.

This is the generic cell rate algorithm (a token bucket kept as one timestamp): `_due` is when the bucket
would be empty again if no more steps came.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta


class StepPacer:
    def __init__(
        self,
        per_second: float,
        burst: int,
        max_delay: timedelta,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second < 0 or burst < 1 or max_delay < timedelta(0):
            raise ValueError("per_second must be >= 0 (0: no pacing), burst >= 1 and max_delay >= 0")
        self.per_second = per_second
        self.burst = burst
        self.max_delay = max_delay.total_seconds()
        self._clock = clock
        self._due = 0.0

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 and self.max_delay > 0

    def reserve(self) -> timedelta:
        """Take the next slot for one postmortem's steps; how long they should wait."""
        if not self.enabled:
            return timedelta(0)
        now = self._clock()
        interval = 1.0 / self.per_second
        due = max(self._due, now)
        wait = due - now - (self.burst - 1) * interval  # the first `burst` of a storm go at once
        if wait <= 0:
            self._due = due + interval
            return timedelta(0)
        if wait >= self.max_delay:  # the backlog is longer than anyone should wait: cap it, take no slot
            return timedelta(seconds=self.max_delay)
        self._due = due + interval
        return timedelta(seconds=wait)
