"""The chat page's state: a small base, and one substate per concern.

    ChatState            the page itself: the one alert (with Retry), demo mode, the page load
    ├─ ConversationState  the open conversation: its messages, paged, and asking (state/conversation.py)
    ├─ LiveAnswerState    the answer being streamed, and Stop (state/live_answer.py)
    ├─ SidebarState       the conversation list, paged, search, rename and delete (state/sidebar.py)
    ├─ AgentState         the agent picker (state/agents.py)
    └─ ComposerState      the attached file of the next question (state/composer.py)

An event sends the browser (and, with Redis, writes) only the substates it changed: a streamed
batch changes none of them (it is pushed as the added text, see state/live_answer.py); asking a
question changes the question list of this visit, the live answer, and the sidebar only when its
rows changed.

Every handler that reads or changes a conversation checks the signed-in user itself, and the
repository functions it calls are scoped to that user: another user's id is simply "not found".
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.models import Conversation, Message, Role
from fabrix_chat.services import files as file_service
from fabrix_chat.state.auth import LOGIN_ROUTE, AuthState
from fabrix_chat.state.ui import UIState
from fabrix_chat.units import size_label

MAX_MESSAGE_CHARS = 20_000


@dataclasses.dataclass
class MessageView:
    id: int = 0
    seq: int = 0
    role: str = "user"
    content: str = ""
    status: str = "complete"
    error: str = ""
    attachment_name: str = ""
    attachment_size: str = ""
    # An answer streamed into this page: its text is the page's own copy (assets/chat.js), so it is
    # not sent a second time when it ends.
    live: bool = False
    parts: int = 0  # how many batches such an answer was sent (the page checks it has them all)
    note: str = ""  # a quiet line under the answer (older turns left out of its history)
    feedback: int = 0  # 1 Good answer, -1 Bad answer, 0 none
    version: int = 0  # this is version `version` of `versions` (both 0: the only one)
    versions: int = 0


@dataclasses.dataclass
class ConversationItem:
    id: int = 0
    title: str = ""
    group: str = ""
    group_start: bool = False
    time: str = ""
    pinned: bool = False
    shared: bool = False  # it has a share link


@dataclasses.dataclass
class AgentOption:
    id: str = ""
    label: str = ""
    short_id: str = ""


def message_view(message: Message, version=None) -> MessageView:
    """The message as the page shows it; `version` (a repo.conversations.Version) when it has others."""
    return MessageView(
        version=version.number if version else 0,
        versions=version.count if version else 0,
        id=message.id or 0,
        seq=message.seq,
        role=message.role,
        content=message.content,
        status=message.status,
        error=message.error,
        attachment_name=message.attachment_name,
        attachment_size=size_label(message.attachment_size),
        feedback=message.feedback,
    )


def date_group(when: datetime, now: datetime) -> str:
    """The sidebar group key of a conversation's last activity, in the server's local time."""
    local_when = when.astimezone()
    local_now = now.astimezone()
    days = (local_now.date() - local_when.date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days <= 7:
        return "previous_7_days"
    return "older"


def conversation_items(
    conversations: list[Conversation], lang: str, now: datetime | None = None, shared: frozenset[int] = frozenset()
) -> list[ConversationItem]:
    """Sidebar rows in the list's order (pinned first), each group's first row marked so its
    heading is shown once; pinned rows form the group "Pinned"; `shared` are the ids with a link."""
    now = now or datetime.now(UTC)
    items: list[ConversationItem] = []
    previous = ""
    for conversation in conversations:
        updated = conversation.updated_at
        if updated.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
            updated = updated.replace(tzinfo=UTC)
        pinned = conversation.pinned_at is not None
        day = date_group(updated, now)
        group = "pinned" if pinned else day
        local = updated.astimezone()
        time_label = local.strftime("%H:%M") if day == "today" else local.strftime("%Y-%m-%d")
        items.append(
            ConversationItem(
                id=conversation.id or 0,
                title=conversation.title or i18n.t("new_chat", lang),
                group=i18n.t(group, lang),
                group_start=group != previous,
                time=time_label,
                pinned=pinned,
                shared=conversation.id in shared,
            )
        )
        previous = group
    return items


def rejection_text(reason: str, lang: str) -> str:
    """The plain message for a refused file (UploadRejected.reason or the chooser's reason)."""
    if reason == "type":
        return i18n.t("error_upload_type", lang, allowed=file_service.allowed_text())
    if reason == "size":
        return i18n.t("error_upload_size", lang, limit=get_settings().upload.max_mb)
    if reason == "count":
        return i18n.t("error_upload_count", lang)
    if reason == "empty":
        return i18n.t("error_upload_empty", lang)
    if reason == "user_quota":
        return i18n.t("error_upload_user_quota", lang, limit=get_settings().upload.user_quota_mb)
    keys = {
        "busy": "error_upload_busy",
        "total_quota": "error_upload_total_quota",
        "disk_full": "error_upload_disk_full",
    }
    return i18n.t(keys.get(reason, "error_upload_failed"), lang)


def route_conversation_id(path: str) -> int:
    """0 for /chat, the id for /chat/{id}, -1 for anything else under /chat/."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2:
        return 0
    return int(parts[1]) if parts[1].isdigit() and len(parts[1]) < 12 else -1


class ChatState(AuthState):
    """The chat page: its one alert, demo mode, and the page load that fills the substates."""

    alert_text: str = ""
    alert_retry: bool = False
    demo_mode: bool = False
    _lang: str = "en"
    _alert_kind: str = ""  # "agents", "upload", "answer" or "" (what Retry and a page change do)

    def _set(self, **values) -> None:
        """Assign only what changed: an assignment sends the var again even with the same value."""
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    async def _user_or_redirect(self):
        """(user, None) when signed in, else (None, a redirect to the log-in page)."""
        user = await self._current_user()
        if user is None:
            return None, rx.redirect(LOGIN_ROUTE)
        return user, None

    async def _chat(self) -> ChatState:
        """The page's base state (self, or the parent of a substate)."""
        return self if type(self) is ChatState else await self.get_state(ChatState)

    async def _lang_now(self) -> str:
        lang = (await self.get_state(UIState)).lang
        chat = await self._chat()
        if chat._lang != lang:  # an assignment marks the state changed (sent, written to Redis)
            chat._lang = lang
        return lang

    async def _alert(self, text: str, retry: bool = False, kind: str = "") -> None:
        chat = await self._chat()
        if (chat.alert_text, chat.alert_retry, chat._alert_kind) != (text, retry, kind):
            chat.alert_text, chat.alert_retry, chat._alert_kind = text, retry, kind

    async def _alert_key(self, key: str, retry: bool = False, kind: str = "", **values: object) -> None:
        await self._alert(i18n.t(key, await self._lang_now(), **values), retry=retry, kind=kind)

    async def _clear_alert(self, kind: str | None = None) -> None:
        """Clear the alert (only one of `kind` when given)."""
        chat = await self._chat()
        if chat.alert_text and (kind is None or chat._alert_kind == kind):
            await self._alert("")

    @rx.event
    async def load_page(self):
        """on_load of /chat and /chat/{id}: the user's list, agents, and the conversation."""
        from fabrix_chat.state.agents import AgentState
        from fabrix_chat.state.announcements import AnnouncementState
        from fabrix_chat.state.composer import ComposerState
        from fabrix_chat.state.conversation import ConversationState
        from fabrix_chat.state.quota import QuotaState
        from fabrix_chat.state.share import ShareState
        from fabrix_chat.state.sidebar import SidebarState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        settings = get_settings()
        if self.demo_mode != settings.fabrix_api.demo_mode:
            self.demo_mode = settings.fabrix_api.demo_mode
        await self._lang_now()
        (await self.get_state(ComposerState))._set(upload_max_bytes=settings.upload_max_bytes)
        await (await self.get_state(QuotaState))._refresh(user)  # what is left of today's limits
        conversation = await self.get_state(ConversationState)
        wanted = route_conversation_id(self.router.url.path)
        if wanted != conversation.conversation_id or self._alert_kind == "agents" or not wanted:
            # An alert about the conversation just asked in stays when its own page opens.
            await self._clear_alert()
        await (await self.get_state(SidebarState))._refresh(user.id)
        share = await self.get_state(ShareState)
        share._set(share_open=False, share_copied=False)  # a page opened afresh shows no dialog
        await (await self.get_state(AnnouncementState))._load(user.id)
        events = await conversation._open(user.id, wanted)
        agents = await self.get_state(AgentState)
        if not agents.agents:
            events.append(AgentState.load_agents)
        return events

    @rx.event
    async def retry(self):
        """The alert's Retry: reload the agents, or ask the last question again."""
        from fabrix_chat.state.agents import AgentState
        from fabrix_chat.state.conversation import ConversationState

        kind = self._alert_kind
        await self._clear_alert()
        if kind == "agents" or not (await self.get_state(AgentState)).agents:
            return AgentState.load_agents(True)
        if await (await self.get_state(ConversationState)).last_role() == Role.ASSISTANT:
            return ConversationState.regenerate

    @rx.event
    async def dismiss_alert(self):
        await self._clear_alert()
