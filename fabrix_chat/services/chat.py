"""Asking FabriX on behalf of a user, around the answer itself (services/answers.py): the
question saved first with the history window it is sent with, the agent list, the rate limiter,
and failures as plain messages. No Reflex here, so all of it is tested directly.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.fabrix import errors as fx
from fabrix_chat.fabrix.client import Agent, get_client
from fabrix_chat.fabrix.limiter import RateLimiter
from fabrix_chat.models import Message, Role, Status
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import usage as usage_repo

log = logging.getLogger(__name__)

AGENT_CACHE_SECONDS = 300
# Messages read to build the history window: a turn is two, plus room for unanswered questions.
HISTORY_READ_FACTOR = 3


# --- what is sent with a question ----------------------------------------------------------


def _answered_turns(history: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (question, answer) turns of `history`, oldest first, by build_contents' rules."""
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for role, text in history:
        if not text or not text.strip():
            continue
        if role == Role.USER:
            pending = text  # an earlier unanswered user message is replaced
        elif role == Role.ASSISTANT and pending is not None:
            turns.append((pending, text))
            pending = None
    return turns


@dataclass(frozen=True)
class HistoryWindow:
    """The `contents` to send, and how many answered turns the token budget left out."""

    contents: list[str]
    left_out: int


def history_window(
    history: Sequence[tuple[str, str]], question: str, *, max_turns: int, max_tokens: int
) -> HistoryWindow:
    """The newest whole turns (at most `max_turns`) that fit `max_tokens` with the question, then the question.

    Turns are read as in build_contents. The estimate (estimate_tokens of each text) of the question
    and the kept turns stays within `max_tokens`; a turn is never cut, and once one does not fit no
    older turn is sent either, so the agent never sees a gap. The question is always sent whole,
    even when it alone is over the budget. `left_out` counts the turns within `max_turns` left out.
    """
    if not question or not question.strip():
        raise ValueError("the question must not be empty")
    recent = _answered_turns(history)[-max_turns:] if max_turns > 0 else []
    used = estimate_tokens(question)
    kept = 0
    for user_text, answer in reversed(recent):
        cost = estimate_tokens(user_text) + estimate_tokens(answer)
        if used + cost > max_tokens:
            break  # older turns without this one would leave a gap in the conversation
        used += cost
        kept += 1
    window = recent[len(recent) - kept :]
    contents = [text for turn in window for text in turn]
    contents.append(question)
    return HistoryWindow(contents=contents, left_out=len(recent) - kept)


def build_contents(history: Sequence[tuple[str, str]], question: str, max_turns: int) -> list[str]:
    """The `contents` list: the last `max_turns` answered turns, alternating user/assistant, then `question`.

    A turn is a user message followed by its answer. Decisions where history is irregular: empty
    texts are skipped; a user message that got no answer (stopped before any text, or failed) is
    dropped, since the agent never answered it; an assistant message with no user message before it
    is dropped. A stopped answer that has some text counts as an answer. No token budget: see
    history_window.
    """
    return history_window(history, question, max_turns=max_turns, max_tokens=sys.maxsize).contents


def estimate_tokens(text: str) -> int:
    """Estimated tokens: one per 4 ASCII characters (the design rule) plus one per other character.

    Korean and other non-Latin text costs about one token per character in current tokenizers,
    so characters / 4 would undercount Korean answers about four times.
    """
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


class ChatChanged(Exception):
    """The conversation is not as the asking tab shows it (another tab asked in it, edited it or
    switched a version): nothing was saved."""


@dataclass(frozen=True)
class PreparedQuestion:
    conversation_id: int
    title: str
    question: Message
    answer_id: int
    contents: tuple[str, ...]
    left_out: int = 0  # earlier turns not sent, to stay within the history's token budget
    versions: int = 1  # how many answers the question now has (Regenerate adds one)
    question_versions: int = 1  # how many questions stand in its place (edit and resend adds one)


