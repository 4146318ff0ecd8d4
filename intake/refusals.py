"""The intake's error contract: every refusal is a 4xx with a reason the sender's operator can act on.

Bad input never becomes a 5xx (a 5xx makes alert senders retry forever); only an unreachable Temporal
does (503 + Retry-After), because then retrying is exactly right.
"""

from __future__ import annotations


class IntakeError(Exception):
    """A request the intake refuses; `status` is the HTTP status, `reason` the body's explanation."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Malformed(IntakeError):
    status = 400


class Unauthorized(IntakeError):
    status = 401


class UnknownTarget(IntakeError):
    status = 404


class TooLarge(IntakeError):
    status = 413


class UnsupportedMediaType(IntakeError):
    status = 415


class TemporalUnavailable(Exception):
    """Temporal did not acknowledge in time: the sender must retry (503)."""
