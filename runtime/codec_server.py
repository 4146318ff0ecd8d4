"""The codec endpoint: the Temporal Web UI and `temporal workflow show --codec-endpoint` read encrypted
history through it, so that people with access to the worker's key still see inputs and results.

It speaks Temporal's remote codec protocol: `POST /encode` and `POST /decode` with a JSON body
`{"payloads": [...]}` (payloads in protobuf JSON: base64 metadata and data), answered in the same shape.
The Web UI calls it from the browser, so it answers CORS preflights for the UI origins it is told
(AFTERWORD_CODEC_ORIGINS; by default the embedded server's UI).

Whoever reaches it can decrypt history: it listens on loopback unless AFTERWORD_CODEC_HOST says otherwise,
and beyond loopback it refuses to start without a bearer token (AFTERWORD_CODEC_TOKEN), which every
request must then carry (`temporal ... --codec-auth "Bearer <token>"`).
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from afterword.runtime.dev_server import free_port
from afterword.runtime.payload_codec import MissingPayloadKey, PayloadEncryption
from afterword.settings import Settings, is_loopback

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # a page of history in the UI; Temporal's own payload limit is 2 MB each
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization, Caller-Type"


class CodecEndpointError(RuntimeError):
    """The endpoint cannot start as configured; the message names the setting to change."""


def _resolve_token(ref: str) -> str:
    if ref.startswith("env:"):
        value = os.environ.get(ref[4:], "")
    elif ref.startswith("file:/"):
        try:
            value = Path(ref[5:]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CodecEndpointError(f"AFTERWORD_CODEC_TOKEN={ref}: cannot read the file ({exc.strerror})") from None
    else:
        raise CodecEndpointError("AFTERWORD_CODEC_TOKEN: write the token as a reference, env:NAME or file:/path")
    if not value:
        raise CodecEndpointError(f"AFTERWORD_CODEC_TOKEN={ref}: empty")
    return value


def allowed_origins(settings: Settings, ui_url: str | None) -> frozenset[str]:
    if settings.codec_origins:
        return frozenset(o.strip().rstrip("/") for o in settings.codec_origins.split(",") if o.strip())
    if ui_url is None:
        return frozenset()
    port = ui_url.rsplit(":", 1)[1]
    return frozenset({ui_url, f"http://localhost:{port}"})


class CodecServer:
    """`async with CodecServer(settings, codec, ui_url) as server:` serves at `server.url` until the block ends."""

    def __init__(self, settings: Settings, codec: PayloadEncryption, ui_url: str | None = None) -> None:
        self.codec = codec
        self.host = settings.codec_host
        # chosen now, so the URL the embedded server's UI is given is the one this endpoint listens on
        self.port = settings.codec_port or free_port(settings.codec_host)
        self.origins = allowed_origins(settings, ui_url)
        self.token = _resolve_token(settings.codec_token) if settings.codec_token else None
        if self.token is None and not is_loopback(self.host):
            raise CodecEndpointError(
                f"AFTERWORD_CODEC_HOST={self.host}: the codec endpoint decrypts history for whoever reaches it; "
                "beyond loopback it needs AFTERWORD_CODEC_TOKEN (env:NAME or file:/path), or listen on 127.0.0.1"
            )
        self._runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._cors])
        app.router.add_post("/encode", self._encode)
        app.router.add_post("/decode", self._decode)
        app.router.add_route("OPTIONS", "/{tail:.*}", self._preflight)
        return app

    async def __aenter__(self) -> CodecServer:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise CodecEndpointError(
                f"the codec endpoint cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "set AFTERWORD_CODEC_PORT to a free port (0: any)"
            ) from None
        self._runner = runner
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        log.info("codec endpoint at %s (origins: %s)", self.url, ", ".join(sorted(self.origins)) or "none")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ HTTP

    def _cors_headers(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin", "").rstrip("/")
        if not origin or not (origin in self.origins or "*" in self.origins):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Vary": "Origin",
        }

    @web.middleware
    async def _cors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        response.headers.update(self._cors_headers(request))
        return response

    async def _preflight(self, request: web.Request) -> web.StreamResponse:
        if not self._cors_headers(request):
            return _error(403, "this origin may not use the codec endpoint (AFTERWORD_CODEC_ORIGINS)")
        return web.Response(status=204)

    def _authorised(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def _payloads(self, request: web.Request) -> Payloads | web.Response:
        if not self._authorised(request):
            return _error(401, 'send the codec token: Authorization: Bearer <token> (--codec-auth "Bearer ...")')
        try:
            return json_format.Parse(await request.text(), Payloads())
        except (json_format.ParseError, DecodeError, UnicodeDecodeError, ValueError) as exc:
            return _error(400, f'the body is not {{"payloads": [...]}} in protobuf JSON: {exc}')

    async def _encode(self, request: web.Request) -> web.Response:
        parsed = await self._payloads(request)
        if isinstance(parsed, web.Response):
            return parsed
        try:
            done = await self.codec.encode(list(parsed.payloads))
        except MissingPayloadKey as exc:
            return _error(422, str(exc))
        return _answer(done)

    async def _decode(self, request: web.Request) -> web.Response:
        parsed = await self._payloads(request)
        if isinstance(parsed, web.Response):
            return parsed
        try:
            done = await self.codec.decode(list(parsed.payloads))
        except MissingPayloadKey as exc:
            return _error(422, str(exc))
        return _answer(done)


def _answer(payloads: Sequence[Payload]) -> web.Response:
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    return web.Response(text=body, content_type="application/json")


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)
