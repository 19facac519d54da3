"""Conversations and their messages. Every read and write is scoped to the owning user.

A conversation's messages form a tree (models.Message.parent_id): Regenerate adds an answer
beside the old one, an edited question is asked beside the old question, and both old ones are
kept as versions. The messages on screen, the `current` path, read as one line ordered by seq,
and that line is what every reader here (pages, history, export, search) sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, delete, select

from fabrix_chat.models import Conversation, Message, Role, Status, utcnow

TITLE_LENGTH = 30
LIKE_ESCAPE = "\\"
# The writer of a streaming answer saves it at least every 1.5 s and beats every ~3 s while
# FabriX is silent, so a heartbeat this old has missed several intervals: nobody writes it any more.
# It is well over SQLite's 10 s busy timeout too, so a save kept waiting that long is not taken
# for a dead writer.
HEARTBEAT_STALE_SECONDS = 30.0


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern (with escape=LIKE_ESCAPE) in which % and _ match only themselves."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL characters (SQLite can); drop them rather than lose the row."""
    return text.replace("\x00", "")


def make_title(question: str) -> str:
    """The first question, on one line, cut to about 30 characters."""
    text = " ".join(question.split())
    if len(text) <= TITLE_LENGTH:
        return text or "New chat"
    return text[: TITLE_LENGTH - 1].rstrip() + "…"


def create_conversation(*, session: Session, user_id: int, title: str, agent_id: str = "") -> Conversation:
    conversation = Conversation(user_id=user_id, title=_storable(title)[:200], agent_id=agent_id)
    session.add(conversation)
    session.flush()
    return conversation


def get_conversation(*, session: Session, user_id: int, conversation_id: int) -> Conversation | None:
    """The conversation if it exists and belongs to the user; None otherwise (no difference shown)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.user_id != user_id:
        return None
    return conversation


def matching(query: str):
    """Where-clause: the title or one of the conversation's messages contains `query`, any case.

    % and _ match themselves. The message test is correlated, so only the listed conversations'
    messages are read (through the conversation/seq index).
    """
    like = f"%{escape_like(query.strip())}%"
    in_messages = (
        select(Message.id)
        .where(col(Message.conversation_id) == col(Conversation.id), col(Message.current))
        .where(col(Message.content).ilike(like, escape=LIKE_ESCAPE))
        .exists()
    )
    return or_(col(Conversation.title).ilike(like, escape=LIKE_ESCAPE), in_messages)


def list_conversations(
    *, session: Session, user_id: int, query: str = "", limit: int = 200, offset: int = 0
) -> list[Conversation]:
    """The user's conversations, pinned ones first, each part newest activity first, filtered by
    title and message text."""
    stmt = select(Conversation).where(Conversation.user_id == user_id)
    if query.strip():
        stmt = stmt.where(matching(query))
    # id breaks ties between equal times, so pages neither repeat nor skip a conversation.
    stmt = stmt.order_by(
        col(Conversation.pinned_at).is_(None), col(Conversation.updated_at).desc(), col(Conversation.id).desc()
    )
    return list(session.exec(stmt.offset(max(offset, 0)).limit(max(limit, 0))))


def list_conversation_page(
    *, session: Session, user_id: int, query: str = "", limit: int = 30, offset: int = 0
) -> tuple[list[Conversation], bool]:
    """One page of `list_conversations`, and whether more follow it."""
    limit = max(limit, 0)
    rows = list_conversations(session=session, user_id=user_id, query=query, limit=limit + 1, offset=offset)
    return rows[:limit], len(rows) > limit


def rename_conversation(*, session: Session, user_id: int, conversation_id: int, title: str) -> bool:
    conversation = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return False
    conversation.title = " ".join(_storable(title).split())[:200] or conversation.title
    session.add(conversation)
    return True


def set_pinned(*, session: Session, user_id: int, conversation_id: int, pinned: bool) -> bool:
    """Pin or unpin the user's conversation; False when it is not theirs."""
    conversation = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return False
    if pinned != (conversation.pinned_at is not None):
        conversation.pinned_at = utcnow() if pinned else None
        session.add(conversation)
    return True


FEEDBACK_COMMENT_LIMIT = 1000


def set_feedback(*, session: Session, user_id: int, message_id: int, value: int, comment: str = "") -> bool:
    """The user's verdict on one of their finished answers: 1 good, -1 bad (with `comment`), 0 none.
    False when the message is not such an answer of the user's."""
    message = session.get(Message, message_id)
    if message is None or message.role != Role.ASSISTANT or message.status == Status.STREAMING:
        return False
    if get_conversation(session=session, user_id=user_id, conversation_id=message.conversation_id) is None:
        return False
    value = max(-1, min(1, int(value)))
    message.feedback = value
    message.feedback_comment = _storable(comment)[:FEEDBACK_COMMENT_LIMIT].strip() if value < 0 else ""
    message.feedback_at = utcnow() if value else None
    session.add(message)
    return True


