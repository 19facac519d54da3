"""The real FabrixClient against the emulator over real HTTP: answers, every fault, files, the request log."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from fabrix_chat import i18n
from fabrix_chat.config import PROJECT_ROOT, FabrixSettings
from fabrix_chat.emulator import AGENTS, DEMO_CLIENT_KEY, DEMO_TOKEN, EmulatorHandle, start_in_thread
from fabrix_chat.fabrix.client import FabrixClient, make_http_client
from fabrix_chat.fabrix.errors import (
    FabrixAuthError,
    FabrixContentFiltered,
    FabrixError,
    FabrixNetworkError,
    FabrixRateLimited,
    FabrixTimeout,
    FabrixUnavailable,
    FabrixUpstreamError,
)
from fabrix_chat.fabrix.sse import StreamEvent, iter_events
from fabrix_chat.services.chat import build_contents

GENERAL = AGENTS[0]["agentId"]
CODE = AGENTS[1]["agentId"]


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_in_thread(latency=0, slow_first_byte_delay=0.3, stall_seconds=30, slow_latency=0.2)
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def _reset_faults(emulator: EmulatorHandle) -> Iterator[None]:
    yield
    httpx.post(f"{emulator.base_url}/_emulator/faults", json={"fault": None})


def settings_for(emulator: EmulatorHandle, **overrides: str) -> FabrixSettings:
    values = {"base_url": emulator.base_url, "client_key": DEMO_CLIENT_KEY, "openapi_token": f"Bearer {DEMO_TOKEN}"}
    values.update(overrides)
    return FabrixSettings(**values)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest_asyncio.fixture
async def client(emulator: EmulatorHandle, sleeps: Sleeps) -> AsyncIterator[FabrixClient]:
    fabrix = FabrixClient(settings_for(emulator), sleep=sleeps)
    yield fabrix
    await fabrix.aclose()


async def ask(
    client: FabrixClient, question: str, *, agent: str = GENERAL, contents: list[str] | None = None
) -> tuple[str, list[StreamEvent], FabrixError | None]:
    """The answer text, every event, and the error that ended the stream (if any)."""
    events: list[StreamEvent] = []
    error: FabrixError | None = None
    try:
        async for event in client.stream_answer(agent_id=agent, contents=contents or [question]):
            events.append(event)
    except FabrixError as exc:
        error = exc
    return "".join(e.text for e in events if e.kind == "chunk"), events, error


async def control(emulator: EmulatorHandle, method: str, path: str, **kwargs: object) -> httpx.Response:
    """Call one of the emulator's /_emulator endpoints."""
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        response = await http.request(method, f"/_emulator/{path}", **kwargs)  # type: ignore[arg-type]
    response.raise_for_status()
    return response


async def set_fault(emulator: EmulatorHandle, fault: str, count: int = 1) -> None:
    await control(emulator, "POST", "faults", json={"fault": fault, "count": count})


async def request_log(emulator: EmulatorHandle) -> list[dict]:
    return (await control(emulator, "GET", "requests")).json()


# --- normal behaviour ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_agents_are_listed(client: FabrixClient) -> None:
    agents = await client.list_agents()
    assert [a.label for a in agents] == ["General Assistant", "Code Helper", "Document Analyst", "한국어 비서"]
    assert all(len(a.id) == 36 and a.short_id.endswith("…") for a in agents)


@pytest.mark.parametrize("shape", ["agents_name", "agents_list", "agents_i18n"])
@pytest.mark.asyncio
async def test_every_agent_list_shape_reads_the_same(
    client: FabrixClient, emulator: EmulatorHandle, shape: str
) -> None:
    expected = await client.list_agents()
    await set_fault(emulator, shape)
    assert await client.list_agents() == expected


@pytest.mark.asyncio
async def test_normal_answer_streams_markdown_about_the_question(client: FabrixClient) -> None:
    text, events, error = await ask(client, "How do Python decorators work?")
    assert error is None
    assert [e.kind for e in events[:2]] == ["status", "status"]
    assert sum(e.kind == "chunk" for e in events) > 10
    assert events[-1] == StreamEvent("done", finish_reason="stop")
    assert "Python decorators" in text
    for part in ("## ", "| --- | --- |", "```python", "1. "):
        assert part in text
    assert "Searching documents" not in text


