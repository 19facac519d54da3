"""FabrixClient against a mocked FabriX (respx): headers, agents, the ask body, retries and errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import respx

from fabrix_chat.config import FabrixSettings
from fabrix_chat.fabrix import client as client_module
from fabrix_chat.fabrix.client import (
    Agent,
    FabrixClient,
    make_http_client,
    normalize_agents,
)
from fabrix_chat.fabrix.errors import (
    FabrixAuthError,
    FabrixBadResponse,
    FabrixContentFiltered,
    FabrixNetworkError,
    FabrixRateLimited,
    FabrixTimeout,
    FabrixUnavailable,
    FabrixUpstreamError,
)
from fabrix_chat.fabrix.sse import StreamEvent

BASE = "https://fabrix.test/secc/trial/api-agent"
API = BASE + "/openapi/agent-chat/v1"
KEY = "client-key-1234"
TOKEN = "token-abcdef-5678"
SSE_HEADERS = {"content-type": "text/event-stream"}


def settings(**overrides: object) -> FabrixSettings:
    values: dict[str, object] = {"base_url": BASE + "/", "client_key": KEY, "openapi_token": TOKEN}
    values.update(overrides)
    return FabrixSettings(**values)  # type: ignore[arg-type]


class Sleeps(list[float]):
    """A fake sleep that records the delays instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sse_body(*texts: str, done: bool = True) -> bytes:
    events = [{"event_status": "STATUS", "content": "searching documents..."}]
    events += [{"event_status": "CHUNK", "content": t} for t in texts]
    events.append({"event_status": "CHUNK", "content": "", "finish_reason": "stop"})
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


def sse_response(*texts: str) -> httpx.Response:
    return httpx.Response(200, headers=SSE_HEADERS, content=sse_body(*texts))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest_asyncio.fixture
async def fabrix(sleeps: Sleeps) -> AsyncIterator[FabrixClient]:
    client = FabrixClient(settings(), http=make_http_client(), sleep=sleeps)
    yield client
    await client._http.aclose()


@pytest.fixture
def api() -> respx.MockRouter:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


async def answer(client: FabrixClient, contents: list[str] | None = None, **kwargs: str) -> list[StreamEvent]:
    return [e async for e in client.stream_answer(agent_id="agent-1", contents=contents or ["hello"], **kwargs)]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if e.kind == "chunk")


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [TOKEN, f"Bearer {TOKEN}", f"bearer  {TOKEN}", f" Bearer Bearer {TOKEN} "])
@pytest.mark.asyncio
async def test_token_is_sent_with_exactly_one_bearer_prefix(api: respx.MockRouter, sleeps: Sleeps, token: str) -> None:
    route = api.get("/agents").mock(return_value=httpx.Response(200, json={"items": [], "total": 0}))
    client = FabrixClient(settings(openapi_token=token), sleep=sleeps)
    await client.list_agents()
    await client.aclose()
    assert route.calls.last.request.headers["x-openapi-token"] == f"Bearer {TOKEN}"


@pytest.mark.asyncio
async def test_client_header_name_is_configurable(api: respx.MockRouter, sleeps: Sleeps) -> None:
    route = api.get("/agents").mock(return_value=httpx.Response(200, json=[]))
    client = FabrixClient(settings(client_header="x-generative-ai-client"), sleep=sleeps)
    await client.list_agents()
    await client.aclose()
    headers = route.calls.last.request.headers
    assert headers["x-generative-ai-client"] == KEY
    assert "x-fabrix-client" not in headers


