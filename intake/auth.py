"""Proof of origin for each delivery: bearer/basic auth, HMAC signatures, header tokens.

Every comparison is constant time (`hmac.compare_digest`) and runs against every configured secret
without stopping at the first match, so neither timing nor rotation state leaks which secret is in
use. HMACs are computed over the raw, unaltered request bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from afterword.intake.configuration import IntakeConfig, SourceConfig, resolve_secret
from afterword.intake.refusals import Unauthorized

PAGERDUTY_SIGNATURE = "X-PagerDuty-Signature"
GRAFANA_SIGNATURE = "X-Grafana-Alerting-Signature"
GRAFANA_LEGACY_SIGNATURE = "X-Grafana-Alert-Signature"
OPSGENIE_TOKEN_HEADER = "X-Afterword-Token"


@dataclass(frozen=True)
class Credentials:
    """One source's resolved secrets (bytes), ready for constant-time checks."""

    source: str
    bearer: tuple[bytes, ...] = ()
    basic: tuple[bytes, ...] = ()  # the full "user:password" pairs
    hmac_secrets: tuple[bytes, ...] = ()
    tokens: tuple[bytes, ...] = ()
    signature_header: str = GRAFANA_SIGNATURE
    timestamp_header: str | None = None
    max_skew_seconds: float = 300.0
    token_header: str = OPSGENIE_TOKEN_HEADER
    open_access: bool = False  # no credentials configured and unauthenticated deliveries allowed

    @property
    def configured(self) -> bool:
        return bool(self.bearer or self.basic or self.hmac_secrets or self.tokens)


def build_credentials(
    source: str, config: SourceConfig, allow_unauthenticated: bool, env: dict[str, str] | None = None
) -> Credentials:
    """Resolve a source's secret references (raises ConfigError when one cannot be read)."""
    return Credentials(
        source=source,
        bearer=tuple(resolve_secret(ref, env).encode() for ref in config.bearer_tokens),
        basic=tuple(f"{b.username}:{resolve_secret(b.password, env)}".encode() for b in config.basic_auth),
        hmac_secrets=tuple(resolve_secret(ref, env).encode() for ref in config.signing_secrets),
        tokens=tuple(resolve_secret(ref, env).encode() for ref in config.tokens),
        signature_header=config.signature_header or GRAFANA_SIGNATURE,
        timestamp_header=config.timestamp_header,
        max_skew_seconds=config.max_skew.total_seconds(),
        token_header=config.token_header or OPSGENIE_TOKEN_HEADER,
        open_access=allow_unauthenticated and not config.has_credentials,
    )


def build_all(config: IntakeConfig, host: str, env: dict[str, str] | None = None) -> dict[str, Credentials]:
    from afterword.intake.configuration import SOURCES

    allow = config.unauthenticated_allowed(host)
    return {name: build_credentials(name, config.source(name), allow, env) for name in SOURCES}


def _matches_any(candidate: bytes, secrets: tuple[bytes, ...]) -> bool:
    found = False
    for secret in secrets:
        # `|` not `or`: every secret is compared, whatever matched first
        found |= hmac.compare_digest(candidate, secret)
    return found


def _hmac_hex(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).hexdigest().encode()


def _check_authorization(creds: Credentials, headers: Mapping[str, str]) -> None:
    value = headers.get("Authorization", "")
    scheme, _, credential = value.partition(" ")
    credential = credential.strip()
    if not value:
        raise Unauthorized("missing Authorization header (Bearer token or basic auth expected)")
    if scheme.lower() == "bearer" and creds.bearer:
        if _matches_any(credential.encode(), creds.bearer):
            return
        raise Unauthorized("bearer token not accepted")
    if scheme.lower() == "basic" and creds.basic:
        try:
            decoded = base64.b64decode(credential.encode(), validate=True)
        except (binascii.Error, ValueError):
            raise Unauthorized("basic credentials are not valid base64") from None
        if _matches_any(decoded, creds.basic):
            return
        raise Unauthorized("basic credentials not accepted")
    accepted = " or ".join(s for s, on in (("Bearer", creds.bearer), ("Basic", creds.basic)) if on)
    raise Unauthorized(f"Authorization scheme {scheme!r} not accepted here; use {accepted}")


def check_pagerduty_signature(secrets: tuple[bytes, ...], header: str | None, body: bytes) -> None:
    """`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`; any signature by any secret passes."""
    if not header:
        raise Unauthorized(f"missing {PAGERDUTY_SIGNATURE} header")
    offered = [part.strip() for part in header.split(",")]
    v1 = [part[3:].lower().encode() for part in offered if part.startswith("v1=")]
    if not v1:
        raise Unauthorized(f"{PAGERDUTY_SIGNATURE} carries no v1= signature")
    expected = tuple(_hmac_hex(secret, body) for secret in secrets)
    found = False
    for signature in v1:
        found |= _matches_any(signature, expected)
    if not found:
        raise Unauthorized(f"{PAGERDUTY_SIGNATURE} does not match the configured signing secret(s)")


