"""The demo/test FabriX: the agent API of FABRIX_API.md served by Starlette, with fault switches.

Demo mode and the tests run it in a thread (`start_in_thread()`); by hand:
`python -m fabrix_chat.emulator --port 8765 [--fault NAME] [--latency 0]`.
It accepts the demo keys (client key `demo-client`, token `demo-token`, with or without
`Bearer `) unless other keys are given, and answers with plausible markdown built from the question.

Faults (names in `FAULTS`) are chosen per request by `#fault:NAME` in the question, for the whole
process by `create_app(default_fault=...)` / `--fault`, or for the next N requests through
`POST /_emulator/faults`. `GET /_emulator/requests` shows the last requests received (secrets
masked) so tests can check what the client sent. Serve it on loopback only: the control and log
endpoints have no authentication.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import uvicorn
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fabrix_chat.units import size_label

log = logging.getLogger(__name__)

DEMO_CLIENT_KEY = "demo-client"
DEMO_TOKEN = "demo-token"
DEMO_CLIENT_HEADER = "x-fabrix-client"
API = "/openapi/agent-chat/v1"

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

AGENTS: tuple[dict[str, str], ...] = (
    {
        "agentId": "520e8dd8-3b9c-4f1e-8a6d-1c2b3d4e5f60",
        "label": "General Assistant",
        "label_ko": "일반 도우미",
        "description": "Answers everyday work questions.",
    },
    {
        "agentId": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "label": "Code Helper",
        "label_ko": "코드 도우미",
        "description": "Explains, writes and reviews code.",
    },
    {
        "agentId": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        "label": "Document Analyst",
        "label_ko": "문서 분석가",
        "description": "Summarises and compares documents.",
    },
    {
        "agentId": "3b241101-e2bb-4255-8caf-4136c566a962",
        "label": "한국어 비서",
        "label_ko": "한국어 비서",
        "description": "한국어로 답하는 업무 비서입니다.",
    },
)

_FAULT_TAG = re.compile(r"#fault:([A-Za-z0-9_]+)")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)
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
_FIELD_LIMIT = 10 * 1024 * 1024  # a non-file form field (contents) larger than this is refused
_HEAD_BYTES = 8192


def parse_faults(value: str | Iterable[str] | None) -> frozenset[str]:
    """Fault names from "a b", "a,b" or a list; raises ValueError naming any unknown one."""
    if value is None:
        return frozenset()
    words = value.replace(",", " ").split() if isinstance(value, str) else [w for v in value for w in str(v).split()]
    unknown = sorted(set(words) - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown fault {', '.join(unknown)}; known: {', '.join(sorted(FAULTS))}")
    return frozenset(words)


class _DropConnection(Exception):
    """Raised inside a response stream to make the server cut the connection (the `drop` fault)."""


class _QuietDrop(logging.Filter):
    """Keeps the deliberate `drop` fault out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, _DropConnection):
                return False
            if isinstance(exc, BaseExceptionGroup):
                if any(isinstance(e, _DropConnection) for e in exc.exceptions):
                    return False
            exc = exc.__cause__ or exc.__context__
        return True


# ---------------------------------------------------------------------------------------------
# Answers


def _clean_question(question: str) -> str:
    return " ".join(_FAULT_TAG.sub("", question).split())