@pytest.mark.asyncio
async def test_answers_depend_on_question_agent_and_language(client: FabrixClient) -> None:
    a, _, _ = await ask(client, "Explain the release checklist")
    b, _, _ = await ask(client, "Summarise the budget report")
    c, _, _ = await ask(client, "Explain the release checklist", agent=CODE)
    korean, _, _ = await ask(client, "파이썬 데코레이터를 설명해 주세요")
    assert len({a, b, c}) == 3
    assert "요점" in korean and "파이썬" in korean


# --- variants the client must tolerate ---------------------------------------------------------------


TOLERATED = [
    "camelcase",
    "crlf",
    "no_done",
    "no_done #fault:no_finish",
    "split_utf8",
    "status",
    "legacy",
    "typed",
    "references",
    "no_space",
    "comments",
    "multiline",
    "json",
    "slow_first_byte",
    "camelcase #fault:crlf #fault:no_space #fault:comments #fault:multiline #fault:split_utf8",
]


@pytest.mark.parametrize("fault", TOLERATED)
@pytest.mark.asyncio
async def test_tolerated_variant_gives_the_whole_answer(client: FabrixClient, fault: str) -> None:
    question = "회의록 요약 방법 (meeting notes) ✓"
    expected, _, _ = await ask(client, question)
    text, events, error = await ask(client, f"{question} #fault:{fault}")
    assert error is None
    assert text == expected
    assert events[-1].kind == "done"


WIRE_MARKERS = [
    ("crlf", [b"\r\n\r\n"], [b"}\n\n"]),
    ("no_space", [b'data:{"event_status"'], [b'data: {"event_status"']),
    ("comments", [b": keep-alive\n", b"event: message\n", b"id: 1\n", b"retry: 3000\n"], []),
    ("multiline", [b'data: {\ndata:  "event_status"'], []),
    ("camelcase", [b'"eventStatus"', b'"finishReason"'], [b'"event_status"']),
    ("legacy", [b'data: {"content"'], [b"event_status", b"STATUS"]),
    ("typed", [b'"type": "start"', b'"type": "content"', b'"type": "end"'], [b"event_status"]),
    ("references", [b'"content": null', b'"content_references": [{"answer": "## '], []),
    ("no_done", [b'"finish_reason": "stop"'], [b"[DONE]"]),
    ("no_finish", [b"[DONE]"], [b"finish_reason"]),
]


@pytest.mark.parametrize(("fault", "present", "absent"), WIRE_MARKERS)
@pytest.mark.asyncio
async def test_emulator_sends_the_wire_variant(
    emulator: EmulatorHandle, fault: str, present: list[bytes], absent: list[bytes]
) -> None:
    headers = {"x-fabrix-client": DEMO_CLIENT_KEY, "x-openapi-token": DEMO_TOKEN}
    body = {"agentId": GENERAL, "contents": [f"wire test #fault:{fault}"], "isStream": True}
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        response = await http.post("/openapi/agent-chat/v1/agent-messages", json=body, headers=headers)
    assert response.headers["content-type"] == "text/event-stream"  # no charset, as FabriX may send
    for marker in present:
        assert marker in response.content
    for marker in absent:
        assert marker not in response.content


@pytest.mark.asyncio
async def test_split_utf8_really_splits_characters_on_the_wire(emulator: EmulatorHandle) -> None:
    headers = {"x-fabrix-client": DEMO_CLIENT_KEY, "x-openapi-token": DEMO_TOKEN}
    body = {"agentId": GENERAL, "contents": ["한국어 질문 #fault:split_utf8"], "isStream": True}
    broken = 0
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        async with http.stream("POST", "/openapi/agent-chat/v1/agent-messages", json=body, headers=headers) as r:
            async for piece in r.aiter_raw():
                try:
                    piece.decode("utf-8")
                except UnicodeDecodeError:
                    broken += 1
    assert broken > 0


