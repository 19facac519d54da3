"""Security headers, the websocket origin rule and /health, on a small Starlette app."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from fabrix_chat.web import SecurityMiddleware, cache_control, origin_allowed


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
    ("origin", "host", "allowed"),
    [
        ("", "chat.intra:3000", True),  # not a browser
        ("http://chat.intra:3000", "chat.intra:3000", True),
        ("http://localhost:3000", "localhost:8000", True),  # dev mode: page and back end on two ports
        ("http://evil.example", "chat.intra:3000", False),
        ("http://chat.intra.evil.example", "chat.intra", False),
        ("null", "chat.intra", False),
    ],
)
def test_origin_rule(origin, host, allowed):
    assert origin_allowed(origin, host) is allowed


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
