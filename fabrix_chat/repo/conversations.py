"""Conversations and their messages. Every read and write is scoped to the owning user."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, delete, select

from fabrix_chat.models import Conversation, Message, utcnow

TITLE_LENGTH = 30
LIKE_ESCAPE = "\\"


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
        .where(col(Message.conversation_id) == col(Conversation.id))
        .where(col(Message.content).ilike(like, escape=LIKE_ESCAPE))
        .exists()
    )
    return or_(col(Conversation.title).ilike(like, escape=LIKE_ESCAPE), in_messages)


def list_conversations(*, session: Session, user_id: int, query: str = "", limit: int = 200) -> list[Conversation]:
    """The user's conversations, newest activity first, filtered by title and message text."""
    stmt = select(Conversation).where(Conversation.user_id == user_id)
    if query.strip():
        stmt = stmt.where(matching(query))
    stmt = stmt.order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc()).limit(limit)
    return list(session.exec(stmt))


def rename_conversation(*, session: Session, user_id: int, conversation_id: int, title: str) -> bool:
    conversation = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return False
    conversation.title = " ".join(_storable(title).split())[:200] or conversation.title
    session.add(conversation)
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
    """The conversation's messages in order; None when it is not the user's."""
    if get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        return None
    stmt = select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.seq))
    return list(session.exec(stmt))


def add_message(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    role: str,
    content: str,
    status: str = "complete",
    attachment_name: str = "",
    attachment_size: int = 0,
) -> Message:
    """Append a message at the end of the user's conversation and bump its activity time."""
    # Bumping the activity time first also locks the conversation until commit (its row on
    # PostgreSQL, the database on SQLite), so two appends at once never read the same last seq.
    bumped = session.exec(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.user_id) == user_id)
        .values(updated_at=utcnow())
    )
    if not bumped.rowcount:
        raise LookupError("conversation not found")
    last = session.exec(select(func.max(Message.seq)).where(Message.conversation_id == conversation_id)).one()
    message = Message(
        conversation_id=conversation_id,
        seq=0 if last is None else last + 1,
        role=role,
        content=_storable(content),
        status=status,
        attachment_name=_storable(attachment_name)[:255],
        attachment_size=attachment_size,
    )
    session.add(message)
    session.flush()
    return message


def update_message(
    *, session: Session, user_id: int, message_id: int, content: str, status: str, error: str = ""
) -> bool:
    """Save an answer's text and status (while streaming, and at its end)."""
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
    conversation.updated_at = message.updated_at
    session.add(message)
    session.add(conversation)
    return True


def truncate_from(*, session: Session, user_id: int, conversation_id: int, seq: int) -> int:
    """Delete the message at `seq` and everything after it (edit and resend, regenerate)."""
    if get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        raise LookupError("conversation not found")
    result = session.exec(delete(Message).where(Message.conversation_id == conversation_id, col(Message.seq) >= seq))
    return result.rowcount or 0


def mark_interrupted(*, session: Session) -> int:
    """At start-up: answers left 'streaming' by a crash become 'stopped' (their text is kept)."""
    messages = session.exec(select(Message).where(Message.status == "streaming")).all()
    for message in messages:
        message.status = "stopped"
        session.add(message)
    return len(messages)


def old_conversations(*, session: Session, days: int, now: datetime | None = None) -> list[Conversation]:
    """Conversations whose last activity is older than `days` days."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    return list(session.exec(select(Conversation).where(col(Conversation.updated_at) < cutoff)))
