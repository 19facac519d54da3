"""Admin page, Announcements tab: post one (Announcement, Level, Ends at), the list with Remove."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, labelled_select, panel
from fabrix_chat.components.common import text_button
from fabrix_chat.repo.announcements import LEVEL_KEYS, LEVELS, MAX_TEXT_CHARS
from fabrix_chat.state.admin.announcements import FORM_FIELDS, AdminAnnouncementsState, AnnouncementRow
from fabrix_chat.state.ui import tr

ANNOUNCEMENT_COLUMNS = [
    "announcement",
    "announcement_level",
    "announcement_ends_at",
    "admin_col_created",
    "admin_col_actions",
]


def _cells(row: AnnouncementRow) -> list[rx.Component]:
    return [
        rx.el.td(row.text, class_name="admin-prompt-preview"),
        rx.el.td(row.level),
        rx.el.td(row.ends, rx.cond(~row.live, rx.el.span(" · ", tr("announcement_ended")))),
        rx.el.td(row.created),
        rx.el.td(
            text_button(
                tr("remove_announcement"),
                AdminAnnouncementsState.remove_announcement(row.id),
                kind="small danger-text",
            )
        ),
    ]


def announcements_tab() -> rx.Component:
    text_id, ends_id = FORM_FIELDS
    return rx.el.div(
        panel(
            tr("announcement_new"),
            rx.el.p(tr("announcement_note"), class_name="admin-muted"),
            rx.el.form(
                rx.el.label(
                    rx.el.span(tr("announcement"), class_name="field-label"),
                    rx.el.textarea(
                        name="text",
                        id=text_id,
                        rows=3,
                        max_length=MAX_TEXT_CHARS,
                        required=True,
                        class_name="text-input",
                    ),
                    class_name="admin-field admin-prompt-body",
                ),
                labelled_select(
                    tr("announcement_level"),
                    [rx.el.option(tr(LEVEL_KEYS[level]), value=level) for level in LEVELS],
                    name="level",
                    default_value="info",
                ),
                rx.el.label(
                    rx.el.span(tr("announcement_ends_at"), class_name="field-label"),
                    rx.el.input(name="ends_at", id=ends_id, type="datetime-local", class_name="text-input"),
                    class_name="admin-field",
                ),
                text_button(tr("post_announcement"), kind="primary", type="submit"),
                on_submit=AdminAnnouncementsState.post_announcement,
                class_name="admin-form-row",
            ),
        ),
        data_table(
            tr("tab_announcements"),
            ANNOUNCEMENT_COLUMNS,
            AdminAnnouncementsState.announcement_rows,
            _cells,
            empty_key="announcement_none",
        ),
        class_name="admin-tab-body",
    )
