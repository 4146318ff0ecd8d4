"""POST a JSON body and map every way it can fail to Retryable or Permanent: the one place the Teams and
signed-webhook channels share. One pooled aiohttp session per channel keeps connections open across
notifications (a new handshake per message would dominate the cost of sending one). aiohttp rather than
httpx's async client: on loopback it answered a POST in about a third of the time (0.4-0.6 ms against
1.4 ms), and the Slack SDK's async clients run on it anyway.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from afterword.notifications.channel_base import Permanent, Retryable, parse_retry_after, tls_context

MAX_ERROR_TEXT = 300


class JsonPoster:
    def __init__(self, what: str, timeout: float, ca_file: Path | None = None) -> None:
        self.what = what
        self.timeout = timeout
        self.ssl: ssl.SSLContext = tls_context(ca_file)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout),
                                                  connector=aiohttp.TCPConnector(ssl=self.ssl))
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Mapping[str, str]:
        """The 2xx answer's headers; Retryable for timeouts, connection failures, 429 and 5xx; Permanent
        for a TLS failure and every other status."""
        try:
            async with self._http().post(url, data=body, allow_redirects=False,
                                         headers={"Content-Type": "application/json", **headers}) as response:
                status = response.status
                text = (await response.text(errors="replace"))[:MAX_ERROR_TEXT] if status >= 300 else ""
                answer = response.headers.copy()  # case-insensitive, as HTTP headers are
        except TimeoutError:
            raise Retryable(f"{self.what}: no answer within {self.timeout:g} s") from None
        except aiohttp.ClientSSLError as exc:
            raise Permanent(
                f"{self.what}: TLS failed ({exc}); check the endpoint's certificate, or set ca_file to the CA "
                "that signed it"
            ) from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
            raise Retryable(f"{self.what}: {exc or type(exc).__name__}") from None
        if 200 <= status < 300:
            return answer
        if status == 429:
            raise Retryable(f"{self.what}: HTTP 429 rate limited {text}".rstrip(),
                            retry_after=parse_retry_after(answer.get("Retry-After")))
        if status >= 500 or status == 408:
            raise Retryable(f"{self.what}: HTTP {status} {text}".rstrip(),
                            retry_after=parse_retry_after(answer.get("Retry-After")))
        raise Permanent(f"{self.what}: HTTP {status} {text}".rstrip())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
