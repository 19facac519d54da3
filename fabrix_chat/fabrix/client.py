"""The FabriX client: agent list, streamed answers and file questions over one shared httpx client.

Everything FABRIX_API.md asks of a client lives here: headers, paging, the request body, retries
(agent list: always on connect errors, timeouts and 5xx; ask: only before the answer started),
error mapping to `fabrix.errors`, and timing logs. The key and the token are never logged.

One process shares one `FabrixClient` (and so one `httpx.AsyncClient`) through `get_client()`;
demo mode points it at the built-in emulator with `set_base_url_override()`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from fabrix_chat.config import FabrixSettings, get_settings
from fabrix_chat.fabrix.errors import (
    FabrixAuthError,
    FabrixBadResponse,
    FabrixContentFiltered,
    FabrixError,
    FabrixNetworkError,
    FabrixRateLimited,
    FabrixTimeout,
    FabrixUnavailable,
    FabrixUpstreamError,
)
from fabrix_chat.fabrix.sse import (
    SSEDecoder,
    StreamEvent,
    check_errors,
    iter_events,
    parse_json_answer,
    parse_payload,
)

log = logging.getLogger(__name__)

API_PREFIX = "/openapi/agent-chat/v1"
TOKEN_HEADER = "x-openapi-token"
EMAIL_HEADER = "x-generative-ai-user-email"
AGENT_PAGE_LIMIT = 100
MAX_AGENT_PAGES = 50
SLOW_CALL_SECONDS = 5.0

HTTP_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
HTTP_TIMEOUT = httpx.Timeout(connect=5, read=30, write=10, pool=5)
# A 100 MB upload needs more than 10 s to write, and FabriX reads the whole file before answering.
UPLOAD_TIMEOUT = httpx.Timeout(connect=5, read=120, write=120, pool=5)

_BEARER = re.compile(r"^(?:bearer\s+)+", re.IGNORECASE)
_ERROR_BODY_LIMIT = 4096

Sleep = Callable[[float], Awaitable[None]]


# ---------------------------------------------------------------------------------------------
# Agents, conversation window, token estimate (pure functions)


@dataclass(frozen=True)
class Agent:
    """One FabriX agent as the picker shows it."""

    id: str
    label: str
    description: str = ""

    @property
    def short_id(self) -> str:
        """The id shortened for display, e.g. `520e8dd8…`."""
        return self.id if len(self.id) <= 8 else self.id[:8] + "…"


def _localized(value: Any) -> str:
    """A display text from a plain string, `{"en": ..., "ko": ...}` or `[{"languageCode", "content"}]`.

    Prefers English, then Korean, then the first text given.
    """
    if isinstance(value, str):
        return value.strip()
    texts: dict[str, str] = {}
    order: list[str] = []
    if isinstance(value, dict):
        if "content" in value or "languageCode" in value:
            value = [value]
        else:
            for lang, text in value.items():
                if isinstance(text, str) and text.strip():
                    texts.setdefault(str(lang).lower(), text.strip())
                    order.append(text.strip())
    if isinstance(value, list):
        for entry in value:
            if isinstance(entry, str) and entry.strip():
                order.append(entry.strip())
            elif isinstance(entry, dict):
                text = entry.get("content") or entry.get("text") or entry.get("value")
                lang = entry.get("languageCode") or entry.get("language_code") or entry.get("lang") or ""
                if isinstance(text, str) and text.strip():
                    texts.setdefault(str(lang).lower(), text.strip())
                    order.append(text.strip())
    for lang in ("en", "ko"):
        if lang in texts:
            return texts[lang]
    return order[0] if order else ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def normalize_agents(data: Any) -> tuple[list[Agent], int | None]:
    """Agents from any known list shape, and the total when the response states one.

    Accepts `{"items": [...], "total": N}` (also under "agents"/"data"), a bare list, `label` or
    `name` (plain or a language list), and `agentId`/`agent_id`/`id`. Items without an id are skipped.
    """
    total: int | None = None
    if isinstance(data, dict):
        total = next((_as_int(data[k]) for k in ("total", "totalCount", "total_count") if k in data), None)
        for key in ("items", "agents", "data", "results"):
            value = data.get(key)
            if isinstance(value, list):
                items = value
                break
            if isinstance(value, dict):
                inner, inner_total = normalize_agents(value)
                return inner, total if total is not None else inner_total
        else:
            raise FabrixBadResponse(detail=f"agent list has no items (keys: {sorted(data)[:10]})")
    elif isinstance(data, list):
        items = data
    else:
        raise FabrixBadResponse(detail=f"agent list is a {type(data).__name__}, not a list or an object")

    agents: list[Agent] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        raw_id = next((item[k] for k in ("agentId", "agent_id", "id") if item.get(k) not in (None, "")), None)
        if raw_id is None or isinstance(raw_id, bool):
            continue
        agent_id = str(raw_id).strip()
        label = _localized(item.get("label")) or _localized(item.get("name")) or _localized(item.get("agentName"))
        description = _localized(item.get("description"))
        agents.append(Agent(id=agent_id, label=label or agent_id, description=description))
    return agents, total


# ---------------------------------------------------------------------------------------------
# Helpers for responses and errors


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from a number or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _snippet(body: bytes) -> str:
    text = body[:300].decode("utf-8", "replace")
    return " ".join(text.split())


async def _read_limited(response: httpx.Response, limit: int = _ERROR_BODY_LIMIT) -> bytes:
    """The start of an error response body (enough for a log line)."""
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk
        if len(buf) >= limit:
            break
    return bytes(buf[:limit])


def _collect_sse_text(raw: bytes) -> str:
    """The answer text of a complete SSE body (a file answer sent as a stream)."""
    decoder = SSEDecoder()
    parts: list[str] = []
    for payload in [*decoder.feed(raw), *decoder.flush()]:
        for event in parse_payload(payload):
            if event.kind == "done":
                return "".join(parts)
            if event.kind == "chunk":
                parts.append(event.text)
    return "".join(parts)


def _check_contents(contents: Sequence[str]) -> None:
    if not contents or not isinstance(contents[-1], str) or not contents[-1].strip():
        raise ValueError("contents must end with a non-empty question")


# ---------------------------------------------------------------------------------------------
# The client


def make_http_client(*, timeout: httpx.Timeout | None = None) -> httpx.AsyncClient:
    """The one httpx client of a process: 50 connections, 20 kept alive for 30 s, connect retries.

    `timeout` replaces the default (connect 5 s, read 30 s between chunks, write 10 s, pool 5 s).
    """
    transport = httpx.AsyncHTTPTransport(retries=2, limits=HTTP_LIMITS)
    return httpx.AsyncClient(transport=transport, timeout=timeout or HTTP_TIMEOUT)


class FabrixClient:
    """Calls the FabriX agent API for one configuration (`settings`, replaceable at run time)."""

    list_retry_delays: tuple[float, ...] = (0.5, 1.0)  # 3 attempts for the agent list
    ask_retry_delays: tuple[float, ...] = (0.3, 0.8)  # up to 2 more attempts before an answer starts
    max_retry_after: float = 3.0  # a 429 is retried inside an ask only when Retry-After is this short

    def __init__(
        self,
        settings: FabrixSettings,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http if http is not None else make_http_client()
        self._sleep = sleep  # injectable so tests do not wait for backoff

    # -- request building ---------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.settings.base_url.rstrip("/") + API_PREFIX + path

    def _bare_token(self) -> str:
        return _BEARER.sub("", self.settings.openapi_token.strip())

    def _headers(
        self, user_email: str | None, *, json_body: bool = False, accept: str = "application/json"
    ) -> dict[str, str]:
        headers = {"Accept": accept}
        if self.settings.client_key:
            headers[self.settings.client_header or "x-fabrix-client"] = self.settings.client_key
        token = self._bare_token()
        if token:
            headers[TOKEN_HEADER] = f"Bearer {token}"
        email = (user_email or self.settings.user_email or "").strip()
        if email and email.isascii():
            headers[EMAIL_HEADER] = email
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _redact(self, text: str) -> str:
        """Remove the key and the token from text that may reach a log (an echoed header, a URL)."""
        for secret in (self.settings.client_key, self.settings.openapi_token.strip(), self._bare_token()):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    # -- error mapping --------------------------------------------------------------------------

    def _status_error(self, status: int, headers: Mapping[str, str], body: bytes, what: str) -> FabrixError:
        snippet = self._redact(_snippet(body))
        detail = f"FabriX {what}: HTTP {status}" + (f": {snippet}" if snippet else "")
        if status in (401, 403):
            return FabrixAuthError(detail=detail + " (check client_key, openapi_token and client_header)")
        if status == 429:
            return FabrixRateLimited(detail=detail, retry_after=_retry_after(headers.get("retry-after")))
        if status >= 500:
            return FabrixUnavailable(detail=detail)
        if 300 <= status < 400:
            location = self._redact(headers.get("location", ""))
            return FabrixBadResponse(detail=f"{detail} (redirected to {location or '?'}; check base_url)")
        try:
            obj = json.loads(body)
            if isinstance(obj, dict):
                check_errors(obj)
        except ValueError:
            pass  # not JSON: the status code is all we know
        except FabrixContentFiltered as exc:
            return exc
        except FabrixError:
            pass  # the HTTP status makes the better detail
        return FabrixUpstreamError(detail=detail)

    def _transport_error(self, exc: httpx.RequestError, what: str) -> FabrixError:
        detail = f"FabriX {what}: {type(exc).__name__}: {self._redact(str(exc)) or 'no detail'}"
        if isinstance(exc, httpx.TimeoutException):
            return FabrixTimeout(detail=detail)
        if isinstance(exc, httpx.DecodingError):
            return FabrixBadResponse(detail=detail)
        return FabrixNetworkError(detail=detail)

    @staticmethod
    def _log_timing(what: str, started: float, extra: str = "") -> None:
        elapsed = time.monotonic() - started
        level = logging.WARNING if elapsed > SLOW_CALL_SECONDS else logging.INFO
        slow = " (slow)" if level == logging.WARNING else ""
        log.log(level, "FabriX %s took %.2fs%s%s", what, elapsed, slow, f" {extra}" if extra else "")

    # -- agent list -----------------------------------------------------------------------------

    async def _get_json(self, url: str, params: dict[str, Any], what: str) -> Any:
        try:
            response = await self._http.get(url, params=params, headers=self._headers(None))
        except httpx.RequestError as exc:
            raise self._transport_error(exc, what) from exc
        if not response.is_success:
            raise self._status_error(response.status_code, response.headers, response.content[:_ERROR_BODY_LIMIT], what)
        try:
            return json.loads(response.content)
        except ValueError:
            raise FabrixBadResponse(
                detail=f"FabriX {what}: not JSON: {self._redact(_snippet(response.content))}"
            ) from None

    async def _get_json_retrying(self, url: str, params: dict[str, Any], what: str) -> Any:
        delays = self.list_retry_delays
        for attempt in range(len(delays) + 1):
            try:
                return await self._get_json(url, params, what)
            except (FabrixNetworkError, FabrixTimeout, FabrixUnavailable) as exc:
                if attempt == len(delays):
                    raise
                log.warning("FabriX %s failed (%s); retry %d in %.1fs", what, exc.detail, attempt + 1, delays[attempt])
                await self._sleep(delays[attempt])
        raise AssertionError("unreachable")

    async def list_agents(self) -> list[Agent]:
        """Every agent FabriX lists, reading pages of 100 until the total (at most 50 pages)."""
        started = time.monotonic()
        url = self._url("/agents")
        agents: list[Agent] = []
        seen: set[str] = set()
        page = 0
        while page < MAX_AGENT_PAGES:
            page += 1
            data = await self._get_json_retrying(url, {"page": page, "limit": AGENT_PAGE_LIMIT}, "agent list")
            items, total = normalize_agents(data)
            new = [agent for agent in items if agent.id not in seen]
            seen.update(agent.id for agent in new)
            agents.extend(new)
            # A gateway that ignores paging sends the same page again: no new agents ends the loop.
            if not new or len(items) < AGENT_PAGE_LIMIT or (total is not None and len(agents) >= total):
                break
        self._log_timing("agent list", started, f"({len(agents)} agents, {page} page(s))")
        return agents

    # -- streamed answer ------------------------------------------------------------------------

    async def _answer_events(self, response: httpx.Response) -> AsyncIterator[StreamEvent]:
        """The events of one successful ask response, always ending with one `done` event."""
        content_type = response.headers.get("content-type", "").lower()
        if "json" in content_type and "event-stream" not in content_type:
            # A gateway that does not stream: the whole answer in one JSON object.
            text = parse_json_answer(await response.aread())
            if text:
                yield StreamEvent("chunk", text)
            yield StreamEvent("done")
            return
        saw_event = False
        async with aclosing(iter_events(response.aiter_bytes())) as events:
            async for event in events:
                saw_event = True
                yield event
                if event.kind == "done":
                    return
        if not saw_event:
            raise FabrixBadResponse(detail=f"FabriX ask: the answer stream had no events ({content_type or 'no type'})")
        yield StreamEvent("done")  # ended at end of connection, which FabriX allows

    def _ask_retry_delay(self, error: FabrixError, attempt: int) -> float | None:
        """Seconds to wait before retrying a failed ask attempt, or None when it must not be retried."""
        if attempt > len(self.ask_retry_delays):
            return None
        if isinstance(error, FabrixRateLimited):
            if error.retry_after is None or error.retry_after > self.max_retry_after:
                return None
            return error.retry_after
        return self.ask_retry_delays[attempt - 1]

    async def stream_answer(
        self, *, agent_id: str, contents: list[str], user_email: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Ask `agent_id` and yield `chunk`/`status` events, then exactly one `done` event.

        Connect errors, dropped connections without a response, 5xx and a 429 with a short
        Retry-After are retried, but only before the answer started. Any later failure raises with
        `received_any=True` if answer text was yielded. Closing the generator (`aclose()`, or the
        caller stopping) closes the upstream response at once. ValueError if the question is empty.
        """
        _check_contents(contents)
        body = {
            "agentId": agent_id,
            "contents": list(contents),
            "isStream": True,
            "isRagOn": True,
            "executeFinalAnswer": True,
            "executeRagFinalAnswer": True,
            "executeRagStandaloneQuery": True,
        }
        url = self._url("/agent-messages")
        headers = self._headers(user_email, json_body=True, accept="text/event-stream")
        started = time.monotonic()
        first_byte: float | None = None
        chars = 0
        attempt = 0
        outcome = "stopped by the caller"
        try:
            while True:
                attempt += 1
                answer_started = False
                retryable = False
                try:
                    async with self._http.stream("POST", url, json=body, headers=headers) as response:
                        if first_byte is None:
                            first_byte = time.monotonic() - started
                        if not response.is_success:
                            raw = await _read_limited(response)
                            raise self._status_error(response.status_code, response.headers, raw, "ask")
                        answer_started = True
                        async with aclosing(self._answer_events(response)) as events:
                            async for event in events:
                                if event.kind == "chunk":
                                    chars += len(event.text)
                                yield event
                    outcome = "ok"
                    return
                except httpx.RequestError as exc:
                    error = self._transport_error(exc, "ask")
                    error.__cause__ = exc
                    # Refused connection, or closed before any response: FabriX did not start the work.
                    retryable = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError))
                except (FabrixUnavailable, FabrixRateLimited) as exc:
                    error, retryable = exc, True
                except FabrixError as exc:
                    error = exc
                error.received_any = error.received_any or chars > 0
                delay = self._ask_retry_delay(error, attempt) if retryable and not answer_started else None
                if delay is None:
                    outcome = f"failed ({error.kind}): {error.detail}"
                    raise error
                log.warning("FabriX ask attempt %d failed (%s); retrying in %.1fs", attempt, error.detail, delay)
                await self._sleep(delay)
        finally:
            total = time.monotonic() - started
            ttfb = f"{first_byte:.2f}s" if first_byte is not None else "-"
            level = logging.INFO if outcome == "ok" or outcome.startswith("stopped") else logging.WARNING
            if first_byte is not None and first_byte > SLOW_CALL_SECONDS:
                level = logging.WARNING
            log.log(
                level,
                "FabriX ask agent=%s %s: first byte %s, total %.2fs, %d chars, %d attempt(s)",
                agent_id,
                outcome,
                ttfb,
                total,
                chars,
                attempt,
            )

    # -- file question --------------------------------------------------------------------------

    async def ask_with_file(
        self,
        *,
        agent_id: str,
        contents: list[str] | str,
        file_path: Path,
        filename: str,
        content_type: str,
        user_email: str | None = None,
    ) -> str:
        """Ask about one file (multipart, streamed from disk) and return the whole answer text.

        `contents` is the question, or the turns ending with it (sent JSON-encoded when more than one).
        Not retried by the app (the transport still retries refused connections).
        """
        turns = [contents] if isinstance(contents, str) else list(contents)
        _check_contents(turns)
        fields = {
            "agentId": agent_id,
            "contents": turns[0] if len(turns) == 1 else json.dumps(turns, ensure_ascii=False),
            "isStream": "false",
            "isRagOn": "true",
        }
        path = Path(file_path)
        started = time.monotonic()
        fh = await asyncio.to_thread(path.open, "rb")
        try:
            size = os.fstat(fh.fileno()).st_size
            # httpx reads the open file in 64 KB pieces while sending: never the whole file at once.
            response = await self._http.post(
                self._url("/agent-messages/file"),
                data=fields,
                files={"file": (filename, fh, content_type)},
                headers=self._headers(user_email),
                timeout=UPLOAD_TIMEOUT,
            )
        except httpx.RequestError as exc:
            raise self._transport_error(exc, "file ask") from exc
        finally:
            fh.close()
        if not response.is_success:
            raise self._status_error(
                response.status_code, response.headers, response.content[:_ERROR_BODY_LIMIT], "file ask"
            )
        if "event-stream" in response.headers.get("content-type", "").lower():
            text = _collect_sse_text(response.content)
        else:
            text = parse_json_answer(response.content)
        self._log_timing("file ask", started, f"(agent={agent_id}, {size} bytes, {len(text)} chars)")
        return text

    async def aclose(self) -> None:
        """Close the http client if this client created it."""
        if self._owns_http:
            await self._http.aclose()


