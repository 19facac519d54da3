"""The answer being streamed into this tab, and Stop.

The answer itself is run by services/answers.py; this state only adapts it to the page. Each
batch is pushed to the page's buffer (`fabrixLive` in assets/chat.js) as the text it added,
numbered, with `rx.call_script` from outside `async with self`: a batch changes no state var, so
nothing is sent again and, with Redis, nothing is written. A page that missed a batch (a lost
connection) or lost its buffer (a reload) asks for the whole text with `resync`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

import reflex as rx
from redis.exceptions import RedisError

from fabrix_chat import i18n
from fabrix_chat.db import run_db
from fabrix_chat.models import Role, Status, record_id
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.services import answers
from fabrix_chat.state.chat import ChatState, MessageView

log = logging.getLogger(__name__)

# Between attempts to show how an answer ended while Redis fails (about a minute in all).
STATE_STORE_RETRY_DELAYS = (0.5, 1.0, 2.0, 3.0) + (5.0,) * 11
FINAL_PART = 1 << 30  # the part number of a finished answer's whole text (no batch follows it)
ELSEWHERE_POLL_SECONDS = 1.0  # how often a tab re-reads an answer written by another tab or worker
ELSEWHERE_WATCH_SECONDS = 1800.0  # and for how long at most


def push_script(message_id: int, first: int, last: int, added: str, status: str | None) -> str:
    text = json.dumps(added, ensure_ascii=False)
    return f"window.fabrixLive&&fabrixLive.push({message_id},{first},{last},{text},{json.dumps(status)})"


def reset_script(message_id: int, part: int, text: str, status: str, done: bool) -> str:
    body = json.dumps(text, ensure_ascii=False)
    return (
        f"window.fabrixLive&&fabrixLive.reset({message_id},{part},{body},"
        f"{json.dumps(status, ensure_ascii=False)},{json.dumps(done)})"
    )


class _Pushes:
    """The page's side of an answer (services.answers.AnswerView): batches wait here until the
    event handler sends them; several waiting batches leave as one push."""

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id
        self.queue: asyncio.Queue[tuple[int, str, str | None]] = asyncio.Queue()

    async def show(self, part: int, added: str, status: str | None) -> None:
        self.queue.put_nowait((part, added, status))

    async def scripts(self, task: asyncio.Task):
        while True:
            getter = asyncio.ensure_future(self.queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                batches = []
            else:
                batches = [getter.result()]
            while not self.queue.empty():
                batches.append(self.queue.get_nowait())
            if batches:
                status = next((s for _, _, s in reversed(batches) if s is not None), None)
                added = "".join(text for _, text, _ in batches)
                yield push_script(self.message_id, batches[0][0], batches[-1][0], added, status)
            if task.done() and self.queue.empty():
                return


class LiveAnswerState(ChatState):
    streaming: bool = False
    live_id: int = 0  # the answer streamed into this tab (it stays set after it ends)
    live_conversation_id: int = 0
    elsewhere_id: int = 0  # an answer of the open conversation written by another tab or worker
    # How the live answer ended, shown on its entry in ConversationState.added (so the end sends
    # these few values, not that list again); written into the entry when the next question is asked.
    live_status: str = ""
    live_error: str = ""
    live_parts: int = 0
    live_note: str = ""
    _watching: int = 0  # the answer written elsewhere that watch_elsewhere follows

    def _begin(self, job: answers.AnswerJob) -> None:
        answers.hand_over(job)  # the job stays on the server, outside the tab's state
        self._set(
            streaming=True,
            live_id=job.message_id,
            live_conversation_id=job.conversation_id,
            elsewhere_id=0,
            live_status=Status.STREAMING,
            live_error="",
            live_parts=0,
            live_note="",
        )

    def _ended_view(self, view: MessageView) -> MessageView:
        """The entry of this tab's last live answer with how it ended (others unchanged)."""
        if not view.live or view.id != self.live_id or self.streaming:
            return view
        return dataclasses.replace(
            view, status=self.live_status, error=self.live_error, parts=self.live_parts, note=self.live_note
        )

    async def _heal(self) -> None:
        """`streaming` kept for an answer that has ended without this tab hearing of it (its worker
        stopped, or it was stopped before it started): take how it ended from the database."""
        if not self.streaming or not self.live_id:
            return
        row = await run_db(
            conv_repo.get_message,
            user_id=self._user_id,
            conversation_id=self.live_conversation_id,
            message_id=self.live_id,
        )
        if row is None or row.status != Status.STREAMING:
            self._set(
                streaming=False,
                live_status=row.status if row else Status.STOPPED,
                live_error=row.error if row else "",
                live_parts=FINAL_PART,  # the page asks for the saved text
            )

    def resume_event(self):
        """After a reload: the page's buffer is empty, so it gets the answer's whole text."""
        return LiveAnswerState.resync(str(self.live_id))

    async def _before_reset(self) -> None:
        """The tab is about to belong to nobody or someone else: its answer stops streaming here."""
        if self.streaming and self.live_id:
            try:
                await answers.request_stop(self.live_id, close=True)
            except Exception:
                log.warning("could not stop answer %s when its tab was reset", self.live_id)

    @rx.event(background=True)
    async def stream_answer(self):
        """Run the answer saved by ConversationState._ask, pushing its batches to the page."""
        async with self:
            job = answers.take(self.live_id, self._user_id) if self.streaming else None
            if job is None:
                await self._heal()
                return
        pushes = _Pushes(job.message_id)
        task = asyncio.create_task(answers.run_answer(job, pushes))
        try:
            async for script in pushes.scripts(task):
                yield rx.call_script(script)
        finally:
            if not task.done():
                task.cancel()
        try:
            end = task.result()
        except Exception:  # a bug: the tab must still leave "streaming" with a plain message
            log.exception("answer %s failed in the app", job.message_id)
            row = await run_db(
                conv_repo.get_message,
                user_id=job.user_id,
                conversation_id=job.conversation_id,
                message_id=job.message_id,
            )
            kept = row.content if row is not None else ""  # what was saved stays
            await answers.save_answer(job, kept, Status.ERROR, i18n.t("error_generic", job.lang))
            end = answers.AnswerEnd(kept, Status.ERROR, i18n.t("error_generic", job.lang), retry=True)
        # Redis restarting (the tabs' state store) must not leave the tab "streaming" for good: its
        # composer would stay disabled until a reload. The ending is shown once Redis is back.
        for delay in (*STATE_STORE_RETRY_DELAYS, None):
            try:
                await self._show_end(job, end)
                break
            except RedisError as exc:
                if delay is None:
                    raise
                log.warning(
                    "answer %s ended while Redis fails (%s); showing it again in %.1f s", job.message_id, exc, delay
                )
                await asyncio.sleep(delay)

    async def _show_end(self, job: answers.AnswerJob, end: answers.AnswerEnd) -> None:
        """How the answer ended, in the tab's state (stream_answer's last step)."""
        from fabrix_chat.state.composer import ComposerState
        from fabrix_chat.state.conversation import ConversationState

        async with self:
            if end.closed or self._user_id not in (0, job.user_id):
                # The tab was reset meanwhile (log-out, or another user signed in): the answer is
                # saved for its owner; nothing of it belongs in this tab any more.
                return
            composer = await self.get_state(ComposerState)
            composer._answer_ended(job, kept=end.file_kept)
            if not self._user_id or self.live_id < job.message_id:
                await self._show_lost_start(job, end)
                return
            if self.live_id != job.message_id:
                return
            lang = await self._lang_now()
            self._set(
                streaming=False,
                live_status=end.status,
                live_error=end.error,
                live_parts=end.parts,
                live_note=i18n.t("history_left_out", lang, count=job.left_out) if job.left_out else "",
            )
            conversation = await self.get_state(ConversationState)
            if conversation.conversation_id == job.conversation_id:
                await conversation._answer_ended(job)
                if end.error:
                    await self._alert(end.error, retry=end.retry, kind="answer")
            # The sidebar is not listed again: asking moved the chat to the top already, and
            # only its time label could change (30 rows resent, and written to Redis, for that).

    async def _show_lost_start(self, job: answers.AnswerJob, end: answers.AnswerEnd) -> None:
        """The tab's state does not know this answer, although the page shows it streaming: Redis
        failed before the state of the question's event was written (Reflex keeps a busy tab's
        state in memory for a few seconds first), and the tab is back to how it was before, or to
        nothing at all for a tab that new. Show the conversation as the database has it, the answer
        in it, instead of a page left streaming with its message box disabled."""
        from fabrix_chat.state.conversation import ConversationState

        if not self._user_id:
            # Not a log-out (that closes the answer's view: end.closed): the state of this very tab,
            # which asked as this user, was lost. Every handler checks the session again anyway.
            self._user_id = job.user_id
        self._set(
            live_id=job.message_id,
            live_conversation_id=job.conversation_id,
            live_status=end.status,
            live_error=end.error,
            live_parts=FINAL_PART,
            live_note="",
        )
        self.streaming = False  # assigned although it already is: the page still shows it streaming
        conversation = await self.get_state(ConversationState)
        if conversation.conversation_id in (0, job.conversation_id):  # (0: that was lost too)
            await conversation._open(job.user_id, job.conversation_id)
            if end.error:
                await self._alert(end.error, retry=end.retry, kind="answer")

    @rx.event
    async def resync(self, request: str):
        """The page's buffer missed part of an answer (or was reloaded): send its whole text.

        Only answers this tab shows can be asked for (its state holds nothing of another user's).
        """
        from fabrix_chat.state.conversation import ConversationState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        # The page's buffer sends "id:time" (each request differs, so the field's change fires).
        wanted = record_id(str(request).partition(":")[0])
        if not wanted:
            return
        conversation = await self.get_state(ConversationState)
        if wanted == self.live_id and self.live_id:
            conversation_id = self.live_conversation_id
        elif any(m.id == wanted and m.live for m in conversation.added):
            conversation_id = conversation.conversation_id
        else:
            return
        row = await run_db(conv_repo.get_message, user_id=user.id, conversation_id=conversation_id, message_id=wanted)
        if row is None:
            return  # not the user's
        snapshot = await answers.snapshot(wanted) if row.status == Status.STREAMING else None
        if snapshot is not None:
            return rx.call_script(reset_script(wanted, snapshot.part, snapshot.text, snapshot.status, False))
        done = row.status != Status.STREAMING
        return rx.call_script(reset_script(wanted, FINAL_PART if done else 0, row.content, "", done))

    @rx.event
    async def stop_generating(self):
        """Stop (button or Esc): end the upstream request now, wherever it runs; the partial answer is kept."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        from fabrix_chat.state.conversation import ConversationState

        if self.streaming and self.live_id:
            target, conversation_id = self.live_id, self.live_conversation_id
        elif self.elsewhere_id:
            target = self.elsewhere_id
            conversation_id = (await self.get_state(ConversationState)).conversation_id
        else:
            return
        row = await run_db(conv_repo.get_message, user_id=user.id, conversation_id=conversation_id, message_id=target)
        if row is None or row.role != Role.ASSISTANT:
            return  # not an answer of the user's
        try:
            await answers.request_stop(target)
        except Exception:
            await self._alert_key("error_stop_failed")

    @rx.event(background=True)
    async def watch_elsewhere(self, message_id: int):
        """An answer of the open conversation written by another tab or worker: show it again as
        saved every few seconds, and as it ended once it has."""
        from fabrix_chat.state.conversation import ConversationState

        async with self:
            if self._watching == message_id or self.elsewhere_id != message_id:
                return
            self._watching = message_id
            user_id = self._user_id
            conversation_id = (await self.get_state(ConversationState)).conversation_id
        events: list = []
        try:
            deadline = asyncio.get_running_loop().time() + ELSEWHERE_WATCH_SECONDS
            while not events and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(ELSEWHERE_POLL_SECONDS)
                row = await run_db(
                    conv_repo.get_message, user_id=user_id, conversation_id=conversation_id, message_id=message_id
                )
                async with self:
                    conversation = await self.get_state(ConversationState)
                    if (
                        self._user_id != user_id
                        or self.elsewhere_id != message_id
                        or conversation.conversation_id != conversation_id
                    ):
                        return
                    if row is None or row.status != Status.STREAMING:
                        # Its end; the page opened again may find the next answer written elsewhere.
                        events = await conversation._open(user_id, conversation_id) or [None]
                    else:
                        await conversation._show_saved(row)
        finally:
            async with self:
                if self._watching == message_id:
                    self._watching = 0
        for event in events:
            if event is not None:
                yield event
