"""Admin page, Users tab: search, the users table with its per-row actions, create, reset, delete."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, panel
from fabrix_chat.components.common import icon_button, text_button
from fabrix_chat.state.admin.users import CREATE_FORM_FIELDS, AdminUsersState, UserRow
from fabrix_chat.state.ui import tr

USER_COLUMNS = [
    "username",
    "email",
    "admin_col_role",
    "admin_col_status",
    "admin_col_last_login",
    "admin_col_actions",
]
LIMIT_COLUMNS = [*USER_COLUMNS[:-1], "admin_col_limits", USER_COLUMNS[-1]]  # once quotas are on


def _user_cells(user: UserRow) -> list[rx.Component]:
    return [
        rx.el.td(user.username, class_name="admin-strong"),
        rx.el.td(user.email),
        rx.el.td(rx.cond(user.is_admin, tr("admin_role_admin"), tr("admin_role_user"))),
        rx.el.td(
            rx.el.span(
                rx.cond(user.is_active, tr("admin_status_active"), tr("admin_status_disabled")),
                class_name="admin-badge",
                data_state=rx.cond(user.is_active, "ok", "off"),
            )
        ),
        rx.el.td(user.last_login),
        rx.el.td(
            rx.el.div(
                rx.cond(
                    user.is_active,
                    text_button(tr("admin_disable"), AdminUsersState.disable_user(user.id), kind="small"),
                    text_button(tr("admin_enable"), AdminUsersState.enable_user(user.id), kind="small"),
                ),
                rx.cond(
                    user.is_admin,
                    text_button(tr("admin_remove_admin"), AdminUsersState.remove_admin(user.id), kind="small"),
                    text_button(tr("admin_make_admin"), AdminUsersState.make_admin(user.id), kind="small"),
                ),
                text_button(tr("admin_reset_password"), AdminUsersState.open_reset(user.id), kind="small"),
                text_button(tr("admin_change_email"), AdminUsersState.open_email(user.id), kind="small"),
                text_button(
                    tr("admin_delete_user"), AdminUsersState.ask_delete_user(user.id), kind="small danger-text"
                ),
                class_name="admin-actions",
            )
        ),
    ]


def _limit_field(label_key: str, user: UserRow, value: rx.Var, placeholder: rx.Var, handler) -> rx.Component:
    """One of a user's own daily limits: empty is the default, 0 no limit; saved on leaving it.
    A text field, not type=number, which would send an empty field as 0."""
    return rx.el.label(
        rx.el.span(tr(label_key), class_name="field-label"),
        rx.el.input(
            type="text",
            input_mode="numeric",
            default_value=value,
            key=user.id.to_string() + ":" + value,  # drawn again with the value saved
            placeholder=placeholder,
            max_length=13,
            auto_complete="off",
            on_blur=lambda typed: handler(user.id, typed),
            class_name="text-input admin-limit-input",
        ),
        class_name="admin-field admin-limit",
    )


def _user_cells_with_limits(user: UserRow) -> list[rx.Component]:
    """The row once quotas are on: the user's daily limits before the actions."""
    cells = _user_cells(user)
    limits = rx.el.td(
        _limit_field(
            "admin_question_limit",
            user,
            user.question_limit,
            AdminUsersState.question_default,
            AdminUsersState.set_question_limit,
        ),
        _limit_field(
            "admin_token_limit", user, user.token_limit, AdminUsersState.token_default, AdminUsersState.set_token_limit
        ),
    )
    return [*cells[:-1], limits, cells[-1]]


def _field(label_key: str, name: str, field_id: str, type_: str = "text", **props) -> rx.Component:
    return rx.el.label(
        rx.el.span(tr(label_key), class_name="field-label"),
        rx.el.input(name=name, id=field_id, type=type_, class_name="text-input", **props),
        class_name="admin-field",
    )


def create_user_form() -> rx.Component:
    username_id, email_id, password_id = CREATE_FORM_FIELDS
    return panel(
        tr("admin_create_user_title"),
        rx.el.form(
            _field("username", "username", username_id, auto_complete="off", max_length=32),
            _field("email", "email", email_id, type_="email", auto_complete="off", max_length=254),
            _field("password", "password", password_id, type_="password", auto_complete="new-password"),
            rx.el.label(
                rx.el.input(type="checkbox", name="is_admin", id="admin-new-is-admin"),
                rx.el.span(tr("admin_is_admin_label")),
                class_name="admin-check",
            ),
            text_button(tr("admin_create_user_button"), kind="primary", type="submit"),
            on_submit=AdminUsersState.create_user,
            class_name="admin-form-row",
        ),
    )