def prepare_question(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    agent_id: str,
    question: str = "",
    replace_from_seq: int | None = None,
    regenerate: bool = False,
    shown_id: int | None = None,
    attachment_name: str = "",
    attachment_size: int = 0,
    owner: str = "",
) -> PreparedQuestion:
    """Save the question (and an empty answer to stream into) before FabriX is called.

    conversation_id 0 starts a new conversation titled by the question. replace_from_seq takes
    that message and everything after it off the screen first, kept as an earlier version (edit
    and resend). `regenerate` asks the last question on screen again instead of `question`: its
    answer stays as an earlier version beside the new one. `owner` names the app instance that
    will write the answer (its heartbeat tells a restart it is alive).

    `shown_id` is what the asking tab shows there: the last message (a new question), the
    question edited, or the question regenerated (0: none). When the conversation on screen has
    changed since (another tab), ChatChanged is raised before anything is written.
    Raises LookupError when the conversation is not the user's, or has no question to regenerate.
    """
    if conversation_id:
        conversation = conv_repo.get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
        if conversation is None:
            raise LookupError("conversation not found")
        if agent_id and conversation.agent_id != agent_id:
            conversation.agent_id = agent_id
            session.add(conversation)
    elif regenerate:
        raise LookupError("nothing to regenerate")
    else:
        conversation = conv_repo.create_conversation(
            session=session, user_id=user_id, title=conv_repo.make_title(question), agent_id=agent_id
        )
    cid = conversation.id or 0
    settings = get_settings()
    read = HISTORY_READ_FACTOR * settings.fabrix_api.history_turns

    def recent() -> list[Message]:
        # Only the end of a long conversation can be sent: read that, not all of it.
        return conv_repo.recent_messages(session=session, user_id=user_id, conversation_id=cid, limit=read + 2)

    if regenerate:
        shown = recent()
        asked = next((m for m in reversed(shown) if m.role == Role.USER), None)
        if asked is None:
            raise LookupError("nothing to regenerate")
        if shown_id is not None and asked.id != shown_id:
            raise ChatChanged(cid)
        # An answer that failed or was stopped before any text (Retry after an error) is no
        # version worth keeping: it goes; any other is kept beside the new one.
        for old in shown:
            if (
                old.seq > asked.seq
                and old.role == Role.ASSISTANT
                and not old.content
                and old.status != Status.STREAMING
            ):
                session.delete(old)
        session.flush()
        conv_repo.retire_from(session=session, user_id=user_id, conversation_id=cid, seq=asked.seq + 1)
        history = [m for m in shown if m.seq < asked.seq]
    else:
        if shown_id is not None and _shown_there(session, cid, replace_from_seq) != shown_id:
            raise ChatChanged(cid)
        if replace_from_seq is not None:
            conv_repo.retire_from(session=session, user_id=user_id, conversation_id=cid, seq=replace_from_seq)
        history = recent()
        asked = conv_repo.add_message(
            session=session,
            user_id=user_id,
            conversation_id=cid,
            role=Role.USER,
            content=question,
            attachment_name=attachment_name,
            attachment_size=attachment_size,
        )
    answer = conv_repo.add_message(
        session=session,
        user_id=user_id,
        conversation_id=cid,
        role=Role.ASSISTANT,
        content="",
        status=Status.STREAMING,
        owner=owner,
    )
    window = history_window(
        [(m.role, m.content) for m in history[-read:] if m.content],
        asked.content,
        max_turns=settings.fabrix_api.history_turns,
        max_tokens=settings.history_token_budget,
    )
    found = conv_repo.versions(session=session, messages=[asked, answer])
    count = {message_id: version.count for message_id, version in found.items()}
    return PreparedQuestion(
        conversation_id=cid,
        title=conversation.title,
        question=asked,
        answer_id=answer.id or 0,
        contents=tuple(window.contents),
        left_out=window.left_out,
        versions=count.get(answer.id or 0, 1),
        question_versions=count.get(asked.id or 0, 1),
    )


def _shown_there(session: Session, conversation_id: int, seq: int | None) -> int:
    """The id of the message on screen at `seq` (None: the last one); 0 when there is none."""
    stmt = select(Message.id).where(Message.conversation_id == conversation_id, col(Message.current))
    stmt = stmt.where(Message.seq == seq) if seq is not None else stmt.order_by(col(Message.seq).desc())
    return session.exec(stmt.limit(1)).first() or 0


def switch_version(*, session: Session, user_id: int, conversation_id: int, message_id: int, forward: bool) -> bool:
    """Show the version after (or before) the message on screen `message_id`. False when there is
    none that way or the message is not the user's; raises conv_repo.AnswerRunning while an answer
    of the conversation is written."""
    message = conv_repo.get_message(
        session=session, user_id=user_id, conversation_id=conversation_id, message_id=message_id
    )
    if message is None or not message.current:
        return False
    version = conv_repo.versions(session=session, messages=[message]).get(message_id)
    target = (version.next_id if forward else version.previous_id) if version else 0
    return bool(target) and conv_repo.show_version(
        session=session, user_id=user_id, conversation_id=conversation_id, message_id=target
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
