"""The emulator's HTTP server (Starlette): the agent list, the ask and file-ask endpoints, the
control and log endpoints, and running it in a thread or from the command line."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import hmac
import itertools
import json
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fabrix_chat.emulator.answers import AGENTS, FAULT_TAG, HANGUL, demo_answer, file_answer
from fabrix_chat.emulator.wire import FAULTS, Action, DropConnection, Encoder, json_answer, parse_faults, stream_items

log = logging.getLogger(__name__)

DEMO_CLIENT_KEY = "demo-client"
DEMO_TOKEN = "demo-token"
DEMO_CLIENT_HEADER = "x-fabrix-client"
API = "/openapi/agent-chat/v1"
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)
_FIELD_LIMIT = 10 * 1024 * 1024  # a non-file form field (contents) larger than this is refused
_HEAD_BYTES = 8192
_READ_BYTES = 1024 * 1024
_MAX_FILES = 10
_MAX_FIELDS = 100


class _QuietDrop(logging.Filter):
    """Keeps the deliberate `drop` fault out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DropConnection):
                return False
            if isinstance(exc, BaseExceptionGroup):
                if any(isinstance(e, DropConnection) for e in exc.exceptions):
                    return False
            exc = exc.__cause__ or exc.__context__
        return True


@dataclass
class Upload:
    """One uploaded file as received (Starlette spools it to disk past 1 MB): its size, its lines
    and its first bytes, read once through."""

    field_name: str
    filename: str
    content_type: str
    size: int = 0
    newlines: int = 0
    last: bytes = b""
    head: bytes = b""

    @classmethod
    async def measure(cls, field_name: str, file: UploadFile) -> Upload:
        upload = cls(field_name, file.filename or "", file.content_type or "application/octet-stream")
        while chunk := await file.read(_READ_BYTES):
            upload.size += len(chunk)
            upload.newlines += chunk.count(b"\n")
            upload.last = chunk[-1:]
            if len(upload.head) < _HEAD_BYTES:
                upload.head += chunk[: _HEAD_BYTES - len(upload.head)]
        return upload

    def text_head(self) -> str | None:
        """The start of the file as text, or None for a binary file."""
        if b"\x00" in self.head:
            return None
        try:
            return codecs.getincrementaldecoder("utf-8")().decode(self.head)
        except UnicodeDecodeError:
            return None

    def lines(self) -> int:
        return self.newlines + (1 if self.size and self.last != b"\n" else 0)

    def describe(self) -> dict[str, Any]:
        return {
            "field": self.field_name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
        }


class _BadUpload(Exception):
    """The multipart body cannot be read."""


async def _read_form(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The multipart body, parsed by Starlette's form parser: its text fields (each at most
    _FIELD_LIMIT bytes) and its files, measured; the spooled files are gone when this returns."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _BadUpload("expected multipart/form-data with a boundary")
    try:
        form = await request.form(max_files=_MAX_FILES, max_fields=_MAX_FIELDS, max_part_size=_FIELD_LIMIT)
    except (MultiPartException, HTTPException) as exc:
        raise _BadUpload(f"invalid multipart body: {getattr(exc, 'detail', None) or exc}") from exc
    try:
        fields: dict[str, str] = {}
        uploads: list[Upload] = []
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields[name] = value
            else:
                uploads.append(await Upload.measure(name, value))
        return fields, uploads
    finally:
        await form.close()


def _mask(name: str, value: str, secret_headers: set[str]) -> str:
    if name == "x-openapi-token":
        prefixes = re.match(r"^((?:bearer\s+)*)", value, re.IGNORECASE)
        return (prefixes.group(1) if prefixes else "") + "***"
    return "***" if name in secret_headers else value


