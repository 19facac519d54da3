"""Data functions of the admin page: every user's conversations. Callers check the admin role."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from fabrix_chat.models import Conversation, Message, User
from fabrix_chat.repo import conversations as conv_repo

LIST_LIMIT = 200


def admin_conversations(
    *, session: Session, user_id: int | None = None, query: str = "", limit: int = LIST_LIMIT
) -> list[tuple[Conversation, str, int]]:
    """(conversation, owner's username, message count), newest activity first, of one user or all.

    `query` matches the title or any message's text (% and _ match themselves).
    """
    message_count = (
        select(func.count())
        .select_from(Message)
        .where(col(Message.conversation_id) == col(Conversation.id))
        .correlate(Conversation)
        .scalar_subquery()
    )
    stmt = select(Conversation, User.username, message_count).join(User, col(User.id) == col(Conversation.user_id))
    if user_id:
        stmt = stmt.where(Conversation.user_id == user_id)
    if query.strip():
        stmt = stmt.where(conv_repo.matching(query))
    stmt = stmt.order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc()).limit(limit)
    return [(conversation, username, int(count)) for conversation, username, count in session.exec(stmt)]


def admin_open_conversation(
    *, session: Session, conversation_id: int
) -> tuple[Conversation, str, list[Message]] | None:
    """Any user's conversation with its owner's name and messages; None when it does not exist."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    owner = session.get(User, conversation.user_id)
    messages = conv_repo.get_messages(session=session, user_id=conversation.user_id, conversation_id=conversation_id)
    return conversation, owner.username if owner else "", messages or []


def admin_delete_conversation(*, session: Session, conversation_id: int) -> bool:
    """Delete any user's conversation with its messages; False when it does not exist."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return False
    return conv_repo.delete_conversation(session=session, user_id=conversation.user_id, conversation_id=conversation_id)
