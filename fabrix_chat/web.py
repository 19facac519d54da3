"""HTTP hygiene around Reflex's back end: security headers, the websocket origin check, /health."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from urllib.parse import urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabrix_chat import db
from fabrix_chat.config import get_settings, secret_key
from fabrix_chat.db import run_db
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth

log = logging.getLogger(__name__)

# Nothing on a page may load from, or send to, anywhere but this app: an answer is untrusted
# text, and an image, a stylesheet or a fetch to another server would carry data out. Reflex's
# compiled page needs inline scripts (React Router's hydration data, the theme and scroll
# scripts) and eval (rx.call_script), and Emotion and Radix write inline styles; those stay
# allowed, but only from this origin's own page. 'self' covers this origin's ws:/wss: too.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
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


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    return (scheme, host, port) if scheme in DEFAULT_PORTS and host else None


def origin_allowed(
    origin: str, host: str, scheme: str = "http", *, allowed: tuple[str, ...] = (), dev: bool = False
) -> bool:
    """A browser may connect from the app's own origin (scheme, host and port, as the browser
    reached it) or one listed in [server] allowed_origins. Development mode serves the page and the
    back end on two ports of one host, so there the host name alone must match."""
    if not origin:
        return True  # not a browser (health checkers, tests)
    given = _origin_parts(origin)
    own = _origin_parts(f"{scheme}://{host}")
    if given is None or own is None:
        return False
    if dev:
        return given[1] == own[1]
    return given == own or any(given == _origin_parts(o) for o in allowed)


def _request_scheme(scope: Scope) -> str:
    """http or https as the browser used it: behind trusted proxies, their X-Forwarded-Proto."""
    if scope.get("scheme") in ("https", "wss"):
        return "https"
    if get_settings().server.trusted_proxy_hops > 0:
        forwarded = _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower()
        if forwarded in ("https", "wss"):
            return "https"
    return "http"


def _is_dev_mode() -> bool:
    return os.environ.get("REFLEX_ENV_MODE", "prod").lower() == "dev"


def page_url(path: str) -> str:
    """Where the browser finds one of the app's pages: in development mode the front end has a
    server (and port) of its own; in service mode it is this origin."""
    if _is_dev_mode():
        from reflex_base.config import get_config

        return (get_config().deploy_url or "").rstrip("/") + path
    return path


def dev_same_site_script() -> str:
    """Development mode only: a page opened on another loopback name than the front end's own
    (http://127.0.0.1:3000 for http://localhost:3000) moves to that name. The back end's routes
    (sign-in, the session cookie) are on the front end's site; from another one the browser calls
    them cross-site, and sign-in is refused. "" in service mode, where page and back end share
    one origin."""
    if not _is_dev_mode():
        return ""
    from urllib.parse import urlsplit

    from reflex_base.config import get_config

    host = urlsplit(get_config().deploy_url or "").hostname or ""
    if host not in ("localhost", "127.0.0.1", "::1"):
        return ""
    return (
        "(function () { var host = " + json.dumps(host) + "; var loopback = ['localhost', '127.0.0.1', '[::1]'];"
        " if (location.hostname !== host && loopback.indexOf(location.hostname) >= 0) {"
        " location.replace(location.protocol + '//' + host + (location.port ? ':' + location.port : '')"
        " + location.pathname + location.search + location.hash); } })();"
    )


def route_url(path: str) -> str:
    """Where the browser reaches one of this module's HTTP routes (/auth/...): the back end's
    origin, which in development mode is not the page's."""
    if _is_dev_mode():
        from reflex_base.config import get_config

        return get_config().api_url.rstrip("/") + path
    return path


def _cookie(scope: Scope, name: str) -> str:
    """One cookie of the request, read the way Starlette reads them (a malformed cookie of another
    app on the same host does not hide ours), from every Cookie header (HTTP/2 may send several)."""
    joined = "; ".join(v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"cookie")
    return cookie_parser(joined).get(name, "")


def with_session_reference(scope: Scope) -> Scope:
    """The websocket handshake as Reflex should see it: no Cookie header (the session token stays
    out of the state, its pickles in Redis and anything sent to the page) and, for a session
    cookie, SESSION_HEADER with the token's hash. A client's own SESSION_HEADER is dropped, so
    only this middleware can say who is signed in."""
    token = _cookie(scope, auth.SESSION_COOKIE)
    drop = {b"cookie", auth.SESSION_HEADER.encode()}
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in drop]
    if token and len(token) <= 200:
        headers.append((auth.SESSION_HEADER.encode(), auth.session_header_value(token).encode("latin-1")))
    return {**scope, "headers": headers}


