"""The sidebar: agent picker, new chat, search, the conversation list and the signed-in user."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button, text_button
from fabrix_chat.state.chat import AgentOption, ChatState, ConversationItem
from fabrix_chat.state.ui import UIState, tr


def agent_picker() -> rx.Component:
    def option(agent: AgentOption) -> rx.Component:
        return rx.select.item(agent.label + " · " + agent.short_id, value=agent.id)

    return rx.el.div(
        rx.el.div(
            rx.el.span(tr("agent"), class_name="field-label"),
            icon_button("refresh-cw", tr("refresh_agents"), ChatState.load_agents(True), small=True),
            style={"display": "flex", "align_items": "center", "justify_content": "space-between"},
        ),
        rx.select.root(
            rx.select.trigger(aria_label=tr("agent"), style={"width": "100%"}),
            rx.select.content(rx.foreach(ChatState.agents, option)),
            value=ChatState.selected_agent_id,
            on_change=ChatState.select_agent,
            disabled=ChatState.streaming,
        ),
    )


def conversation_row(item: ConversationItem) -> rx.Component:
    return rx.fragment(
        rx.cond(item.group_start, rx.el.div(item.group, class_name="group-label")),
        rx.el.div(
            rx.link(
                rx.el.span(item.title, class_name="conversation-title"),
                rx.el.span(item.time, class_name="conversation-time", aria_hidden="true"),
                href=item.href,
                aria_label=item.title,
                class_name="conversation-link",
                underline="none",
            ),
            rx.el.div(
                icon_button("pencil", tr("rename_chat"), ChatState.ask_rename(item.id), small=True),
                icon_button("trash-2", tr("delete_chat"), ChatState.ask_delete(item.id), small=True),
                class_name="row-actions",
            ),
            class_name="conversation-row",
            data_active=rx.cond(item.id == ChatState.conversation_id, "true", "false"),
        ),
    )


def conversation_list() -> rx.Component:
    return rx.el.nav(
        rx.foreach(ChatState.conversations, conversation_row),
        rx.cond(
            ChatState.conversations.length() == 0,
            rx.el.div(
                rx.cond(ChatState.search_query != "", tr("no_matches"), tr("no_chats")),
                class_name="group-label",
            ),
        ),
        class_name="conversation-list",
        aria_label=tr("search_chats"),
    )


def sidebar_footer() -> rx.Component:
    return rx.el.div(
        rx.icon("circle-user", size=20, aria_hidden="true"),
        rx.el.span(ChatState.username, class_name="sidebar-user"),
        icon_button(
            "languages",
            tr("language"),
            UIState.set_lang(rx.cond(UIState.lang == "ko", "en", "ko")),
            small=True,
        ),
        icon_button("moon", tr("toggle_theme"), rx.toggle_color_mode, small=True),
        icon_button("log-out", tr("log_out"), ChatState.log_out, small=True),
        class_name="sidebar-footer",
    )


def sidebar() -> rx.Component:
    return rx.el.aside(
        rx.el.div(
            icon_button("panel-left", tr("toggle_sidebar"), UIState.toggle_sidebar),
            rx.el.span(tr("app_name"), class_name="sidebar-brand"),
            class_name="sidebar-top",
        ),
        rx.el.div(
            text_button(rx.fragment(rx.icon("plus", size=16, aria_hidden="true"), tr("new_chat")), ChatState.new_chat),
            agent_picker(),
            rx.el.input(
                type="search",
                aria_label=tr("search_chats"),
                placeholder=tr("search_chats"),
                value=ChatState.search_query,
                on_change=ChatState.set_search_query.debounce(300),
                class_name="text-input",
            ),
            conversation_list(),
            sidebar_footer(),
            class_name="sidebar-body",
        ),
        class_name="sidebar",
        data_open=rx.cond(UIState.sidebar_open, "true", "false"),
    )


def dialogs() -> rx.Component:
    """The delete confirmation and the rename dialog (never the browser's own dialogs)."""
    delete = rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(tr("delete_confirm_title")),
            rx.alert_dialog.description(ChatState.delete_title),
            rx.el.div(
                rx.alert_dialog.cancel(text_button(tr("cancel"), ChatState.cancel_delete)),
                rx.alert_dialog.action(text_button(tr("delete"), ChatState.confirm_delete, kind="danger")),
                class_name="dialog-actions",
            ),
        ),
        open=ChatState.delete_id != 0,
        on_open_change=lambda _open: ChatState.cancel_delete,
    )
    rename = rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(tr("rename_chat")),
            rx.el.form(
                rx.el.input(
                    value=ChatState.rename_title,
                    on_change=ChatState.set_rename_title,
                    aria_label=tr("chat_title"),
                    class_name="text-input",
                    auto_focus=True,
                ),
                rx.el.div(
                    text_button(tr("cancel"), ChatState.cancel_rename),
                    text_button(tr("save"), kind="primary", type="submit"),
                    class_name="dialog-actions",
                ),
                on_submit=lambda _form: ChatState.confirm_rename,
            ),
        ),
        open=ChatState.rename_id != 0,
        on_open_change=lambda _open: ChatState.cancel_rename,
    )
    return rx.fragment(delete, rename)
