"""The composer's attached file: uploaded at once into the user's private folder, sent with the
next question, and kept after a failed or stopped answer so Retry can send it again."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.services import answers
from fabrix_chat.services import files as file_service
from fabrix_chat.services.files import StoredFile
from fabrix_chat.state.chat import ChatState, rejection_text
from fabrix_chat.state.failures import reload_saying
from fabrix_chat.units import size_label

log = logging.getLogger(__name__)

UPLOAD_ID = "composer-upload"


class ComposerState(ChatState):
    attachment_name: str = ""
    attachment_size: str = ""
    uploading: bool = False
    upload_progress: int = 0
    upload_max_bytes: int = 100 * 1024 * 1024
    _upload_round: int = 0  # bumped by Remove file, so an upload finishing after it is dropped
    _pending_file: StoredFile | None = None  # the uploaded file waiting for its question
    # The file of a failed or stopped answer, kept for Retry: (file, conversation id, question seq).
    _retry_file: tuple[StoredFile, int, int] | None = None

    def _clear_attachment(self) -> None:
        self._pending_file = None
        self._set(attachment_name="", attachment_size="", uploading=False, upload_progress=0)

    async def _question_sent(self, attachment: StoredFile | None) -> None:
        """A question went out with `attachment`: a file kept for Retry is not needed any more."""
        kept = self._retry_file
        if kept is not None:
            self._retry_file = None
            if attachment is None or attachment.path != kept[0].path:
                await _discard(kept[0])
        if attachment is not None and self._pending_file is not None and attachment.path == self._pending_file.path:
            self._clear_attachment()

    def _answer_ended(self, job: answers.AnswerJob, *, kept: bool) -> None:
        if kept and job.file is not None:
            self._retry_file = (job.file, job.conversation_id, job.question_seq)

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
            # Nothing is written. An upload carries no session of its own, and a tab whose state
            # expired (an hour without an event) has none either: the page is loaded again (the
            # log-in page if signed out) and then asks for the file again.
            return reload_saying("error_upload_again")
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
            self._set(uploading=True, upload_progress=0)
            await self._clear_alert(kind="upload")

        async def all_chunks():
            yield first
            async for chunk in incoming:
                yield chunk

        problem = ""
        stored: StoredFile | None = None
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
                    self._set(uploading=False, upload_progress=0)
            raise
        except Exception:
            log.exception("storing an upload failed")
            problem = i18n.t("error_upload_failed", lang)
        async with self:
            if round_ != self._upload_round or self._user_id != user.id:
                # Removed, or replaced by a newer upload, while it was arriving, or the tab now
                # belongs to someone else (it was reset): not wanted.
                previous, stored = stored, None
            else:
                previous = self._pending_file if stored is not None else None
                self._set(uploading=False, upload_progress=0)
                if stored is not None:
                    self._pending_file = stored
                    self._set(attachment_name=stored.name, attachment_size=size_label(stored.size))
                elif problem:
                    await self._alert(problem, kind="upload")
        if previous is not None and previous.path != (stored.path if stored else ""):
            await _discard(previous)  # one file per message: the new one replaces it

    @rx.event
    async def upload_rejected(self, codes: list[str]):
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
        await self._alert(rejection_text(reason, await self._lang_now()), kind="upload")

    @rx.event
    def set_upload_progress(self, progress: dict):
        try:
            fraction = float(progress.get("progress", 0))
        except (TypeError, ValueError, AttributeError):
            return
        self._set(upload_progress=max(0, min(100, int(fraction * 100))))

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
        stored = self._pending_file
        self._clear_attachment()
        if stored is not None:
            await _discard(stored)


async def _discard(stored: StoredFile) -> None:
    if stored.path:
        await asyncio.to_thread(file_service.delete_file, stored.path)
