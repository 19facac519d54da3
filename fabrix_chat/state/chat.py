"""The chat page: conversation list, messages, agents, the attached file and the streamed answer.

The answer being streamed lives in its own vars (`stream_text`, `stream_status`) so each
update sends only the answer, never the whole conversation. Streaming runs as a background
event that holds the state lock only to write those vars, batched to about 14 updates a
second (the first chunk at once), and saves the answer at least every SAVE_INTERVAL seconds.

Every handler that reads or changes a conversation checks the signed-in user itself, and the
repository functions it calls are scoped to that user: another user's id is simply "not found".
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.models import Conversation, Message
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import files as file_service
from fabrix_chat.state.auth import LOGIN_ROUTE, AuthState
from fabrix_chat.state.ui import UIState

log = logging.getLogger(__name__)

BATCH_INTERVAL = 0.07  # seconds between UI updates after the first chunk (about 14 a second)
SAVE_INTERVAL = 1.5  # the streamed answer reaches the database at least this often
MAX_MESSAGE_CHARS = 20_000
UPLOAD_ID = "composer-upload"


@dataclasses.dataclass
class _Running:
    user_id: int
    task: asyncio.Task


# Upstream consumers of running answers, by assistant message id, so Stop can end one at once.
_RUNNING: dict[int, _Running] = {}


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


def message_view(message: Message) -> MessageView:
    return MessageView(
        id=message.id or 0,
        seq=message.seq,
        role=message.role,
        content=message.content,
        status=message.status,
        error=message.error,
        attachment_name=message.attachment_name,
        attachment_size=file_service.size_label(message.attachment_size),
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
    """Sidebar rows, newest first, each group's first row marked so its heading is shown once."""
    now = now or datetime.now(UTC)
    items: list[ConversationItem] = []
    previous = ""
    for conversation in conversations:
        updated = conversation.updated_at
        if updated.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
            updated = updated.replace(tzinfo=UTC)
        group = date_group(updated, now)
        local = updated.astimezone()
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
    if reason in ("busy", "total_quota", "disk_full"):
        return i18n.t(f"error_upload_{reason}", lang)
    return i18n.t("error_upload_failed", lang)


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


async def pump_answer(
    consumer: asyncio.Task,
    buffer: _StreamBuffer,
    publish: Callable[[str, str], Awaitable[bool]],
    save: Callable[[str], Awaitable[None]],
    *,
    batch_interval: float = BATCH_INTERVAL,
    save_interval: float = SAVE_INTERVAL,
) -> None:
    """Show and save the answer while `consumer` fills `buffer`, until the consumer ends.

    The first change is published at once; after that at most one update per batch_interval,
    each carrying everything received meanwhile. The text is saved whenever save_interval has
    passed since the last save. `publish` returns False when the page no longer wants this
    answer, which cancels the consumer.
    """
    try:
        await _pump(consumer, buffer, publish, save, batch_interval, save_interval)
    except BaseException:
        consumer.cancel()  # never leave an upstream request running without a reader
        raise


