"""The conversation: questions, answers, the answer being streamed, the alert and the empty state."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button, text_button
from fabrix_chat.components.markdown import markdown
from fabrix_chat.state.chat import ChatState, MessageView
from fabrix_chat.state.ui import tr


def _bot_icon() -> rx.Component:
    return rx.el.div(rx.icon("sparkles", size=16, aria_hidden="true"), class_name="bot-icon", aria_hidden="true")


def _attachment(message: MessageView) -> rx.Component:
    return rx.cond(
        message.attachment_name != "",
        rx.el.div(
            rx.icon("paperclip", size=14, aria_hidden="true"),
            rx.el.span(message.attachment_name, class_name="attachment-name"),
            rx.el.span(message.attachment_size, class_name="attachment-size"),
            class_name="attachment",
            role="group",
            aria_label=tr("attached_file"),
        ),
    )


def _edit_form(message: MessageView) -> rx.Component:
    return rx.el.div(
        rx.el.textarea(
            value=ChatState.edit_text,
            on_change=ChatState.set_edit_text,
            aria_label=tr("edited_message"),
            class_name="text-input",
            rows=3,
            auto_focus=True,
        ),
        rx.el.div(
            text_button(tr("cancel"), ChatState.cancel_edit),
            text_button(tr("save_and_send"), ChatState.save_edit, kind="primary"),
            class_name="dialog-actions",
        ),
        class_name="bubble",
        style={"width": "100%"},
    )


def user_message(message: MessageView) -> rx.Component:
    return rx.el.article(
        rx.cond(
            ChatState.editing_seq == message.seq,
            _edit_form(message),
            rx.el.div(
                rx.el.div(_attachment(message), rx.el.div(message.content), class_name="bubble"),
                rx.el.div(
                    icon_button(
                        "pencil",
                        tr("edit_message"),
                        ChatState.start_edit(message.seq),
                        small=True,
                        disabled=ChatState.streaming,
                    ),
                    icon_button("copy", tr("copy_message"), rx.set_clipboard(message.content), small=True),
                    class_name="message-actions",
                ),
                style={"max_width": "85%", "display": "flex", "flex_direction": "column", "align_items": "flex-end"},
            ),
        ),
        class_name="message",
        data_message_role="user",
    )


def assistant_message(message: MessageView) -> rx.Component:
    return rx.el.article(
        _bot_icon(),
        rx.el.div(
            rx.el.div(markdown(message.content), class_name="bubble"),
            rx.cond(message.status == "stopped", rx.el.div(tr("stopped"), class_name="message-status")),
            # A failed answer keeps what arrived, and says why it ended (also after a reload).
            rx.cond(
                (message.status == "error") & (message.error != ""),
                rx.el.div(message.error, class_name="message-status message-error"),
            ),
            rx.el.div(
                icon_button("copy", tr("copy_message"), rx.set_clipboard(message.content), small=True),
                rx.cond(
                    (message.seq == ChatState.last_assistant_seq) & ~ChatState.streaming,
                    icon_button("refresh-cw", tr("regenerate_answer"), ChatState.regenerate, small=True),
                ),
                class_name="message-actions",
            ),
            style={"flex": "1", "min_width": "0"},
        ),
        class_name="message",
        data_message_role="assistant",
    )


def streaming_message() -> rx.Component:
    """The answer as it arrives: itself an assistant article, busy until it ends."""
    return rx.el.article(
        _bot_icon(),
        rx.el.div(
            # FabriX STATUS events: a transient line above the answer, never part of its text.
            rx.el.div(
                ChatState.stream_status,
                class_name="stream-status",
                role="status",
                hidden=ChatState.stream_status == "",
            ),
            rx.el.div(markdown(ChatState.stream_text), class_name="typing-cursor"),
            class_name="bubble",
        ),
        class_name="message",
        data_message_role="assistant",
        aria_busy="true",
    )


def chat_alert() -> rx.Component:
    return rx.cond(
        ChatState.alert_text != "",
        rx.el.div(
            rx.icon("circle-alert", size=18, aria_hidden="true"),
            rx.el.span(ChatState.alert_text, class_name="alert-text"),
            rx.cond(ChatState.alert_retry, text_button(tr("retry"), ChatState.retry)),
            text_button(tr("dismiss"), ChatState.dismiss_alert),
            role="alert",
            class_name="chat-alert",
        ),
    )


def thread() -> rx.Component:
    return rx.el.div(
        rx.cond(
            ChatState.not_found,
            rx.el.div(
                rx.el.h2(tr("conversation_not_found")),
                rx.link(tr("back_to_chat"), href="/chat"),
                class_name="empty-state",
            ),
        ),
        # The page's h1 is the title in the header (pages/chat.py); the greeting sits below it.
        rx.cond(ChatState.is_empty, rx.el.div(rx.el.h2(tr("empty_state")), class_name="empty-state")),
        rx.el.div(
            rx.foreach(
                ChatState.messages,
                lambda m: rx.cond(m.role == "user", user_message(m), assistant_message(m)),
            ),
            rx.cond(ChatState.show_stream, streaming_message()),
            chat_alert(),
            class_name="thread",
        ),
        id="chat-scroller",
        class_name="scroller",
    )
