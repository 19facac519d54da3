"""Security headers, the websocket origin rule and /health, on a small Starlette app."""

from __future__ import annotations

import time

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from fabrix_chat.config import get_settings, secret_key
from fabrix_chat.db import session_scope
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth
from fabrix_chat.web import SecurityMiddleware, cache_control, extra_routes, origin_allowed, with_session_reference


async def hello(_request):
    return PlainTextResponse("hi")


async def echo(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("welcome")
    await websocket.close()


def client() -> TestClient:
    app = Starlette(routes=[Route("/", hello), WebSocketRoute("/_event/", echo)])
    return TestClient(SecurityMiddleware(app))


def test_every_response_carries_the_security_headers():
    response = client().get("/")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("", "chat.intra:3000", "http", True),  # not a browser
        ("http://chat.intra:3000", "chat.intra:3000", "http", True),
        ("https://chat.intra", "chat.intra", "https", True),  # behind the HTTPS proxy
        ("https://chat.intra:443", "chat.intra", "https", True),
        ("http://chat.intra:3001", "chat.intra:3000", "http", False),  # another port is another site
        ("http://chat.intra:3000", "chat.intra:3000", "https", False),  # another scheme too
        ("http://localhost:3000", "localhost:8000", "http", False),
        ("http://evil.example", "chat.intra:3000", "http", False),
        ("http://chat.intra.evil.example", "chat.intra", "http", False),
        ("null", "chat.intra", "http", False),
        ("javascript:alert(1)", "chat.intra", "http", False),
    ],
)
def test_origin_rule(origin, host, scheme, allowed):
    assert origin_allowed(origin, host, scheme) is allowed


def test_development_mode_allows_its_two_ports_of_one_host():
    assert origin_allowed("http://localhost:3000", "localhost:8000", dev=True)
    assert not origin_allowed("http://evil.example:3000", "localhost:8000", dev=True)


def test_configured_origins_are_allowed_exactly():
    allowed = ("https://chat.example.com",)
    assert origin_allowed("https://chat.example.com", "10.0.0.5:3000", allowed=allowed)
    assert not origin_allowed("https://chat.example.com:8443", "10.0.0.5:3000", allowed=allowed)
    assert not origin_allowed("http://chat.example.com", "10.0.0.5:3000", allowed=allowed)