def users_tab() -> rx.Component:
    return rx.el.div(
        rx.el.input(
            type="search",
            aria_label=tr("admin_search_users"),
            placeholder=tr("admin_search_users"),
            default_value=AdminUsersState.user_query,
            on_change=AdminUsersState.set_user_query.debounce(300),
            class_name="text-input admin-search",
        ),
        rx.cond(
            AdminUsersState.quotas_on,
            data_table(
                tr("tab_users"),
                LIMIT_COLUMNS,
                AdminUsersState.users,
                _user_cells_with_limits,
                empty_key="admin_no_users",
            ),
            data_table(tr("tab_users"), USER_COLUMNS, AdminUsersState.users, _user_cells, empty_key="admin_no_users"),
        ),
        create_user_form(),
        class_name="admin-tab-body",
    )


def reset_password_dialog() -> rx.Component:
    """Type a new password, or have one generated and shown once."""
    generated = rx.el.div(
        rx.el.p(tr("admin_generated_note")),
        rx.el.div(
            rx.el.code(AdminUsersState.generated_password, class_name="admin-secret"),
            icon_button("copy", tr("copy_message"), rx.set_clipboard(AdminUsersState.generated_password), small=True),
            class_name="admin-secret-row",
        ),
        rx.el.div(
            text_button(tr("admin_close"), AdminUsersState.close_reset, kind="primary"), class_name="dialog-actions"
        ),
    )
    choose = rx.el.form(
        rx.el.p(tr("admin_reset_note"), class_name="admin-muted"),
        rx.el.label(
            rx.el.span(tr("admin_new_password"), class_name="field-label"),
            rx.el.input(
                name="new_password",
                type="password",
                auto_complete="new-password",
                class_name="text-input",
                auto_focus=True,
            ),
            class_name="admin-field",
        ),
        rx.cond(
            AdminUsersState.reset_error != "",
            rx.el.div(AdminUsersState.reset_error, role="alert", class_name="form-error"),
        ),
        rx.el.div(
            text_button(tr("admin_generate_password"), AdminUsersState.generate_password),
            text_button(tr("cancel"), AdminUsersState.close_reset),
            text_button(tr("admin_set_password"), kind="primary", type="submit"),
            class_name="dialog-actions",
        ),
        on_submit=AdminUsersState.set_password,
    )
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(tr("admin_reset_password"), ": ", AdminUsersState.reset_username),
            rx.cond(AdminUsersState.generated_password != "", generated, choose),
        ),
        open=AdminUsersState.reset_user_id != 0,
        on_open_change=lambda _open: AdminUsersState.close_reset,
    )


def change_email_dialog() -> rx.Component:
    """The email FabriX is told about this user: sign-up does not verify it, an admin may fix it."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(tr("admin_change_email"), ": ", AdminUsersState.email_username),
            rx.el.form(
                rx.el.p(tr("admin_email_note"), class_name="admin-muted"),
                rx.el.label(
                    rx.el.span(tr("email"), class_name="field-label"),
                    rx.el.input(
                        name="email",
                        type="email",
                        default_value=AdminUsersState.email_current,
                        key=AdminUsersState.email_user_id,
                        max_length=254,
                        auto_complete="off",
                        class_name="text-input",
                        auto_focus=True,
                    ),
                    class_name="admin-field",
                ),
                rx.cond(
                    AdminUsersState.email_error != "",
                    rx.el.div(AdminUsersState.email_error, role="alert", class_name="form-error"),
                ),
                rx.el.div(
                    text_button(tr("cancel"), AdminUsersState.close_email),
                    text_button(tr("admin_save_email"), kind="primary", type="submit"),
                    class_name="dialog-actions",
                ),
                on_submit=AdminUsersState.save_email,
            ),
        ),
        open=AdminUsersState.email_user_id != 0,
        on_open_change=lambda _open: AdminUsersState.close_email,
    )


def delete_user_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(tr("admin_delete_user_title")),
            rx.alert_dialog.description(AdminUsersState.delete_summary),
            rx.el.div(
                rx.alert_dialog.cancel(text_button(tr("cancel"), AdminUsersState.cancel_delete_user)),
                rx.alert_dialog.action(text_button(tr("delete"), AdminUsersState.confirm_delete_user, kind="danger")),
                class_name="dialog-actions",
            ),
        ),
        open=AdminUsersState.delete_user_id != 0,
        on_open_change=lambda _open: AdminUsersState.cancel_delete_user,
    )
