"""The input bar: Enter sends, Shift+Enter breaks the line, Esc (anywhere) stops."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.ui import tr


def composer() -> rx.Component:
    return rx.el.div(
        rx.form(
            rx.el.div(
                rx.el.textarea(
                    name="message",
                    id="composer-input",
                    aria_label=tr("message"),
                    placeholder=tr("message_placeholder"),
                    enter_key_submit=True,
                    rows=1,
                    disabled=ChatState.streaming,
                    auto_focus=True,
                    max_length=20000,
                ),
                rx.cond(
                    ChatState.streaming,
                    icon_button(
                        "square",
                        tr("stop_generating"),
                        ChatState.stop_generating,
                        class_name="send-button",
                        id="stop-button",
                    ),
                    icon_button("arrow-up", tr("send_message"), type="submit", class_name="send-button"),
                ),
                class_name="composer",
            ),
            on_submit=ChatState.send_message,
            reset_on_submit=True,
        ),
        class_name="composer-wrap",
    )
