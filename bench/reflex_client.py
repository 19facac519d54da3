"""A Python stand-in for the Reflex front end: the same websocket frames a browser tab sends.

Reflex 0.10's front end (.web/utils/state.js) talks Socket.IO (Engine.IO v4) over one websocket
at `/_event/?EIO=4&transport=websocket&token=<tab token>`:

- the CONNECT packet for namespace `/_event` carries the hydrate event
  (`{"event": {"name": "<root>.hydrate_and_load", "payload": {"vars": {cookies...}, "hashes": [...]},
  "router_data": {...}}, "state_schema": "..."}`);
- each user action is `42/_event,["event", {"name": "<state path>.<handler>", "payload": {...},
  "router_data": {"pathname", "asPath", "query"}}]`; a form submit sends
  `{"form": {"__reflex_form_data__": [[name, value], ...]}}`;
- the server answers with `42/_event,["event", {"delta": {substate: {var_rx_state_: value}}}]` and
  front-end-only events (`{"events": [{"name": "_redirect", ...}]}`); a redirect makes the tab
  send `update_vars_internal` (its cookies) and `on_load_internal` for the new path.

This module does the same with wsproto (installed with Reflex) on asyncio, negotiating
permessage-deflate like Chromium does, and records every frame received with its time and size.
Nothing is rendered: the time at which a delta arrives is what it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

ROOT_STATE = "reflex___state____state"
AUTH = f"{ROOT_STATE}.fabrix_chat___state___auth____auth_state"
LOGIN = f"{AUTH}.fabrix_chat___state___auth____login_state"
CHAT = f"{AUTH}.fabrix_chat___state___chat____chat_state"
UPDATE_VARS = f"{ROOT_STATE}.reflex___state____update_vars_internal_state.update_vars_internal"
ON_LOAD = f"{ROOT_STATE}.reflex___state____on_load_internal_state.on_load_internal"
HYDRATE = f"{ROOT_STATE}.hydrate_and_load"
SESSION_COOKIE = "fabrix_session"  # HttpOnly: sent in the websocket handshake, never a state var
NAMESPACE = "/_event"
FORM_KEY = "__reflex_form_data__"


def compiled_hydrate_extras(web_dir: Path) -> dict[str, Any]:
    """The state hashes and schema the compiled front end sends with its first hydrate."""
    text = (web_dir / "utils" / "context.jsx").read_text(encoding="utf-8")
    hashes = json.loads(re.search(r"initialStateHashes = (\[.*?\])", text).group(1))
    schema = re.search(r'stateSchema = "([0-9a-f]+)"', text).group(1)
    return {"hashes": hashes, "state_schema": schema}


def router_data(path: str) -> dict[str, Any]:
    data: dict[str, Any] = {"pathname": path, "asPath": path}
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[0] == "chat":
        data["query"] = {"chat_id": parts[1]}
    return data


def form(**fields: str) -> dict[str, Any]:
    """A form submit's payload argument, as encodeFormDataArgs sends it."""
    return {FORM_KEY: [[k, v] for k, v in fields.items()]}


@dataclass
class Frame:
    """One Socket.IO event frame received: when (perf_counter), its size in bytes, and its content."""

    t: float
    nbytes: int
    delta: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]

    def var(self, substate: str, name: str, default: Any = None) -> Any:
        return self.delta.get(substate, {}).get(f"{name}_rx_state_", default)

    def has(self, substate: str, name: str) -> bool:
        return f"{name}_rx_state_" in self.delta.get(substate, {})

    def redirect(self) -> str | None:
        for event in self.events:
            if event.get("name") == "_redirect":
                return str(event.get("payload", {}).get("path", ""))
        return None

    def page_load(self) -> str | None:
        """The URL of a full page load the app asks for (state/auth.go_to), e.g. a sign-in ticket."""
        for event in self.events:
            if event.get("name") == "_call_script":
                match = re.fullmatch(
                    r'window\.location\.replace\("(.*)"\)', event.get("payload", {}).get("javascript_code", "")
                )
                if match:
                    return match.group(1)
        return None


@dataclass
class _Waiter:
    predicate: Callable[[Frame], bool]
    future: asyncio.Future


