"""Share links: a read-only copy of a conversation, as it was when shared, at /shared/{token}.

The token is the link's only secret: 32 random URL-safe characters. Whoever is signed in to this
service and has the link can read the copy; nothing else of the owner's is reachable from it (the
copy holds the title, the agent, and each message's role, text, attached file's name and time).
Stop sharing deletes the row at once, and deleting the conversation (or its owner) deletes it too.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, select

from fabrix_chat.models import Conversation, Share, Status, User
from fabrix_chat.repo import conversations as conv_repo

TOKEN_BYTES = 24  # 32 characters of base64url
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
# A copy bigger than this is refused before it is written: the shared page sends it whole.
MAX_SNAPSHOT_CHARS = 2_000_000


class TooLong(Exception):
    """The conversation is too long to share."""


@dataclass(frozen=True)
class SharedMessage:
    role: str
    content: str
    attachment_name: str = ""
    created_at: str = ""  # ISO 8601, UTC


@dataclass(frozen=True)
class SharedCopy:
    token: str
    title: str
    agent_id: str
    created_at: datetime
    messages: list[SharedMessage]


def valid_token(token: object) -> str:
    """The token if it has the form of one (else ""), so a forged one costs no database query."""
    text = str(token or "")
    return text if TOKEN_PATTERN.fullmatch(text) else ""


def share_of(*, session: Session, user_id: int, conversation_id: int) -> Share | None:
    """The user's share of their conversation, if it is shared."""
    return session.exec(select(Share).where(Share.conversation_id == conversation_id, Share.user_id == user_id)).first()


def share(*, session: Session, user_id: int, conversation_id: int) -> Share | None:
    """Share the user's conversation (its messages on screen, as they are now), or renew the copy
    of one already shared, keeping its link. None when the conversation is not the user's.
    Raises TooLong when the copy would be over MAX_SNAPSHOT_CHARS."""
    conversation = conv_repo.get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return None
    messages = conv_repo.get_messages(session=session, user_id=user_id, conversation_id=conversation_id) or []
    snapshot = json.dumps(
        [
            {
                "role": m.role,
                "content": m.content,
                "attachment_name": m.attachment_name,
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
            if m.status != Status.STREAMING and (m.content or m.attachment_name)
        ],
        ensure_ascii=False,
    )
    if len(snapshot) > MAX_SNAPSHOT_CHARS:
        raise TooLong(len(snapshot))
    row = share_of(session=session, user_id=user_id, conversation_id=conversation_id)
    if row is None:
        row = Share(token=secrets.token_urlsafe(TOKEN_BYTES), conversation_id=conversation_id, user_id=user_id)
    row.title, row.agent_id, row.snapshot = conversation.title, conversation.agent_id, snapshot
    session.add(row)
    session.flush()
    return row


def stop_sharing(*, session: Session, user_id: int, conversation_id: int) -> bool | None:
    """End the user's share of their conversation; False when it was not shared, None when the
    conversation is not theirs."""
    if conv_repo.get_conversation(session=session, user_id=user_id, conversation_id=conversation_id) is None:
        return None
    row = share_of(session=session, user_id=user_id, conversation_id=conversation_id)
    if row is None:
        return False
    session.delete(row)
    return True


def read(*, session: Session, token: str) -> SharedCopy | None:
    """The copy behind a link; None when the token is not (or no longer) shared."""
    token = valid_token(token)
    row = session.exec(select(Share).where(Share.token == token)).first() if token else None
    if row is None:
        return None
    messages = [
        SharedMessage(
            role=str(m.get("role", "")),
            content=str(m.get("content", "")),
            attachment_name=str(m.get("attachment_name", "")),
            created_at=str(m.get("created_at", "")),
        )
        for m in json.loads(row.snapshot or "[]")
    ]
    return SharedCopy(row.token, row.title, row.agent_id, row.created_at, messages)


def continue_copy(*, session: Session, user_id: int, token: str) -> int:
    """`Continue in my chats`: the shared copy as a new conversation of the user; its id, or 0
    when the link is no longer shared. Attached files are not copied, only their names."""
    copy = read(session=session, token=token)
    if copy is None:
        return 0
    conversation = conv_repo.create_conversation(
        session=session, user_id=user_id, title=copy.title or "Shared chat", agent_id=copy.agent_id
    )
    for message in copy.messages:
        conv_repo.add_message(
            session=session,
            user_id=user_id,
            conversation_id=conversation.id or 0,
            role=message.role,
            content=message.content,
            attachment_name=message.attachment_name,
        )
    return conversation.id or 0


def conversation_page(
    *, session: Session, user_id: int, query: str = "", limit: int = 30
) -> tuple[list[Conversation], bool, frozenset[int]]:
    """The sidebar's page (conversations.list_conversation_page) and which of its rows are shared."""
    rows, more = conv_repo.list_conversation_page(session=session, user_id=user_id, query=query, limit=limit)
    ids = [c.id for c in rows]
    stmt = select(Share.conversation_id).where(Share.user_id == user_id, col(Share.conversation_id).in_(ids))
    return rows, more, frozenset(session.exec(stmt)) if ids else frozenset()


# --- the admin's view ---------------------------------------------------------------------


@dataclass(frozen=True)
class ShareRow:
    id: int
    title: str
    username: str
    created_at: datetime


def list_all(*, session: Session, limit: int = 200) -> list[ShareRow]:
    """Every share, newest first, with its owner's name (the admin's Conversations tab)."""
    stmt = (
        select(Share.id, Conversation.title, User.username, Share.created_at)
        .join(Conversation, col(Conversation.id) == col(Share.conversation_id))
        .join(User, col(User.id) == col(Share.user_id))
        .order_by(col(Share.created_at).desc(), col(Share.id).desc())
        .limit(limit)
    )
    return [ShareRow(*row) for row in session.exec(stmt)]


def revoke(*, session: Session, share_id: int) -> bool:
    """An admin ends any share; False when there is no such share."""
    result = session.exec(delete(Share).where(col(Share.id) == share_id))
    return bool(result.rowcount)