async def _pump(consumer, buffer, publish, save, batch_interval: float, save_interval: float) -> None:
    last_save = time.monotonic()
    saved_text = ""
    first = True
    while True:
        # Unsaved text wakes the loop at its save time even if nothing else arrives (a stall).
        until_save = save_interval - (time.monotonic() - last_save) if buffer.text != saved_text else None
        waiter = asyncio.ensure_future(buffer.wake.wait())
        await asyncio.wait(
            {consumer, waiter},
            timeout=None if until_save is None else max(0.0, until_save),
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        buffer.wake.clear()
        if buffer.dirty:
            buffer.dirty = False
            if not await publish(buffer.text, buffer.status):
                consumer.cancel()
            if not first and not consumer.done():
                await asyncio.sleep(batch_interval)  # let chunks gather into one update
            # Only answer text ends the "first" phase: a status line before it must not delay it.
            first = first and not buffer.text
        if time.monotonic() - last_save >= save_interval and buffer.text != saved_text:
            saved_text = buffer.text
            last_save = time.monotonic()
            await save(buffer.text)
        if consumer.done():
            if buffer.dirty:  # what arrived during the last batch pause
                buffer.dirty = False
                await publish(buffer.text, buffer.status)
            return


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
    # the attached file of the next question (the chip in the composer)
    attachment_name: str = ""
    attachment_size: str = ""
    uploading: bool = False
    upload_progress: int = 0
    upload_max_bytes: int = 100 * 1024 * 1024
    _upload_round: int = 0  # bumped by Remove file, so an upload finishing after it is dropped

    _stream_message_id: int = 0
    _job: dict[str, Any] = {}  # the next answer to stream (never sent to the browser)
    _pending_file: dict[str, Any] = {}  # the uploaded file waiting for its question
    _retry_file: dict[str, Any] = {}  # the file of a failed or stopped answer, kept for Retry
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
        user = await self._current_user()
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

    def _show_not_found(self) -> None:
        """What another user's (or a deleted) conversation looks like: nothing of it, just "not found"."""
        self.conversation_id = 0
        self.conversation_title = ""
        self.messages = []
        self.not_found = True

    async def _refresh_conversations(self, user_id: int) -> None:
        rows = await run_db(conv_repo.list_conversations, user_id=user_id, query=self.search_query)
        self.conversations = conversation_items(rows, self._lang)

    def _clear_attachment(self) -> None:
        self._pending_file = {}
        self.attachment_name = ""
        self.attachment_size = ""
        self.uploading = False
        self.upload_progress = 0

    async def _discard_file(self, stored: dict[str, Any]) -> None:
        if stored.get("path"):
            await asyncio.to_thread(file_service.delete_file, stored["path"])

    # --- page loading --------------------------------------------------------------------

    @rx.event
    async def load_page(self):
        """on_load of /chat and /chat/{id}: the user's list, agents, and the conversation."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        settings = get_settings()
        self.demo_mode = settings.fabrix_api.demo_mode
        self.upload_max_bytes = settings.upload_max_bytes
        self._lang = (await self.get_state(UIState)).lang
        conversation_id = self._route_conversation_id()
        if conversation_id != self.conversation_id or self._alert_kind == "agents" or not conversation_id:
            # An alert about the conversation just asked in stays when its own page opens.
            self.alert_text = ""
            self.alert_retry = False
            self._alert_kind = ""
        self.editing_seq = -1
        self.not_found = False
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
            self._show_not_found()
            return
        messages = await run_db(conv_repo.get_messages, user_id=user_id, conversation_id=conversation_id) or []
        # The answer still streaming in this tab is shown from `stream_text`, not from the database.
        live = self._stream_message_id if self.streaming else 0
        self.conversation_id = conversation_id
        self.conversation_title = conversation.title
        self.messages = [message_view(m) for m in messages if m.id != live]
        if conversation.agent_id:
            self.selected_agent_id = conversation.agent_id

    @rx.event
    async def load_agents(self, refresh: bool = False):
        """Fill the agent picker; `refresh` (the reload button, Retry) skips the cache."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self.agents_loading = True
        try:
            await self._load_agents(user, refresh=bool(refresh))
        finally:
            self.agents_loading = False

    async def _load_agents(self, user, refresh: bool = False) -> bool:
        """Fill the picker (cached list unless refresh); False, with an alert, when there are none."""
        try:
            agents = await chat_service.list_agents(refresh=refresh, user_id=user.id, username=user.username)
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
        """The picker: the open conversation remembers the agent chosen for it."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        agent_id = str(agent_id)
        if agent_id not in {a.id for a in self.agents} or self.streaming:
            return
        if self.conversation_id:
            ok = await run_db(
                conv_repo.set_conversation_agent,
                user_id=user.id,
                conversation_id=self.conversation_id,
                agent_id=agent_id,
            )
            if not ok:
                self._show_not_found()
                return
        self.selected_agent_id = agent_id

    @rx.event
    async def set_search_query(self, query: str):
        """The search box: conversations whose title or messages contain the text."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self.search_query = str(query)[:200]
        await self._refresh_conversations(user.id)

    @rx.event
    def retry(self):
        """The alert's Retry: reload the agents, or ask the last question again."""
        kind = self._alert_kind
        self.dismiss_alert()
        if kind == "agents" or not self.agents:
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
        typed = str(form.get("message", "")).strip()
        if self.uploading:
            self._show_alert(i18n.t("error_upload_pending", self._lang))
            return rx.set_value("composer-input", typed) if typed else None
        attachment = dict(self._pending_file)
        question = typed or (i18n.t("file_default_question", self._lang) if attachment else "")
        result = await self._ask(question, attachment=attachment or None)
        if result is None and typed:
            # Not sent (the alert says why): give the text back rather than lose it.
            return rx.set_value("composer-input", typed)
        return result

    @rx.event
    async def regenerate(self):
        """Ask the last question again, replacing the last answer."""
        last_user = next((m for m in reversed(self.messages) if m.role == "user"), None)
        if last_user is None:
            return
        attachment = await self._file_for(last_user)
        if attachment is False:
            return
        return await self._ask(last_user.content, replace_from_seq=last_user.seq, attachment=attachment)

    async def _file_for(self, question: MessageView) -> dict[str, Any] | None | bool:
        """The file to send again with an earlier question: None if it had none, False (with an
        alert) when it had one that is no longer kept and none is attached now."""
        if not question.attachment_name:
            return None
        kept = self._retry_file
        if (
            kept
            and kept.get("conversation_id") == self.conversation_id
            and kept.get("seq") == question.seq
            and await asyncio.to_thread(file_service.is_kept, kept["path"])
        ):
            return {k: kept[k] for k in ("path", "name", "size", "content_type")}
        if self._pending_file:
            return dict(self._pending_file)
        self._show_alert(i18n.t("error_file_gone", self._lang))
        return False

    @rx.event
    def start_edit(self, seq: int):
        if self.streaming:
            return
        message = next((m for m in self.messages if m.seq == seq and m.role == "user"), None)
        if message is not None:
            self.editing_seq = message.seq
            self.edit_text = message.content

    @rx.event
    def cancel_edit(self):
        self.editing_seq = -1
        self.edit_text = ""

    @rx.event
    def set_edit_text(self, text: str):
        self.edit_text = str(text)[: MAX_MESSAGE_CHARS + 1]

    @rx.event
    async def save_edit(self):
        """The edited question replaces itself and everything after it, then is asked again."""
        seq, text = self.editing_seq, self.edit_text.strip()
        message = next((m for m in self.messages if m.seq == seq and m.role == "user"), None)
        if message is None:
            return
        attachment = await self._file_for(message)
        if attachment is False:
            return
        self.editing_seq = -1
        return await self._ask(text, replace_from_seq=seq, attachment=attachment)

    async def _ask(self, question: str, replace_from_seq: int | None = None, attachment: dict | None = None):
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self._lang = (await self.get_state(UIState)).lang
        if self.streaming:
            self._show_alert(i18n.t("error_answer_running", self._lang))
            return
        self._show_alert("")
        if not question:
            self._show_alert(i18n.t("error_empty_message", self._lang))
            return
        if len(question) > MAX_MESSAGE_CHARS:
            self._show_alert(i18n.t("error_message_too_long", self._lang, limit=MAX_MESSAGE_CHARS))
            return
        if attachment and not file_service.belongs_to(attachment["path"], user.id or 0):
            # Not this user's file (left by someone who used this tab before): never send it.
            log.warning("refused an attachment outside the uploads of user %s", user.id)
            self._clear_attachment()
            self._show_alert(i18n.t("error_file_gone", self._lang))
            return
        if attachment and not await asyncio.to_thread(file_service.is_kept, attachment["path"]):
            self._show_alert(i18n.t("error_file_gone", self._lang))
            return
        if not self.selected_agent_id and not await self._load_agents(user):
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
                attachment_name=attachment["name"] if attachment else "",
                attachment_size=int(attachment["size"]) if attachment else 0,
            )
        except LookupError:
            self._show_not_found()
            return
        except Exception:
            log.exception("saving a question failed")
            self._show_alert(i18n.t("error_saving", self._lang))
            return
        # A file kept for Retry is not needed once another question is asked.
        if self._retry_file and (not attachment or attachment.get("path") != self._retry_file.get("path")):
            await self._discard_file(self._retry_file)
        self._retry_file = {}
        if attachment and attachment.get("path") == self._pending_file.get("path"):
            self._clear_attachment()
        self.conversation_id = prepared.conversation_id
        self.conversation_title = prepared.title
        self.not_found = False
        self.editing_seq = -1
        self.messages = [message_view(m) for m in prepared.history] + [message_view(prepared.question)]
        self.streaming = True
        self.stream_conversation_id = prepared.conversation_id
        self.stream_text = ""
        self.stream_status = ""
        self._stream_message_id = prepared.answer_id
        await self._refresh_conversations(user.id)
        self._job = {
            "user_id": user.id,
            "username": user.username,
            "email": user.email,
            "agent_id": self.selected_agent_id,
            "message_id": prepared.answer_id,
            "conversation_id": prepared.conversation_id,
            "question_seq": prepared.question.seq,
            "contents": prepared.contents,
            "lang": self._lang,
            "kind": "file" if attachment else "chat",
            "file": attachment or {},
        }
        # The job stays on the server: the event carries no arguments a browser could forge.
        events = [ChatState.stream_answer]
        if new_conversation:
            events.insert(0, rx.redirect(f"/chat/{prepared.conversation_id}"))
        return events

    @rx.event(background=True)
    async def stream_answer(self):
        """Read the answer from FabriX into `stream_text`, saving it as it grows."""
        async with self:
            job, self._job = self._job, {}
            if not job or self._stream_message_id != int(job.get("message_id", 0)):
                return
        message_id = int(job["message_id"])
        buffer = _StreamBuffer()
        consumer = asyncio.create_task(chat_service.consume_answer(job, buffer.update))
        _RUNNING[message_id] = _Running(user_id=int(job["user_id"]), task=consumer)

        async def publish(text: str, status: str) -> bool:
            async with self:
                if self._stream_message_id != message_id:
                    return False
                self.stream_text = text
                self.stream_status = status
                return True

        async def save(text: str) -> None:
            await chat_service.save_answer(job, text, "streaming")

        try:
            await pump_answer(consumer, buffer, publish, save)
        finally:
            _RUNNING.pop(message_id, None)
        status, error_text, retry = "complete", "", False
        try:
            consumer.result()
        except asyncio.CancelledError:
            status = "stopped"
        except Exception as exc:
            status = "error"
            error_text = chat_service.plain_error(exc, str(job.get("lang", "en")))
            retry = chat_service.retry_makes_sense(exc)
        await chat_service.save_answer(job, buffer.text, status, error_text)
        stored = job.get("file") or {}
        if stored and status == "complete":
            await self._discard_file(stored)  # answered: the file is not kept
        async with self:
            if self._user_id != int(job["user_id"]):
                # The tab was reset meanwhile (log-out, or another user signed in): the answer is
                # saved for its owner above; nothing of it belongs in this tab any more.
                return
            if stored and status != "complete":
                self._retry_file = {
                    **stored,
                    "conversation_id": int(job["conversation_id"]),
                    "seq": int(job["question_seq"]),
                }
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
                        self._show_alert(error_text, retry=retry, kind="answer")
            await self._refresh_conversations(int(job["user_id"]))

    @rx.event
    async def stop_generating(self):
        """Stop (button or Esc): end the upstream request now; the partial answer is kept."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        running = _RUNNING.get(self._stream_message_id)
        if running is not None and running.user_id == user.id:
            running.task.cancel()

    # --- the attached file -------------------------------------------------------------

    @rx.event(background=True)
    async def receive_upload(self, chunks: rx.UploadChunkIterator):
        """Attach file: write the upload into the user's private folder as it arrives.

        The type and the size are checked again here (the browser's checks can be bypassed);
        an oversized upload is cut off at the limit and nothing of it is kept.
        """
        async with self:
            user = await self._current_user()
            lang = self._lang
        if user is None:
            return  # the upload request fails; nothing is written
        incoming = aiter(chunks)
        try:
            first = await anext(incoming)
        except StopAsyncIteration:
            # The chooser refused the file (react-dropzone still calls on_drop, with no files):
            # upload_rejected has already said why.
            return
        async with self:
            self._upload_round += 1
            round_ = self._upload_round
            self.uploading = True
            self.upload_progress = 0
            if self._alert_kind == "upload":
                self.alert_text = ""
                self._alert_kind = ""

        async def all_chunks():
            yield first
            async for chunk in incoming:
                yield chunk

        problem = ""
        stored: file_service.StoredFile | None = None
        try:
            stored = await file_service.store_upload(
                all_chunks(), user_id=user.id or 0, limit=get_settings().upload_max_bytes
            )
        except file_service.UploadRejected as exc:
            problem = rejection_text(exc.reason, lang)
        except asyncio.CancelledError:
            # The browser stopped sending (Remove file, a closed tab, a lost network).
            async with self:
                if round_ == self._upload_round:
                    self.uploading = False
                    self.upload_progress = 0
            raise
        except Exception:
            log.exception("storing an upload failed")
            problem = i18n.t("error_upload_failed", lang)
        async with self:
            if round_ != self._upload_round or self._user_id != user.id:
                # Removed, or replaced by a newer upload, while it was arriving, or the tab now
                # belongs to someone else (it was reset): not wanted.
                previous, stored = (stored.as_dict() if stored else {}), None
            else:
                previous = dict(self._pending_file) if stored is not None else {}
                self.uploading = False
                self.upload_progress = 0
                if stored is not None:
                    self._pending_file = stored.as_dict()
                    self.attachment_name = stored.name
                    self.attachment_size = file_service.size_label(stored.size)
                elif problem:
                    self._show_alert(problem, kind="upload")
        if previous.get("path") and previous.get("path") != (stored.path if stored else ""):
            await self._discard_file(previous)  # one file per message: the new one replaces it

    @rx.event
    def upload_rejected(self, codes: list[str]):
        """The chooser refused the file (type or size) before sending it: say why, in the chat.

        `codes` are react-dropzone's reasons ("file-too-large", "file-invalid-type", ...).
        """
        reasons = {str(code) for code in codes or []}
        if "file-too-large" in reasons:
            reason = "size"
        elif "too-many-files" in reasons:
            reason = "count"
        elif "file-invalid-type" in reasons:
            reason = "type"
        else:
            reason = "failed"
        self._show_alert(rejection_text(reason, self._lang), kind="upload")

    @rx.event
    def set_upload_progress(self, progress: dict):
        try:
            fraction = float(progress.get("progress", 0))
        except (TypeError, ValueError, AttributeError):
            return
        self.upload_progress = max(0, min(100, int(fraction * 100)))

    @rx.event
    async def remove_file(self):
        """The chip's Remove file: stop an upload in progress or forget the uploaded file."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self._upload_round += 1
        if self.uploading:
            self._clear_attachment()
            return rx.cancel_upload(UPLOAD_ID)
        stored = dict(self._pending_file)
        self._clear_attachment()
        await self._discard_file(stored)

    # --- conversation list actions -----------------------------------------------------

    @rx.event
    def new_chat(self):
        return rx.redirect("/chat")

    @rx.event
    async def ask_delete(self, conversation_id: int):
        """A row's Delete chat: open the confirmation dialog (for the user's own chats only)."""
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
        """The dialog's Delete: the chat and its messages go (an answer still streaming stops)."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id, self.delete_id = self.delete_id, 0
        self.delete_title = ""
        if not conversation_id:
            return
        deleted = await run_db(conv_repo.delete_conversation, user_id=user.id, conversation_id=conversation_id)
        if not deleted:
            self._show_alert(i18n.t("conversation_not_found", self._lang))
            return
        if self.streaming and self.stream_conversation_id == conversation_id:
            running = _RUNNING.get(self._stream_message_id)
            if running is not None and running.user_id == user.id:
                running.task.cancel()
        await self._refresh_conversations(user.id)
        if conversation_id == self.conversation_id:
            return rx.redirect("/chat")

    @rx.event
    async def ask_rename(self, conversation_id: int):
        """A row's Rename chat: open the dialog with the current title (the user's own chats only)."""
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
