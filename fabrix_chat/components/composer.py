"""The input bar: Enter sends, Shift+Enter breaks the line, Esc (anywhere) stops; one attached file.

The text field grows with its text (CSS `field-sizing: content`, capped by max-height). Attach
file opens the chooser limited to the allow-list and the size limit; the file is uploaded at
once (with progress in its chip) and sent with the next question. `Prompts` opens the prompt
library (components/prompts.py).
"""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button
from fabrix_chat.components.prompts import prompts_button, save_prompt_dialog
from fabrix_chat.services import files as file_service
from fabrix_chat.state.composer import UPLOAD_ID, ComposerState
from fabrix_chat.state.conversation import ConversationState
from fabrix_chat.state.live_answer import LiveAnswerState
from fabrix_chat.state.quota import QuotaState
from fabrix_chat.state.ui import tr


def _refused(rejected: rx.Var) -> rx.event.EventSpec:
    """Only the reasons go to the server: the refused File objects themselves would be sent over
    the websocket as binary attachments (megabytes of them)."""
    codes = rx.Var(f"(({rejected}) || []).flatMap((r) => ((r && r.errors) || []).map((e) => e.code))").to(list[str])
    return ComposerState.upload_rejected(codes)


def attach_button() -> rx.Component:
    """A button inside the drop zone: clicking it (or dropping a file on it) picks the file."""
    return rx.upload.root(
        icon_button("paperclip", tr("attach_file"), disabled=ComposerState.uploading),
        id=UPLOAD_ID,
        accept=file_service.accept_map(),
        max_size=ComposerState.upload_max_bytes,
        max_files=1,
        multiple=False,
        no_keyboard=True,  # the button inside is the keyboard stop; the zone needs none of its own
        on_drop=ComposerState.receive_upload(
            rx.upload_files_chunk(upload_id=UPLOAD_ID, on_upload_progress=ComposerState.set_upload_progress)
        ),
        on_drop_rejected=_refused,
        class_name="attach-zone",
    )


def attachment_chip() -> rx.Component:
    """The attached file: name and size (or upload progress) and Remove file."""
    return rx.cond(
        ComposerState.uploading | (ComposerState.attachment_name != ""),
        rx.el.div(
            rx.icon("paperclip", size=14, aria_hidden="true"),
            rx.cond(
                ComposerState.uploading,
                rx.fragment(
                    rx.el.span(tr("uploading_file"), class_name="chip-name"),
                    rx.el.div(
                        rx.el.div(
                            class_name="chip-bar-fill",
                            style={"width": ComposerState.upload_progress.to_string() + "%"},
                        ),
                        role="progressbar",
                        aria_label=tr("upload_progress"),
                        aria_valuemin=0,
                        aria_valuemax=100,
                        aria_valuenow=ComposerState.upload_progress,
                        class_name="chip-bar",
                    ),
                ),
                rx.fragment(
                    rx.el.span(ComposerState.attachment_name, class_name="chip-name"),
                    rx.el.span(ComposerState.attachment_size, class_name="chip-size"),
                ),
            ),
            icon_button("x", tr("remove_file"), ComposerState.remove_file, small=True),
            class_name="file-chip",
            role="group",
            aria_label=tr("attached_file"),
        ),
    )


def composer() -> rx.Component:
    return rx.el.div(
        # What is left of today's limits, once it runs low (always in the page: a live region).
        rx.el.p(QuotaState.quota_note, role="status", class_name="quota-note", hidden=QuotaState.quota_note == ""),
        rx.el.div(
            attachment_chip(),
            attach_button(),
            prompts_button(),
            rx.form(
                rx.el.textarea(
                    name="message",
                    id="composer-input",
                    aria_label=tr("message"),
                    placeholder=tr("message_placeholder"),
                    enter_key_submit=True,
                    rows=1,
                    disabled=LiveAnswerState.streaming | (LiveAnswerState.elsewhere_id != 0),
                    auto_focus=True,
                    max_length=20000,
                ),
                rx.cond(
                    LiveAnswerState.streaming | (LiveAnswerState.elsewhere_id != 0),
                    icon_button(
                        "square",
                        tr("stop_generating"),
                        LiveAnswerState.stop_generating,
                        class_name="send-button",
                        id="stop-button",
                    ),
                    icon_button(
                        "arrow-up",
                        tr("send_message"),
                        type="submit",
                        class_name="send-button",
                        disabled=ComposerState.uploading,
                    ),
                ),
                on_submit=ConversationState.send_message,
                reset_on_submit=True,
                class_name="composer-form",
            ),
            class_name="composer",
        ),
        save_prompt_dialog(),
        class_name="composer-wrap",
    )
