"""The FabriX emulator for benchmarks: `python -m fabrix_chat.emulator` plus a timing log.

Run: `python bench/emulator.py --port N` (latency 0 by default). It serves exactly the app of
fabrix_chat/emulator/ (`create_app(latency=0)`), wrapped in an ASGI middleware that
notes, for every ask, the wall-clock time (time.time(), the same clock the browser's
performance.timeOrigin + now() and the benchmark drivers use) when the request arrived, when the
first response byte and the first answer text left, and when the response ended, together with
the question and the answer text exactly as sent (a file ask's question is read from the start of
its multipart body, its JSON answer from the response). `GET /_bench/asks` returns the log
(`?since=N`: only the asks numbered above N, for a long run that reads it as it goes),
`DELETE /_bench/asks` clears it. Loopback only, no authentication: never expose it.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabrix_chat.emulator import create_app
from fabrix_chat.fabrix.sse import SSEDecoder, parse_json_answer, parse_payload

ASK_PATHS = ("/openapi/agent-chat/v1/agent-messages", "/openapi/agent-chat/v1/agent-messages/file")
JSON_BODY_LIMIT = 1 << 20  # a JSON ask body is kept for its question
FILE_HEAD_LIMIT = 64 * 1024  # of a file ask's multipart body only the start, with the form fields before the file
LOG_SIZE = 2000
# The `contents` field of a file ask (the client sends the form fields before the file).
CONTENTS_FIELD = re.compile(rb'name="contents"\r\n\r\n(.*?)\r\n--', re.S)


def _file_question(head: bytes) -> str | None:
    """The question of a file ask: its `contents` field, the last turn when it holds several."""
    match = CONTENTS_FIELD.search(head)
    if match is None:
        return None
    text = match.group(1).decode("utf-8", "replace")
    if text.lstrip().startswith("["):
        try:
            turns = json.loads(text)
            return turns[-1] if isinstance(turns, list) and turns else text
        except ValueError:
            return text
    return text


class AskTimings:
    """ASGI middleware recording the timing and the content of each ask."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.asks: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.ids = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == "/_bench/asks":
            await self._log_endpoint(scope, send)
            return
        if path not in ASK_PATHS or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        self.ids += 1
        entry: dict[str, Any] = {
            "id": self.ids,
            "path": path,
            "t_request": time.time(),
            "t_body_received": None,
            "t_first_byte": None,
            "t_first_text": None,
            "t_end": None,
            "status": None,
            "request_bytes": 0,
            "question": None,
            "answer": "",
        }
        self.asks.append(entry)
        body = bytearray()
        decoder = SSEDecoder()
        answer: list[str] = []
        is_file = path.endswith("/file")
        json_body = bytearray()
        is_json = False

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                entry["request_bytes"] += len(chunk)
                if path.endswith("agent-messages") and len(body) < JSON_BODY_LIMIT:
                    body.extend(chunk)
                elif is_file and len(body) < FILE_HEAD_LIMIT:
                    body.extend(chunk[: FILE_HEAD_LIMIT - len(body)])
                    if entry["question"] is None:
                        entry["question"] = _file_question(bytes(body))
                if not message.get("more_body"):
                    entry["t_body_received"] = time.time()
                    if body and not is_file:
                        try:
                            contents = json.loads(body).get("contents") or []
                            entry["question"] = contents[-1] if contents else None
                        except (ValueError, AttributeError):
                            entry["question"] = None
            return message

        async def timed_send(message: Message) -> None:
            nonlocal is_json
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                content_type = dict(message.get("headers") or []).get(b"content-type", b"")
                is_json = content_type.startswith(b"application/json")
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                now = time.time()
                if chunk and entry["t_first_byte"] is None:
                    entry["t_first_byte"] = now
                if is_json:  # a non-streaming answer (file asks): its text once the body is complete
                    json_body.extend(chunk)
                    if not message.get("more_body"):
                        try:
                            entry["answer"] = parse_json_answer(bytes(json_body))
                            entry["t_first_text"] = now
                        except Exception:  # an error answer: the app's own reader reports it
                            pass
                elif chunk:
                    for payload in decoder.feed(chunk):
                        try:
                            events = parse_payload(payload)
                        except Exception:  # an error event: the app's own reader reports it
                            continue
                        for event in events:
                            if event.kind == "chunk" and event.text:
                                answer.append(event.text)
                                if entry["t_first_text"] is None:
                                    entry["t_first_text"] = now
                    # Kept as it grows: a client that has read the end may close before the last
                    # (empty) body message is sent.
                    entry["answer"] = "".join(answer)
                if not message.get("more_body"):
                    entry["t_end"] = now
                    if not is_json:
                        entry["answer"] = "".join(answer)
            await send(message)

        await self.app(scope, tee_receive, timed_send)

    async def _log_endpoint(self, scope: Scope, send: Send) -> None:
        if scope.get("method") == "DELETE":
            self.asks.clear()
            body = b"[]"
        else:
            since = parse_qs(scope.get("query_string", b"").decode()).get("since", ["0"])[0]
            since = int(since) if since.isdigit() else 0
            body = json.dumps([a for a in self.asks if a["id"] > since], ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    """Serve the emulator with the timing log until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds between stream events (default 0)")
    args = parser.parse_args()
    app = AskTimings(create_app(latency=args.latency))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
