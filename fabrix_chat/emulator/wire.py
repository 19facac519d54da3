"""The wire format of FabriX answers (FABRIX_API.md) and the faults that bend it: which events a
stream carries, how each is encoded, and the non-streaming JSON form."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fabrix_chat.emulator.answers import deltas

FAULTS: dict[str, str] = {
    "camelcase": "camelCase field names (eventStatus, finishReason, ...)",
    "crlf": "CRLF line endings",
    "no_done": "no data: [DONE] at the end",
    "no_finish": "no finish_reason event (with no_done: the stream ends only at end of connection)",
    "split_utf8": "bytes written one at a time, split inside multi-byte characters",
    "status": "extra STATUS events in the middle of the answer",
    "stream_error": 'in-stream {"status": "ERROR", "eventData": "quota exceeded"} after a few chunks',
    "error_key": 'in-stream {"error": {...}} after a few chunks',
    "drop": "connection closed mid-stream after a few chunks",
    "rate_limit": "HTTP 429 with Retry-After: 2",
    "server_error": "HTTP 500",
    "unavailable": "HTTP 503",
    "slow_first_byte": "a delay before the first byte (3 s unless configured)",
    "stall": "a few chunks, then nothing for a long time (120 s unless configured)",
    "filter": "content filter block (FR-403) with message/ko/en",
    "long": "a very long answer (about 100 KB)",
    "medium": "a long answer (about 20 KB)",
    "legacy": 'bare {"content": ...} events without event_status',
    "typed": '{"type": "start"|"content"|"end", ...} events',
    "references": "content null, the text in contentReferences[].answer",
    "no_space": "data: lines without a space after the colon",
    "comments": ": keep-alive comments and event:/id:/retry: lines",
    "multiline": "each JSON event spread over several data: lines",
    "json": "a non-streaming JSON answer although isStream was true",
    "unauthorized": "HTTP 401",
    "html": "raw HTML and <script> in the answer",
    "slow": "slow chunks (0.3 s apart) so a browser test can press Stop",
    "agents_name": "agent list with name instead of label",
    "agents_list": "agent list as a bare JSON list",
    "agents_i18n": 'agent list with name as [{"languageCode", "content"}]',
}

_CAMEL = {
    "event_status": "eventStatus",
    "finish_reason": "finishReason",
    "filter_block_reason": "filterBlockReason",
    "content_references": "contentReferences",
}
_ALLOWED = {"result_code": "FR-200", "message": "allowed"}
_BLOCKED = {
    "result_code": "FR-403",
    "message": "This request was blocked by the content filter (demo).",
    "en": "This request was blocked by the content filter (demo).",
    "ko": "콘텐츠 필터에 의해 차단된 요청입니다 (데모).",
}


def parse_faults(value: str | Iterable[str] | None) -> frozenset[str]:
    """Fault names from "a b", "a,b" or a list; raises ValueError naming any unknown one."""
    if value is None:
        return frozenset()
    words = value.replace(",", " ").split() if isinstance(value, str) else [w for v in value for w in str(v).split()]
    unknown = sorted(set(words) - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown fault {', '.join(unknown)}; known: {', '.join(sorted(FAULTS))}")
    return frozenset(words)


class DropConnection(Exception):
    """Raised inside a response stream to make the server cut the connection (the `drop` fault)."""


@dataclass(frozen=True)
class Action:
    """A non-data step of a stream: `drop` or `stall`."""

    kind: str


class Encoder:
    """Serialises events as SSE bytes in the wire variant the faults ask for."""

    def __init__(self, faults: frozenset[str]) -> None:
        self.faults = faults
        self.eol = "\r\n" if "crlf" in faults else "\n"
        self.prefix = "data:" if "no_space" in faults else "data: "
        self.count = 0

    def encode(self, item: dict[str, Any] | str) -> bytes:
        if isinstance(item, str):
            lines = [item]
        else:
            obj = {_CAMEL.get(k, k): v for k, v in item.items()} if "camelcase" in self.faults else item
            text = json.dumps(obj, ensure_ascii=False, indent=1 if "multiline" in self.faults else None)
            lines = text.split("\n")
        out: list[str] = []
        if "comments" in self.faults:
            self.count += 1
            if self.count == 1:
                out.append("retry: 3000")
            out += [": keep-alive", "event: message", f"id: {self.count}"]
        out += [self.prefix + line for line in lines]
        return (self.eol.join(out) + self.eol + self.eol).encode("utf-8")


def stream_items(answer: str, faults: frozenset[str], korean: bool) -> list[dict[str, Any] | str | Action]:
    """The events of one streamed answer, with the content-level faults applied."""
    legacy, typed = "legacy" in faults, "typed" in faults
    items: list[dict[str, Any] | str | Action] = []

    def add(status: str, content: str | None, type_: str = "content", **extra: Any) -> None:
        if legacy:
            if status == "STATUS":
                return  # old gateways had no progress events
            obj: dict[str, Any] = {"content": content}
        elif typed:
            obj = {"type": "status" if status == "STATUS" else type_, "content": content}
        else:
            obj = {"event_status": status, "content": content}
        obj.update(extra)
        items.append(obj)

    def finish() -> list[dict[str, Any] | str | Action]:
        if "no_done" not in faults:
            items.append("[DONE]")
        return items

    if typed:
        add("CHUNK", None, "start")
    add("STATUS", "문서를 검색하는 중..." if korean else "Searching documents...")
    add("STATUS", "답변을 작성하는 중..." if korean else "Writing the answer...")
    if "filter" in faults:
        add("CHUNK", None, filter_block_reason=dict(_BLOCKED))
        return finish()
    if "references" in faults:
        refs = [{"answer": answer, "title": "Demo knowledge base", "url": "https://fabrix.example/kb/1"}]
        add("CHUNK", None, content_references=refs)
    else:
        for i, delta in enumerate(deltas(answer)):
            if i == 3:
                if "stream_error" in faults:
                    items.append({"status": "ERROR", "eventData": "quota exceeded"})
                    return items
                if "error_key" in faults:
                    items.append({"error": {"code": "E500", "message": "the model backend failed"}})
                    return items
                if "drop" in faults or "stall" in faults:
                    items.append(Action("drop" if "drop" in faults else "stall"))
                    return items
            if "status" in faults and i and i % 8 == 0:
                add("STATUS", f"출처 {i // 8} 확인 중..." if korean else f"Checking source {i // 8}...")
            add("CHUNK", delta)
    if "no_finish" not in faults:
        add("CHUNK", "", "end", finish_reason="stop", filter_block_reason=dict(_ALLOWED))
    return finish()


def json_answer(answer: str, faults: frozenset[str]) -> dict[str, Any]:
    """A non-streaming answer body (HTTP 200 even for the error faults, as FabriX does)."""
    if "stream_error" in faults:
        return {"status": "ERROR", "responseCode": "R40000", "eventData": "quota exceeded", "content": None}
    if "error_key" in faults:
        return {"error": {"code": "E500", "message": "the model backend failed"}}
    body: dict[str, Any] = {
        "status": "SUCCESS",
        "responseCode": "R20000",
        "content": answer,
        "plugins": ["LLM"],
        "contentReferences": [],
        "filterBlockReason": dict(_ALLOWED),
    }
    if "filter" in faults:
        body.update(content=None, filterBlockReason=dict(_BLOCKED))
    elif "references" in faults:
        body.update(content=None, contentReferences=[{"answer": answer, "title": "Demo knowledge base"}])
    return body