@pytest.mark.asyncio
async def test_status_variant_shows_extra_progress_outside_the_answer(client: FabrixClient) -> None:
    text, events, _ = await ask(client, "status check #fault:status")
    statuses = [e.text for e in events if e.kind == "status"]
    assert len(statuses) > 2 and any("Checking source" in s for s in statuses)
    assert "Checking source" not in text


@pytest.mark.asyncio
async def test_long_answer_arrives_whole(client: FabrixClient) -> None:
    text, _, error = await ask(client, "write a lot #fault:long")
    assert error is None
    assert len(text.encode()) >= 100_000 and text.rstrip().endswith(".")
    medium, _, error = await ask(client, "write some #fault:medium")
    assert error is None
    assert 20_000 <= len(medium.encode()) < 25_000 and medium.rstrip().endswith(".")


@pytest.mark.asyncio
async def test_html_variant_delivers_raw_html_as_text(client: FabrixClient) -> None:
    text, _, error = await ask(client, "html please #fault:html")
    assert error is None and "<script>" in text and "onerror=" in text


# --- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("stream_error", FabrixUpstreamError), ("error_key", FabrixUpstreamError), ("drop", FabrixNetworkError)],
)
@pytest.mark.asyncio
async def test_failure_mid_stream_keeps_the_partial_answer(
    client: FabrixClient, emulator: EmulatorHandle, fault: str, error_type: type[FabrixError]
) -> None:
    full, _, _ = await ask(client, "What is our travel policy?")
    await control(emulator, "DELETE", "requests")
    text, _, error = await ask(client, f"What is our travel policy? #fault:{fault}")
    assert isinstance(error, error_type)
    assert error.received_any is True
    assert text and full.startswith(text) and text != full
    assert len(await request_log(emulator)) == 1  # not retried


@pytest.mark.asyncio
async def test_stream_error_says_why(client: FabrixClient) -> None:
    _, _, error = await ask(client, "q #fault:stream_error")
    assert isinstance(error, FabrixUpstreamError) and "quota exceeded" in error.detail


@pytest.mark.asyncio
async def test_content_filter_block(client: FabrixClient) -> None:
    text, _, error = await ask(client, "something forbidden #fault:filter")
    assert isinstance(error, FabrixContentFiltered)
    assert error.message == "This request was blocked by the content filter (demo)."
    assert error.texts["ko"] == "콘텐츠 필터에 의해 차단된 요청입니다 (데모)."
    assert text == "" and error.received_any is False


@pytest.mark.asyncio
async def test_rate_limit_honours_retry_after_then_gives_up(
    client: FabrixClient, emulator: EmulatorHandle, sleeps: Sleeps
) -> None:
    _, _, error = await ask(client, "q #fault:rate_limit")
    assert isinstance(error, FabrixRateLimited) and error.retry_after == 2.0
    assert sleeps == [2.0, 2.0]
    assert (await request_log(emulator))[-1]["status"] == 429


@pytest.mark.parametrize("fault", ["server_error", "unavailable"])
@pytest.mark.asyncio
async def test_server_errors_are_retried_then_unavailable(client: FabrixClient, sleeps: Sleeps, fault: str) -> None:
    _, _, error = await ask(client, f"q #fault:{fault}")
    assert isinstance(error, FabrixUnavailable) and len(sleeps) == 2


@pytest.mark.asyncio
async def test_one_server_error_before_the_answer_is_retried_transparently(
    client: FabrixClient, emulator: EmulatorHandle
) -> None:
    await set_fault(emulator, "server_error", count=1)
    text, _, error = await ask(client, "retry me")
    assert error is None and "retry me" in text
    statuses = [r["status"] for r in (await request_log(emulator))[-2:]]
    assert statuses == [500, 200]


@pytest.mark.asyncio
async def test_unauthorized_fault(client: FabrixClient) -> None:
    _, _, error = await ask(client, "q #fault:unauthorized")
    assert isinstance(error, FabrixAuthError)