def set_conversation_agent(*, session: Session, user_id: int, conversation_id: int, agent_id: str) -> bool:
    conversation = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return False
    conversation.agent_id = agent_id
    session.add(conversation)
    return True


def delete_conversation(*, session: Session, user_id: int, conversation_id: int) -> bool:
    conversation = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return False
    session.exec(delete(Message).where(Message.conversation_id == conversation_id))
    session.delete(conversation)
    return True


def get_messages(*, session: Session, user_id: int, conversation_id: int) -> list[Message] | None:
    """The conversation's messages on screen in order; None when it is not the user's."""
    if get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        return None
    stmt = select(Message).where(Message.conversation_id == conversation_id, col(Message.current))
    stmt = stmt.order_by(col(Message.seq))
    return list(session.exec(stmt))


def _newest_messages(
    session: Session, conversation_id: int, before_seq: int | None, limit: int
) -> tuple[list[Message], bool]:
    """The newest `limit` messages before `before_seq` in order, and whether older ones exist.

    Read newest first through the conversation/seq index, one extra row telling whether more exist.
    """
    limit = max(limit, 0)
    stmt = select(Message).where(Message.conversation_id == conversation_id, col(Message.current))
    if before_seq is not None:
        stmt = stmt.where(col(Message.seq) < before_seq)
    rows = list(session.exec(stmt.order_by(col(Message.seq).desc()).limit(limit + 1)))
    return rows[:limit][::-1], len(rows) > limit


def get_message_page(
    *, session: Session, user_id: int, conversation_id: int, before_seq: int | None = None, limit: int = 50
) -> tuple[list[Message], bool] | None:
    """The newest `limit` messages before `before_seq` (the latest when None), oldest first, and
    whether older ones exist; None when the conversation is not the user's."""
    if get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        return None
    return _newest_messages(session, conversation_id, before_seq, limit)


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]  # oldest first
    has_earlier: bool
    versions: dict[int, Version]  # of the messages that have others beside them


def open_message_page(
    *, session: Session, user_id: int, conversation_id: int, before_seq: int | None = None, limit: int = 50
) -> MessagePage | None:
    """`get_message_page` with the version of each message that has several."""
    page = get_message_page(
        session=session, user_id=user_id, conversation_id=conversation_id, before_seq=before_seq, limit=limit
    )
    if page is None:
        return None
    return MessagePage(page[0], page[1], versions(session=session, messages=page[0]))


def get_message(*, session: Session, user_id: int, conversation_id: int, message_id: int) -> Message | None:
    """One message of the user's conversation; None when it is not there or not the user's."""
    if get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        return None
    message = session.get(Message, message_id)
    return message if message is not None and message.conversation_id == conversation_id else None


def recent_messages(*, session: Session, user_id: int, conversation_id: int, limit: int) -> list[Message]:
    """The last `limit` messages, oldest first (the history sent with a question); [] when not the user's."""
    page = get_message_page(session=session, user_id=user_id, conversation_id=conversation_id, limit=limit)
    return page[0] if page else []


def add_message(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    role: str,
    content: str,
    status: str = Status.COMPLETE,
    attachment_name: str = "",
    attachment_size: int = 0,
    owner: str = "",
) -> Message:
    """Append a message at the end of the user's conversation and bump its activity time.

    A streaming answer records `owner`, the app instance that writes it, and a first heartbeat.
    """
    # Bumping the activity time first also locks the conversation until commit (its row on
    # PostgreSQL, the database on SQLite), so two appends at once never read the same last seq.
    now = utcnow()
    bumped = session.exec(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.user_id) == user_id)
        .values(updated_at=now)
    )
    if not bumped.rowcount:
        raise LookupError("conversation not found")
    last = session.exec(
        select(Message.id, Message.seq)
        .where(Message.conversation_id == conversation_id, col(Message.current))
        .order_by(col(Message.seq).desc())
        .limit(1)
    ).first()
    message = Message(
        conversation_id=conversation_id,
        seq=0 if last is None else last.seq + 1,
        parent_id=None if last is None else last.id,
        role=role,
        content=_storable(content),
        status=status,
        attachment_name=_storable(attachment_name)[:255],
        attachment_size=attachment_size,
    )
    if status == Status.STREAMING:
        message.owner, message.heartbeat_at = owner[:64], now
    session.add(message)
    session.flush()
    return message


def update_message(
    *, session: Session, user_id: int, message_id: int, content: str, status: str, error: str = ""
) -> bool:
    """Save an answer's text and status (while streaming, and at its end).

    While it streams each save is also a heartbeat; a final status forgets the writer.
    """
    message = session.get(Message, message_id)
    if message is None:
        return False
    conversation = get_conversation(session=session, user_id=user_id, conversation_id=message.conversation_id)
    if conversation is None:
        return False
    message.content = _storable(content)
    message.status = status
    message.error = _storable(error)[:500]
    message.updated_at = utcnow()
    if status == Status.STREAMING:
        message.heartbeat_at = message.updated_at
    else:
        message.owner, message.heartbeat_at = "", None
    conversation.updated_at = message.updated_at
    session.add(message)
    session.add(conversation)
    return True