class SecurityMiddleware:
    """Adds the security headers to every response, refuses cross-site websockets and hands the
    back end a session reference instead of the session cookie."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        is_event = scope["type"] == "websocket" or path.startswith("/_event")
        if is_event or path.startswith("/_upload"):  # what reaches the app's state
            scope = with_session_reference(scope)
        if is_event:
            settings = get_settings()
            if not origin_allowed(
                _header(scope, b"origin"),
                _header(scope, b"host"),
                _request_scheme(scope),
                allowed=settings.server.allowed_origins,
                dev=_is_dev_mode(),
            ):
                log.warning(
                    "refused a connection from origin %r: this app is %s://%s (behind an HTTPS proxy set "
                    "[server] trusted_proxy_hops, or list the origin in [server] allowed_origins)",
                    _header(scope, b"origin")[:200],
                    _request_scheme(scope),
                    _header(scope, b"host")[:200],
                )
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
        with db.get_engine().connect() as connection:
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


FABRIX_HEALTH_SECONDS = 10.0  # an uptime checker polling every second asks FabriX at most this often
_fabrix_health_cache: tuple[float, str] = (-FABRIX_HEALTH_SECONDS, "")
_fabrix_health_lock = asyncio.Lock()


async def _fabrix_health() -> str:
    """FabriX's state, asked at most once per FABRIX_HEALTH_SECONDS (also while it is failing,
    when every check would otherwise wait for a time-out)."""
    global _fabrix_health_cache
    async with _fabrix_health_lock:
        checked_at, result = _fabrix_health_cache
        if time.monotonic() - checked_at < FABRIX_HEALTH_SECONDS:
            return result
        from fabrix_chat.services import chat as chat_service

        try:
            await asyncio.wait_for(chat_service.list_agents(), timeout=10)
            result = "ok"
        except Exception as exc:
            log.warning("health: FabriX check failed: %s", type(exc).__name__)
            result = "error"
        _fabrix_health_cache = (time.monotonic(), result)
        return result


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


def _is_https(request: Request) -> bool:
    return _request_scheme(request.scope) == "https"


def _from_this_app(request: Request) -> bool:
    """The browser came to /auth/... from the app's own pages, not from another site: a page
    elsewhere must not sign a visitor in as someone else (login CSRF) or out. Browsers say where a
    navigation came from in Sec-Fetch-Site; older ones send at least a Referer we can compare."""
    site = request.headers.get("sec-fetch-site", "").lower()
    if site:
        # "none" too is refused: a link in an e-mail opens with it, and that is the attack.
        return site == "same-origin" or (site == "same-site" and _is_dev_mode())
    referer = request.headers.get("referer", "")
    if not referer:
        return True  # not a browser that tells (a script of its own holds its own ticket)
    return origin_allowed(
        referer,
        request.headers.get("host", ""),
        _request_scheme(request.scope),
        allowed=get_settings().server.allowed_origins,
        dev=_is_dev_mode(),
    )


async def _redeem(ticket: str) -> str | None:
    """The new session token for a valid, unexpired, unused ticket; None otherwise."""
    parsed = auth.read_login_ticket(secret_key(get_settings()), ticket)
    if parsed is None:
        return None
    session_id, nonce = parsed
    token, token_hash = auth.new_session_token()
    done = await run_db(
        users_repo.redeem_session,
        session_id=session_id,
        placeholder_hash=auth.placeholder_hash(nonce),
        token_hash=token_hash,
        max_age_seconds=auth.TICKET_SECONDS,
    )
    return token if done else None


NO_STORE = {"cache-control": "no-store"}
# Where signing in may lead back to (a shared link, a conversation): a path of this app, never a URL.
RETURN_PATH = re.compile(r"/chat(/[0-9]{1,19})?|/shared/[A-Za-z0-9_-]{32}")


def return_path(value: object) -> str:
    """`value` when it is a page a visitor may be sent back to after signing in, else /chat."""
    text = str(value or "")
    return text if RETURN_PATH.fullmatch(text) else "/chat"


async def start_session(request: Request) -> RedirectResponse:
    """GET /auth/session?ticket=…: swap a one-time sign-in ticket for the HttpOnly session cookie."""
    if not _from_this_app(request):
        log.warning("refused a sign-in ticket brought from another site (%s)", request.headers.get("sec-fetch-site"))
        return RedirectResponse(page_url("/login"), status_code=303, headers=NO_STORE)
    token = await _redeem(request.query_params.get("ticket", ""))
    if token is None:
        log.info("a sign-in ticket was refused (expired, used or forged)")
        return RedirectResponse(page_url("/login?signin=expired"), status_code=303, headers=NO_STORE)
    response = RedirectResponse(
        page_url(return_path(request.query_params.get("next"))), status_code=303, headers=NO_STORE
    )
    response.set_cookie(
        auth.SESSION_COOKIE, token, path="/", httponly=True, samesite="strict", secure=_is_https(request)
    )
    return response


async def end_session(request: Request) -> RedirectResponse:
    """GET /auth/logout: end the session of this browser's cookie and remove the cookie."""
    if not _from_this_app(request):
        return RedirectResponse(page_url("/chat"), status_code=303, headers=NO_STORE)
    token = request.cookies.get(auth.SESSION_COOKIE, "")
    if token:
        await run_db(users_repo.end_session, token_hash=auth.hash_token(token))
    response = RedirectResponse(page_url("/login"), status_code=303, headers=NO_STORE)
    response.delete_cookie(auth.SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_is_https(request))
    return response


def extra_routes() -> Starlette:
    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/auth/session", start_session, methods=["GET"]),
            Route("/auth/logout", end_session, methods=["GET"]),
        ]
    )
