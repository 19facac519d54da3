"""/chat and /chat/{id}: the sidebar, the conversation and the composer."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button
from fabrix_chat.components.composer import composer
from fabrix_chat.components.messages import thread
from fabrix_chat.components.sidebar import dialogs, sidebar
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.ui import UIState, tr


def chat_page() -> rx.Component:
    return rx.el.div(
        sidebar(),
        rx.el.div(class_name="scrim", on_click=UIState.close_sidebar, hidden=~UIState.sidebar_open),
        rx.el.main(
            rx.el.header(
                icon_button("menu", tr("toggle_sidebar"), UIState.toggle_sidebar, class_name="mobile-toggle"),
                rx.el.div(ChatState.conversation_title, class_name="main-title"),
                rx.cond(ChatState.demo_mode, rx.el.div(tr("demo_mode"), class_name="demo-notice", role="status")),
                class_name="main-header",
            ),
            thread(),
            composer(),
            class_name="main",
        ),
        dialogs(),
        rx.script(src="/chat.js"),
        class_name="app-shell",
        data_sidebar=rx.cond(UIState.sidebar_open, "true", "false"),
        on_mount=rx.call_script("window.innerWidth < 1024", callback=UIState.init_layout),
    )
