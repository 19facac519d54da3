"""HTTP hygiene around Reflex's back end: security headers, the websocket origin check, /health."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from urllib.parse import urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabrix_chat.config import get_settings
from fabrix_chat.db import get_engine

log = logging.getLogger(__name__)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]


# Vite names each built script, style and font after a hash of its content ("index-D9PZCn3a.js"):
# such a file never changes, so the browser may keep it for a year without asking again.
HASHED_ASSET = re.compile(r"^/assets/[^/]+-[A-Za-z0-9_-]{8}\.(?:js|css|woff2?|ttf)$")
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"  # pages and unhashed files: use the copy only after checking it is current


def cache_control(path: str, content_type: str) -> bytes | None:
    """The Cache-Control for a front-end response, or None to leave the response as it is."""
    if HASHED_ASSET.match(path):
        return IMMUTABLE
    if content_type.startswith(("text/html", "text/css", "text/javascript", "application/javascript")):
        return REVALIDATE
    return None


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def origin_allowed(origin: str, host: str) -> bool:
    """A browser may connect only from the app's own host name (any port: dev mode uses two)."""
    if not origin:
        return True  # not a browser (health checkers, tests)
    origin_host = urlsplit(origin).hostname or ""
    own_host = urlsplit(f"//{host}").hostname or ""
    return bool(origin_host) and origin_host == own_host


class SecurityMiddleware:
    """Adds the security headers to every response and refuses cross-site websockets."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" or (scope["type"] == "http" and scope.get("path", "").startswith("/_event")):
            if not origin_allowed(_header(scope, b"origin"), _header(scope, b"host")):
                log.warning("refused a connection from origin %r", _header(scope, b"origin"))
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await send({"type": "http.response.start", "status": 403, "headers": SECURITY_HEADERS})
                    await send({"type": "http.response.body", "body": b"forbidden origin"})
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {key.lower() for key, _ in headers}
                content_type = next((v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), "")
                cache = cache_control(scope.get("path", ""), content_type)
                if cache is not None and b"cache-control" not in names and message.get("status") in (200, 304):
                    headers.append((b"cache-control", cache))
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)
        elapsed = time.perf_counter() - started
        if elapsed > 2:
            log.warning("slow request: %s %s took %.1f s", scope.get("method"), scope.get("path"), elapsed)


async def health(_request: Request) -> JSONResponse:
    """For an uptime checker: database, FabriX and Redis state, nothing secret."""
    settings = get_settings()
    result: dict[str, str] = {}

    def check_db() -> None:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(asyncio.to_thread(check_db), timeout=5)
        result["database"] = "ok"
    except Exception as exc:
        log.warning("health: database check failed: %s", type(exc).__name__)
        result["database"] = "error"
    result["fabrix"] = await _fabrix_health()
    if settings.rate_limit.redis_url:
        result["redis"] = await _redis_health(settings.rate_limit.redis_url)
    result["mode"] = "demo" if settings.fabrix_api.demo_mode else "fabrix"
    ok = all(v in ("ok", "demo", "fabrix") for v in result.values())
    return JSONResponse({"status": "ok" if ok else "degraded", **result}, status_code=200 if ok else 503)


async def _fabrix_health() -> str:
    from fabrix_chat.services import chat as chat_service

    try:
        await asyncio.wait_for(chat_service.list_agents(), timeout=10)
        return "ok"
    except Exception as exc:
        log.warning("health: FabriX check failed: %s", type(exc).__name__)
        return "error"


async def _redis_health(url: str) -> str:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=3)
    try:
        await client.ping()
        return "ok"
    except Exception as exc:
        log.warning("health: Redis check failed: %s", type(exc).__name__)
        return "error"
    finally:
        await client.aclose()


def extra_routes() -> Starlette:
    return Starlette(routes=[Route("/health", health, methods=["GET"])])
