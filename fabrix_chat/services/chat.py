"""Asking FabriX on behalf of a user: the question saved first, the rate limit, the stream,
the answer saved, the usage recorded. No Reflex here, so all of it is tested directly.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.fabrix import errors as fx
from fabrix_chat.fabrix.client import Agent, build_contents, estimate_tokens, get_client
from fabrix_chat.fabrix.limiter import RateLimited, RateLimiter
from fabrix_chat.models import Message
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import usage as usage_repo
from fabrix_chat.services import files

log = logging.getLogger(__name__)

AGENT_CACHE_SECONDS = 300


@dataclass
class PreparedQuestion:
    conversation_id: int
    title: str
    history: list[Message]
    question: Message
    answer_id: int
    contents: list[str] = field(default_factory=list)


def prepare_question(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    agent_id: str,
    question: str,
    replace_from_seq: int | None = None,
    attachment_name: str = "",
    attachment_size: int = 0,
) -> PreparedQuestion:
    """Save the question (and an empty answer to stream into) before FabriX is called.

    conversation_id 0 starts a new conversation titled by the question. replace_from_seq
    drops that message and everything after it first (edit and resend, regenerate).
    Raises LookupError when the conversation is not the user's.
    """
    if conversation_id:
        conversation = conv_repo.get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
        if conversation is None:
            raise LookupError("conversation not found")
        if agent_id and conversation.agent_id != agent_id:
            conversation.agent_id = agent_id
            session.add(conversation)
    else:
        conversation = conv_repo.create_conversation(
            session=session, user_id=user_id, title=conv_repo.make_title(question), agent_id=agent_id
        )
    cid = conversation.id or 0
    if replace_from_seq is not None:
        conv_repo.truncate_from(session=session, user_id=user_id, conversation_id=cid, seq=replace_from_seq)
    history = conv_repo.get_messages(session=session, user_id=user_id, conversation_id=cid) or []
    asked = conv_repo.add_message(
        session=session,
        user_id=user_id,
        conversation_id=cid,
        role="user",
        content=question,
        attachment_name=attachment_name,
        attachment_size=attachment_size,
    )
    answer = conv_repo.add_message(
        session=session, user_id=user_id, conversation_id=cid, role="assistant", content="", status="streaming"
    )
    turns = [(m.role, m.content) for m in history if m.content]
    contents = build_contents(turns, question, get_settings().fabrix_api.history_turns)
    return PreparedQuestion(
        conversation_id=cid,
        title=conversation.title,
        history=history,
        question=asked,
        answer_id=answer.id or 0,
        contents=contents,
    )


async def save_answer(job: dict[str, Any], text: str, status: str, error: str = "") -> None:
    """Write the answer's text and status; failures are logged, the stream goes on."""
    try:
        await run_db(
            conv_repo.update_message,
            user_id=int(job["user_id"]),
            message_id=int(job["message_id"]),
            content=text,
            status=status,
            error=error,
        )
    except Exception:
        log.exception("saving answer %s failed", job.get("message_id"))


# --- the rate limiter, one per process ------------------------------------------------

_limiter: RateLimiter | None = None


def get_limiter() -> RateLimiter:
    global _limiter
    if _limiter is None:
        _limiter = RateLimiter.from_settings(get_settings().rate_limit)
    return _limiter


# --- agents, cached for a few minutes -------------------------------------------------

_agents_cache: tuple[float, list[Agent]] | None = None
_agents_lock = asyncio.Lock()


async def list_agents(refresh: bool = False, *, user_id: int | None = None, username: str = "") -> list[Agent]:
    """The agents FabriX offers, cached for AGENT_CACHE_SECONDS (refresh=True reloads).

    Each real call to FabriX (not a cache hit) is recorded as usage of kind "agents", for the
    given user when there is one.
    """
    global _agents_cache
    async with _agents_lock:
        if not refresh and _agents_cache and time.monotonic() - _agents_cache[0] < AGENT_CACHE_SECONDS:
            return _agents_cache[1]
        started = time.monotonic()
        try:
            agents = await get_client().list_agents()
        except fx.FabrixError as exc:
            await _record_agents_call(user_id, username, started, exc.kind)
            raise
        await _record_agents_call(user_id, username, started, "ok")
        log.info("agent list: %d agents in %.0f ms", len(agents), (time.monotonic() - started) * 1000)
        _agents_cache = (time.monotonic(), agents)
        return agents


async def _record_agents_call(user_id: int | None, username: str, started: float, outcome: str) -> None:
    try:
        await run_db(
            usage_repo.record_usage,
            user_id=user_id,
            username=username,
            agent_id="",
            kind="agents",
            tokens_in=0,
            tokens_out=0,
            latency_ms=int((time.monotonic() - started) * 1000),
            outcome=outcome,
        )
    except Exception:  # usage is bookkeeping: the agent list still reaches the user
        log.exception("recording agent-list usage failed")


def clear_agent_cache() -> None:
    global _agents_cache
    _agents_cache = None


# --- one answer -------------------------------------------------------------------------

Update = Callable[..., None]


