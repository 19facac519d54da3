"""The FabriX answer reader: SSE decoding and the event rules of FABRIX_API.md, as pure logic.

`SSEDecoder` turns bytes into `data:` payloads, `parse_payload` turns one payload into
`StreamEvent`s (or raises a `FabrixError`), `iter_events` chains both over a byte stream, and
`parse_json_answer` reads a non-streaming JSON answer by the same rules.

Decision: a payload that is not JSON (other than `[DONE]`) is a `FabrixBadResponse`; FabriX always
sends one JSON object per event, so plain text means something between us and FabriX is broken.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from fabrix_chat.fabrix.errors import (
    FabrixBadResponse,
    FabrixContentFiltered,
    FabrixError,
    FabrixUpstreamError,
)

ALLOWED_FILTER_CODES = frozenset({"FR-200", "FR-201"})
_TYPED_CONTENT = frozenset({"start", "content", "end"})
_EOL = re.compile(r"[\r\n]")
_MAX_REASON = 300


@dataclass(frozen=True)
class StreamEvent:
    """One thing the reader learnt: answer text (`chunk`), progress text (`status`), or the end."""

    kind: Literal["chunk", "status", "done"]
    text: str = ""
    finish_reason: str | None = None


class SSEDecoder:
    """Incremental Server-Sent Events decoder: feed bytes, get complete `data:` payloads."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._data: list[str] = []
        self._started = False

    def feed(self, data: bytes) -> list[str]:
        """Add bytes (split anywhere); return the payloads of the events they completed."""
        return self._consume(self._utf8.decode(data), final=False)

    def flush(self) -> list[str]:
        """End of connection: return the last event even without its trailing blank line."""
        out = self._consume(self._utf8.decode(b"", final=True), final=True)
        if self._buf:
            self._line(self._buf, out)
            self._buf = ""
        self._dispatch(out)
        return out

    def _consume(self, text: str, *, final: bool) -> list[str]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        buf = self._buf + text
        out: list[str] = []
        pos = 0
        while (m := _EOL.search(buf, pos)) is not None:
            i = m.start()
            if buf[i] == "\r":
                if i + 1 == len(buf) and not final:
                    break  # maybe the first half of a CRLF split across two reads
                end = i + 2 if buf.startswith("\n", i + 1) else i + 1
            else:
                end = i + 1
            self._line(buf[pos:i], out)
            pos = end
        self._buf = buf[pos:]
        return out

    def _line(self, line: str, out: list[str]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line.startswith(":"):
            return  # comment / keep-alive
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        # event:, id:, retry: and unknown fields carry nothing the answer needs.

    def _dispatch(self, out: list[str]) -> None:
        if self._data:
            out.append("\n".join(self._data))
            self._data = []


def _field(obj: dict[str, Any], *names: str) -> Any:
    """The first of `names` present with a non-None value (snake_case / camelCase variants)."""
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None


def _short(value: Any) -> str:
    """A one-line, bounded text for error details."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "…"


def reference_text(obj: dict[str, Any]) -> str:
    """The answer text carried in `contentReferences[].answer` (RAG plug-ins), or ""."""
    refs = _field(obj, "contentReferences", "content_references")
    if not isinstance(refs, list):
        return ""
    answers = [ref["answer"] for ref in refs if isinstance(ref, dict) and isinstance(ref.get("answer"), str)]
    return "\n\n".join(a for a in answers if a)


def check_errors(obj: dict[str, Any]) -> None:
    """Raise the FabrixError an object describes: content filter, `error` key, status != SUCCESS."""
    reason = _field(obj, "filterBlockReason", "filter_block_reason")
    if reason is not None:
        _check_filter(reason)
    error = obj.get("error")
    if error not in (None, "", {}, False):
        if isinstance(error, dict):
            text = _field(error, "message", "detail", "code") or error
        else:
            text = error
        raise FabrixUpstreamError(detail=f"FabriX error: {_short(text)}")
    status = obj.get("status")
    code = _field(obj, "responseCode", "response_code")
    status_bad = isinstance(status, str) and status.upper() != "SUCCESS"
    code_bad = isinstance(code, str) and code.upper().startswith(("R4", "R5"))
    if status_bad or code_bad:
        text = _field(obj, "eventData", "event_data", "message", "responseMessage", "content") or "no reason given"
        label = " ".join(str(part) for part in (status, code) if part)
        raise FabrixUpstreamError(detail=f"FabriX status {label}: {_short(text)}")


def _check_filter(reason: Any) -> None:
    if isinstance(reason, str):
        reason = {"result_code": reason}
    if not isinstance(reason, dict) or not reason:
        return
    code = _field(reason, "result_code", "resultCode", "code")
    if isinstance(code, str) and code.strip().upper() in ALLOWED_FILTER_CODES:
        return
    if not isinstance(code, str) or not code.strip():
        return  # no result code: nothing says the content was blocked, so keep it
    texts = {k: v for k in ("message", "en", "ko") if isinstance(v := reason.get(k), str) and v.strip()}
    message = texts.get("message") or texts.get("en") or texts.get("ko")
    raise FabrixContentFiltered(message, detail=f"content filter {code}: {_short(message or '')}", texts=texts)


def parse_payload(payload: str) -> list[StreamEvent]:
    """One `data:` payload -> the events it carries; raises FabrixError for error/filter events."""
    text = payload.strip()
    if not text:
        return []
    if text == "[DONE]":
        return [StreamEvent("done")]
    try:
        obj = json.loads(text)
    except ValueError:
        raise FabrixBadResponse(detail=f"stream event is not JSON: {_short(text)}") from None
    if not isinstance(obj, dict):
        raise FabrixBadResponse(detail=f"stream event is not a JSON object: {_short(text)}")
    check_errors(obj)

    events: list[StreamEvent] = []
    content = obj.get("content")
    body = content if isinstance(content, str) and content else reference_text(obj)
    event_status = _field(obj, "event_status", "eventStatus")
    kind = obj.get("type")
    if event_status is not None:
        if str(event_status).upper() == "ERROR":
            text = _field(obj, "eventData", "event_data", "message", "content") or "no reason given"
            raise FabrixUpstreamError(detail=f"FabriX error event: {_short(text)}")
        append = str(event_status).upper() == "CHUNK"
        progress = str(event_status).upper() == "STATUS"
    elif isinstance(kind, str):
        append = kind.lower() in _TYPED_CONTENT
        progress = kind.lower() == "status"
    else:
        append, progress = True, False  # older gateways: bare {"content": ...}
    if append and body:
        events.append(StreamEvent("chunk", body))
    elif progress and isinstance(content, str) and content.strip():
        events.append(StreamEvent("status", content.strip()))

    finish = _field(obj, "finish_reason", "finishReason")
    if finish not in (None, ""):
        events.append(StreamEvent("done", finish_reason=str(finish)))
    return events


async def iter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[StreamEvent]:
    """Decode and parse a byte stream; stop after the first `done`, or at EOF without one.

    An error raised after answer text was yielded carries `received_any=True`.
    """
    decoder = SSEDecoder()
    received_any = False

    def parse(payload: str) -> list[StreamEvent]:
        try:
            return parse_payload(payload)
        except FabrixError as exc:
            exc.received_any = exc.received_any or received_any
            raise

    async for data in chunks:
        for payload in decoder.feed(data):
            for event in parse(payload):
                received_any = received_any or event.kind == "chunk"
                yield event
                if event.kind == "done":
                    return
    for payload in decoder.flush():
        for event in parse(payload):
            received_any = received_any or event.kind == "chunk"
            yield event
            if event.kind == "done":
                return


def parse_json_answer(data: bytes | str) -> str:
    """A non-streaming JSON answer -> its text (`content`, else `contentReferences[].answer`).

    `status` ERROR / `responseCode` R4xxxx is an error even with HTTP 200.
    """
    try:
        obj = json.loads(data)
    except ValueError:
        raw = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        raise FabrixBadResponse(detail=f"answer is not JSON: {_short(raw)}") from None
    if not isinstance(obj, dict):
        raise FabrixBadResponse(detail=f"answer is not a JSON object: {_short(obj)}")
    check_errors(obj)
    content = obj.get("content")
    if isinstance(content, str) and content:
        return content
    refs = reference_text(obj)
    if refs:
        return refs
    if "content" not in obj and not any(k in obj for k in ("contentReferences", "content_references")):
        raise FabrixBadResponse(detail=f"answer has no content: {_short(obj)}")
    return ""
