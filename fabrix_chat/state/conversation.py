"""The open conversation: its messages, a page at a time, and asking in it.

Opening a conversation shows its newest PAGE_SIZE messages (MessagePageState.messages), with
`Show earlier messages` loading the page before them. Questions asked and answers finished during
this visit go to ConversationState.added, so asking never sends the page again, only what is new;
and the page lives in a substate of its own, so asking does not write it to Redis either (Reflex
writes a changed substate whole).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import reflex as rx

from fabrix_chat import i18n, outages
from fabrix_chat.db import run_db
from fabrix_chat.models import Role, Status, record_id
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.services import answers
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import export as export_service
from fabrix_chat.services import files as file_service
from fabrix_chat.services.files import StoredFile
from fabrix_chat.state.chat import MAX_MESSAGE_CHARS, ChatState, MessageView, message_view, route_conversation_id
from fabrix_chat.state.quota import QuotaState

log = logging.getLogger(__name__)

PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class FileAgain:
    """The file to send again with an earlier question: `file`, None when it had none; `gone`
    when it had one that is no longer kept and none is attached now (an alert says so)."""

    file: StoredFile | None = None
    gone: bool = False


class MessagePageState(ChatState):
    """The messages loaded from the database for the open conversation, oldest first."""

    messages: list[MessageView] = []
    has_earlier: bool = False


class ConversationState(ChatState):
    conversation_id: int = 0
    conversation_title: str = ""
    not_found: bool = False
    added: list[MessageView] = []  # what was asked and answered during this visit
    last_answer_seq: int = -1  # the last answer (the one Regenerate replaces)
    editing_seq: int = -1
    edit_text: str = ""
    feedback_open_id: int = 0  # the answer whose Bad answer comment field is open

    async def _page(self) -> MessagePageState:
        return await self.get_state(MessagePageState)

    async def _all(self) -> list[MessageView]:
        return [*(await self._page()).messages, *self.added]

    async def last_role(self) -> str:
        shown = await self._all()
        return shown[-1].role if shown else ""

    async def _shown_changed(self) -> None:
        seq = next((m.seq for m in reversed(await self._all()) if m.role == Role.ASSISTANT), -1)
        self._set(last_answer_seq=seq)

    async def _show_not_found(self) -> None:
        """What another user's (or a deleted) conversation looks like: nothing of it, just "not found"."""
        (await self._page())._set(messages=[], has_earlier=False)
        self._set(conversation_id=0, conversation_title="", added=[], last_answer_seq=-1, not_found=True)

    async def _open(self, user_id: int, conversation_id: int, limit: int = PAGE_SIZE) -> list:
        """Show the conversation's newest `limit` messages (0: the empty new chat); returns events to run."""
        from fabrix_chat.state.agents import AgentState
        from fabrix_chat.state.live_answer import LiveAnswerState

        self._set(editing_seq=-1, not_found=False)
        live = await self.get_state(LiveAnswerState)
        await live._heal()
        page = await self._page()
        if conversation_id == 0:
            page._set(messages=[], has_earlier=False)
            self._set(conversation_id=0, conversation_title="", added=[], last_answer_seq=-1)
            live._set(elsewhere_id=0)
            return []
        conversation = (
            await run_db(conv_repo.get_conversation, user_id=user_id, conversation_id=conversation_id)
            if conversation_id > 0
            else None
        )
        if conversation is None:
            await self._show_not_found()
            live._set(elsewhere_id=0)
            return []
        loaded = await run_db(
            conv_repo.open_message_page, user_id=user_id, conversation_id=conversation_id, limit=limit
        )
        rows = loaded.messages if loaded else []
        # The answer streaming in this tab is shown by the live view, not from the database.
        mine = live.live_id if live.streaming else 0
        # Always from the database: this visit's `added` answers were the page's own copies, gone
        # after a reload.
        page._set(
            messages=[message_view(m, loaded.versions.get(m.id or 0)) for m in rows if m.id != mine],
            has_earlier=loaded.has_earlier if loaded else False,
        )
        self._set(added=[], conversation_id=conversation_id, conversation_title=conversation.title)
        await self._shown_changed()
        # An answer still being written for this conversation by another tab or worker: Stop can end it.
        writing = next((m.id or 0 for m in rows if m.status == Status.STREAMING and m.id != mine), 0)
        live._set(elsewhere_id=writing)
        if conversation.agent_id:
            agents = await self.get_state(AgentState)
            agents._set(selected_agent_id=conversation.agent_id)
        events = []
        if mine and live.live_conversation_id == conversation_id:
            events.append(live.resume_event())
        if writing:
            events.append(LiveAnswerState.watch_elsewhere(writing))
        return events

    async def _show_saved(self, row) -> None:
        """An answer written elsewhere, as far as it is saved."""
        page = await self._page()
        page._set(messages=[message_view(row) if m.id == row.id else m for m in page.messages])

    @rx.event
    async def show_earlier(self):
        """`Show earlier messages`: the page before the oldest message shown."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        page = await self._page()
        shown = page.messages or self.added  # an edit may have emptied the page itself
        if not self.conversation_id or not shown:
            return
        loaded = await run_db(
            conv_repo.open_message_page,
            user_id=user.id,
            conversation_id=self.conversation_id,
            before_seq=shown[0].seq,
            limit=PAGE_SIZE,
        )
        if loaded is None:
            await self._show_not_found()
            return
        page.messages = [message_view(m, loaded.versions.get(m.id or 0)) for m in loaded.messages] + page.messages
        page._set(has_earlier=loaded.has_earlier)

    @rx.event
    async def show_version(self, message_id: int, step: int):
        """`Previous version` (step -1) / `Next version` (1) of a question or an answer on screen:
        that version, and what followed it, is shown and the conversation continues from it."""
        from fabrix_chat.state.live_answer import LiveAnswerState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        wanted = record_id(message_id)
        shown = await self._all()
        if not any(m.id == wanted and m.versions > 1 for m in shown):
            await self._alert_key("conversation_not_found")
            return None
        live = await self.get_state(LiveAnswerState)
        await live._heal()
        if live.streaming or live.elsewhere_id:
            await self._alert_key("error_answer_running")
            return None
        try:
            forward = int(step) > 0
        except (TypeError, ValueError):
            return None
        try:
            switched = await run_db(
                chat_service.switch_version,
                user_id=user.id,
                conversation_id=self.conversation_id,
                message_id=wanted,
                forward=forward,
            )
        except conv_repo.AnswerRunning:
            await self._alert_key("error_answer_running")
            return None
        if not switched:
            await self._alert_key("conversation_not_found")
            return None
        # As many messages as were shown, so the version switched stays where it was.
        return await self._open(user.id, self.conversation_id, limit=max(PAGE_SIZE, len(shown)))

    # --- feedback ----------------------------------------------------------------------

    async def _shown_answer(self, message_id) -> MessageView | None:
        wanted = record_id(message_id)
        return next((m for m in await self._all() if m.id == wanted and m.role == Role.ASSISTANT), None)

    async def _set_feedback(self, user_id: int, shown: MessageView | None, value: int, comment: str = "") -> bool:
        """Store the verdict on an answer this page shows (checked against its owner) and show it."""
        saved = shown is not None and await run_db(
            conv_repo.set_feedback, user_id=user_id, message_id=shown.id, value=value, comment=comment
        )
        if not saved:
            await self._alert_key("conversation_not_found")
            return False
        page = await self._page()
        if any(m.id == shown.id for m in page.messages):
            page.messages = [dataclasses.replace(m, feedback=value) if m.id == shown.id else m for m in page.messages]
        else:
            self.added = [dataclasses.replace(m, feedback=value) if m.id == shown.id else m for m in self.added]
        return True

    @rx.event
    async def toggle_feedback(self, message_id: int, value: int):
        """`Good answer` (1) / `Bad answer` (-1) on a finished answer; pressed again, it is taken
        back. Bad answer opens a field for an optional comment."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        try:
            verdict = 1 if int(value) > 0 else -1
        except (TypeError, ValueError):
            return None
        shown = await self._shown_answer(message_id)
        new = 0 if shown is not None and shown.feedback == verdict else verdict
        if await self._set_feedback(user.id, shown, new):
            self._set(feedback_open_id=shown.id if new < 0 else 0)
        return None

    @rx.event
    async def send_feedback(self, form: dict):
        """`Send feedback`: the comment with a Bad answer."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        comment = str(form.get("comment", "")) if isinstance(form, dict) else ""
        if self.feedback_open_id:
            shown = await self._shown_answer(self.feedback_open_id)
            if await self._set_feedback(user.id, shown, -1, comment):
                self._set(feedback_open_id=0)
        return None

    @rx.event
    def close_feedback(self):
        self._set(feedback_open_id=0)

    # --- export ------------------------------------------------------------------------

    async def _whole(self, user_id: int):
        """The open conversation and all its messages; None (after saying "not found") when it is
        not the user's or was deleted meanwhile, or none is open."""
        if not self.conversation_id:
            return None
        found = await run_db(export_service.load, user_id=user_id, conversation_id=self.conversation_id)
        if found is None:
            await self._alert_key("conversation_not_found")
        return found

    @rx.event
    async def export_markdown(self):
        """`Export chat` -> `Markdown`: the whole conversation as a .md file."""
        from fabrix_chat.state.agents import AgentState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        found = await self._whole(user.id)
        if found is None:
            return None
        conversation, messages = found
        agents = (await self.get_state(AgentState)).agents
        agent = next((a.label for a in agents if a.id == conversation.agent_id), conversation.agent_id)
        text = export_service.conversation_markdown(conversation, messages, agent, await self._lang_now())
        return rx.download(data=text, filename=export_service.export_filename(conversation))

    @rx.event
    async def print_chat(self):
        """`Export chat` -> `Print`: the whole conversation on the page, then the browser's print
        dialog (the print stylesheet leaves out the sidebar and the composer)."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        found = await self._whole(user.id)
        if found is None:
            return None
        _conversation, messages = found
        shown = {m.id for m in self.added}
        (await self._page())._set(messages=[message_view(m) for m in messages if m.id not in shown], has_earlier=False)
        # Printed once the page has drawn them (two frames later).
        return rx.call_script("requestAnimationFrame(() => requestAnimationFrame(() => window.print()))")

    # --- asking ------------------------------------------------------------------------

    @rx.event
    async def send_message(self, form: dict):
        """Composer submit: save the question, then stream the answer in the background."""
        from fabrix_chat.state.composer import ComposerState

        typed = str(form.get("message", "")).strip()
        composer = await self.get_state(ComposerState)
        if composer.uploading:
            await self._alert_key("error_upload_pending")
            return rx.set_value("composer-input", typed) if typed else None
        attachment = composer._pending_file
        lang = await self._lang_now()
        question = typed or (i18n.t("file_default_question", lang) if attachment else "")
        result = await self._ask(question, attachment=attachment)
        if result is None and typed:
            # Not sent (the alert says why): give the text back rather than lose it.
            return rx.set_value("composer-input", typed)
        return result

    @rx.event
    async def regenerate(self):
        """Ask the last question again, replacing the last answer."""
        last_user = next((m for m in reversed(await self._all()) if m.role == Role.USER), None)
        if last_user is None:
            return
        again = await self._file_for(last_user)
        if again.gone:
            return
        return await self._ask(last_user.content, regenerate=True, attachment=again.file)

    async def _file_for(self, question: MessageView) -> FileAgain:
        """The file to send again with an earlier question."""
        from fabrix_chat.state.composer import ComposerState

        if not question.attachment_name:
            return FileAgain()
        composer = await self.get_state(ComposerState)
        kept = composer._retry_file
        if (
            kept is not None
            and kept[1] == self.conversation_id
            and kept[2] == question.seq
            and await asyncio.to_thread(file_service.is_kept, kept[0].path)
        ):
            return FileAgain(kept[0])
        if composer._pending_file is not None:
            return FileAgain(composer._pending_file)
        await self._alert_key("error_file_gone")
        return FileAgain(gone=True)

    @rx.event
    async def start_edit(self, seq: int):
        from fabrix_chat.state.live_answer import LiveAnswerState

        if (await self.get_state(LiveAnswerState)).streaming:
            return
        message = next((m for m in await self._all() if m.seq == seq and m.role == Role.USER), None)
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
        message = next((m for m in await self._all() if m.seq == seq and m.role == Role.USER), None)
        if message is None:
            return
        again = await self._file_for(message)
        if again.gone:
            return
        # The editor closes when the question is asked (_ask); refused, the edited text stays.
        return await self._ask(text, replace_from_seq=seq, attachment=again.file)

    async def _ask(
        self,
        question: str,
        replace_from_seq: int | None = None,
        attachment: StoredFile | None = None,
        regenerate: bool = False,
    ):
        from fabrix_chat.state.agents import AgentState
        from fabrix_chat.state.composer import ComposerState
        from fabrix_chat.state.live_answer import LiveAnswerState
        from fabrix_chat.state.sidebar import SidebarState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        lang = await self._lang_now()
        live = await self.get_state(LiveAnswerState)
        await live._heal()
        on_screen = route_conversation_id(self.router.url.path)
        if self.conversation_id == 0 and on_screen > 0:
            # The page shows a conversation this tab's state does not know: the state expired (an
            # hour without an event) or was lost with Redis. Ask there, not in a new chat.
            log.info("a tab's state did not know the conversation on its page: opened again")
            events = await self._open(user.id, on_screen)
            if self.conversation_id != on_screen:
                return None  # gone or not this user's (the alert says so); the text is given back
            if live.elsewhere_id:  # an answer of it is being written: followed now, the text kept
                await self._alert_key("error_answer_running")
                return [*events, rx.set_value("composer-input", question)]
        if live.streaming:
            await self._alert_key("error_answer_running")
            return
        await self._clear_alert()
        if not question:
            await self._alert_key("error_empty_message")
            return
        if len(question) > MAX_MESSAGE_CHARS:
            await self._alert_key("error_message_too_long", limit=MAX_MESSAGE_CHARS)
            return
        composer = await self.get_state(ComposerState)
        if attachment is not None and not file_service.belongs_to(attachment.path, user.id or 0):
            # Not this user's file (left by someone who used this tab before): never send it.
            log.warning("refused an attachment outside the uploads of user %s", user.id)
            composer._clear_attachment()
            await self._alert_key("error_file_gone")
            return
        if attachment is not None and not await asyncio.to_thread(file_service.is_kept, attachment.path):
            await self._alert_key("error_file_gone")
            return
        agents = await self.get_state(AgentState)
        if not agents.selected_agent_id and not await agents._load(user):
            return
        quota = await self.get_state(QuotaState)
        held = await quota._reserve(user, question)  # counted before it is saved (services/quota.py)
        if held is None:
            return  # over a daily limit: nothing saved or sent; the alert says when it resets
        new_conversation = self.conversation_id == 0
        try:
            prepared = await run_db(
                chat_service.prepare_question,
                user_id=user.id,
                conversation_id=self.conversation_id,
                agent_id=agents.selected_agent_id,
                question=question,
                replace_from_seq=replace_from_seq,
                regenerate=regenerate,
                shown_id=await self._shown_id(replace_from_seq, regenerate),
                attachment_name=attachment.name if attachment else "",
                attachment_size=attachment.size if attachment else 0,
                owner=answers.INSTANCE,
            )
        except chat_service.ChatChanged:
            await quota._release(held)
            # Another tab asked, edited or switched a version here: show the chat as it is now,
            # and give back what was typed rather than lose it.
            shown = len(await self._all())
            events = await self._open(user.id, self.conversation_id, limit=max(PAGE_SIZE, shown + 2))
            await self._alert_key("error_chat_changed")
            if not regenerate:
                events.append(rx.set_value("composer-input", question))
            return events
        except LookupError:
            await quota._release(held)
            await self._show_not_found()
            return
        except Exception as exc:
            # The database away or the disk full has its own plain words (outages.py); else a bug.
            outage = outages.log_failure(log, "saving a question", exc)
            await quota._release(held)
            await self._alert_key(outage or "error_saving")
            return
        await composer._question_sent(attachment)
        earlier = [live._ended_view(m) for m in self.added]  # the last answer's ending, written in
        # What the new question or answer takes the place of goes off the screen (kept as a version).
        cut = prepared.question.seq + 1 if regenerate else replace_from_seq
        if cut is not None:
            page = await self._page()
            kept = [m for m in page.messages if m.seq < cut]
            if len(kept) != len(page.messages):
                page.messages = kept
            earlier = [m for m in earlier if m.seq < cut]
        self._set(
            conversation_id=prepared.conversation_id,
            conversation_title=prepared.title,
            not_found=False,
            editing_seq=-1,
        )
        job = answers.AnswerJob(
            user_id=user.id or 0,
            username=user.username,
            email=user.email,
            conversation_id=prepared.conversation_id,
            question_seq=prepared.question.seq,
            message_id=prepared.answer_id,
            agent_id=agents.selected_agent_id,
            contents=prepared.contents,
            lang=lang,
            file=attachment,
            left_out=prepared.left_out,
        )
        # The question and its answer's entry, which shows the page's buffer (state/live_answer.py).
        asked = [] if regenerate else [_with_versions(message_view(prepared.question), prepared.question_versions)]
        self.added = [*earlier, *asked, _with_versions(_answer_entry(job), prepared.versions)]
        await self._shown_changed()
        live._begin(job)
        await (await self.get_state(SidebarState))._refresh(user.id)
        # The job stays on the server: the event carries no arguments a browser could forge.
        events: list = [LiveAnswerState.stream_answer]
        if new_conversation:
            events.insert(0, rx.redirect(f"/chat/{prepared.conversation_id}"))
        return events

    async def _shown_id(self, replace_from_seq: int | None, regenerate: bool) -> int:
        """What this tab shows where a question goes (see chat_service.prepare_question)."""
        shown = await self._all()
        if regenerate:
            return next((m.id for m in reversed(shown) if m.role == Role.USER), 0)
        if replace_from_seq is not None:
            return next((m.id for m in shown if m.seq == replace_from_seq), 0)
        return shown[-1].id if shown else 0

    async def _answer_ended(self, job: answers.AnswerJob) -> None:
        """The live answer ended in this conversation. Its entry in `added` (put there with the
        question) shows how it ended from LiveAnswerState, so the list is not sent again; only a
        page opened while it streamed (a reload) has no entry yet and gets one."""
        if not any(m.id == job.message_id for m in self.added):
            self.added = [*self.added, _answer_entry(job)]
            await self._shown_changed()


def _with_versions(view: MessageView, count: int) -> MessageView:
    """A question or answer just added: the newest of its `count` versions."""
    return dataclasses.replace(view, version=count, versions=count) if count > 1 else view


def _answer_entry(job: answers.AnswerJob) -> MessageView:
    return MessageView(
        id=job.message_id, seq=job.question_seq + 1, role=Role.ASSISTANT, status=Status.STREAMING, live=True
    )