async def consume_answer(job: dict[str, Any], update: Update) -> None:
    """Stream one answer into `update(text=..., status=...)`; raises on failure or when cancelled.

    Usage (tokens in and out, latency, outcome) is recorded whatever the ending.
    """
    settings = get_settings()
    lang = str(job.get("lang", "en"))
    contents: list[str] = list(job["contents"])
    tokens_in = sum(estimate_tokens(c) for c in contents)
    tokens_out = 0
    outcome = "ok"
    started = time.monotonic()
    limiter = get_limiter()

    def waiting(_seconds: float) -> None:
        update(status=i18n.t("waiting_for_capacity", lang))

    attached = job.get("file") or {}
    try:
        await limiter.acquire(
            user=str(job["username"]),
            tokens=tokens_in,
            max_wait=(
                settings.rate_limit.file_max_wait_seconds if attached else settings.rate_limit.chat_max_wait_seconds
            ),
            on_wait=waiting,
        )
        update(status="")
        email = settings.fabrix_api.user_email or str(job.get("email", ""))
        if attached:
            tokens_out = await _ask_with_file(job, attached, contents, email, update)
            return
        stream = get_client().stream_answer(agent_id=str(job["agent_id"]), contents=contents, user_email=email or None)
        try:
            async for event in stream:
                if event.kind == "chunk" and event.text:
                    tokens_out += estimate_tokens(event.text)
                    update(text=event.text, status="")
                elif event.kind == "status":
                    update(status=event.text)
        finally:
            await stream.aclose()
    except asyncio.CancelledError:
        outcome = "stopped"
        raise
    except fx.FabrixRateLimited as exc:
        outcome = exc.kind
        if exc.retry_after:
            await limiter.penalize(exc.retry_after)
        raise
    except fx.FabrixError as exc:
        outcome = exc.kind
        log.warning("answer %s failed: %s (%s)", job.get("message_id"), exc.kind, exc.detail)
        raise
    except RateLimited:
        outcome = "busy"
        raise
    except Exception:
        # Not a FabriX failure (a bug, the database, a file): still not an answered question.
        outcome = "error"
        log.exception("answer %s failed unexpectedly", job.get("message_id"))
        raise
    finally:
        latency_ms = int((time.monotonic() - started) * 1000)
        if latency_ms > 5000 and outcome == "ok":
            log.warning("slow answer: %d ms for message %s", latency_ms, job.get("message_id"))
        await _record(job, tokens_in, tokens_out, latency_ms, outcome, limiter)


async def _ask_with_file(
    job: dict[str, Any], attached: dict[str, Any], contents: list[str], email: str, update: Update
) -> int:
    """A question about a stored file: sent from disk, answered in one piece; returns the answer's tokens."""
    path = Path(str(attached["path"]))
    if not files.is_private_file(path):
        raise ValueError("only files from the private uploads folder are sent")
    # The file endpoint answers only when it is done: say what is happening meanwhile.
    update(status=i18n.t("reading_file", str(job.get("lang", "en"))))
    text = await get_client().ask_with_file(
        agent_id=str(job["agent_id"]),
        contents=contents,
        file_path=path,
        filename=str(attached["name"]),
        content_type=str(attached["content_type"]),
        user_email=email or None,
    )
    update(text=text, status="")
    return estimate_tokens(text)


async def _record(
    job: dict[str, Any], tokens_in: int, tokens_out: int, latency_ms: int, outcome: str, limiter: RateLimiter
) -> None:
    try:
        if tokens_out:
            await limiter.record_tokens(user=str(job["username"]), tokens=tokens_out)
        await run_db(
            usage_repo.record_usage,
            user_id=int(job["user_id"]),
            username=str(job["username"]),
            agent_id=str(job["agent_id"]),
            kind=str(job.get("kind", "chat")),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=latency_ms,
            outcome=outcome,
        )
    except Exception:
        log.exception("recording usage failed")


# --- errors as plain messages -----------------------------------------------------------


def plain_error(exc: BaseException, lang: str = "en") -> str:
    """The one plain message a user sees for a failure."""
    if isinstance(exc, RateLimited):
        return i18n.t("error_rate_limited", lang, seconds=max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, fx.FabrixRateLimited):
        return i18n.t("error_rate_limited", lang, seconds=max(1, math.ceil(exc.retry_after or 5)))
    if isinstance(exc, fx.FabrixContentFiltered):
        # The filter sends its reason in several languages: show the user's when it is there.
        return i18n.t("error_filtered", lang, detail=exc.texts.get(lang) or exc.message)
    if isinstance(exc, fx.FabrixUpstreamError):
        return i18n.t("error_upstream", lang)
    if isinstance(exc, (fx.FabrixNetworkError, fx.FabrixTimeout)) and exc.received_any:
        return i18n.t("error_connection_lost", lang)
    keys = {
        fx.FabrixTimeout: "error_timeout",
        fx.FabrixNetworkError: "error_network",
        fx.FabrixAuthError: "error_auth",
        fx.FabrixUnavailable: "error_unavailable",
        fx.FabrixBadResponse: "error_bad_response",
    }
    for cls, key in keys.items():
        if isinstance(exc, cls):
            return i18n.t(key, lang)
    return i18n.t("error_generic", lang)


def retry_makes_sense(exc: BaseException) -> bool:
    """Retry is offered unless asking again cannot help (bad keys, content filter)."""
    return not isinstance(exc, (fx.FabrixAuthError, fx.FabrixContentFiltered))
