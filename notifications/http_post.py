"""POST a JSON body and map every way it can fail to Retryable or Permanent: the one place the Teams and
signed-webhook channels share. One pooled `httpx.AsyncClient` per channel keeps connections open across
notifications (a new TLS handshake per message would dominate the cost of sending one)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from afterword.notifications.channel_base import Permanent, Retryable, parse_retry_after, tls_context

MAX_ERROR_TEXT = 300


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class JsonPoster:
    def __init__(self, what: str, timeout: float, ca_file: Path | None = None) -> None:
        self.what = what
        self.timeout = timeout
        self.ca_file = ca_file
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, verify=tls_context(self.ca_file),
                                             follow_redirects=False)
        return self._client

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """The 2xx response; Retryable for timeouts, connection failures, 429 and 5xx; Permanent otherwise."""
        try:
            response = await self._http().post(url, content=body, headers={"Content-Type": "application/json",
                                                                           **headers})
        except httpx.TimeoutException as exc:
            raise Retryable(f"{self.what}: no answer within {self.timeout:g} s ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            tls = _tls_cause(exc)
            if tls is not None:
                raise Permanent(
                    f"{self.what}: TLS failed ({getattr(tls, 'verify_message', None) or tls.reason or tls}); "
                    "check the endpoint's certificate, or set ca_file to the CA that signed it"
                ) from None
            raise Retryable(f"{self.what}: {exc or type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        text = response.text[:MAX_ERROR_TEXT]
        if status == 429:
            raise Retryable(f"{self.what}: HTTP 429 rate limited {text}".rstrip(),
                            retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500 or status == 408:
            raise Retryable(f"{self.what}: HTTP {status} {text}".rstrip(),
                            retry_after=parse_retry_after(response.headers.get("Retry-After")))
        raise Permanent(f"{self.what}: HTTP {status} {text}".rstrip())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