def _keywords(question: str) -> list[str]:
    words = re.findall(r"[0-9A-Za-z\uac00-\ud7a3_]{2,}", question)
    seen: list[str] = []
    for word in words:
        if (len(word) >= 4 or _HANGUL.search(word)) and word.lower() not in {w.lower() for w in seen}:
            seen.append(word)
    return seen[:4]


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside `text`."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def demo_answer(
    question: str, agent: dict[str, str], *, long: bool = False, html: bool = False, target_bytes: int = 100_000
) -> str:
    """A deterministic markdown answer about `question`: heading, list, table and a code block."""
    q = _clean_question(question) or "(empty)"
    korean = bool(_HANGUL.search(q))
    digest = int(hashlib.sha256(f"{agent['agentId']}|{q}".encode()).hexdigest(), 16)
    keywords = _keywords(q) or ["topic"]
    topic = q if len(q) <= 60 else q[:57] + "..."
    shown = q if len(q) <= 200 else q[:197] + "..."
    name = agent["label_ko"] if korean else agent["label"]
    code = (
        f"QUESTION = {shown!r}\n\n\n"
        "def summarize(text: str, limit: int = 80) -> str:\n"
        '    """Return the first sentence, trimmed to `limit` characters."""\n'
        '    first = text.split(".")[0].strip()\n'
        '    return first if len(first) <= limit else first[: limit - 1] + "…"\n\n\n'
        "print(summarize(QUESTION))\n"
    )
    if korean:
        intros = ("좋은 질문입니다.", "질문을 정리해 보면 다음과 같습니다.", "핵심부터 말씀드리겠습니다.")
        points = (
            f"**{keywords[0]}**: 먼저 목적과 범위를 분명히 정하세요.",
            f"**{keywords[-1]}**: 관련 자료와 담당자를 확인하세요.",
            "작은 단위로 나누어 진행하고 결과를 기록하세요.",
            "결정 사항은 팀과 공유하고 다음 단계를 정하세요.",
        )
        parts = [
            f"## {topic}",
            "",
            f'{intros[digest % len(intros)]} **{name}**가 "{shown}"에 대해 답변드립니다 (데모 에뮬레이터 응답).',
            "",
            "### 요점",
            "",
            *[f"{i}. {p}" for i, p in enumerate(points[digest % 2 :], 1)],
            "",
            "| 항목 | 내용 |",
            "| --- | --- |",
            f"| 질문 길이 | {len(q)}자 |",
            f"| 키워드 | {', '.join(keywords)} |",
            f"| 에이전트 | {name} |",
            "",
            "```python",
            code.rstrip("\n"),
            "```",
            "",
            "> 데모 모드입니다. 실제 답변을 받으려면 secrets.toml에 FabriX 키를 설정하세요 ✓",
        ]
    else:
        intros = ("Good question.", "Here is a short overview.", "Let's break this down.")
        points = (
            f"**{keywords[0].capitalize()}**: start by stating the goal and the scope.",
            f"**{keywords[-1].capitalize()}**: check the related documents and owners.",
            "Work in small steps and write down each result.",
            "Share the decisions with the team → agree on the next step.",
        )
        parts = [
            f"## {topic}",
            "",
            f'{intros[digest % len(intros)]} **{name}** answers "{shown}" (a demo answer from the emulator).',
            "",
            "### Key points",
            "",
            *[f"{i}. {p}" for i, p in enumerate(points[digest % 2 :], 1)],
            "",
            "| Aspect | Notes |",
            "| --- | --- |",
            f"| Question length | {len(q)} characters |",
            f"| Keywords | {', '.join(keywords)} |",
            f"| Agent | {name} |",
            "",
            "```python",
            code.rstrip("\n"),
            "```",
            "",
            "> Demo mode: set FabriX credentials in secrets.toml for real answers ✓",
        ]
    if html:
        parts += [
            "",
            'Raw HTML test: <script>alert("fabrix-xss")</script> <img src="x" onerror="alert(\'fabrix-img\')">',
            '<b>not bold</b> <iframe src="https://example.com/"></iframe> <a href="javascript:alert(1)">link</a>',
        ]
    text = "\n".join(parts)
    if long:
        sections = [text]
        size = len(text.encode())
        for n in itertools.count(1):
            if size >= target_bytes:
                break
            heading = f"\n\n### {'상세 설명' if korean else 'Details'} {n}\n\n"
            body = (
                f"{n}번째 단락: {keywords[0]}에 대한 긴 설명이 이어집니다. " * 6
                if korean
                else f"Paragraph {n}: a longer explanation of {keywords[0]} continues here with more words. " * 6
            )
            section = heading + body.strip()
            sections.append(section)
            size += len(section.encode())
        text = "".join(sections)
    return text