@pytest.mark.asyncio
async def test_default_client_header_and_no_content_type_on_get(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.get("/agents").mock(return_value=httpx.Response(200, json=[]))
    await fabrix.list_agents()
    headers = route.calls.last.request.headers
    assert headers["x-fabrix-client"] == KEY
    assert "content-type" not in headers
    assert "x-generative-ai-user-email" not in headers


@pytest.mark.asyncio
async def test_user_email_header_from_the_call_or_the_settings(api: respx.MockRouter, sleeps: Sleeps) -> None:
    route = api.post("/agent-messages").mock(side_effect=lambda request: sse_response("ok"))
    client = FabrixClient(settings(user_email="service@samsung.com"), sleep=sleeps)
    await answer(client)
    assert route.calls.last.request.headers["x-generative-ai-user-email"] == "service@samsung.com"
    await answer(client, user_email="kim@samsung.com")
    assert route.calls.last.request.headers["x-generative-ai-user-email"] == "kim@samsung.com"
    await client.aclose()


@pytest.mark.asyncio
async def test_ask_sends_the_documented_json_body(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.post("/agent-messages").mock(return_value=sse_response("ok"))
    await answer(fabrix, ["user1", "ai1", "question"])
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "agentId": "agent-1",
        "contents": ["user1", "ai1", "question"],
        "isStream": True,
        "isRagOn": True,
        "executeFinalAnswer": True,
        "executeRagFinalAnswer": True,
        "executeRagStandaloneQuery": True,
    }


@pytest.mark.asyncio
async def test_ask_with_an_empty_question_is_refused_before_sending(fabrix: FabrixClient) -> None:
    with pytest.raises(ValueError):
        await answer(fabrix, ["user1", "ai1", "  "])


# --- agents --------------------------------------------------------------------------------------

AGENT_ID = "520e8dd8-3c1f-4b7a-9d2e-6f0a1b2c3d4e"


@pytest.mark.parametrize(
    ("data", "label"),
    [
        ({"items": [{"agentId": AGENT_ID, "label": "Helper", "description": "d"}], "total": 1}, "Helper"),
        ({"items": [{"agentId": AGENT_ID, "name": "Helper", "description": "d"}], "total": 1}, "Helper"),
        ([{"agentId": AGENT_ID, "label": "Helper", "description": "d"}], "Helper"),
        ([{"agent_id": AGENT_ID, "name": "Helper", "description": "d"}], "Helper"),
        ([{"id": AGENT_ID, "name": "Helper", "description": "d"}], "Helper"),
        (
            [
                {
                    "agentId": AGENT_ID,
                    "name": [{"languageCode": "ko", "content": "도우미"}, {"languageCode": "en", "content": "Helper"}],
                    "description": "d",
                }
            ],
            "Helper",
        ),
        ([{"agentId": AGENT_ID, "name": [{"languageCode": "ko", "content": "도우미"}], "description": "d"}], "도우미"),
        (
            [{"agentId": AGENT_ID, "name": [{"languageCode": "ja", "content": "ヘルパー"}], "description": "d"}],
            "ヘルパー",
        ),
    ],
)
def test_every_agent_list_shape_gives_the_same_agent(data: object, label: str) -> None:
    agents, _ = normalize_agents(data)
    assert agents == [Agent(id=AGENT_ID, label=label, description="d")]


def test_agent_without_a_name_is_labelled_by_its_id_and_items_without_id_are_skipped() -> None:
    agents, total = normalize_agents({"items": [{"agentId": "a1"}, {"label": "no id"}, "junk"], "total": 3})
    assert agents == [Agent(id="a1", label="a1")]
    assert total == 3


def test_agent_list_that_is_not_a_list_is_a_bad_response() -> None:
    with pytest.raises(FabrixBadResponse):
        normalize_agents("nope")
    with pytest.raises(FabrixBadResponse):
        normalize_agents({"message": "hello"})


def test_short_id() -> None:
    assert Agent(id=AGENT_ID, label="x").short_id == "520e8dd8…"
    assert Agent(id="abc", label="x").short_id == "abc"


def _agents(start: int, count: int) -> list[dict[str, str]]:
    return [{"agentId": f"agent-{i:04d}", "label": f"Agent {i}"} for i in range(start, start + count)]


@pytest.mark.asyncio
async def test_agent_pages_are_read_until_the_total(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number, limit = int(request.url.params["page"]), int(request.url.params["limit"])
        items = _agents((number - 1) * limit, max(0, min(limit, 250 - (number - 1) * limit)))
        return httpx.Response(200, json={"items": items, "total": 250})

    route = api.get("/agents").mock(side_effect=page)
    agents = await fabrix.list_agents()
    assert len(agents) == 250 and len({a.id for a in agents}) == 250
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2", "3"]
    assert {c.request.url.params["limit"] for c in route.calls} == {"100"}


@pytest.mark.asyncio
async def test_a_short_page_without_total_is_the_last(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.get("/agents").mock(
        side_effect=[httpx.Response(200, json=_agents(0, 100)), httpx.Response(200, json=_agents(100, 7))]
    )
    assert len(await fabrix.list_agents()) == 107
    assert route.call_count == 2


@pytest.mark.asyncio
async def test_an_empty_page_ends_the_list(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.get("/agents").mock(
        side_effect=[httpx.Response(200, json=_agents(0, 100)), httpx.Response(200, json=[])]
    )
    assert len(await fabrix.list_agents()) == 100
    assert route.call_count == 2


@pytest.mark.asyncio
async def test_a_gateway_ignoring_paging_does_not_loop(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.get("/agents").mock(return_value=httpx.Response(200, json=_agents(0, 100)))
    assert len(await fabrix.list_agents()) == 100
    assert route.call_count == 2


@pytest.mark.asyncio
async def test_paging_stops_at_50_pages(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.get("/agents").mock(
        side_effect=lambda request: httpx.Response(200, json=_agents(int(request.url.params["page"]) * 100, 100))
    )
    assert len(await fabrix.list_agents()) == 5000
    assert route.call_count == 50


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503), httpx.Response(500), httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
)
@pytest.mark.asyncio
async def test_agent_list_retries_with_backoff(
    api: respx.MockRouter, fabrix: FabrixClient, sleeps: Sleeps, failure: object
) -> None:
    ok = httpx.Response(200, json={"items": _agents(0, 2), "total": 2})
    route = api.get("/agents").mock(side_effect=[failure, failure, ok])
    assert len(await fabrix.list_agents()) == 2
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.asyncio
async def test_agent_list_gives_up_after_three_attempts(
    api: respx.MockRouter, fabrix: FabrixClient, sleeps: Sleeps
) -> None:
    route = api.get("/agents").mock(return_value=httpx.Response(503))
    with pytest.raises(FabrixUnavailable):
        await fabrix.list_agents()
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401), FabrixAuthError),
        (httpx.Response(403), FabrixAuthError),
        (httpx.Response(429, headers={"Retry-After": "7"}), FabrixRateLimited),
        (httpx.Response(200, text="<html>login</html>"), FabrixBadResponse),
    ],
)
@pytest.mark.asyncio
async def test_agent_list_errors_that_are_not_retried(
    api: respx.MockRouter, fabrix: FabrixClient, response: httpx.Response, error: type[Exception]
) -> None:
    route = api.get("/agents").mock(return_value=response)
    with pytest.raises(error):
        await fabrix.list_agents()
    assert route.call_count == 1


