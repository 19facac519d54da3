"""The chat page: conversation list, messages, agents, and the streamed answer.

The answer being streamed lives in its own vars (`stream_text`, `stream_status`) so each
update sends only the answer, never the whole conversation. Streaming runs as a background
event that holds the state lock only to write those vars, batched to about 14 updates a
second, and saves the answer to the database at least every SAVE_INTERVAL seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import UTC, datetime

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.models import Conversation, Message
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.services import chat as chat_service
from fabrix_chat.state.auth import LOGIN_ROUTE, AuthState
from fabrix_chat.state.ui import UIState

log = logging.getLogger(__name__)

BATCH_INTERVAL = 0.07  # seconds between UI updates after the first chunk (about 14 a second)
SAVE_INTERVAL = 1.5  # the streamed answer reaches the database at least this often
MAX_MESSAGE_CHARS = 20_000

# Upstream consumers of running answers, by assistant message id, so Stop can end one at once.
_RUNNING: dict[int, asyncio.Task] = {}


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


@dataclasses.dataclass
class ConversationItem:
    id: int = 0
    title: str = ""
    group: str = ""
    group_start: bool = False
    time: str = ""
    href: str = ""


@dataclasses.dataclass
class AgentOption:
    id: str = ""
    label: str = ""
    short_id: str = ""


def _size_label(size: int) -> str:
    if not size:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def message_view(message: Message) -> MessageView:
    return MessageView(
        id=message.id or 0,
        seq=message.seq,
        role=message.role,
        content=message.content,
        status=message.status,
        error=message.error,
        attachment_name=message.attachment_name,
        attachment_size=_size_label(message.attachment_size),
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
    conversations: list[Conversation], lang: str, now: datetime | None = None
) -> list[ConversationItem]:
    now = now or datetime.now(UTC)
    items: list[ConversationItem] = []
    previous = ""
    for conversation in conversations:
        group = date_group(conversation.updated_at, now)
        local = conversation.updated_at.astimezone()
        time_label = local.strftime("%H:%M") if group == "today" else local.strftime("%Y-%m-%d")
        items.append(
            ConversationItem(
                id=conversation.id or 0,
                title=conversation.title or i18n.t("new_chat", lang),
                group=i18n.t(group, lang),
                group_start=group != previous,
                time=time_label,
                href=f"/chat/{conversation.id}",
            )
        )
        previous = group
    return items


@dataclasses.dataclass
class _StreamBuffer:
    """What the upstream consumer has received so far; read by the batching loop."""

    text: str = ""
    status: str = ""
    dirty: bool = False
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def update(self, *, text: str | None = None, status: str | None = None) -> None:
        if text is not None:
            self.text += text
        if status is not None:
            self.status = status
        self.dirty = True
        self.wake.set()


class ChatState(AuthState):
    # the open conversation
    conversation_id: int = 0
    conversation_title: str = ""
    not_found: bool = False
    messages: list[MessageView] = []
    # the answer being streamed (its own vars: see the module docstring)
    streaming: bool = False
    stream_conversation_id: int = 0
    stream_text: str = ""
    stream_status: str = ""
    # the sidebar
    conversations: list[ConversationItem] = []
    search_query: str = ""
    # agents
    agents: list[AgentOption] = []
    selected_agent_id: str = ""
    agents_loading: bool = False
    # the one alert of the chat, with an optional Retry
    alert_text: str = ""
    alert_retry: bool = False
    # rename / delete dialogs
    rename_id: int = 0
    rename_title: str = ""
    delete_id: int = 0
    delete_title: str = ""
    # edit-and-resend
    editing_seq: int = -1
    edit_text: str = ""
    demo_mode: bool = False

    _stream_message_id: int = 0
    _lang: str = "en"
    _alert_kind: str = ""  # "agents" when the alert is about the agent list

    # --- computed vars -----------------------------------------------------------------

    @rx.var
    def show_stream(self) -> bool:
        return self.streaming and self.stream_conversation_id == self.conversation_id and self.conversation_id != 0

    @rx.var
    def is_empty(self) -> bool:
        return not self.messages and not self.show_stream and not self.not_found

    @rx.var
    def selected_agent_label(self) -> str:
        for agent in self.agents:
            if agent.id == self.selected_agent_id:
                return agent.label
        return ""

    @rx.var
    def last_assistant_seq(self) -> int:
        for message in reversed(self.messages):
            if message.role == "assistant":
                return message.seq
        return -1

    # --- helpers -----------------------------------------------------------------------

    async def _user_or_redirect(self):
        """(user, None) when signed in, else (None, a redirect to the log-in page)."""
        user = await self.current_user()
        if user is None:
            return None, rx.redirect(LOGIN_ROUTE)
        return user, None

    def _route_conversation_id(self) -> int:
        """0 for /chat, the id for /chat/{id}, -1 for anything else under /chat/."""
        parts = [p for p in self.router.url.path.split("/") if p]
        if len(parts) < 2:
            return 0
        return int(parts[1]) if parts[1].isdigit() and len(parts[1]) < 12 else -1

    def _show_alert(self, text: str, retry: bool = False, kind: str = "") -> None:
        self.alert_text = text
        self.alert_retry = retry
        self._alert_kind = kind

    async def _refresh_conversations(self, user_id: int) -> None:
        rows = await run_db(conv_repo.list_conversations, user_id=user_id, query=self.search_query)
        self.conversations = conversation_items(rows, self._lang)

    # --- page loading --------------------------------------------------------------------

    @rx.event
    async def load_page(self):
        """on_load of /chat and /chat/{id}: the user's list, agents, and the conversation."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self.demo_mode = get_settings().fabrix_api.demo_mode
        self._lang = (await self.get_state(UIState)).lang
        self.alert_text = ""
        self.editing_seq = -1
        self.not_found = False
        conversation_id = self._route_conversation_id()
        await self._refresh_conversations(user.id)
        if conversation_id == 0:
            self.conversation_id = 0
            self.conversation_title = ""
            self.messages = []
        else:
            await self._open_conversation(user.id, conversation_id)
        if not self.agents:
            return ChatState.load_agents

    async def _open_conversation(self, user_id: int, conversation_id: int) -> None:
        conversation = (
            await run_db(conv_repo.get_conversation, user_id=user_id, conversation_id=conversation_id)
            if conversation_id > 0
            else None
        )
        if conversation is None:
            self.conversation_id = 0
            self.conversation_title = ""
            self.messages = []
            self.not_found = True
            return
        messages = await run_db(conv_repo.get_messages, user_id=user_id, conversation_id=conversation_id) or []
        live = self._stream_message_id if self.streaming else 0
        self.conversation_id = conversation_id
        self.conversation_title = conversation.title
        self.messages = [message_view(m) for m in messages if m.id != live]
        if conversation.agent_id:
            self.selected_agent_id = conversation.agent_id

    @rx.event
    async def load_agents(self, refresh: bool = False):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        await self._load_agents(refresh=bool(refresh))

    async def _load_agents(self, refresh: bool = False) -> bool:
        """Fill the picker (cached list unless refresh); False, with an alert, when there are none."""
        try:
            agents = await chat_service.list_agents(refresh=refresh)
        except Exception as exc:  # every failure becomes a plain alert with Retry
            log.warning("agent list failed: %s", exc)
            detail = chat_service.plain_error(exc, self._lang)
            self._show_alert(i18n.t("error_agents", self._lang, detail=detail), retry=True, kind="agents")
            self.agents = []
            return False
        self.agents = [AgentOption(id=a.id, label=a.label, short_id=a.short_id) for a in agents]
        if not agents:
            self._show_alert(i18n.t("no_agents", self._lang), retry=True, kind="agents")
            return False
        if self._alert_kind == "agents":
            self.dismiss_alert()
        known = {a.id for a in agents}
        if self.selected_agent_id not in known:
            default = get_settings().fabrix_api.agent_id
            self.selected_agent_id = default if default in known else agents[0].id
        return True

    @rx.event
    async def select_agent(self, agent_id: str):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        if agent_id not in {a.id for a in self.agents}:
            return
        self.selected_agent_id = agent_id
        if self.conversation_id:
            await run_db(
                conv_repo.set_conversation_agent,
                user_id=user.id,
                conversation_id=self.conversation_id,
                agent_id=agent_id,
            )

    @rx.event
    async def set_search_query(self, query: str):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self.search_query = str(query)[:200]
        await self._refresh_conversations(user.id)

    @rx.event
    def retry(self):
        """The alert's Retry: reload the agents, or ask the last question again."""
        self.alert_text = ""
        self.alert_retry = False
        if not self.agents:
            return ChatState.load_agents(True)
        if self.messages and self.messages[-1].role == "assistant":
            return ChatState.regenerate

    @rx.event
    def dismiss_alert(self):
        self.alert_text = ""
        self.alert_retry = False
        self._alert_kind = ""

    # --- asking ------------------------------------------------------------------------

    @rx.event
    async def send_message(self, form: dict):
        """Composer submit: save the question, then stream the answer in the background."""
        question = str(form.get("message", "")).strip()
        result = await self._ask(question)
        if result is None and question and not self.streaming:
            # Not sent (the alert says why): give the text back rather than lose it.
            return rx.set_value("composer-input", question)
        return result

    @rx.event
    async def regenerate(self):
        """Ask the last question again, replacing the last answer."""
        last_user = next((m for m in reversed(self.messages) if m.role == "user"), None)
        if last_user is None:
            return
        return await self._ask(last_user.content, replace_from_seq=last_user.seq)

    @rx.event
    def start_edit(self, seq: int):
        if self.streaming:
            return
        message = next((m for m in self.messages if m.seq == seq and m.role == "user"), None)
        if message is not None:
            self.editing_seq = seq
            self.edit_text = message.content

    @rx.event
    def cancel_edit(self):
        self.editing_seq = -1
        self.edit_text = ""

    @rx.event
    def set_edit_text(self, text: str):
        self.edit_text = str(text)

    @rx.event
    async def save_edit(self):
        """The edited question replaces itself and everything after it, then is asked again."""
        seq, text = self.editing_seq, self.edit_text.strip()
        if seq < 0:
            return
        self.editing_seq = -1
        return await self._ask(text, replace_from_seq=seq)

    async def _ask(self, question: str, replace_from_seq: int | None = None):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        if self.streaming:
            return
        self._lang = (await self.get_state(UIState)).lang
        self.alert_text = ""
        if not question:
            self._show_alert(i18n.t("error_empty_message", self._lang))
            return
        if len(question) > MAX_MESSAGE_CHARS:
            self._show_alert(i18n.t("error_message_too_long", self._lang, limit=MAX_MESSAGE_CHARS))
            return
        if not self.selected_agent_id and not await self._load_agents():
            return
        new_conversation = self.conversation_id == 0
        try:
            prepared = await run_db(
                chat_service.prepare_question,
                user_id=user.id,
                conversation_id=self.conversation_id,
                agent_id=self.selected_agent_id,
                question=question,
                replace_from_seq=replace_from_seq,
            )
        except LookupError:
            self.not_found = True
            self.messages = []
            return
        except Exception:
            log.exception("saving a question failed")
            self._show_alert(i18n.t("error_saving", self._lang))
            return
        self.conversation_id = prepared.conversation_id
        self.conversation_title = prepared.title
        self.not_found = False
        self.messages = [message_view(m) for m in prepared.history] + [message_view(prepared.question)]
        self.streaming = True
        self.stream_conversation_id = prepared.conversation_id
        self.stream_text = ""
        self.stream_status = ""
        self._stream_message_id = prepared.answer_id
        await self._refresh_conversations(user.id)
        job = {
            "user_id": user.id,
            "username": user.username,
            "email": user.email,
            "agent_id": self.selected_agent_id,
            "message_id": prepared.answer_id,
            "conversation_id": prepared.conversation_id,
            "contents": prepared.contents,
            "lang": self._lang,
        }
        events = [ChatState.stream_answer(job)]
        if new_conversation:
            events.insert(0, rx.redirect(f"/chat/{prepared.conversation_id}"))
        return events

    @rx.event(background=True)
    async def stream_answer(self, job: dict):
        """Read the answer from FabriX into `stream_text`, saving it as it grows."""
        message_id = int(job["message_id"])
        buffer = _StreamBuffer()
        consumer = asyncio.create_task(chat_service.consume_answer(job, buffer.update))
        _RUNNING[message_id] = consumer
        last_save = time.monotonic()
        saved_text = ""
        first = True
        try:
            while True:
                waiter = asyncio.create_task(buffer.wake.wait())
                await asyncio.wait({consumer, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                buffer.wake.clear()
                if buffer.dirty:
                    buffer.dirty = False
                    async with self:
                        if self._stream_message_id != message_id:
                            consumer.cancel()
                        self.stream_text = buffer.text
                        self.stream_status = buffer.status
                    if not first and not consumer.done():
                        await asyncio.sleep(BATCH_INTERVAL)  # let chunks gather into one update
                    first = False
                if time.monotonic() - last_save >= SAVE_INTERVAL and buffer.text != saved_text:
                    saved_text = buffer.text
                    last_save = time.monotonic()
                    await chat_service.save_answer(job, buffer.text, "streaming")
                if consumer.done():
                    break
        finally:
            _RUNNING.pop(message_id, None)
        status, error_text, retry = "complete", "", False
        try:
            consumer.result()
        except asyncio.CancelledError:
            status = "stopped"
        except Exception as exc:
            status = "error"
            error_text = chat_service.plain_error(exc, self._lang)
            retry = chat_service.retry_makes_sense(exc)
        await chat_service.save_answer(job, buffer.text, status, error_text)
        async with self:
            if self._stream_message_id == message_id:
                self._stream_message_id = 0
                self.streaming = False
                self.stream_text = ""
                self.stream_status = ""
                if self.conversation_id == int(job["conversation_id"]):
                    self.messages = self.messages + [
                        MessageView(
                            id=message_id,
                            seq=self.messages[-1].seq + 1 if self.messages else 1,
                            role="assistant",
                            content=buffer.text,
                            status=status,
                            error=error_text,
                        )
                    ]
                    if error_text:
                        self._show_alert(error_text, retry=retry)
            await self._refresh_conversations(int(job["user_id"]))

    @rx.event
    async def stop_generating(self):
        """Stop (button or Esc): end the upstream request now; the partial answer is kept."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        task = _RUNNING.get(self._stream_message_id)
        if task is not None:
            task.cancel()

    # --- conversation list actions -----------------------------------------------------

    @rx.event
    def new_chat(self):
        return rx.redirect("/chat")

    @rx.event
    async def ask_delete(self, conversation_id: int):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation = await run_db(conv_repo.get_conversation, user_id=user.id, conversation_id=int(conversation_id))
        if conversation is None:
            self._show_alert(i18n.t("conversation_not_found", self._lang))
            return
        self.delete_id = conversation.id or 0
        self.delete_title = conversation.title

    @rx.event
    def cancel_delete(self):
        self.delete_id = 0
        self.delete_title = ""

    @rx.event
    async def confirm_delete(self):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id, self.delete_id = self.delete_id, 0
        if not conversation_id:
            return
        if self.streaming and self.stream_conversation_id == conversation_id:
            task = _RUNNING.get(self._stream_message_id)
            if task is not None:
                task.cancel()
        deleted = await run_db(conv_repo.delete_conversation, user_id=user.id, conversation_id=conversation_id)
        if not deleted:
            self._show_alert(i18n.t("conversation_not_found", self._lang))
        await self._refresh_conversations(user.id)
        if conversation_id == self.conversation_id:
            return rx.redirect("/chat")

    @rx.event
    async def ask_rename(self, conversation_id: int):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation = await run_db(conv_repo.get_conversation, user_id=user.id, conversation_id=int(conversation_id))
        if conversation is None:
            self._show_alert(i18n.t("conversation_not_found", self._lang))
            return
        self.rename_id = conversation.id or 0
        self.rename_title = conversation.title

    @rx.event
    def set_rename_title(self, title: str):
        self.rename_title = str(title)[:200]

    @rx.event
    def cancel_rename(self):
        self.rename_id = 0

    @rx.event
    async def confirm_rename(self):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id, self.rename_id = self.rename_id, 0
        if not conversation_id or not self.rename_title.strip():
            return
        ok = await run_db(
            conv_repo.rename_conversation, user_id=user.id, conversation_id=conversation_id, title=self.rename_title
        )
        if not ok:
            self._show_alert(i18n.t("conversation_not_found", self._lang))
        elif conversation_id == self.conversation_id:
            self.conversation_title = " ".join(self.rename_title.split())
        await self._refresh_conversations(user.id)
