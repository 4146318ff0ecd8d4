"""E-mail address syntax, checked where a policy names one (a roster entry, a sender): email-validator's
rules (RFC 5322 and 6531, internationalised domains), without DNS look-ups, so a check works offline."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def check_address(value: str) -> str:
    """The normalised address, or ValueError saying what is wrong with it."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise ValueError(f"{value!r} is not a valid e-mail address: {err}") from None