def test_websocket_from_the_apps_own_origin_is_accepted():
    with client().websocket_connect("/_event/", headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_text() == "welcome"


def test_websocket_from_another_site_is_refused():
    with pytest.raises(WebSocketDisconnect) as info:
        with client().websocket_connect("/_event/", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_text()
    assert info.value.code == 1008


def test_event_polling_from_another_site_is_refused():
    response = client().get("/_event/", headers={"origin": "http://evil.example"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        ("/assets/index-D9PZCn3a.js", "text/javascript", b"public, max-age=31536000, immutable"),
        ("/assets/root-B_x-9aZ1.css", "text/css", b"public, max-age=31536000, immutable"),
        ("/assets/KaTeX_Main-Bold-Cx986IdX.woff2", "font/woff2", b"public, max-age=31536000, immutable"),
        ("/chat/", "text/html; charset=utf-8", b"no-cache"),
        ("/styles.css", "text/css", b"no-cache"),  # our own, not hashed: it changes with a release
        ("/chat.js", "text/javascript", b"no-cache"),
        ("/assets/index.js", "text/javascript", b"no-cache"),
        ("/favicon.ico", "image/vnd.microsoft.icon", None),
    ],
)
def test_hashed_assets_are_immutable_and_pages_are_revalidated(path, content_type, expected):
    assert cache_control(path, content_type) == expected


def test_the_cache_header_is_added_to_html_responses():
    async def page(_request):
        return PlainTextResponse("<html></html>", media_type="text/html")

    app = Starlette(routes=[Route("/login", page)])
    response = TestClient(SecurityMiddleware(app)).get("/login")
    assert response.headers["cache-control"] == "no-cache"


# --- the session cookie, out of JavaScript's reach -------------------------------------------------


def handshake(headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "websocket", "path": "/_event/", "headers": headers}


def test_the_back_end_gets_a_reference_to_the_session_never_the_cookie():
    scope = with_session_reference(
        handshake([(b"host", b"chat"), (b"cookie", b"fabrix_session=tok-123; other=1"), (b"authorization", b"forged")])
    )
    headers = dict(scope["headers"])
    assert b"cookie" not in headers
    assert headers[b"authorization"] == auth.session_header_value("tok-123").encode()
    assert b"tok-123" not in b"".join(v for _, v in scope["headers"])


def test_a_client_cannot_claim_a_session_with_its_own_header():
    scope = with_session_reference(handshake([(b"authorization", auth.session_header_value("tok").encode())]))
    assert b"authorization" not in dict(scope["headers"])


def tick(app_db, user_id: int, now: float | None = None) -> str:
    """A sign-in ticket as the log-in event issues it."""
    nonce, placeholder = auth.new_ticket_nonce()
    with session_scope(app_db) as session:
        row = users_repo.create_session(session=session, user_id=user_id, token_hash=placeholder)
        row_id = row.id
    return auth.sign_login_ticket(secret_key(get_settings()), row_id, nonce, now=now)


@pytest.fixture
def kim(app_db) -> int:
    with session_scope(app_db) as session:
        return users_repo.create_user(session=session, username="kim", email="kim@example.com", password_hash="x").id


def routes_client() -> TestClient:
    return TestClient(SecurityMiddleware(extra_routes()), follow_redirects=False)


def test_a_ticket_gives_an_httponly_session_cookie_once(app_db, kim):
    ticket = tick(app_db, kim)
    response = routes_client().get(f"/auth/session?ticket={ticket}")
    assert response.status_code == 303 and response.headers["location"] == "/chat"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("fabrix_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower(), "a session cookie: gone when the browser closes"
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    with session_scope(app_db) as session:
        assert (
            users_repo.get_session_user(session=session, token_hash=auth.hash_token(token), idle_minutes=30).id == kim
        )
    again = routes_client().get(f"/auth/session?ticket={ticket}")
    assert again.headers["location"] == "/login?signin=expired" and "set-cookie" not in again.headers


@pytest.mark.parametrize("bad", ["", "garbage", "1.2.3.4", "9" * 400])
def test_a_malformed_ticket_is_refused(app_db, kim, bad):
    response = routes_client().get("/auth/session", params={"ticket": bad})
    assert response.headers["location"] == "/login?signin=expired"


def test_a_forged_or_expired_ticket_is_refused(app_db, kim):
    ticket = tick(app_db, kim)
    session_id, expires, nonce, mac = ticket.split(".")
    forged = f"{int(session_id) + 1}.{expires}.{nonce}.{mac}"
    assert routes_client().get(f"/auth/session?ticket={forged}").headers["location"] == "/login?signin=expired"
    old = tick(app_db, kim, now=time.time() - auth.TICKET_SECONDS - 1)
    assert routes_client().get(f"/auth/session?ticket={old}").headers["location"] == "/login?signin=expired"


def signed_in_client(app_db, user_id: int) -> tuple[TestClient, str]:
    """A browser holding a live session cookie of the user, and that session's stored hash."""
    token, token_hash = auth.new_session_token()
    with session_scope(app_db) as session:
        users_repo.create_session(session=session, user_id=user_id, token_hash=token_hash)
    client = routes_client()
    client.cookies.set("fabrix_session", token)
    return client, token_hash


def session_alive(app_db, token_hash: str) -> bool:
    with session_scope(app_db) as session:
        return users_repo.get_session_user(session=session, token_hash=token_hash, idle_minutes=30) is not None


def test_log_out_ends_the_session_and_removes_the_cookie(app_db, kim):
    client, token_hash = signed_in_client(app_db, kim)
    response = client.get("/auth/logout")
    assert response.headers["location"] == "/login"
    assert 'fabrix_session=""' in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    assert not session_alive(app_db, token_hash)


async def test_health_asks_fabrix_at_most_once_per_window(monkeypatch):
    from fabrix_chat import web
    from fabrix_chat.services import chat as chat_service

    calls = []

    async def failing_list_agents():
        calls.append(1)
        raise ConnectionError("FabriX is down")

    monkeypatch.setattr(chat_service, "list_agents", failing_list_agents)
    monkeypatch.setattr(web, "_fabrix_health_cache", (-web.FABRIX_HEALTH_SECONDS, ""))
    assert [await web._fabrix_health() for _ in range(20)] == ["error"] * 20
    assert len(calls) == 1
    later = time.monotonic() + web.FABRIX_HEALTH_SECONDS + 1
    monkeypatch.setattr(web.time, "monotonic", lambda: later)
    assert await web._fabrix_health() == "error" and len(calls) == 2


def test_in_development_mode_routes_are_on_the_back_end_and_pages_on_the_front_end(monkeypatch):
    from reflex_base.config import get_config

    from fabrix_chat import web

    monkeypatch.setenv("REFLEX_ENV_MODE", "dev")
    config = get_config()
    assert web.route_url("/auth/logout") == config.api_url.rstrip("/") + "/auth/logout"
    assert web.page_url("/chat") == (config.deploy_url or "").rstrip("/") + "/chat"
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    assert (web.route_url("/auth/logout"), web.page_url("/chat")) == ("/auth/logout", "/chat")


def test_another_apps_malformed_cookie_or_a_second_cookie_header_does_not_hide_ours():
    for headers in (
        [(b"cookie", b'a=b c; x={"a": 1}; fabrix_session=tok-9')],
        [(b"cookie", b"other=1"), (b"cookie", b"fabrix_session=tok-9")],
    ):
        scope = with_session_reference(handshake(headers))
        assert dict(scope["headers"])[b"authorization"] == auth.session_header_value("tok-9").encode()


def test_an_unredeemed_ticket_is_no_session_cookie(app_db, kim):
    nonce, placeholder = auth.new_ticket_nonce()
    with session_scope(app_db) as session:
        users_repo.create_session(session=session, user_id=kim, token_hash=placeholder)
    for cookie in (f"ticket:{nonce}", nonce, f"pending:{nonce}", placeholder):
        reference = dict(
            with_session_reference(handshake([(b"cookie", f"fabrix_session={cookie}".encode())]))["headers"]
        )
        token_hash = auth.token_hash_from_header(reference[b"authorization"].decode())
        assert token_hash != placeholder
        with session_scope(app_db) as session:
            assert users_repo.get_session_user(session=session, token_hash=token_hash, idle_minutes=30) is None


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"sec-fetch-site": "same-origin"}, True),
        ({"sec-fetch-site": "cross-site"}, False),  # another site's page sends the visitor here
        ({"sec-fetch-site": "same-site"}, False),  # a sibling intranet host
        ({"sec-fetch-site": "none"}, False),  # a link in an e-mail
        ({"referer": "http://testserver/login/"}, True),  # an older browser
        ({"referer": "http://evil.example/"}, False),
        ({}, True),  # a script with its own ticket
    ],
)
def test_a_ticket_is_taken_only_from_the_apps_own_pages(app_db, kim, headers, accepted):
    response = routes_client().get(f"/auth/session?ticket={tick(app_db, kim)}", headers=headers)
    assert ("set-cookie" in response.headers) is accepted
    assert response.headers["location"] == ("/chat" if accepted else "/login")


def test_another_site_cannot_sign_a_visitor_out(app_db, kim):
    client, token_hash = signed_in_client(app_db, kim)
    response = client.get("/auth/logout", headers={"sec-fetch-site": "cross-site"})
    assert "set-cookie" not in response.headers
    assert session_alive(app_db, token_hash)


def test_a_ticket_with_a_foreign_character_is_refused_not_a_server_error(app_db, kim):
    ticket = tick(app_db, kim)
    response = routes_client().get("/auth/session", params={"ticket": ticket[:-1] + "é"})
    assert response.status_code == 303 and response.headers["location"] == "/login?signin=expired"