def _deltas(text: str, words: int = 3) -> list[str]:
    """Split `text` into deltas of a few words that join back to exactly `text`."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    return ["".join(pieces[i : i + words]) for i in range(0, len(pieces), words)]


# ---------------------------------------------------------------------------------------------
# Uploads


@dataclass
class _Upload:
    """One uploaded file, measured while it streams in (never held in memory)."""

    field_name: str
    filename: str
    content_type: str
    spool: IO[bytes] | None = None
    size: int = 0
    newlines: int = 0
    last: bytes = b""
    head: bytearray = field(default_factory=bytearray)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.newlines += data.count(b"\n")
        self.last = data[-1:] or self.last
        if len(self.head) < _HEAD_BYTES:
            self.head += data[: _HEAD_BYTES - len(self.head)]
        if self.spool is not None:
            self.spool.write(data)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()

    def text_head(self) -> str | None:
        """The start of the file as text, or None for a binary file."""
        if b"\x00" in self.head:
            return None
        try:
            return codecs.getincrementaldecoder("utf-8")().decode(bytes(self.head))
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


async def _read_multipart(request: Request, spool_dir: Path | None) -> tuple[dict[str, str], list[_Upload]]:
    """Parse a multipart body as it streams in: fields in memory (bounded), files measured/spooled."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise _BadUpload("expected multipart/form-data with a boundary")
    fields: dict[str, str] = {}
    uploads: list[_Upload] = []
    part: dict[str, Any] = {}

    def on_part_begin() -> None:
        part.clear()
        part.update(headers={}, name=b"", value=b"", data=bytearray(), upload=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part["name"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part["value"] += data[start:end]

    def on_header_end() -> None:
        part["headers"][part["name"].lower()] = part["value"]
        part["name"], part["value"] = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(part["headers"].get(b"content-disposition", b""))
        part["field"] = _decode(options.get(b"name", b""))
        if b"filename" in options:
            spool = tempfile.TemporaryFile(dir=spool_dir) if spool_dir is not None else None
            ctype = _decode(part["headers"].get(b"content-type", b"application/octet-stream"))
            upload = _Upload(part["field"], _decode(options[b"filename"]), ctype, spool)
            part["upload"] = upload
            uploads.append(upload)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part["upload"] is not None:
            part["upload"].write(data[start:end])
            return
        part["data"] += data[start:end]
        if len(part["data"]) > _FIELD_LIMIT:
            raise _BadUpload(f"form field {part['field']!r} is larger than {_FIELD_LIMIT} bytes")

    def on_part_end() -> None:
        if part["upload"] is None:
            fields[part["field"]] = _decode(bytes(part["data"]))

    callbacks: Any = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        for upload in uploads:
            upload.close()
        raise _BadUpload(f"invalid multipart body: {exc}") from exc
    except BaseException:  # _BadUpload, a client that went away, cancellation: free the spool files
        for upload in uploads:
            upload.close()
        raise
    return fields, uploads


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def file_answer(question: str, upload: _Upload, agent: dict[str, str]) -> str:
    """A markdown description of an uploaded file: name, size, type, lines and first lines."""
    q = _clean_question(question)
    korean = bool(_HANGUL.search(q))
    head = upload.text_head()
    first_lines = head.splitlines()[:5] if head else []
    first_lines = [line if len(line) <= 120 else line[:117] + "..." for line in first_lines]
    name = agent["label_ko"] if korean else agent["label"]
    if korean:
        rows = [
            ("파일 이름", f"`{upload.filename}`"),
            ("크기", f"{upload.size} bytes ({size_label(upload.size) or '0 B'})"),
            ("형식", upload.content_type),
            ("줄 수", f"{upload.lines()}" if head is not None else "바이너리 파일"),
        ]
        intro = f'**{name}**가 파일을 받았습니다. 질문: "{q}"'
        table = ["| 항목 | 값 |", "| --- | --- |"]
        lines_title = "**처음 몇 줄:**"
        outro = "> 데모 에뮬레이터는 파일을 분석하지 않고 설명만 합니다."
    else:
        rows = [
            ("File name", f"`{upload.filename}`"),
            ("Size", f"{upload.size} bytes ({size_label(upload.size) or '0 B'})"),
            ("Content type", upload.content_type),
            ("Lines", f"{upload.lines()}" if head is not None else "binary file"),
        ]
        intro = f'**{name}** received your file. You asked: "{q}"'
        table = ["| Property | Value |", "| --- | --- |"]
        lines_title = "**First lines:**"
        outro = "> The demo emulator describes the file instead of analysing it."
    parts = [f"## {upload.filename}", "", intro, "", *table, *[f"| {k} | {v} |" for k, v in rows]]
    if first_lines:
        body = "\n".join(first_lines)
        fence = _fence(body)
        parts += ["", lines_title, "", f"{fence}text", body, fence]
    parts += ["", outro]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Stream encoding


@dataclass(frozen=True)
class _Action:
    """A non-data step of a stream: `drop` or `stall`."""

    kind: str


class _Encoder:
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


def _stream_items(answer: str, faults: frozenset[str], korean: bool) -> list[dict[str, Any] | str | _Action]:
    """The events of one streamed answer, with the content-level faults applied."""
    legacy, typed = "legacy" in faults, "typed" in faults
    items: list[dict[str, Any] | str | _Action] = []

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

    def finish() -> list[dict[str, Any] | str | _Action]:
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
        for i, delta in enumerate(_deltas(answer)):
            if i == 3:
                if "stream_error" in faults:
                    items.append({"status": "ERROR", "eventData": "quota exceeded"})
                    return items
                if "error_key" in faults:
                    items.append({"error": {"code": "E500", "message": "the model backend failed"}})
                    return items
                if "drop" in faults or "stall" in faults:
                    items.append(_Action("drop" if "drop" in faults else "stall"))
                    return items
            if "status" in faults and i and i % 8 == 0:
                add("STATUS", f"출처 {i // 8} 확인 중..." if korean else f"Checking source {i // 8}...")
            add("CHUNK", delta)
    if "no_finish" not in faults:
        add("CHUNK", "", "end", finish_reason="stop", filter_block_reason=dict(_ALLOWED))
    return finish()


def _json_answer(answer: str, faults: frozenset[str]) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# The app


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
        spool_dir: Path | None,
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
        self.spool_dir = spool_dir
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
        faults |= {name for name in _FAULT_TAG.findall(question) if name in FAULTS}
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
            fields, uploads = await _read_multipart(request, self.spool_dir)
        except _BadUpload as exc:
            entry = self.record(request, None)
            return self.finish(entry, self.error(400, "R40000", str(exc)))
        try:
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
            return await self.respond(
                entry, fields.get("agentId"), question, _truthy(fields.get("isStream")), uploads[0]
            )
        finally:
            for upload in uploads:
                upload.close()

    async def respond(
        self, entry: dict[str, Any], agent_id: Any, question: str, stream: bool, upload: _Upload | None
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
            return self.finish(entry, JSONResponse(_json_answer(answer, faults)))
        korean = bool(_HANGUL.search(question))
        items = _stream_items(answer, faults, korean)
        # No charset on purpose: FabriX does not always send one, and clients must assume UTF-8.
        headers = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}
        return self.finish(entry, StreamingResponse(self.stream(items, faults, entry), headers=headers))

    async def stream(
        self, items: Sequence[dict[str, Any] | str | _Action], faults: frozenset[str], entry: dict[str, Any]
    ) -> AsyncIterator[bytes]:
        encoder = _Encoder(faults)
        latency = self.slow_latency if "slow" in faults else self.latency
        try:
            for n, item in enumerate(items):
                if isinstance(item, _Action):
                    if item.kind == "drop":
                        entry["outcome"] = "dropped"
                        raise _DropConnection
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
    spool_dir: Path | None = None,
    slow_first_byte_delay: float = 3.0,
    stall_seconds: float = 120.0,
    slow_latency: float = 0.3,
) -> Starlette:
    """The emulator app. `latency` is the pause between stream events (0 for benchmarks).

    `default_fault` may name several faults ("camelcase crlf"). With `spool_dir`, uploads are
    written there while received (as a real server stores them) and deleted after the answer;
    without it they are only measured. The other delays tune the `slow_first_byte`, `stall` and
    `slow` faults.
    """
    emulator = _Emulator(
        client_key=client_key,
        token=token,
        client_header=client_header,
        latency=latency,
        first_byte_delay=first_byte_delay,
        default_faults=parse_faults(default_fault),
        spool_dir=spool_dir,
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
    parser.add_argument("--spool-dir", type=Path, default=None, help="write uploads here while receiving them")
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
        spool_dir=args.spool_dir,
    )
    demo = args.client_key == DEMO_CLIENT_KEY and args.token == DEMO_TOKEN
    keys = f"client key {DEMO_CLIENT_KEY!r}, token {DEMO_TOKEN!r}" if demo else "the keys given on the command line"
    print(f"FabriX emulator: http://{args.host}:{args.port}{API} ({args.client_header}: {keys})", flush=True)
    if faults:
        print(f"faults on every request: {', '.join(sorted(faults))}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