def retire_from(*, session: Session, user_id: int, conversation_id: int, seq: int) -> int:
    """Take the message at `seq` and everything after it off the screen, keeping them as an
    earlier version (edit and resend, regenerate): the next message added goes beside the one at
    `seq`. Returns how many were taken off."""
    if get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        raise LookupError("conversation not found")
    result = session.exec(
        update(Message)
        .where(col(Message.conversation_id) == conversation_id, col(Message.current), col(Message.seq) >= seq)
        .values(current=False)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class Version:
    """Which version a message on screen is: `number` of `count` (1-based), and its neighbours'
    ids (0: none)."""

    number: int = 1
    count: int = 1
    previous_id: int = 0
    next_id: int = 0


def versions(*, session: Session, messages: list[Message]) -> dict[int, Version]:
    """The version of each of these messages (of one conversation) that has others beside it;
    a message that is the only one of its turn is left out. One query."""
    if not messages:
        return {}
    parents = {m.parent_id for m in messages}
    known = [p for p in parents if p is not None]
    parent = col(Message.parent_id)
    beside = [parent.in_(known)] if known else []
    if None in parents:
        beside.append(parent.is_(None))
    rows = session.exec(
        select(Message.id, Message.parent_id).where(
            Message.conversation_id == messages[0].conversation_id, or_(*beside)
        )
    )
    by_parent: dict[int | None, list[int]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row.id)
    found = {}
    for message in messages:
        ids = sorted(by_parent.get(message.parent_id, []))
        if len(ids) > 1 and message.id in ids:
            at = ids.index(message.id)
            found[message.id or 0] = Version(
                number=at + 1,
                count=len(ids),
                previous_id=ids[at - 1] if at > 0 else 0,
                next_id=ids[at + 1] if at + 1 < len(ids) else 0,
            )
    return found


class AnswerRunning(Exception):
    """A version cannot be switched while an answer of the conversation is being written."""


def show_version(*, session: Session, user_id: int, conversation_id: int, message_id: int) -> bool:
    """Put the version `message_id` on screen in place of the one beside it, followed by the
    versions last chosen after it (the newest of a turn never chosen). False when it is not a
    message of the user's conversation. Raises AnswerRunning while one of its answers streams."""
    if get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        return False
    chosen = session.get(Message, message_id)
    if chosen is None or chosen.conversation_id != conversation_id:
        return False
    streaming = session.exec(
        select(Message.id).where(Message.conversation_id == conversation_id, Message.status == Status.STREAMING)
    ).first()
    if streaming is not None:
        raise AnswerRunning(conversation_id)
    if chosen.current:
        return True
    retire_from(session=session, user_id=user_id, conversation_id=conversation_id, seq=chosen.seq)
    chosen.picked_at = utcnow()
    step: Message | None = chosen
    while step is not None:
        step.current = True
        session.add(step)
        step = session.exec(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.parent_id == step.id)
            .order_by(col(Message.picked_at).desc().nulls_last(), col(Message.id).desc())
            .limit(1)
        ).first()
    return True


def beat(*, session: Session, message_ids: list[int]) -> int:
    """Show that these answers are still being written (one may stall without new text for a while).

    Only answers still streaming are touched; returns how many.
    """
    if not message_ids:
        return 0
    result = session.exec(
        update(Message)
        .where(col(Message.id).in_(message_ids), col(Message.status) == Status.STREAMING)
        .values(heartbeat_at=utcnow())
    )
    return result.rowcount or 0


def mark_interrupted(
    *, session: Session, stale_after_seconds: float = HEARTBEAT_STALE_SECONDS, now: datetime | None = None
) -> int:
    """At start-up: answers left 'streaming' by a crash become 'stopped' (their text is kept).

    An answer whose heartbeat is newer than `stale_after_seconds` is being written by another
    running instance and keeps streaming. Returns how many were stopped.
    """
    cutoff = (now or utcnow()) - timedelta(seconds=stale_after_seconds)
    result = session.exec(
        update(Message)
        .where(
            col(Message.status) == Status.STREAMING,
            or_(col(Message.heartbeat_at).is_(None), col(Message.heartbeat_at) < cutoff),
        )
        .values(status=Status.STOPPED, owner="", heartbeat_at=None)
    )
    return result.rowcount or 0


def old_conversations(*, session: Session, days: int, now: datetime | None = None) -> list[Conversation]:
    """Conversations whose last activity is older than `days` days."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    return list(session.exec(select(Conversation).where(col(Conversation.updated_at) < cutoff)))