@pytest.mark.parametrize(
    "overrides",
    [{"client_key": "wrong"}, {"openapi_token": "wrong"}, {"client_header": "x-generative-ai-client"}],
)
@pytest.mark.asyncio
async def test_wrong_keys_are_auth_errors(emulator: EmulatorHandle, overrides: dict[str, str]) -> None:
    fabrix = FabrixClient(settings_for(emulator, **overrides), sleep=Sleeps())
    with pytest.raises(FabrixAuthError):
        await fabrix.list_agents()
    _, _, error = await ask(fabrix, "q")
    assert isinstance(error, FabrixAuthError) and i18n.error_text(error) == i18n.t("error_auth")
    assert "401" in error.detail or "403" in error.detail
    await fabrix.aclose()


@pytest.mark.asyncio
async def test_stall_is_a_timeout_with_the_partial_answer(emulator: EmulatorHandle) -> None:
    http = make_http_client(timeout=httpx.Timeout(5, read=1))
    fabrix = FabrixClient(settings_for(emulator), http=http, sleep=Sleeps())
    started = time.monotonic()
    text, _, error = await ask(fabrix, "q #fault:stall")
    assert isinstance(error, FabrixTimeout) and error.received_any is True
    assert text and time.monotonic() - started < 5
    await http.aclose()


@pytest.mark.asyncio
async def test_stop_closes_the_upstream_stream_at_once(client: FabrixClient, emulator: EmulatorHandle) -> None:
    events = client.stream_answer(agent_id=GENERAL, contents=["long slow answer #fault:slow"])
    kinds = []
    while len([k for k in kinds if k == "chunk"]) < 2:
        kinds.append((await anext(events)).kind)
    await events.aclose()
    for _ in range(60):  # the server notices within a few event-loop turns
        outcome = (await request_log(emulator))[-1]["outcome"]
        if outcome == "disconnected":
            break
        await asyncio.sleep(0.05)
    assert outcome == "disconnected"


# --- what the client sends ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_request_log_shows_the_contents_window_and_masked_headers(
    client: FabrixClient, emulator: EmulatorHandle
) -> None:
    history = [item for i in range(12) for item in (("user", f"question {i}"), ("assistant", f"answer {i}"))]
    contents = build_contents(history, "the new question", 10)
    text, _, error = await ask(client, "", contents=contents)
    assert error is None and "the new question" in text
    request = (await request_log(emulator))[-1]
    assert request["body"]["contents"] == [t for i in range(2, 12) for t in (f"question {i}", f"answer {i}")] + [
        "the new question"
    ]
    assert request["body"]["isStream"] is True and request["body"]["agentId"] == GENERAL
    assert request["headers"]["x-openapi-token"] == "Bearer ***"
    assert request["headers"]["x-fabrix-client"] == "***"
    assert DEMO_TOKEN not in json.dumps(request)


