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
  send `update_vars_internal` (its cookies) and `on_load_internal` for the new path. Reflex 0.10
  sends a delta only when some var changed: an event that changes nothing sends no frame at all.

The chat page's streamed answers are not state vars: state/live_answer.py pushes each batch as a
`_call_script` event whose JavaScript feeds the page's buffer (assets/chat.js):
`window.fabrixLive&&fabrixLive.push(id, first, last, "added text", status)` (part 1 starts an answer)
per batch (parts numbered from 1), `...reset(id, part, "whole text", status, done)` after a
`resync` (a reload, a new chat's redirect, a missed batch). Then a delta sets
LiveAnswerState.streaming false and appends the answer to ConversationState.added with `live: true`,
empty content (the page keeps its own copy) and `parts`, the number of batches it was sent. `LiveBuffer` below mirrors
fabrixLive, so a client knows the text it was shown, and asks for `resync` as the page does when a
batch is missing.

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
# The chat page's states: ChatState (base) and its substates (state/chat.py). These are the
# values of <State>.get_full_name(), spelled out so the drivers need not import the app.
CHAT = f"{AUTH}.fabrix_chat___state___chat____chat_state"
CONVERSATION = f"{CHAT}.fabrix_chat___state___conversation____conversation_state"
PAGE = f"{CHAT}.fabrix_chat___state___conversation____message_page_state"
LIVE = f"{CHAT}.fabrix_chat___state___live_answer____live_answer_state"
SIDEBAR = f"{CHAT}.fabrix_chat___state___sidebar____sidebar_state"
AGENTS = f"{CHAT}.fabrix_chat___state___agents____agent_state"
COMPOSER = f"{CHAT}.fabrix_chat___state___composer____composer_state"
LOAD_PAGE = f"{CHAT}.load_page"
SEND_MESSAGE = f"{CONVERSATION}.send_message"
LOAD_AGENTS = f"{AGENTS}.load_agents"
RESYNC = f"{LIVE}.resync"
SET_SEARCH_QUERY = f"{SIDEBAR}.set_search_query"
# Page sizes of the new state (ConversationState.PAGE_SIZE, SidebarState.PAGE_SIZE).
MESSAGE_PAGE = 50
SIDEBAR_PAGE = 30
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


def ask_payload(question: str) -> dict[str, Any]:
    """ConversationState.send_message's payload for the composer form with `question` typed."""
    return {"form": form(message=question, composer_input=question)}


_LIVE_CALL = re.compile(r"window\.fabrixLive&&fabrixLive\.(push|reset)\((.*)\)", re.S)
LIVE_METHODS = ("push", "reset")


def live_call(code: str) -> tuple[str, list[Any]] | None:
    """(method, arguments) of one fabrixLive script, None for any other script.

    Every argument is a JSON literal (state/live_answer.py writes them with json.dumps), so the
    argument list parses as a JSON array.
    """
    match = _LIVE_CALL.fullmatch(code)
    if not match:
        return None
    try:
        return match.group(1), json.loads("[" + match.group(2) + "]")
    except ValueError:
        return None


@dataclass
class LiveAnswer:
    """One answer in the page's buffer, as assets/chat.js keeps it, plus what the bench counts."""

    id: int
    part: int = 0
    text: str = ""
    status: str = ""
    done: bool = False
    pushed: dict[int, str] = field(default_factory=dict)  # first part -> added text, every push received
    push_parts: list[tuple[int, int]] = field(default_factory=list)  # (first, last) of each push, in order
    frames: int = 0  # frames that carried a fabrixLive call for this answer
    nbytes: int = 0  # and their size
    gaps: int = 0  # a push or the end that did not follow the last part: the page would resync
    resets: int = 0
    end_parts: int | None = None
    t_begin: float | None = None
    t_first_text: float | None = None  # the first frame after which the buffer holds text
    t_end: float | None = None

    def pushed_text(self) -> str:
        """Every push's added text in part order: equal to the answer when no batch was lost."""
        return "".join(text for _, text in sorted(self.pushed.items()))

    def pushes_contiguous(self) -> bool:
        """The pushes cover parts 1..end_parts with no hole and no overlap."""
        expected = 1
        for first, last in sorted(self.push_parts):
            if first != expected:
                return False
            expected = last + 1
        return self.end_parts is None or expected - 1 == self.end_parts


class LiveBuffer:
    """A mirror of `window.fabrixLive` (assets/chat.js): applies begin/push/reset/end in order."""

    def __init__(self) -> None:
        self.answers: dict[int, LiveAnswer] = {}
        self.last_begun = 0

    def finish(self, message_id: int, parts: int, t: float) -> tuple[LiveAnswer, bool]:
        """The answer ended with `parts` batches (its entry in ConversationState.added); returns it
        and whether the page would ask for resync (batches missing)."""
        a = self.get(message_id)
        a.end_parts = parts
        if a.done:
            return a, False
        if a.part < parts:
            a.gaps += 1
            return a, True
        a.done, a.status, a.t_end = True, "", t
        return a, False

    def get(self, message_id: int) -> LiveAnswer:
        answer = self.answers.get(message_id)
        if answer is None:
            answer = self.answers[message_id] = LiveAnswer(id=message_id)
        return answer

    def apply(self, method: str, args: list[Any], t: float) -> tuple[LiveAnswer, bool]:
        """Apply one call; returns the answer and whether the page would now ask for resync."""
        message_id = int(args[0])
        if method == "push" and int(args[1]) == 1:
            # Part 1 starts an answer (the id of a deleted one may come back): afresh.
            self.answers[message_id] = LiveAnswer(id=message_id, t_begin=t)
            self.last_begun = message_id
        a = self.get(message_id)
        wants_resync = False
        if method == "push":
            first, last, added, status = int(args[1]), int(args[2]), str(args[3]), args[4]
            a.pushed.setdefault(first, added)
            a.push_parts.append((first, last))
            if not a.done and last > a.part:
                if first != a.part + 1:
                    a.gaps += 1
                    wants_resync = True
                else:
                    a.part = last
                    a.text += added
                    if status is not None:
                        a.status = str(status)
        elif method == "reset":
            part, text, status, done = int(args[1]), str(args[2]), str(args[3]), bool(args[4])
            a.resets += 1
            if not a.done and part >= a.part:
                a.part, a.text, a.status, a.done = part, text, status, done
                if done and a.t_end is None:
                    a.t_end = t
        if a.text and a.t_first_text is None:
            a.t_first_text = t
        return a, wants_resync


@dataclass
class Frame:
    """One Socket.IO event frame received: when (perf_counter), its size in bytes, and its content."""

    t: float
    nbytes: int
    delta: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    live: list[tuple[str, list[Any]]] = field(default_factory=list)  # its fabrixLive calls, in order

    def scripts(self) -> list[str]:
        """The JavaScript of the frame's `_call_script` events."""
        return [
            str(event.get("payload", {}).get("javascript_code", ""))
            for event in self.events
            if event.get("name") == "_call_script"
        ]

    def pushes_text(self) -> bool:
        """The frame pushes (or resets to) answer text."""
        return any((method == "push" and args[3]) or (method == "reset" and args[2]) for method, args in self.live)

    def answer_ended(self) -> bool:
        """The delta that ends this tab's answer: LiveAnswerState.streaming becomes false."""
        return self.var(LIVE, "streaming") is False

    def shows_answer_text(self) -> bool:
        """After this frame the page shows answer text: pushed text, or the finished answer."""
        return self.pushes_text() or self.answer_ended()

    def ended_answer(self) -> dict[str, Any] | None:
        """How this tab's live answer ended, when this frame ends it: LiveAnswerState's live_*
        values (the answer's entry in ConversationState.added was sent with the question; its
        text is the page's own copy). `id` is the frame's live_id when it carries one, else the
        client fills it in (ReflexClient.live_id)."""
        if not self.answer_ended():
            return None
        return {
            "id": self.var(LIVE, "live_id"),
            "live": True,
            "content": "",
            "parts": self.var(LIVE, "live_parts", 0),
            "status": self.var(LIVE, "live_status", ""),
        }

    def shows_question(self, question: str) -> bool:
        """The frame adds `question` to the page (ConversationState.added)."""
        added = self.var(CONVERSATION, "added") or []
        return any(m.get("role") == "user" and m.get("content") == question for m in added)

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
    auto_resync: bool = True  # ask for an answer's whole text when a batch is missing, as the page does
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    path: str = "/login"
    frames: list[Frame] = field(default_factory=list)
    live: LiveBuffer = field(default_factory=LiveBuffer)
    resyncs_sent: int = 0
    live_id: int = 0  # the tab's live answer, from the last LiveAnswerState.live_id seen
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
    _resync_asked: dict[int, float] = field(default_factory=dict)

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
        self.live = LiveBuffer()  # a page load empties the page's buffer
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
        frame.live = [call for code in frame.scripts() if (call := live_call(code)) is not None]
        if frame.var(LIVE, "live_id"):
            self.live_id = int(frame.var(LIVE, "live_id"))
        self._apply_live(frame)
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
            self._spawn(self.navigate(target))

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _apply_live(self, frame: Frame) -> None:
        """Feed the frame's fabrixLive calls (and an ended answer's batch count) to the buffer; ask
        for resync as assets/chat.js does."""
        counted: set[int] = set()
        calls: list[tuple[str, list[Any]]] = list(frame.live)
        ended = frame.ended_answer()
        if ended:
            ended["id"] = ended["id"] or self.live_id
            calls.append(("finish", [ended["id"], ended.get("parts", 0)]))
        for method, args in calls:
            try:
                if method == "finish":
                    answer, wants_resync = self.live.finish(int(args[0]), int(args[1]), frame.t)
                else:
                    answer, wants_resync = self.live.apply(method, args, frame.t)
            except (IndexError, TypeError, ValueError):
                continue
            if answer.id not in counted:
                counted.add(answer.id)
                answer.frames += 1
                answer.nbytes += frame.nbytes
            if wants_resync and self.auto_resync:
                # assets/chat.js: at most one request a second per answer, "id:time" so each differs.
                now = time.monotonic()
                if now - self._resync_asked.get(answer.id, -1e9) >= 1.0:
                    self._resync_asked[answer.id] = now
                    self.resyncs_sent += 1
                    self._spawn(self.send(RESYNC, {"request": f"{answer.id}:{int(time.time() * 1000)}"}))