class _Emulator:
    """State and endpoints of one emulator app."""

    def __init__(
        self,
        *,
        client_key: str,
        token: str,
        client_header: str,
        latency: float,
        first_byte_delay: float,
        default_faults: frozenset[str],
        slow_first_byte_delay: float,
        stall_seconds: float,
        slow_latency: float,
    ) -> None:
        self.client_key = client_key
        self.token = _BEARER.sub("", token.strip())
        self.client_header = client_header.lower()
        self.latency = latency
        self.first_byte_delay = first_byte_delay
        self.default_faults = default_faults
        self.slow_first_byte_delay = slow_first_byte_delay
        self.stall_seconds = stall_seconds
        self.slow_latency = slow_latency
        self.next_faults: frozenset[str] = frozenset()
        self.next_count = 0
        self.requests: deque[dict[str, Any]] = deque(maxlen=50)
        self.closing = False
        self._ids = itertools.count(1)

    # -- bookkeeping ----------------------------------------------------------------------------

    def record(self, request: Request, body: Any) -> dict[str, Any]:
        secret = {self.client_header, "authorization", "cookie"}
        entry = {
            "id": next(self._ids),
            "time": time.time(),
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": {k: _mask(k, v, secret) for k, v in request.headers.items()},
            "body": _trimmed(body),
            "faults": [],
            "status": None,
            "outcome": "pending",
        }
        self.requests.append(entry)
        return entry

    def authorized(self, request: Request) -> bool:
        key = request.headers.get(self.client_header, "").encode()
        token = _BEARER.sub("", request.headers.get("x-openapi-token", "").strip()).encode()
        key_ok = hmac.compare_digest(key, self.client_key.encode())
        token_ok = hmac.compare_digest(token, self.token.encode())
        return key_ok and token_ok

    def take_faults(self, question: str = "") -> frozenset[str]:
        """The faults for one request: process default + queued (counted down) + `#fault:` tags."""
        faults = set(self.default_faults)
        if self.next_count > 0:
            faults |= self.next_faults
            self.next_count -= 1
        faults |= {name for name in FAULT_TAG.findall(question) if name in FAULTS}
        return frozenset(faults)

    async def pause(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking early when the server shuts down."""
        deadline = time.monotonic() + seconds
        # Polled, not an asyncio.Event: `closing` is set from the thread that calls stop().
        while not self.closing and (left := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(0.1, left))

    @staticmethod
    def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"status": "ERROR", "responseCode": code, "message": message}, status, headers)

    def fault_response(self, faults: frozenset[str]) -> Response | None:
        """The HTTP-level fault responses that replace an answer."""
        if "unauthorized" in faults:
            return self.error(401, "R40100", "invalid client key or token")
        if "rate_limit" in faults:
            return self.error(429, "R42900", "too many requests", {"Retry-After": "2"})
        if "server_error" in faults:
            return self.error(500, "R50000", "internal server error")
        if "unavailable" in faults:
            return self.error(503, "R50300", "service unavailable", {"Retry-After": "5"})
        return None

    @staticmethod
    def finish(entry: dict[str, Any], response: Response, outcome: str = "completed") -> Response:
        entry["status"] = response.status_code
        if not isinstance(response, StreamingResponse):
            entry["outcome"] = outcome
        return response

    # -- endpoints ------------------------------------------------------------------------------

    async def agents(self, request: Request) -> Response:
        entry = self.record(request, None)
        if not self.authorized(request):
            return self.finish(entry, self.error(401, "R40100", "invalid client key or token"))
        faults = self.take_faults()
        entry["faults"] = sorted(faults)
        if (failed := self.fault_response(faults)) is not None:
            return self.finish(entry, failed)
        await self.pause(self.first_byte_delay + (self.slow_first_byte_delay if "slow_first_byte" in faults else 0))
        try:
            page = max(1, int(request.query_params.get("page", "1")))
            limit = max(1, min(1000, int(request.query_params.get("limit", "100"))))
        except ValueError:
            return self.finish(entry, self.error(400, "R40000", "page and limit must be numbers"))
        items: list[dict[str, Any]] = []
        for agent in AGENTS[(page - 1) * limit : page * limit]:
            item: dict[str, Any] = {
                "agentId": agent["agentId"],
                "label": agent["label"],
                "description": agent["description"],
            }
            if "agents_i18n" in faults:
                del item["label"]
                item["name"] = [
                    {"languageCode": "ko", "content": agent["label_ko"]},
                    {"languageCode": "en", "content": agent["label"]},
                ]
            elif "agents_name" in faults:
                item["name"] = item.pop("label")
            items.append(item)
        body: Any = items if "agents_list" in faults else {"items": items, "total": len(AGENTS)}
        return self.finish(entry, JSONResponse(body))

    async def ask(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        entry = self.record(request, body)
        if not self.authorized(request):
            return self.finish(entry, self.error(401, "R40100", "invalid client key or token"))
        if not isinstance(body, dict):
            return self.finish(entry, self.error(400, "R40000", "the body must be a JSON object"))
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents or not all(isinstance(c, str) for c in contents):
            return self.finish(entry, self.error(400, "R40000", "contents must be a non-empty list of strings"))
        return await self.respond(entry, body.get("agentId"), contents[-1], _truthy(body.get("isStream")), None)

    async def ask_file(self, request: Request) -> Response:
        try:
            fields, uploads = await _read_form(request)
        except _BadUpload as exc:
            entry = self.record(request, None)
            return self.finish(entry, self.error(400, "R40000", str(exc)))
        entry = self.record(request, {"fields": fields, "files": [u.describe() for u in uploads]})
        if not self.authorized(request):
            return self.finish(entry, self.error(401, "R40100", "invalid client key or token"))
        if not uploads:
            return self.finish(entry, self.error(400, "R40000", "no file in the request"))
        raw = fields.get("contents", "")
        question = raw
        if raw.lstrip().startswith("["):
            try:
                turns = json.loads(raw)
                question = turns[-1] if isinstance(turns, list) and turns and isinstance(turns[-1], str) else ""
            except ValueError:
                question = raw
        return await self.respond(entry, fields.get("agentId"), question, _truthy(fields.get("isStream")), uploads[0])

    async def respond(
        self, entry: dict[str, Any], agent_id: Any, question: str, stream: bool, upload: Upload | None
    ) -> Response:
        """Everything after the request was read: agent check, faults, then the answer."""
        agent = next((a for a in AGENTS if a["agentId"] == agent_id), None)
        if agent is None:
            return self.finish(entry, self.error(404, "R40400", f"agent {agent_id!r} not found"))
        if not question.strip():
            return self.finish(entry, self.error(400, "R40000", "the question must not be empty"))
        faults = self.take_faults(question)
        entry["faults"] = sorted(faults)
        if (failed := self.fault_response(faults)) is not None:
            return self.finish(entry, failed)
        await self.pause(self.first_byte_delay + (self.slow_first_byte_delay if "slow_first_byte" in faults else 0))
        if upload is not None:
            answer = file_answer(question, upload, agent)
        else:
            answer = demo_answer(
                question,
                agent,
                long="long" in faults or "medium" in faults,
                html="html" in faults,
                target_bytes=100_000 if "long" in faults else 20_000,
            )
        if not stream or "json" in faults:
            if "stall" in faults:
                entry["outcome"] = "stalled"
                await self.pause(self.stall_seconds)
            return self.finish(entry, JSONResponse(json_answer(answer, faults)))
        korean = bool(HANGUL.search(question))
        items = stream_items(answer, faults, korean)
        # No charset on purpose: FabriX does not always send one, and clients must assume UTF-8.
        headers = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}
        return self.finish(entry, StreamingResponse(self.stream(items, faults, entry), headers=headers))

    async def stream(
        self, items: Sequence[dict[str, Any] | str | Action], faults: frozenset[str], entry: dict[str, Any]
    ) -> AsyncIterator[bytes]:
        encoder = Encoder(faults)
        latency = self.slow_latency if "slow" in faults else self.latency
        try:
            for n, item in enumerate(items):
                if isinstance(item, Action):
                    if item.kind == "drop":
                        entry["outcome"] = "dropped"
                        raise DropConnection
                    entry["outcome"] = "stalled"
                    await self.pause(self.stall_seconds)
                    return
                if n and latency > 0:
                    await asyncio.sleep(latency)
                data = encoder.encode(item)
                if "split_utf8" in faults:
                    for i in range(len(data)):
                        yield data[i : i + 1]
                        if data[i] >= 0xC0:  # a lead byte: let this half-character leave alone
                            await asyncio.sleep(0.001)
                else:
                    yield data
            entry["outcome"] = "completed"
        except asyncio.CancelledError:
            entry["outcome"] = "disconnected"
            raise

    async def faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                names = parse_faults(body.get("fault"))
                count = int(body.get("count", 1))
            except (ValueError, AttributeError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
            self.next_faults, self.next_count = names, count if names else 0
        return JSONResponse(
            {
                "default": sorted(self.default_faults),
                "next": sorted(self.next_faults) if self.next_count else [],
                "count": self.next_count,
                "known": FAULTS,
            }
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "fabrix-emulator", "agents": len(AGENTS)})

    async def request_log(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.requests.clear()
        return JSONResponse(list(self.requests))


def _trimmed(value: Any, limit: int = 2000) -> Any:
    """A copy of a request body for the log, long strings cut so 50 logged requests stay small."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}…(+{len(value) - limit} chars)"
    if isinstance(value, list):
        return [_trimmed(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _trimmed(v, limit) for k, v in value.items()}
    return value


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def create_app(
    *,
    client_key: str = DEMO_CLIENT_KEY,
    token: str = DEMO_TOKEN,
    client_header: str = DEMO_CLIENT_HEADER,
    latency: float = 0.05,
    first_byte_delay: float = 0.0,
    default_fault: str | None = None,
    slow_first_byte_delay: float = 3.0,
    stall_seconds: float = 120.0,
    slow_latency: float = 0.3,
) -> Starlette:
    """The emulator app. `latency` is the pause between stream events (0 for benchmarks).

    `default_fault` may name several faults ("camelcase crlf"). Uploads are received as a real
    server receives them (spooled to a temporary file past 1 MB) and measured. The other delays
    tune the `slow_first_byte`, `stall` and `slow` faults.
    """
    emulator = _Emulator(
        client_key=client_key,
        token=token,
        client_header=client_header,
        latency=latency,
        first_byte_delay=first_byte_delay,
        default_faults=parse_faults(default_fault),
        slow_first_byte_delay=slow_first_byte_delay,
        stall_seconds=stall_seconds,
        slow_latency=slow_latency,
    )
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrop) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_QuietDrop())
    routes = [
        Route(f"{API}/agents", emulator.agents, methods=["GET"]),
        Route(f"{API}/agent-messages", emulator.ask, methods=["POST"]),
        Route(f"{API}/agent-messages/file", emulator.ask_file, methods=["POST"]),
        Route("/_emulator/faults", emulator.faults, methods=["GET", "POST"]),
        Route("/_emulator/health", emulator.health, methods=["GET"]),
        Route("/_emulator/requests", emulator.request_log, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.emulator = emulator
    return app


# ---------------------------------------------------------------------------------------------
# Running it


@dataclass
class EmulatorHandle:
    """A running emulator thread: `base_url` to call it, `stop()` to end it."""

    base_url: str
    host: str
    port: int
    client_key: str
    token: str
    client_header: str
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _emulator: _Emulator = field(repr=False)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (stalled streams end at once) and wait for the thread."""
        self._emulator.closing = True
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(*, host: str = "127.0.0.1", port: int = 0, **create_app_kwargs: Any) -> EmulatorHandle:
    """Serve the emulator from a daemon thread (own event loop); port 0 picks a free port.

    Returns once the server accepts connections. Logging is left as the caller configured it.
    """
    app = create_app(**create_app_kwargs)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name != "nt":  # on Windows SO_REUSEADDR would let another process share the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level=None, lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fabrix-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the FabriX emulator did not start")
        time.sleep(0.01)
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    return EmulatorHandle(
        base_url=f"http://{url_host}:{bound_port}",
        host=host,
        port=bound_port,
        client_key=create_app_kwargs.get("client_key", DEMO_CLIENT_KEY),
        token=create_app_kwargs.get("token", DEMO_TOKEN),
        client_header=create_app_kwargs.get("client_header", DEMO_CLIENT_HEADER),
        _server=server,
        _thread=thread,
        _emulator=app.state.emulator,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: serve the emulator until Ctrl+C."""
    parser = argparse.ArgumentParser(
        prog="python -m fabrix_chat.emulator",
        description="The demo/test FabriX agent API.",
        epilog="faults: " + ", ".join(sorted(FAULTS)),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds between stream events (0: none)")
    parser.add_argument("--first-byte-delay", type=float, default=0.0, help="seconds before every answer starts")
    parser.add_argument("--fault", action="append", default=[], help="a fault for every request (repeatable)")
    parser.add_argument("--client-key", default=DEMO_CLIENT_KEY, help="accepted client key")
    parser.add_argument("--token", default=DEMO_TOKEN, help="accepted openapi token")
    parser.add_argument("--client-header", default=DEMO_CLIENT_HEADER, help="name of the client key header")
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.fault)
    except ValueError as exc:
        parser.error(str(exc))
    app = create_app(
        client_key=args.client_key,
        token=args.token,
        client_header=args.client_header,
        latency=args.latency,
        first_byte_delay=args.first_byte_delay,
        default_fault=" ".join(sorted(faults)) or None,
    )
    demo = args.client_key == DEMO_CLIENT_KEY and args.token == DEMO_TOKEN
    keys = f"client key {DEMO_CLIENT_KEY!r}, token {DEMO_TOKEN!r}" if demo else "the keys given on the command line"
    print(f"FabriX emulator: http://{args.host}:{args.port}{API} ({args.client_header}: {keys})", flush=True)
    if faults:
        print(f"faults on every request: {', '.join(sorted(faults))}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