# ---------------------------------------------------------------------------------------------
# The process-wide client

_shared: FabrixClient | None = None
_override: dict[str, str] | None = None


def _effective(settings: FabrixSettings) -> FabrixSettings:
    return settings.model_copy(update=_override) if _override else settings


def set_base_url_override(url: str, client_key: str, token: str, *, client_header: str | None = None) -> None:
    """Point the shared client at another FabriX (demo mode: the built-in emulator and its demo keys)."""
    global _override
    _override = {"base_url": url, "client_key": client_key, "openapi_token": token}
    if client_header:
        _override["client_header"] = client_header
    if _shared is not None:
        _shared.settings = _effective(_shared.settings)


def clear_base_url_override() -> None:
    """Forget the override; the next `get_client(settings)` uses the settings as given."""
    global _override
    _override = None


def get_client(settings: FabrixSettings | None = None) -> FabrixClient:
    """The one FabrixClient of this process, created on first use.

    `settings` defaults to the configured `[fabrix_api]`; passing settings later replaces the
    client's settings (the override, if any, still applies) but keeps its connections.
    """
    global _shared
    if _shared is None:
        if settings is None:
            settings = get_settings().fabrix_api
        _shared = FabrixClient(_effective(settings))
    elif settings is not None:
        _shared.settings = _effective(settings)
    return _shared


async def close_client() -> None:
    """Close the shared client (at shutdown); a later `get_client()` makes a new one."""
    global _shared
    client, _shared = _shared, None
    if client is not None:
        await client.aclose()
