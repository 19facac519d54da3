"""The FabriX emulator for benchmarks: `python -m fabrix_chat.emulator` plus a timing log.

Run: `python bench/emulator.py --port N` (latency 0 by default). It serves exactly the app of
fabrix_chat/emulator/ (`create_app(latency=0)`), wrapped in an ASGI middleware that
notes, for every ask, the wall-clock time (time.time(), the same clock the browser's
performance.timeOrigin + now() and the benchmark drivers use) when the request arrived, when the
first response byte and the first answer text left, and when the response ended, together with
the question and the answer text exactly as sent. `GET /_bench/asks` returns the log,
`DELETE /_bench/asks` clears it. Loopback only, no authentication: never expose it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import deque
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabrix_chat.emulator import create_app
from fabrix_chat.fabrix.sse import SSEDecoder, parse_payload

ASK_PATHS = ("/openapi/agent-chat/v1/agent-messages", "/openapi/agent-chat/v1/agent-messages/file")
JSON_BODY_LIMIT = 1 << 20  # a JSON ask body is kept for its question; a file body is only counted
LOG_SIZE = 2000


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

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                entry["request_bytes"] += len(chunk)
                if path.endswith("agent-messages") and len(body) < JSON_BODY_LIMIT:
                    body.extend(chunk)
                if not message.get("more_body"):
                    entry["t_body_received"] = time.time()
                    if body:
                        try:
                            contents = json.loads(body).get("contents") or []
                            entry["question"] = contents[-1] if contents else None
                        except (ValueError, AttributeError):
                            entry["question"] = None
            return message

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                now = time.time()
                if chunk and entry["t_first_byte"] is None:
                    entry["t_first_byte"] = now
                if chunk:
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
                    entry["answer"] = "".join(answer)
            await send(message)

        await self.app(scope, tee_receive, timed_send)

    async def _log_endpoint(self, scope: Scope, send: Send) -> None:
        if scope.get("method") == "DELETE":
            self.asks.clear()
            body = b"[]"
        else:
            body = json.dumps(list(self.asks), ensure_ascii=False).encode()
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
