"""HTTP helpers shared by the sources that speak HTTP: one place maps failures to retry or gap."""

from __future__ import annotations

import functools
import os
import ssl

import certifi
import httpx

from afterword.activities.adapters.base import SourceRejected, SourceUnavailable


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every request: building one loads the CA bundle, tens of milliseconds of CPU."""
    return ssl.create_default_context(cafile=certifi.where())


def bearer_headers(token_env: str | None, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers with `Authorization: Bearer …` from the named variable (the policy never holds secrets)."""
    result = dict(headers or {})
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise SourceRejected(f"environment variable {token_env} (bearer token) is not set")
        result["Authorization"] = f"Bearer {token}"
    return result


async def get(
    url: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None, seconds: float = 15.0
) -> httpx.Response:
    """GET that raises SourceUnavailable for what a retry may fix and SourceRejected for the rest."""
    try:
        async with httpx.AsyncClient(timeout=seconds, follow_redirects=True, verify=tls_context()) as client:
            response = await client.get(url, params=params, headers=headers)
    except httpx.TimeoutException as exc:
        raise SourceUnavailable(f"{url}: timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise SourceUnavailable(f"{url}: {exc or type(exc).__name__}") from None
    except httpx.InvalidURL as exc:
        raise SourceRejected(f"{url}: invalid URL ({exc})") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise SourceUnavailable(f"{url}: HTTP {response.status_code} {response.text[:200]}")
    if response.status_code >= 400:
        raise SourceRejected(f"{url}: HTTP {response.status_code} {response.text[:300]}")
    return response
