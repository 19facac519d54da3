"""/chat and /chat/{id}: the sidebar, the conversation and the composer.

`data-sidebar` on the page ("auto", "open" or "closed", from UIState) and the CSS media queries
in assets/styles.css decide the layout: desktop (>= 1024 px) sidebar beside the chat, tablet a
rail that opens over the chat, phone (<= 767 px) an overlay with a scrim behind it.
"""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.announcements import announcements
from fabrix_chat.components.common import icon_button
from fabrix_chat.components.composer import composer
from fabrix_chat.components.messages import thread
from fabrix_chat.components.share import share_button, share_dialog
from fabrix_chat.components.sidebar import dialogs, sidebar
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.conversation import ConversationState
from fabrix_chat.state.ui import UIState, tr


def main_header() -> rx.Component:
    return rx.el.header(
        # Only on phones, where the sidebar is hidden: the sidebar's own toggle is then out of view.
        icon_button(
            "menu", tr("toggle_sidebar"), UIState.toggle_sidebar, class_name="mobile-toggle", aria_controls="sidebar"
        ),
        # The page's level-one heading: the open conversation's title, or the app's name.
        rx.el.h1(
            rx.cond(ConversationState.conversation_title != "", ConversationState.conversation_title, tr("app_name")),
            class_name="main-title",
        ),
        rx.cond(ConversationState.conversation_id != 0, rx.fragment(share_button(), export_menu())),
        class_name="main-header",
    )


def export_menu() -> rx.Component:
    """`Export chat`: `Markdown` (a .md file) or `Print` (the browser's dialog, "Save as PDF")."""
    return rx.menu.root(
        rx.menu.trigger(icon_button("download", tr("export_chat"), class_name="header-action")),
        rx.menu.content(
            rx.menu.item(tr("export_markdown"), on_select=ConversationState.export_markdown),
            rx.menu.item(tr("export_print"), on_select=ConversationState.print_chat),
        ),
    )


def chat_page() -> rx.Component:
    return rx.el.div(
        sidebar(),
        rx.el.div(class_name="scrim", on_click=UIState.close_sidebar, aria_hidden="true"),
        rx.el.main(
            main_header(),
            announcements(),
            thread(),
            composer(),
            # Under the input bar, where Gemini keeps its own disclaimer: seen, never in the way.
            rx.cond(ChatState.demo_mode, rx.el.div(tr("demo_mode"), class_name="demo-notice", role="status")),
            class_name="main",
        ),
        dialogs(),
        share_dialog(),
        rx.script(src="/chat.js"),
        class_name="app-shell",
        data_sidebar=UIState.sidebar,
    )