# --- streamed answers: errors and retries ---------------------------------------------------------


@pytest.mark.asyncio
async def test_streamed_answer_yields_status_chunks_and_one_done(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    api.post("/agent-messages").mock(return_value=sse_response("Python ", "decorators"))
    events = await answer(fabrix)
    assert [e.kind for e in events] == ["status", "chunk", "chunk", "done"]
    assert text_of(events) == "Python decorators"
    assert events[-1].finish_reason == "stop"


@pytest.mark.asyncio
async def test_stream_ending_without_done_or_finish_still_ends_with_done(
    api: respx.MockRouter, fabrix: FabrixClient
) -> None:
    body = b'data: {"content": "a"}\n\ndata: {"content": "b"}\n\n'
    api.post("/agent-messages").mock(return_value=httpx.Response(200, headers=SSE_HEADERS, content=body))
    events = await answer(fabrix)
    assert text_of(events) == "ab" and events[-1] == StreamEvent("done")


@pytest.mark.asyncio
async def test_empty_or_html_200_response_is_a_bad_response(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    api.post("/agent-messages").mock(return_value=httpx.Response(200, text="<html><body>proxy</body></html>"))
    with pytest.raises(FabrixBadResponse):
        await answer(fabrix)


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.asyncio
async def test_401_and_403_are_auth_errors_without_secrets(
    api: respx.MockRouter, fabrix: FabrixClient, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    echo = {"message": f"bad token Bearer {TOKEN} for client {KEY}"}
    route = api.post("/agent-messages").mock(return_value=httpx.Response(status, json=echo))
    with caplog.at_level(logging.DEBUG), pytest.raises(FabrixAuthError) as info:
        await answer(fabrix)
    assert route.call_count == 1
    assert str(status) in info.value.detail
    for text in (info.value.message, info.value.detail, caplog.text):
        assert TOKEN not in text and KEY not in text


@pytest.mark.asyncio
async def test_429_with_long_retry_after_is_not_retried(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.post("/agent-messages").mock(return_value=httpx.Response(429, headers={"Retry-After": "30"}))
    with pytest.raises(FabrixRateLimited) as info:
        await answer(fabrix)
    assert info.value.retry_after == 30.0
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_429_with_short_retry_after_is_retried_after_that_delay(
    api: respx.MockRouter, fabrix: FabrixClient, sleeps: Sleeps
) -> None:
    route = api.post("/agent-messages").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), sse_response("ok")]
    )
    assert text_of(await answer(fabrix)) == "ok"
    assert route.call_count == 2 and sleeps == [1.0]


@pytest.mark.parametrize("status", [500, 502, 503])
@pytest.mark.asyncio
async def test_5xx_is_unavailable_after_three_attempts(
    api: respx.MockRouter, fabrix: FabrixClient, sleeps: Sleeps, status: int
) -> None:
    route = api.post("/agent-messages").mock(return_value=httpx.Response(status))
    with pytest.raises(FabrixUnavailable) as info:
        await answer(fabrix)
    assert route.call_count == 3 and len(sleeps) == 2
    assert info.value.received_any is False


@pytest.mark.asyncio
async def test_503_then_success_gives_the_answer(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.post("/agent-messages").mock(side_effect=[httpx.Response(503), sse_response("fine")])
    assert text_of(await answer(fabrix)) == "fine"
    assert route.call_count == 2


@pytest.mark.asyncio
async def test_connect_error_is_retried_then_a_network_error(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.post("/agent-messages").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(FabrixNetworkError):
        await answer(fabrix)
    assert route.call_count == 3


@pytest.mark.asyncio
async def test_read_timeout_is_a_timeout_and_not_retried(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    route = api.post("/agent-messages").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(FabrixTimeout):
        await answer(fabrix)
    assert route.call_count == 1


class DropAfter(httpx.AsyncByteStream):
    """A stream that sends some answer and then loses the connection."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


@pytest.mark.asyncio
async def test_drop_after_content_raises_with_received_any_and_is_not_retried(
    api: respx.MockRouter, fabrix: FabrixClient
) -> None:
    partial = b'data: {"event_status": "CHUNK", "content": "partial "}\n\n'
    route = api.post("/agent-messages").mock(
        side_effect=lambda request: httpx.Response(200, headers=SSE_HEADERS, stream=DropAfter(partial))
    )
    received: list[StreamEvent] = []
    with pytest.raises(FabrixNetworkError) as info:
        async for event in fabrix.stream_answer(agent_id="agent-1", contents=["q"]):
            received.append(event)
    assert text_of(received) == "partial "
    assert info.value.received_any is True
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_in_stream_error_after_content_keeps_the_partial_answer(
    api: respx.MockRouter, fabrix: FabrixClient
) -> None:
    body = b'data: {"event_status": "CHUNK", "content": "half"}\n\ndata: {"status": "ERROR", "eventData": "quota"}\n\n'
    route = api.post("/agent-messages").mock(return_value=httpx.Response(200, headers=SSE_HEADERS, content=body))
    received: list[StreamEvent] = []
    with pytest.raises(FabrixUpstreamError) as info:
        async for event in fabrix.stream_answer(agent_id="agent-1", contents=["q"]):
            received.append(event)
    assert text_of(received) == "half" and info.value.received_any is True
    assert route.call_count == 1


@pytest.mark.asyncio
async def test_json_answer_from_a_non_streaming_gateway_is_one_chunk(
    api: respx.MockRouter, fabrix: FabrixClient
) -> None:
    body = {"status": "SUCCESS", "responseCode": "R20000", "content": "whole answer", "plugins": ["LLM"]}
    api.post("/agent-messages").mock(return_value=httpx.Response(200, json=body))
    events = await answer(fabrix)
    assert [e.kind for e in events] == ["chunk", "done"] and text_of(events) == "whole answer"


@pytest.mark.asyncio
async def test_json_answer_with_error_status_and_http_200_is_an_error(
    api: respx.MockRouter, fabrix: FabrixClient
) -> None:
    body = {"status": "ERROR", "responseCode": "R40000", "content": None}
    api.post("/agent-messages").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(FabrixUpstreamError):
        await answer(fabrix)


@pytest.mark.asyncio
async def test_400_with_a_filter_block_is_content_filtered(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    body = {"filterBlockReason": {"result_code": "FR-403", "message": "blocked by policy"}}
    api.post("/agent-messages").mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(FabrixContentFiltered) as info:
        await answer(fabrix)
    assert info.value.message == "blocked by policy"


class Endless(httpx.AsyncByteStream):
    """A stream that sends one chunk and then waits forever, noting when it is closed."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'data: {"event_status": "CHUNK", "content": "first"}\n\n'
        await asyncio.sleep(3600)
        yield b""

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.asyncio
async def test_stopping_the_answer_closes_the_upstream_response(api: respx.MockRouter, fabrix: FabrixClient) -> None:
    stream = Endless()
    api.post("/agent-messages").mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=stream))
    events = fabrix.stream_answer(agent_id="agent-1", contents=["q"])
    first = await asyncio.wait_for(anext(events), 2)
    assert first == StreamEvent("chunk", "first")
    assert not stream.closed
    await asyncio.wait_for(events.aclose(), 2)
    assert stream.closed


# --- file questions ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ask_with_file_sends_fields_and_the_file(
    api: respx.MockRouter, fabrix: FabrixClient, tmp_path: Path
) -> None:
    data = b"line 1\nline 2\n" + bytes(range(256)) * 400
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    route = api.post("/agent-messages/file").mock(
        return_value=httpx.Response(200, json={"status": "SUCCESS", "responseCode": "R20000", "content": "described"})
    )
    text = await fabrix.ask_with_file(
        agent_id="agent-1", contents="what is this?", file_path=path, filename="보고서.csv", content_type="text/csv"
    )
    assert text == "described"
    request = route.calls.last.request
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert request.headers.get_list("content-type") == [content_type]
    body = request.content
    assert data in body
    for name, value in [
        ("agentId", "agent-1"),
        ("contents", "what is this?"),
        ("isStream", "false"),
        ("isRagOn", "true"),
    ]:
        assert f'name="{name}"\r\n\r\n{value}\r\n'.encode() in body
    assert 'name="file"; filename="보고서.csv"'.encode() in body
    assert b"Content-Type: text/csv" in body
    assert request.headers["x-openapi-token"] == f"Bearer {TOKEN}"


@pytest.mark.asyncio
async def test_ask_with_file_sends_several_turns_as_a_json_list(
    api: respx.MockRouter, fabrix: FabrixClient, tmp_path: Path
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    route = api.post("/agent-messages/file").mock(return_value=httpx.Response(200, json={"content": "ok"}))
    turns = ["u1", "a1", "질문"]
    await fabrix.ask_with_file(
        agent_id="a", contents=turns, file_path=path, filename="a.txt", content_type="text/plain"
    )
    encoded = json.dumps(turns, ensure_ascii=False)
    assert f'name="contents"\r\n\r\n{encoded}\r\n'.encode() in route.calls.last.request.content


@pytest.mark.asyncio
async def test_ask_with_file_answer_in_references(api: respx.MockRouter, fabrix: FabrixClient, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    body = {"status": "SUCCESS", "content": None, "contentReferences": [{"answer": "from refs"}]}
    api.post("/agent-messages/file").mock(return_value=httpx.Response(200, json=body))
    text = await fabrix.ask_with_file(
        agent_id="a", contents="q", file_path=path, filename="a.txt", content_type="text/plain"
    )
    assert text == "from refs"


@pytest.mark.asyncio
async def test_ask_with_file_error_status_with_http_200(
    api: respx.MockRouter, fabrix: FabrixClient, tmp_path: Path
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    body = {"status": "ERROR", "responseCode": "R40000", "content": None}
    api.post("/agent-messages/file").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(FabrixUpstreamError):
        await fabrix.ask_with_file(
            agent_id="a", contents="q", file_path=path, filename="a.txt", content_type="text/plain"
        )


@pytest.mark.asyncio
async def test_ask_with_file_uses_a_long_write_timeout(
    api: respx.MockRouter, fabrix: FabrixClient, tmp_path: Path
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    route = api.post("/agent-messages/file").mock(return_value=httpx.Response(200, json={"content": "ok"}))
    await fabrix.ask_with_file(agent_id="a", contents="q", file_path=path, filename="a.txt", content_type="text/plain")
    assert route.calls.last.request.extensions["timeout"]["write"] >= 120


# --- the shared client ---------------------------------------------------------------------------


def test_http_client_limits_and_timeouts(monkeypatch) -> None:
    made: dict[str, object] = {}
    real = httpx.AsyncHTTPTransport

    def transport(**kwargs: object) -> httpx.AsyncHTTPTransport:
        made.update(kwargs)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client_module.httpx, "AsyncHTTPTransport", transport)
    http = make_http_client()
    assert http.timeout == httpx.Timeout(connect=5, read=30, write=10, pool=5)
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
    assert made == {"retries": 2, "limits": limits}


@pytest.mark.asyncio
async def test_shared_client_is_created_once_and_can_be_pointed_at_the_emulator(
    monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter
) -> None:
    monkeypatch.setattr(client_module, "_shared", None)
    monkeypatch.setattr(client_module, "_override", None)
    first = client_module.get_client(FabrixSettings())
    assert client_module.get_client() is first
    client_module.set_base_url_override(BASE, "demo-client", "demo-token")
    route = api.get("/agents").mock(return_value=httpx.Response(200, json=[]))
    await client_module.get_client().list_agents()
    headers = route.calls.last.request.headers
    assert headers["x-fabrix-client"] == "demo-client" and headers["x-openapi-token"] == "Bearer demo-token"
    await client_module.close_client()
    assert client_module._shared is None
