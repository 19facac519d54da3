"""The sidebar: agent picker, new chat, search, the conversation list and the signed-in user.

Open it is 280 px wide; collapsed it is a 56 px rail holding only Toggle sidebar and New chat
(its contents keep their width and are clipped, so the 0.3 s width transition reads as a
drawer sliding, not as text re-wrapping). Which of the two shows at which screen width is
decided in assets/styles.css from the `data-sidebar` attribute of the page (see UIState).
"""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button, language_button, text_button, theme_button
from fabrix_chat.state.agents import AgentState
from fabrix_chat.state.auth import AuthState
from fabrix_chat.state.chat import AgentOption, ConversationItem
from fabrix_chat.state.conversation import ConversationState
from fabrix_chat.state.live_answer import LiveAnswerState
from fabrix_chat.state.sidebar import SidebarState
from fabrix_chat.state.ui import UIState, tr


def agent_picker() -> rx.Component:
    def option(agent: AgentOption) -> rx.Component:
        return rx.select.item(agent.label + " · " + agent.short_id, value=agent.id)

    return rx.el.div(
        rx.el.div(
            rx.el.span(tr("agent"), class_name="field-label"),
            icon_button("refresh-cw", tr("refresh_agents"), AgentState.load_agents(True), small=True),
            class_name="field-head",
        ),
        rx.select.root(
            rx.select.trigger(aria_label=tr("agent"), class_name="agent-trigger"),
            # "soft": the highlighted item keeps dark text on a light tint (the solid variant's white on
            # #0090ff is 3.3:1).
            rx.select.content(rx.foreach(AgentState.agents, option), position="popper", variant="soft"),
            value=AgentState.selected_agent_id,
            on_change=AgentState.select_agent,
            disabled=LiveAnswerState.streaming,
        ),
        class_name="agent-picker",
    )


def conversation_row(item: ConversationItem) -> rx.Component:
    return rx.fragment(
        rx.cond(item.group_start, rx.el.h2(item.group, class_name="group-label")),
        rx.el.div(
            rx.link(
                rx.el.span(item.title, class_name="conversation-title"),
                rx.el.span(item.time, class_name="conversation-time", aria_hidden="true"),
                href="/chat/" + item.id.to_string(),  # built here: each row sent is that much smaller
                class_name="conversation-link",
                underline="none",
                on_click=UIState.after_navigation,
            ),
            rx.cond(
                item.shared,
                rx.el.span(
                    rx.icon("users", size=14, aria_hidden="true"),
                    role="img",
                    aria_label=tr("shared_badge"),
                    title=tr("shared_badge"),
                    class_name="shared-mark",
                ),
            ),
            rx.el.div(
                rx.cond(
                    item.pinned,
                    icon_button("pin-off", tr("unpin_chat"), SidebarState.toggle_pin(item.id), small=True),
                    icon_button("pin", tr("pin_chat"), SidebarState.toggle_pin(item.id), small=True),
                ),
                icon_button("pencil", tr("rename_chat"), SidebarState.ask_rename(item.id), small=True),
                icon_button("trash-2", tr("delete_chat"), SidebarState.ask_delete(item.id), small=True),
                class_name="row-actions",
            ),
            class_name="conversation-row",
            data_active=rx.cond(item.id == ConversationState.conversation_id, "true", "false"),
        ),
    )


def conversation_list() -> rx.Component:
    return rx.el.nav(
        rx.foreach(SidebarState.conversations, conversation_row),
        rx.cond(
            SidebarState.conversations.length() == 0,
            rx.el.div(
                rx.cond(SidebarState.search_query != "", tr("no_matches"), tr("no_chats")),
                class_name="list-empty",
            ),
        ),
        rx.cond(
            SidebarState.has_more,
            rx.el.div(text_button(tr("show_more"), SidebarState.show_more), class_name="show-more"),
        ),
        class_name="conversation-list",
        aria_label=tr("main_navigation"),
    )


def sidebar_footer() -> rx.Component:
    """The signed-in user and the per-browser settings (language, theme), then Log out."""
    return rx.el.div(
        rx.el.div(
            language_button(),
            theme_button(),
            icon_button(
                "keyboard", tr("keyboard_shortcuts"), UIState.set_shortcuts_open(True), data_shortcut="shortcuts"
            ),
            class_name="footer-settings",
        ),
        rx.el.div(
            rx.el.div(rx.icon("user-round", size=16, aria_hidden="true"), class_name="avatar", aria_hidden="true"),
            rx.el.span(AuthState.username, class_name="sidebar-user"),
            icon_button("log-out", tr("log_out"), AuthState.log_out, small=True),
            class_name="footer-user",
        ),
        class_name="sidebar-footer",
    )


