"""/admin: administration for admins only (on_load sends everyone else away, every handler re-checks)."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.announcements import announcements_tab
from fabrix_chat.components.admin.audit import audit_tab
from fabrix_chat.components.admin.conversations import (
    conversation_viewer,
    conversations_tab,
    delete_conversation_dialog,
)
from fabrix_chat.components.admin.invitations import invitations_tab
from fabrix_chat.components.admin.logs import logs_tab
from fabrix_chat.components.admin.maintenance import cleanup_dialog, maintenance_tab
from fabrix_chat.components.admin.prompts import prompts_tab
from fabrix_chat.components.admin.settings import settings_tab
from fabrix_chat.components.admin.usage import usage_tab
from fabrix_chat.components.admin.users import change_email_dialog, delete_user_dialog, reset_password_dialog, users_tab
from fabrix_chat.components.common import language_button, theme_button
from fabrix_chat.state.admin import AdminState
from fabrix_chat.state.ui import tr

# (tab value, i18n key of its name, body)
TABS = [
    ("users", "tab_users", users_tab),
    ("conversations", "tab_conversations", conversations_tab),
    ("usage", "tab_usage", usage_tab),
    ("logs", "tab_logs", logs_tab),
    ("maintenance", "tab_maintenance", maintenance_tab),
    ("settings", "tab_settings", settings_tab),
    ("invitations", "tab_invitations", invitations_tab),
    ("prompts", "tab_prompts", prompts_tab),
    ("announcements", "tab_announcements", announcements_tab),
    ("audit", "tab_audit", audit_tab),
]


def _messages() -> rx.Component:
    return rx.fragment(
        rx.cond(AdminState.error != "", rx.el.div(AdminState.error, role="alert", class_name="admin-alert")),
        rx.cond(AdminState.notice != "", rx.el.div(AdminState.notice, role="status", class_name="admin-notice")),
        rx.cond(
            AdminState.invite_key_guesses > 0,
            rx.el.div(
                AdminState.invite_key_guesses.to_string(),
                " ",
                tr("admin_invite_guessing"),
                role="status",
                class_name="admin-alert",
            ),
        ),
    )


def _header() -> rx.Component:
    return rx.el.header(
        rx.el.h1(tr("admin_title")),
        rx.el.div(
            rx.el.span(AdminState.username, class_name="admin-muted"),
            language_button(),
            theme_button(),
            rx.link(
                rx.icon("arrow-left", size=16, aria_hidden="true"),
                tr("back_to_chat"),
                href="/chat",
                class_name="admin-back",
                underline="none",
            ),
            class_name="admin-header-side",
        ),
        class_name="admin-header",
    )


def admin_page() -> rx.Component:
    # Nothing but an empty shell renders until on_load has confirmed an administrator.
    return rx.el.div(
        rx.cond(
            AdminState.signed_in & AdminState.is_admin,
            rx.el.main(
                _header(),
                rx.tabs.root(
                    rx.tabs.list(*[rx.tabs.trigger(tr(key), value=value) for value, key, _ in TABS]),
                    _messages(),
                    *[rx.tabs.content(body(), value=value, class_name="admin-tab") for value, _, body in TABS],
                    value=AdminState.tab,
                    on_change=AdminState.select_tab,
                ),
                class_name="admin-main",
            ),
        ),
        reset_password_dialog(),
        change_email_dialog(),
        delete_user_dialog(),
        conversation_viewer(),
        delete_conversation_dialog(),
        cleanup_dialog(),
        class_name="admin-page",
    )