@pytest.mark.asyncio
async def test_twenty_megabyte_file_upload(client: FabrixClient, emulator: EmulatorHandle, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    line = b"id,name,value,comment with some padding text\n"
    lines = 20 * 1024 * 1024 // len(line) + 1
    with path.open("wb") as fh:
        fh.write(line * lines)
    size = path.stat().st_size
    assert size >= 20 * 1024 * 1024
    text = await client.ask_with_file(
        agent_id=GENERAL, contents="What is in this file?", file_path=path, filename="big.csv", content_type="text/csv"
    )
    assert "big.csv" in text and f"{size} bytes" in text and f"| Lines | {lines} |" in text
    assert "id,name,value" in text
    request = (await request_log(emulator))[-1]
    assert request["body"]["files"] == [
        {"field": "file", "filename": "big.csv", "content_type": "text/csv", "size": size}
    ]
    assert request["body"]["fields"]["isStream"] == "false"


FILE_HEADERS = {"x-fabrix-client": DEMO_CLIENT_KEY, "x-openapi-token": DEMO_TOKEN}


async def post_file(handle: EmulatorHandle, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{handle.base_url}/openapi/agent-chat/v1/agent-messages/file", headers=headers or FILE_HEADERS, **kwargs
        )


async def streamed_text(response: httpx.Response) -> str:
    async def body() -> AsyncIterator[bytes]:
        yield response.content

    return "".join([e.text async for e in iter_events(body()) if e.kind == "chunk"])


@pytest.mark.asyncio
async def test_a_file_answer_streams_and_describes_the_file() -> None:
    with start_in_thread(latency=0) as handle:
        data = {"agentId": GENERAL, "contents": json.dumps(["u", "a", "이 파일은?"]), "isStream": "true"}
        files = {"file": ("메모.txt", "첫 줄\n둘째 줄\n".encode(), "text/plain")}
        response = await post_file(handle, data=data, files=files)
        assert response.headers["content-type"] == "text/event-stream"
        text = await streamed_text(response)
    assert "메모.txt" in text and "첫 줄" in text and "| 줄 수 | 2 |" in text


@pytest.mark.asyncio
async def test_a_large_file_is_measured_whole_by_the_form_parser() -> None:
    """Past 1 MB Starlette's parser spools the file to disk; the emulator reads it once through."""
    content = b"".join(f"line {i}\n".encode() for i in range(400_000))  # about 4.5 MB
    with start_in_thread(latency=0) as handle:
        data = {"agentId": GENERAL, "contents": "what is in it?", "isStream": "false"}
        response = await post_file(handle, data=data, files={"file": ("big.log", content, "text/plain")})
        assert response.status_code == 200, response.text
        seen = (await httpx.AsyncClient().get(f"{handle.base_url}/_emulator/requests")).json()[-1]
    assert seen["body"]["files"] == [
        {"field": "file", "filename": "big.log", "content_type": "text/plain", "size": len(content)}
    ]
    assert "| Lines | 400000 |" in response.json()["content"] and f"{len(content)} bytes" in response.json()["content"]


@pytest.mark.asyncio
async def test_a_body_that_is_not_a_form_or_too_big_a_field_is_refused_plainly() -> None:
    with start_in_thread(latency=0) as handle:
        not_a_form = await post_file(
            handle, content=b"{}", headers={**FILE_HEADERS, "content-type": "application/json"}
        )
        huge_field = await post_file(
            handle, data={"agentId": GENERAL, "contents": "x" * (11 * 1024 * 1024)}, files={"file": ("a.txt", b"a")}
        )
        no_file = await post_file(handle, data={"agentId": GENERAL, "contents": "q"}, files={"other": ("", b"")})
    assert not_a_form.status_code == 400 and "multipart/form-data" in not_a_form.text
    assert huge_field.status_code == 400 and "invalid multipart body" in huge_field.text
    assert no_file.status_code == 400


@pytest.mark.asyncio
async def test_fault_control_endpoint_applies_to_the_next_requests_only(
    client: FabrixClient, emulator: EmulatorHandle
) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        await set_fault(emulator, "no_such_fault")
    await set_fault(emulator, "unauthorized camelcase", count=2)
    state = (await control(emulator, "GET", "faults")).json()
    assert state["next"] == ["camelcase", "unauthorized"] and state["count"] == 2
    for _ in range(2):
        with pytest.raises(FabrixAuthError):
            await client.list_agents()
    assert len(await client.list_agents()) == len(AGENTS)
    assert (await control(emulator, "GET", "health")).json()["status"] == "ok"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_line_emulator_serves_until_stopped() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "fabrix_chat.emulator", "--port", str(port), "--latency", "0"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        assert response.json()["status"] == "ok"
        agents = httpx.get(
            f"http://127.0.0.1:{port}/openapi/agent-chat/v1/agents",
            headers={"x-fabrix-client": DEMO_CLIENT_KEY, "x-openapi-token": f"Bearer {DEMO_TOKEN}"},
        )
        assert agents.json()["total"] == len(AGENTS)
    finally:
        process.terminate()
        process.wait(10)
