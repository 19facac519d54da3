"""The prompt library: each user's own saved prompts and those an administrator published for
everyone (user_id None). Data functions only: no Reflex here.

The user's functions are scoped to the user: another user's prompt is simply not found, and only
one's own can be deleted; published ones are read by everyone and changed by the admin functions.
"""

from __future__ import annotations

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from fabrix_chat.i18n import KeyedError
from fabrix_chat.models import Conversation, Message, Prompt, Role
from fabrix_chat.repo.conversations import LIKE_ESCAPE, escape_like

MAX_TITLE_CHARS = 100
MAX_BODY_CHARS = 4000
MAX_OWN_PROMPTS = 200  # per user
MAX_PUBLISHED_PROMPTS = 500
AUTO_TITLE_CHARS = 40  # a title made from the body's first words is about this long
MAX_QUERY_CHARS = 200


class PromptError(KeyedError):
    """A prompt that cannot be stored; its i18n key says why."""


def clean_text(text: object) -> str:
    """Text as typed, without NUL characters (PostgreSQL text cannot hold them) and trimmed."""
    return str(text if isinstance(text, str) else "").replace("\x00", "").strip()


def title_from_body(body: str, limit: int = AUTO_TITLE_CHARS) -> str:
    """The body's first words, on one line, cut at a word boundary near `limit` characters."""
    words = " ".join(body.split())
    if len(words) <= limit:
        return words
    cut = words[: limit + 1].rsplit(" ", 1)[0] if " " in words[: limit + 1] else words[:limit]
    return cut.rstrip(" ,.;:") + "…"


def checked(title: object, body: object) -> tuple[str, str]:
    """(title, body) ready to store, or PromptError: the body is required and at most
    MAX_BODY_CHARS; an empty title becomes the body's first words; titles are one line."""
    body_text = clean_text(body)
    if not body_text:
        raise PromptError("prompt_empty")
    if len(body_text) > MAX_BODY_CHARS:
        raise PromptError("prompt_too_long", limit=MAX_BODY_CHARS)
    title_text = " ".join(clean_text(title).split()) or title_from_body(body_text)
    if len(title_text) > MAX_TITLE_CHARS:
        raise PromptError("prompt_title_too_long", limit=MAX_TITLE_CHARS)
    return title_text, body_text


def _matching(query: str):
    like = f"%{escape_like(query)}%"
    return or_(col(Prompt.title).ilike(like, escape=LIKE_ESCAPE), col(Prompt.body).ilike(like, escape=LIKE_ESCAPE))


def list_prompts(*, session: Session, user_id: int, query: str = "", limit: int = 300) -> list[Prompt]:
    """The user's own prompts (newest first), then the published ones (newest first); `query`
    matches part of a title or body, case-insensitively (% and _ match themselves). A published
    prompt is one whose `user_id` is None."""
    stmt = select(Prompt).where(or_(Prompt.user_id == user_id, col(Prompt.user_id).is_(None)))
    text = clean_text(query)[:MAX_QUERY_CHARS]
    if text:
        stmt = stmt.where(_matching(text))
    stmt = stmt.order_by(col(Prompt.user_id).is_(None), col(Prompt.updated_at).desc(), col(Prompt.id).desc())
    return list(session.exec(stmt.limit(limit)))


def get_prompt(*, session: Session, user_id: int, prompt_id: int) -> Prompt | None:
    """One of the user's own prompts or a published one; None for anyone else's or a missing one."""
    prompt = session.get(Prompt, prompt_id) if prompt_id > 0 else None
    if prompt is None or prompt.user_id not in (user_id, None):
        return None
    return prompt


def count_own(*, session: Session, user_id: int) -> int:
    return session.exec(select(func.count()).select_from(Prompt).where(Prompt.user_id == user_id)).one()


def save_prompt(*, session: Session, user_id: int, title: object, body: object) -> Prompt:
    """A new prompt of the user's; PromptError when it is empty or too long, or when the user
    already keeps MAX_OWN_PROMPTS."""
    title_text, body_text = checked(title, body)
    if count_own(session=session, user_id=user_id) >= MAX_OWN_PROMPTS:
        raise PromptError("prompt_limit", limit=MAX_OWN_PROMPTS)
    prompt = Prompt(user_id=user_id, title=title_text, body=body_text)
    session.add(prompt)
    session.flush()
    return prompt


def delete_prompt(*, session: Session, user_id: int, prompt_id: int) -> bool:
    """Delete one of the user's own prompts; False when it is not theirs (published ones included)."""
    prompt = session.get(Prompt, prompt_id) if prompt_id > 0 else None
    if prompt is None or prompt.user_id is None or prompt.user_id != user_id:
        return False
    session.delete(prompt)
    session.flush()
    return True


def question_text(*, session: Session, user_id: int, message_id: int) -> str | None:
    """The text of one of the user's own questions (a user message in one of their conversations);
    None for anything else."""
    if message_id <= 0:
        return None
    stmt = (
        select(Message.content)
        .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
        .where(Message.id == message_id, Message.role == Role.USER, Conversation.user_id == user_id)
    )
    return session.exec(stmt).first()


# --- published prompts (the admin page's Prompts tab) -------------------------------------------


def list_published(*, session: Session, limit: int = MAX_PUBLISHED_PROMPTS) -> list[Prompt]:
    """The prompts published for everyone, newest first."""
    stmt = select(Prompt).where(col(Prompt.user_id).is_(None))
    stmt = stmt.order_by(col(Prompt.updated_at).desc(), col(Prompt.id).desc())
    return list(session.exec(stmt.limit(limit)))


def publish_prompt(*, session: Session, title: object, body: object) -> Prompt:
    """A prompt for everyone; PromptError when it is empty or too long, or when MAX_PUBLISHED_PROMPTS
    are published already."""
    title_text, body_text = checked(title, body)
    published = session.exec(select(func.count()).select_from(Prompt).where(col(Prompt.user_id).is_(None))).one()
    if published >= MAX_PUBLISHED_PROMPTS:
        raise PromptError("prompt_published_limit", limit=MAX_PUBLISHED_PROMPTS)
    prompt = Prompt(user_id=None, title=title_text, body=body_text)
    session.add(prompt)
    session.flush()
    return prompt


def delete_published(*, session: Session, prompt_id: int) -> Prompt | None:
    """Delete a published prompt; returns it, or None when there is no such published prompt
    (a user's own prompt is never deleted here)."""
    prompt = session.get(Prompt, prompt_id) if prompt_id > 0 else None
    if prompt is None or prompt.user_id is not None:
        return None
    session.delete(prompt)
    session.flush()
    return prompt
