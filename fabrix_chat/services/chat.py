"""Asking FabriX on behalf of a user, around the answer itself (services/answers.py): the
question saved first with the history window it is sent with, the agent list, the rate limiter,
and failures as plain messages. No Reflex here, so all of it is tested directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlmodel import Session

from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.fabrix import errors as fx
from fabrix_chat.fabrix.client import Agent, get_client, history_window
from fabrix_chat.fabrix.limiter import RateLimiter
from fabrix_chat.models import Message
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import usage as usage_repo

log = logging.getLogger(__name__)

AGENT_CACHE_SECONDS = 300
# Messages read to build the history window: a turn is two, plus room for unanswered questions.
HISTORY_READ_FACTOR = 3


@dataclass(frozen=True)
class PreparedQuestion:
    conversation_id: int
    title: str
    question: Message
    answer_id: int
    contents: tuple[str, ...]
    left_out: int = 0  # earlier turns not sent, to stay within the history's token budget


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
    owner: str = "",
) -> PreparedQuestion:
    """Save the question (and an empty answer to stream into) before FabriX is called.

    conversation_id 0 starts a new conversation titled by the question. replace_from_seq
    drops that message and everything after it first (edit and resend, regenerate). `owner`
    names the app instance that will write the answer (its heartbeat tells a restart it is alive).
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
    settings = get_settings()
    # Only the end of a long conversation can be sent: read that, not all of it.
    history = conv_repo.recent_messages(
        session=session,
        user_id=user_id,
        conversation_id=cid,
        limit=HISTORY_READ_FACTOR * settings.fabrix_api.history_turns,
    )
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
        session=session,
        user_id=user_id,
        conversation_id=cid,
        role="assistant",
        content="",
        status="streaming",
        owner=owner,
    )
    window = history_window(
        [(m.role, m.content) for m in history if m.content],
        question,
        max_turns=settings.fabrix_api.history_turns,
        max_tokens=settings.history_token_budget,
    )
    return PreparedQuestion(
        conversation_id=cid,
        title=conversation.title,
        question=asked,
        answer_id=answer.id or 0,
        contents=tuple(window.contents),
        left_out=window.left_out,
    )


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


# --- errors as plain messages -----------------------------------------------------------


def retry_makes_sense(exc: BaseException) -> bool:
    """Retry is offered unless asking again cannot help (bad keys, content filter)."""
    return not isinstance(exc, (fx.FabrixAuthError, fx.FabrixContentFiltered))