@dataclass
class ReflexClient:
    """One browser tab: connect, send events, await deltas; follows redirects like the router does."""

    base_url: str
    hydrate_extras: dict[str, Any] = field(default_factory=dict)
    cookie: str = ""
    follow_redirects: bool = True
    record_frames: bool = False
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    path: str = "/login"
    frames: list[Frame] = field(default_factory=list)
    received_bytes: int = 0
    sent_bytes: int = 0
    closed: bool = False
    error: str = ""
    _ws: WSConnection | None = None
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task | None = None
    _waiters: list[_Waiter] = field(default_factory=list)
    _text_parts: list[str] = field(default_factory=list)
    _opened: asyncio.Event = field(default_factory=asyncio.Event)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    # -- connection ------------------------------------------------------------------------------

    async def connect(self, path: str = "/login", wait: float = 60) -> float:
        """Open the websocket and hydrate `path`; returns seconds until the page is hydrated."""
        self.path = path
        url = urlsplit(self.base_url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        started = time.perf_counter()
        reader, self._writer = await asyncio.open_connection(host, port)
        self._ws = WSConnection(ConnectionType.CLIENT)
        target = f"{NAMESPACE}/?EIO=4&transport=websocket&token={self.token}"
        request = Request(
            host=f"{host}:{port}",
            target=target,
            extensions=[PerMessageDeflate()],
            subprotocols=["0.10.1"],
            extra_headers=[(b"origin", self.base_url.encode()), (b"user-agent", b"fabrix-bench")]
            + ([(b"cookie", f"{SESSION_COOKIE}={self.cookie}".encode())] if self.cookie else []),
        )
        self._write(self._ws.send(request))
        self._reader_task = asyncio.create_task(self._read(reader))
        hydrated = self.expect(lambda f: f.var(ROOT_STATE, "is_hydrated") is True, wait)
        await asyncio.wait_for(self._opened.wait(), wait)
        payload: dict[str, Any] = {}
        if self.hydrate_extras.get("hashes"):
            payload["hashes"] = self.hydrate_extras["hashes"]
        auth: dict[str, Any] = {"event": {"name": HYDRATE, "payload": payload, "router_data": router_data(path)}}
        if self.hydrate_extras.get("state_schema"):
            auth["state_schema"] = self.hydrate_extras["state_schema"]
        self._send_text(f"40{NAMESPACE}," + json.dumps(auth))
        await asyncio.wait_for(self._connected.wait(), wait)
        await hydrated
        return time.perf_counter() - started

    async def close(self) -> None:
        if self._ws is not None and not self.closed:
            with contextlib.suppress(Exception):
                self._send_text(f"41{NAMESPACE},")
                self._write(self._ws.send(CloseConnection(code=1000)))
                await self._writer.drain()
        self.closed = True
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(ConnectionError("closed"))

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, name: str, payload: dict[str, Any] | None = None) -> None:
        """Send one event as the tab would, with the current page's router data."""
        event: dict[str, Any] = {"name": name}
        if payload:
            event["payload"] = payload
        event["router_data"] = router_data(self.path)
        self._send_text(f"42{NAMESPACE}," + json.dumps(["event", event], ensure_ascii=False))
        await self._writer.drain()

    async def navigate(self, path: str) -> None:
        """What the router does on a page change: run the page's on_load."""
        self.path = path
        await self.send(ON_LOAD)

    async def sign_in_with(self, url: str, wait: float = 60) -> None:
        """What the browser does with a sign-in ticket: GET /auth/session for the HttpOnly cookie,
        then load the app again (a new websocket, whose handshake carries the cookie)."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=wait) as http:
            response = await http.get(url, follow_redirects=False)
        token = response.cookies.get(SESSION_COOKIE)
        if not token:
            raise RuntimeError(f"sign-in ticket refused: {response.status_code} {response.headers.get('location')}")
        self.cookie = token
        await self.reopen(wait)

    async def reopen(self, wait: float = 60) -> None:
        """A page load of the same tab: a new websocket (with the current cookie), the same token."""
        await self.close()
        self.closed, self._ws, self._writer, self._reader_task = False, None, None, None
        self._waiters, self._text_parts = [], []
        self._opened, self._connected = asyncio.Event(), asyncio.Event()
        follow, self.follow_redirects = self.follow_redirects, False
        try:
            await self.connect("/login", wait)  # its on-load would send a signed-in tab to /chat
        finally:
            self.follow_redirects = follow

    def expect(self, predicate: Callable[[Frame], bool], timeout: float = 60) -> asyncio.Future:
        """A future resolved with the Frame of the first later update that satisfies `predicate`."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(predicate, future))

        def expire() -> None:
            if not future.done():
                future.set_exception(TimeoutError(f"no matching update within {timeout} s"))

        handle = asyncio.get_running_loop().call_later(timeout, expire)
        future.add_done_callback(lambda _f: handle.cancel())
        return future

    # -- plumbing --------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self.sent_bytes += len(data)
        self._writer.write(data)

    def _send_text(self, text: str) -> None:
        self._write(self._ws.send(TextMessage(data=text)))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                self._ws.receive_data(data)
                for event in self._ws.events():
                    if isinstance(event, AcceptConnection):
                        continue
                    if isinstance(event, RejectConnection):
                        self.error = f"websocket refused: HTTP {event.status_code}"
                        return
                    if isinstance(event, Ping):
                        self._write(self._ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        self.error = self.error or f"closed by server ({event.code})"
                        return
                    elif isinstance(event, TextMessage):
                        self._text_parts.append(event.data)
                        if event.message_finished:
                            text = "".join(self._text_parts)
                            self._text_parts.clear()
                            self._packet(text)
                    elif isinstance(event, BytesMessage):
                        continue
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.error = self.error or f"connection lost: {exc}"
        finally:
            self.closed = True
            for waiter in self._waiters:
                if not waiter.future.done():
                    waiter.future.set_exception(ConnectionError(self.error or "connection closed"))

    def _packet(self, text: str) -> None:
        now = time.perf_counter()
        nbytes = len(text.encode("utf-8"))
        self.received_bytes += nbytes
        if text == "2":  # Engine.IO ping: answer at once or the server drops us
            self._send_text("3")
            return
        if text.startswith("0"):
            self._opened.set()
            return
        if text.startswith(f"40{NAMESPACE},"):
            self._connected.set()
            return
        if text.startswith(f"44{NAMESPACE},"):
            self.error = f"connect refused: {text[:300]}"
            return
        prefix = f"42{NAMESPACE},"
        if not text.startswith(prefix):
            return
        name, *args = json.loads(text[len(prefix) :])
        if name == "new_token" and args:
            self.token = str(args[0])
            return
        if name != "event" or not args or not isinstance(args[0], dict):
            return
        update = args[0]
        frame = Frame(t=now, nbytes=nbytes, delta=update.get("delta") or {}, events=update.get("events") or [])
        if self.record_frames:
            self.frames.append(frame)
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
            elif waiter.predicate(frame):
                waiter.future.set_result(frame)
                self._waiters.remove(waiter)
        target = frame.redirect()
        if target and self.follow_redirects:
            task = asyncio.create_task(self.navigate(target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
