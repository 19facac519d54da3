"""The announcements banner on the chat page: one element with role `status` per announcement,
its markdown (never raw HTML: components/markdown.py) and `Dismiss`."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import text_button
from fabrix_chat.components.markdown import markdown
from fabrix_chat.state.announcements import AnnouncementState, AnnouncementView
from fabrix_chat.state.ui import tr


def _announcement(item: AnnouncementView) -> rx.Component:
    return rx.el.div(
        rx.icon(rx.cond(item.level == "warning", "triangle-alert", "info"), size=16, aria_hidden="true"),
        rx.el.div(markdown(item.text), class_name="announcement-text"),
        text_button(tr("dismiss"), AnnouncementState.dismiss_announcement(item.id)),
        role="status",
        class_name="announcement",
        data_level=item.level,
    )


def announcements() -> rx.Component:
    return rx.cond(
        AnnouncementState.announcements.length() > 0,
        rx.el.div(rx.foreach(AnnouncementState.announcements, _announcement), class_name="announcements"),
    )