def check_grafana_signature(
    creds: Credentials, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Hex HMAC-SHA256 over the body, or over "<timestamp>:<body>" when a timestamp header is set."""
    signature = headers.get(creds.signature_header)
    if signature is None and creds.signature_header == GRAFANA_SIGNATURE:
        signature = headers.get(GRAFANA_LEGACY_SIGNATURE)
    if not signature:
        raise Unauthorized(f"missing {creds.signature_header} header")
    message = body
    if creds.timestamp_header:
        stamp = headers.get(creds.timestamp_header, "")
        if not (stamp.isascii() and stamp.isdigit()):  # "²".isdigit() holds, and int("²") fails
            raise Unauthorized(f"missing or non-numeric {creds.timestamp_header} header")
        age = abs((time.time() if now is None else now) - int(stamp))
        if age > creds.max_skew_seconds:
            raise Unauthorized(
                f"{creds.timestamp_header} is {int(age)} s away from now (allowed {int(creds.max_skew_seconds)} s)"
            )
        message = stamp.encode() + b":" + body
    expected = tuple(_hmac_hex(secret, message) for secret in creds.hmac_secrets)
    if not _matches_any(signature.strip().lower().encode(), expected):
        raise Unauthorized(f"{creds.signature_header} does not match the configured signing secret(s)")


def verify(creds: Credentials, headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    """Raise Unauthorized unless every mechanism configured for the source passes."""
    if not creds.configured:
        if creds.open_access:
            return
        raise Unauthorized(
            f"no credentials are configured for source {creds.source!r} and unauthenticated deliveries "
            "are refused on this address: configure its secret in the intake config (see docs/intake.md)"
        )
    if creds.bearer or creds.basic:
        _check_authorization(creds, headers)
    if creds.hmac_secrets:
        if creds.source == "pagerduty":
            check_pagerduty_signature(creds.hmac_secrets, headers.get(PAGERDUTY_SIGNATURE), body)
        else:
            check_grafana_signature(creds, headers, body, now)
    if creds.tokens:
        token = headers.get(creds.token_header)
        if not token:
            raise Unauthorized(f"missing {creds.token_header} header")
        if not _matches_any(token.strip().encode(), creds.tokens):
            raise Unauthorized(f"{creds.token_header} token not accepted")


# what to write in `[intake.sources.<name>]` so a sender can prove who it is
CREDENTIAL_HINTS = {
    "alertmanager": 'bearer_tokens = ["env:AFTERWORD_AM_TOKEN"] (or basic_auth)',
    "pagerduty": 'signing_secrets = ["env:PAGERDUTY_WEBHOOK_SECRET"]',
    "grafana": 'signing_secrets = ["env:GRAFANA_WEBHOOK_SECRET"] and timestamp_header (or bearer_tokens)',
    "opsgenie": 'tokens = ["env:OPSGENIE_WEBHOOK_TOKEN"]',
    "generic": 'bearer_tokens = ["env:AFTERWORD_GENERIC_TOKEN"]',
}


def access_warnings(
    config: IntakeConfig, credentials: Mapping[str, Credentials], host: str, config_file: str | None
) -> list[tuple[int, str]]:
    """What an operator must hear at start, as (log level, message): sources open to anyone, sources that
    will refuse every delivery (no credentials, and unauthenticated deliveries refused on this address),
    and signatures a captured delivery can be replayed past."""
    where = config_file or "an intake config (AFTERWORD_INTAKE_CONFIG, else <data_dir>/intake.toml)"
    why = (
        "allow_unauthenticated = false"
        if config.allow_unauthenticated is False
        else f"the intake listens on {host}, not loopback, and accepts unauthenticated deliveries only there"
    )
    warnings: list[tuple[int, str]] = []
    refusing = []
    enabled = [name for name in credentials if config.source(name).enabled]
    for name in enabled:
        creds = credentials[name]
        if creds.open_access:
            open_to_all = f"intake source {name} accepts unauthenticated deliveries (no credentials configured)"
            warnings.append((logging.WARNING, open_to_all))
        elif not creds.configured:
            refusing.append(name)
            warnings.append((
                logging.WARNING,
                f"intake source {name} REFUSES EVERY DELIVERY (401): no credentials are configured and {why}. "
                f"Set [intake.sources.{name}] {CREDENTIAL_HINTS[name]} in {where}, or enabled = false if unused",
            ))
        if name == "grafana" and creds.hmac_secrets and not creds.timestamp_header:
            warnings.append((
                logging.WARNING,
                "intake source grafana signs without a timestamp: a captured delivery stays valid forever and is "
                "recognised as a repeat only while remembered; set [intake.sources.grafana] timestamp_header "
                '(e.g. "X-Grafana-Alerting-Signature-Timestamp") here and in the Grafana contact point',
            ))
    if enabled and refusing == enabled:
        nothing = f"the intake accepts no alerts at all: every source refuses every delivery ({why})"
        warnings.append((logging.ERROR, nothing))
    return warnings
