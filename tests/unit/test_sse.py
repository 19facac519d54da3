"""The stream reader follows every rule of FABRIX_API.md's "Rules a robust reader follows"."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from fabrix_chat.fabrix.errors import (
    FabrixBadResponse,
    FabrixContentFiltered,
    FabrixUpstreamError,
)
from fabrix_chat.fabrix.sse import SSEDecoder, StreamEvent, iter_events, parse_json_answer, parse_payload


def sse(*objects: object, eol: str = "\n") -> bytes:
    """An SSE body with one `data:` event per object ("[DONE]" passed as a string)."""
    parts = []
    for obj in objects:
        payload = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
        parts.append(f"data: {payload}{eol}{eol}")
    return "".join(parts).encode("utf-8")


def chunk(text: str | None, **extra: object) -> dict[str, object]:
    return {"event_status": "CHUNK", "content": text, **extra}


async def _stream(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def read(pieces: list[bytes]) -> list[StreamEvent]:
    return [event async for event in iter_events(_stream(pieces))]


def answer_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if e.kind == "chunk")


def decode_all(pieces: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out: list[str] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out + decoder.flush()


KOREAN = sse(
    {"event_status": "STATUS", "content": "문서 검색 중..."},
    chunk("안녕하세요, "),
    chunk("파이썬 데코레이터는 함수를 감쌉니다 ✓ 🐍"),
    chunk("", finish_reason="stop"),
    "[DONE]",
)


# --- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", range(1, len(KOREAN)))
def test_bytes_split_anywhere_even_inside_a_multibyte_character(cut: int) -> None:
    assert decode_all([KOREAN[:cut], KOREAN[cut:]]) == decode_all([KOREAN])


@pytest.mark.asyncio
async def test_korean_stream_fed_one_byte_at_a_time_gives_the_whole_answer() -> None:
    events = await read([KOREAN[i : i + 1] for i in range(len(KOREAN))])
    assert answer_of(events) == "안녕하세요, 파이썬 데코레이터는 함수를 감쌉니다 ✓ 🐍"
    assert events[-1] == StreamEvent("done", finish_reason="stop")


@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"])
def test_crlf_cr_and_lf_line_endings(eol: str) -> None:
    body = sse(chunk("a"), chunk("b"), eol=eol)
    assert [json.loads(p)["content"] for p in decode_all([body])] == ["a", "b"]


def test_crlf_split_between_two_reads_is_one_line_ending() -> None:
    body = b'data: {"content":\r\ndata: "a"}\r\n\r\n'
    cut = body.index(b"\n")  # after the first \r
    assert decode_all([body[:cut], body[cut:]]) == ['{"content":\n"a"}']


def test_data_without_space_after_the_colon() -> None:
    assert decode_all([b'data:{"content": "x"}\n\n']) == ['{"content": "x"}']


def test_only_one_leading_space_is_removed() -> None:
    assert decode_all([b"data:  two spaces\n\n"]) == [" two spaces"]


def test_comment_lines_are_ignored() -> None:
    assert decode_all([b': keep-alive\n\n:another\ndata: {"content": "x"}\n\n']) == ['{"content": "x"}']


def test_event_id_and_retry_lines_are_ignored() -> None:
    body = b'retry: 3000\nevent: message\nid: 7\ndata: {"content": "x"}\n\n'
    assert decode_all([body]) == ['{"content": "x"}']


def test_multiline_data_is_joined_with_newlines() -> None:
    assert decode_all([b'data: {"content":\ndata: "x"}\n\n']) == ['{"content":\n"x"}']


def test_blank_lines_separate_events() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.feed(b"\n") == ["one"]


def test_last_event_without_trailing_blank_line_is_returned_at_eof() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"content": "a"}\n\ndata: {"content": "b"}') == ['{"content": "a"}']
    assert decoder.flush() == ['{"content": "b"}']


def test_byte_order_mark_at_start_is_skipped() -> None:
    assert decode_all([b'\xef\xbb\xbfdata: {"content": "x"}\n\n']) == ['{"content": "x"}']


# --- payload rules -------------------------------------------------------------------------------


def test_chunk_content_is_a_delta_that_is_appended() -> None:
    events = parse_payload(json.dumps(chunk("Python ")))
    assert events == [StreamEvent("chunk", "Python ")]


def test_status_event_is_progress_never_answer_text() -> None:
    assert parse_payload(json.dumps({"event_status": "STATUS", "content": "searching documents..."})) == [
        StreamEvent("status", "searching documents...")
    ]


@pytest.mark.asyncio
async def test_status_events_are_not_appended_to_the_answer() -> None:
    events = await read([sse({"event_status": "STATUS", "content": "searching"}, chunk("answer"), "[DONE]")])
    assert answer_of(events) == "answer"
    assert [e.kind for e in events] == ["status", "chunk", "done"]


def test_event_without_status_is_legacy_content() -> None:
    assert parse_payload('{"content": "old gateway"}') == [StreamEvent("chunk", "old gateway")]


@pytest.mark.parametrize("kind", ["start", "content", "end"])
def test_typed_events_start_content_end_append(kind: str) -> None:
    assert parse_payload(json.dumps({"type": kind, "content": "t"})) == [StreamEvent("chunk", "t")]


def test_typed_event_of_another_type_is_not_appended() -> None:
    assert parse_payload('{"type": "metadata", "content": "x"}') == []


def test_camelcase_event_status_and_finish_reason() -> None:
    events = parse_payload('{"eventStatus": "CHUNK", "content": "end.", "finishReason": "stop"}')
    assert events == [StreamEvent("chunk", "end."), StreamEvent("done", finish_reason="stop")]
    assert parse_payload('{"eventStatus": "STATUS", "content": "working"}') == [StreamEvent("status", "working")]


def test_null_content_is_nothing() -> None:
    assert parse_payload(json.dumps(chunk(None))) == []


@pytest.mark.parametrize("key", ["contentReferences", "content_references"])
def test_text_in_content_references_when_content_is_null_or_empty(key: str) -> None:
    refs = [{"answer": "from the plug-in", "title": "kb"}, {"title": "no answer"}]
    assert parse_payload(json.dumps(chunk(None, **{key: refs}))) == [StreamEvent("chunk", "from the plug-in")]
    assert parse_payload(json.dumps(chunk("", **{key: refs}))) == [StreamEvent("chunk", "from the plug-in")]


def test_content_wins_over_references_when_both_are_given() -> None:
    event = chunk("content text", contentReferences=[{"answer": "reference text"}])
    assert parse_payload(json.dumps(event)) == [StreamEvent("chunk", "content text")]


def test_done_marker() -> None:
    assert parse_payload("[DONE]") == [StreamEvent("done")]


@pytest.mark.asyncio
async def test_stream_ends_at_done_and_ignores_anything_after() -> None:
    events = await read([sse(chunk("a"), "[DONE]", chunk("after"))])
    assert answer_of(events) == "a"
    assert events[-1].kind == "done"


@pytest.mark.asyncio
async def test_stream_ends_at_finish_reason_without_done() -> None:
    events = await read([sse(chunk("a"), chunk("b", finish_reason="length"), chunk("after"))])
    assert answer_of(events) == "ab"
    assert events[-1] == StreamEvent("done", finish_reason="length")


@pytest.mark.asyncio
async def test_stream_ends_normally_at_end_of_connection() -> None:
    events = await read([sse(chunk("a"), chunk("b"))])
    assert answer_of(events) == "ab"
    assert all(e.kind == "chunk" for e in events)


def test_status_other_than_success_is_an_error_with_its_text() -> None:
    with pytest.raises(FabrixUpstreamError) as info:
        parse_payload('{"status": "ERROR", "eventData": "quota exceeded"}')
    assert "quota exceeded" in info.value.detail


def test_status_success_is_not_an_error() -> None:
    assert parse_payload('{"status": "SUCCESS", "content": "ok"}') == [StreamEvent("chunk", "ok")]


@pytest.mark.parametrize("error", ['"boom"', '{"message": "boom", "code": "E1"}'])
def test_object_with_an_error_key_is_an_error(error: str) -> None:
    with pytest.raises(FabrixUpstreamError) as info:
        parse_payload(f'{{"error": {error}}}')
    assert "boom" in info.value.detail


@pytest.mark.asyncio
async def test_error_after_content_keeps_what_was_received_and_says_so() -> None:
    received: list[StreamEvent] = []
    with pytest.raises(FabrixUpstreamError) as info:
        async for event in iter_events(_stream([sse(chunk("partial "), {"status": "ERROR", "eventData": "x"})])):
            received.append(event)
    assert answer_of(received) == "partial "
    assert info.value.received_any is True


@pytest.mark.asyncio
async def test_error_before_content_says_nothing_was_received() -> None:
    with pytest.raises(FabrixUpstreamError) as info:
        await read([sse({"event_status": "STATUS", "content": "s"}, {"status": "ERROR", "eventData": "x"})])
    assert info.value.received_any is False


@pytest.mark.parametrize("key", ["filterBlockReason", "filter_block_reason"])
def test_content_filter_fr_403_blocks_with_its_message(key: str) -> None:
    reason = {"result_code": "FR-403", "message": "Blocked by policy", "ko": "차단됨", "en": "Blocked (en)"}
    with pytest.raises(FabrixContentFiltered) as info:
        parse_payload(json.dumps(chunk(None, **{key: reason})))
    assert info.value.message == "Blocked by policy"
    assert info.value.texts == {"message": "Blocked by policy", "en": "Blocked (en)", "ko": "차단됨"}


def test_content_filter_without_message_uses_english_then_korean() -> None:
    with pytest.raises(FabrixContentFiltered) as info:
        parse_payload(json.dumps(chunk(None, filterBlockReason={"result_code": "FR-403", "ko": "차단됨"})))
    assert info.value.message == "차단됨"


@pytest.mark.parametrize("code", ["FR-200", "FR-201"])
def test_content_filter_fr_200_and_fr_201_allow_the_content(code: str) -> None:
    event = chunk("fine", filter_block_reason={"result_code": code, "message": "allowed"})
    assert parse_payload(json.dumps(event)) == [StreamEvent("chunk", "fine")]


@pytest.mark.parametrize("reason", [{}, {"message": "checked"}, None])
def test_filter_reason_without_a_result_code_blocks_nothing(reason: object) -> None:
    assert parse_payload(json.dumps(chunk("kept", filterBlockReason=reason))) == [StreamEvent("chunk", "kept")]


def test_non_json_payload_is_a_bad_response() -> None:
    with pytest.raises(FabrixBadResponse):
        parse_payload("plain text")


def test_whitespace_only_payload_is_ignored() -> None:
    assert parse_payload("  ") == []


# --- non-streaming JSON answers ------------------------------------------------------------------


def test_json_answer_content() -> None:
    assert parse_json_answer(b'{"status": "SUCCESS", "responseCode": "R20000", "content": "hi"}') == "hi"


def test_json_answer_in_content_references() -> None:
    body = {"status": "SUCCESS", "content": None, "contentReferences": [{"answer": "from refs"}]}
    assert parse_json_answer(json.dumps(body)) == "from refs"


def test_json_answer_error_status_with_r40000_is_an_error() -> None:
    with pytest.raises(FabrixUpstreamError) as info:
        parse_json_answer(b'{"status": "ERROR", "responseCode": "R40000", "content": null, "message": "bad input"}')
    assert "R40000" in info.value.detail


def test_json_answer_r40000_without_status_is_an_error() -> None:
    with pytest.raises(FabrixUpstreamError):
        parse_json_answer(b'{"responseCode": "R40000", "content": "x"}')


def test_json_answer_that_is_not_json_is_a_bad_response() -> None:
    with pytest.raises(FabrixBadResponse):
        parse_json_answer(b"<html>gateway error</html>")
