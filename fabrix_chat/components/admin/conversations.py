"""Admin page, Conversations tab: any user's conversations, message search, a read-only view, delete."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, labelled_select, panel
from fabrix_chat.components.common import text_button
from fabrix_chat.components.markdown import markdown
from fabrix_chat.models import Role
from fabrix_chat.state.admin.conversations import (
    AdminConversationsState,
    ConversationRow,
    ShareItem,
    UserOption,
    ViewedMessage,
)
from fabrix_chat.state.ui import tr

CONVERSATION_COLUMNS = [
    "admin_col_title",
    "admin_col_user",
    "admin_col_updated",
    "admin_col_messages",
    "admin_col_actions",
]


def _conversation_cells(row: ConversationRow) -> list[rx.Component]:
    return [
        rx.el.td(row.title, class_name="admin-strong"),
        rx.el.td(row.username),
        rx.el.td(row.updated),
        rx.el.td(row.messages, class_name="admin-number"),
        rx.el.td(
            rx.el.div(
                text_button(tr("admin_open"), AdminConversationsState.open_conversation(row.id), kind="small"),
                text_button(
                    tr("admin_delete_conversation"),
                    AdminConversationsState.ask_delete_conversation(row.id),
                    kind="small danger-text",
                ),
                class_name="admin-actions",
            )
        ),
    ]


SHARE_COLUMNS = ["admin_col_title", "admin_col_user", "admin_col_shared", "admin_col_actions"]


def _share_cells(row: ShareItem) -> list[rx.Component]:
    return [
        rx.el.td(row.title, class_name="admin-strong"),
        rx.el.td(row.username),
        rx.el.td(row.created),
        rx.el.td(
            text_button(tr("stop_sharing"), AdminConversationsState.revoke_share(row.id), kind="small danger-text")
        ),
    ]


def _user_option(option: UserOption) -> rx.Component:
    return rx.el.option(option.username, value=option.id)


def conversations_tab() -> rx.Component:
    return rx.el.div(
        rx.el.div(
            labelled_select(
                tr("admin_filter_user"),
                [
                    rx.el.option(tr("admin_all_users"), value=""),
                    rx.foreach(AdminConversationsState.user_options, _user_option),
                ],
                value=AdminConversationsState.conv_user,
                on_change=AdminConversationsState.set_conv_user,
            ),
            rx.el.label(
                rx.el.span(tr("admin_search_messages"), class_name="field-label"),
                rx.el.input(
                    type="search",
                    placeholder=tr("admin_search_messages_hint"),
                    default_value=AdminConversationsState.conv_query,
                    on_change=AdminConversationsState.set_conv_query.debounce(300),
                    class_name="text-input",
                ),
                class_name="admin-field admin-grow",
            ),
            class_name="admin-toolbar",
        ),
        data_table(
            tr("tab_conversations"),
            CONVERSATION_COLUMNS,
            AdminConversationsState.conversations,
            _conversation_cells,
            empty_key="no_matches",
        ),
        panel(
            tr("admin_shared_links"),
            data_table(
                tr("admin_shared_links"),
                SHARE_COLUMNS,
                AdminConversationsState.shares,
                _share_cells,
                empty_key="admin_no_shares",
            ),
        ),
        class_name="admin-tab-body",
    )


def _viewed_message(message: ViewedMessage) -> rx.Component:
    """One message as text (questions) or markdown without raw HTML (answers): never rendered HTML."""
    return rx.el.article(
        rx.el.div(
            rx.el.span(rx.cond(message.role == Role.USER, tr("you"), tr("assistant")), class_name="admin-strong"),
            rx.el.span(message.time, class_name="admin-muted"),
            rx.cond(message.status != "", rx.el.span(message.status, class_name="admin-badge", data_state="off")),
            class_name="admin-message-head",
        ),
        rx.cond(
            message.role == Role.USER,
            rx.el.div(message.content, class_name="admin-message-text"),
            markdown(message.content),
        ),
        class_name="admin-message",
        data_message_role=message.role,
    )


def conversation_viewer() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(AdminConversationsState.view_title),
            rx.dialog.description(
                tr("admin_conversation_of"), " ", AdminConversationsState.view_username, class_name="admin-muted"
            ),
            rx.el.div(rx.foreach(AdminConversationsState.view_messages, _viewed_message), class_name="admin-viewer"),
            rx.el.div(
                text_button(
                    tr("admin_delete_conversation"),
                    AdminConversationsState.ask_delete_conversation(AdminConversationsState.view_id),
                    kind="danger",
                ),
                text_button(tr("admin_close"), AdminConversationsState.close_conversation, kind="primary"),
                class_name="dialog-actions",
            ),
            max_width="860px",
        ),
        open=(AdminConversationsState.view_id != 0) & (AdminConversationsState.conv_delete_id == 0),
        on_open_change=lambda _open: AdminConversationsState.close_conversation,
    )


def delete_conversation_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(tr("admin_delete_conversation_title")),
            rx.alert_dialog.description(AdminConversationsState.conv_delete_title),
            rx.el.div(
                rx.alert_dialog.cancel(text_button(tr("cancel"), AdminConversationsState.cancel_delete_conversation)),
                rx.alert_dialog.action(
                    text_button(tr("delete"), AdminConversationsState.confirm_delete_conversation, kind="danger")
                ),
                class_name="dialog-actions",
            ),
        ),
        open=AdminConversationsState.conv_delete_id != 0,
        on_open_change=lambda _open: AdminConversationsState.cancel_delete_conversation,
    )
