"""A conversation as a Markdown document (`Export chat` -> `Markdown`). No Reflex here.

The document: the title, when it was started and last changed, the agent, then each message
under a heading with its role and time; the text as written (answers are markdown already, so
their code blocks stay intact), an attached file named under its question, and how an answer
ended when it did not complete.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlmodel import Session

from fabrix_chat import i18n
from fabrix_chat.models import Conversation, Message, Role, Status
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.units import size_label

_UNSAFE_IN_FILENAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def _local(when: datetime) -> str:
    if when.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def load(*, session: Session, user_id: int, conversation_id: int) -> tuple[Conversation, list[Message]] | None:
    """The user's conversation and all its messages in order; None when it is not theirs."""
    conversation = conv_repo.get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    if conversation is None:
        return None
    messages = conv_repo.get_messages(session=session, user_id=user_id, conversation_id=conversation_id) or []
    return conversation, messages


def conversation_markdown(conversation: Conversation, messages: list[Message], agent: str, lang: str) -> str:
    """The conversation as Markdown, labels in `lang`; `agent` is the agent's name (or its id)."""
    title = conversation.title or i18n.t("new_chat", lang)
    lines = [
        f"# {title}",
        "",
        f"- {i18n.t('export_started', lang)}: {_local(conversation.created_at)}",
        f"- {i18n.t('export_updated', lang)}: {_local(conversation.updated_at)}",
    ]
    if agent:
        lines.append(f"- {i18n.t('agent', lang)}: {agent}")
    for message in messages:
        who = i18n.t("you", lang) if message.role == Role.USER else i18n.t("assistant", lang)
        lines += ["", "---", "", f"## {who} · {_local(message.created_at)}", ""]
        lines.append(message.content.rstrip() or f"*{i18n.t('export_no_text', lang)}*")
        if message.attachment_name:
            size = size_label(message.attachment_size)
            named = f"`{message.attachment_name}`" + (f" ({size})" if size else "")
            lines += ["", f"*{i18n.t('export_attached', lang)}: {named}*"]
        if message.status == Status.STOPPED:
            lines += ["", f"*{i18n.t('stopped', lang)}*"]
        elif message.status == Status.ERROR:
            lines += ["", f"*{i18n.t('export_failed', lang)}: {message.error}*" if message.error else ""]
    return "\n".join(lines).rstrip() + "\n"


def export_filename(conversation: Conversation) -> str:
    """A file name from the title and the date, safe on Windows and Linux."""
    title = _UNSAFE_IN_FILENAMES.sub(" ", conversation.title or "chat")
    title = " ".join(title.split())[:60].strip(" .") or "chat"
    return f"{title} {_local(conversation.updated_at)[:10]}.md"
