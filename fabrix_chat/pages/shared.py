"""/shared/{token}: the read-only copy behind a share link, for any signed-in user, with
`Continue in my chats`. A link no longer shared (or never) says so and shows nothing else."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import language_button, text_button, theme_button
from fabrix_chat.components.share import shared_message
from fabrix_chat.state.share import SharedState
from fabrix_chat.state.ui import tr


def _copy() -> rx.Component:
    return rx.fragment(
        rx.el.header(
            rx.el.div(
                rx.el.h1(SharedState.title, class_name="main-title"),
                rx.el.p(
                    tr("shared_chat"), " · ", tr("shared_on"), " ", SharedState.shared_on, class_name="shared-meta"
                ),
            ),
            text_button(tr("continue_in_my_chats"), SharedState.continue_in_my_chats, kind="primary"),
            class_name="main-header shared-header",
        ),
        rx.el.div(
            rx.el.p(tr("shared_read_only"), class_name="shared-meta"),
            rx.el.div(rx.foreach(SharedState.messages, shared_message), class_name="thread"),
            class_name="scroller",
        ),
    )


def _gone() -> rx.Component:
    return rx.el.div(
        rx.el.h1(tr("share_no_longer")),
        rx.link(tr("back_to_chat"), href="/chat"),
        class_name="empty-state",
    )


def shared_page() -> rx.Component:
    return rx.el.div(
        rx.el.main(
            rx.el.div(language_button(), theme_button(), class_name="shared-tools"),
            rx.cond(SharedState.loaded, rx.cond(SharedState.found, _copy(), _gone())),
            class_name="main",
        ),
        class_name="app-shell shared-shell",
    )