def new_chat_button() -> rx.Component:
    """A pill with its label when open; in the rail only the icon shows (the name stays)."""
    return rx.el.button(
        rx.icon("square-pen", size=18, aria_hidden="true"),
        rx.el.span(tr("new_chat"), class_name="new-chat-label"),
        aria_label=tr("new_chat"),
        title=tr("new_chat"),
        type="button",
        data_shortcut="new-chat",
        on_click=[SidebarState.new_chat, UIState.after_navigation],
        class_name="new-chat",
    )


def sidebar() -> rx.Component:
    return rx.el.aside(
        rx.el.div(
            icon_button(
                "panel-left",
                tr("toggle_sidebar"),
                UIState.toggle_sidebar,
                class_name="sidebar-toggle",
                aria_controls="sidebar",
            ),
            rx.el.span(tr("app_name"), class_name="sidebar-brand"),
            class_name="sidebar-top",
        ),
        new_chat_button(),
        rx.el.div(
            agent_picker(),
            rx.el.div(
                rx.icon("search", size=16, aria_hidden="true", class_name="search-icon"),
                rx.el.input(
                    type="search",
                    aria_label=tr("search_chats"),
                    placeholder=tr("search_chats"),
                    data_shortcut="search",
                    value=SidebarState.search_query,
                    on_change=SidebarState.set_search_query.debounce(300),
                    class_name="text-input search-input",
                ),
                class_name="search-box",
            ),
            conversation_list(),
            rx.cond(
                AuthState.is_admin,
                rx.link(
                    rx.icon("shield", size=16, aria_hidden="true"),
                    tr("admin_link"),
                    href="/admin",
                    class_name="admin-link",
                    underline="none",
                ),
            ),
            class_name="sidebar-body",
        ),
        sidebar_footer(),
        class_name="sidebar",
        id="sidebar",
    )


def dialogs() -> rx.Component:
    """The delete confirmation and the rename dialog (never the browser's own dialogs)."""
    delete = rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(tr("delete_confirm_title")),
            rx.alert_dialog.description(SidebarState.delete_title),
            rx.el.div(
                rx.alert_dialog.cancel(text_button(tr("cancel"), SidebarState.cancel_delete)),
                rx.alert_dialog.action(text_button(tr("delete"), SidebarState.confirm_delete, kind="danger")),
                class_name="dialog-actions",
            ),
            class_name="dialog-card",
        ),
        open=SidebarState.delete_id != 0,
        on_open_change=lambda _open: SidebarState.cancel_delete,
    )
    rename = rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(tr("rename_chat")),
            rx.el.form(
                rx.el.input(
                    value=SidebarState.rename_title,
                    on_change=SidebarState.set_rename_title,
                    aria_label=tr("chat_title"),
                    class_name="text-input",
                    auto_focus=True,
                ),
                rx.el.div(
                    text_button(tr("cancel"), SidebarState.cancel_rename),
                    text_button(tr("save"), kind="primary", type="submit"),
                    class_name="dialog-actions",
                ),
                on_submit=lambda _form: SidebarState.confirm_rename,
            ),
            class_name="dialog-card",
        ),
        open=SidebarState.rename_id != 0,
        on_open_change=lambda _open: SidebarState.cancel_rename,
    )
    return rx.fragment(delete, rename, shortcuts_dialog())


# (keys, i18n key of what they do); Ctrl is ⌘ on a Mac.
SHORTCUTS = (
    ("Ctrl/⌘ + Shift + O", "shortcut_new_chat"),
    ("Ctrl/⌘ + K", "shortcut_search"),
    ("Shift + Esc", "shortcut_composer"),
    ("Ctrl/⌘ + Shift + C", "shortcut_copy_answer"),
    ("Esc", "shortcut_stop"),
    ("?", "shortcut_help"),
)


def shortcuts_dialog() -> rx.Component:
    """What `?` (outside a text field) and the `Keyboard shortcuts` button open (assets/chat.js)."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(tr("keyboard_shortcuts")),
            rx.el.table(
                rx.el.tbody(
                    *[
                        rx.el.tr(rx.el.td(rx.el.kbd(keys), class_name="shortcut-keys"), rx.el.td(tr(key)))
                        for keys, key in SHORTCUTS
                    ]
                ),
                class_name="shortcuts",
            ),
            rx.el.div(
                rx.dialog.close(text_button(tr("close"), kind="primary")),
                class_name="dialog-actions",
            ),
            class_name="dialog-card",
        ),
        open=UIState.shortcuts_open,
        on_open_change=UIState.set_shortcuts_open,
    )
