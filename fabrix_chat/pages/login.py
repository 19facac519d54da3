"""/login: log in with username and password (and, after a password someone else chose, the
user's own before anything else)."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import auth_layout, labelled_input, password_input, text_button
from fabrix_chat.services.auth import FIELD_LIMITS
from fabrix_chat.state.auth import LoginState
from fabrix_chat.state.ui import tr


def _error() -> rx.Component:
    return rx.cond(
        LoginState.login_error != "", rx.el.div(LoginState.login_error, role="alert", class_name="form-error")
    )


def _log_in_form() -> rx.Component:
    return rx.form(
        rx.el.h1(tr("login_title")),
        rx.cond(
            LoginState.session_ended,
            rx.el.div(tr("session_ended_notice"), role="status", class_name="form-notice"),
        ),
        labelled_input(tr("username"), "username", auto_complete="username", required=True, max_length=32),
        password_input(tr("password"), "password", new=False, max_length=FIELD_LIMITS["password"]),
        _error(),
        text_button(tr("log_in"), kind="primary", type="submit"),
        rx.el.p(tr("no_account"), " ", rx.link(tr("create_account"), href="/signup"), class_name="auth-switch"),
        on_submit=LoginState.log_in,
        class_name="auth-card",
    )


def _own_password_form() -> rx.Component:
    return rx.form(
        rx.el.h1(tr("choose_password_title")),
        rx.el.div(tr("choose_password_notice"), role="status", class_name="form-notice"),
        password_input(tr("new_password"), "new_password", new=True, max_length=FIELD_LIMITS["password"]),
        password_input(
            tr("confirm_new_password"), "confirm_new_password", new=True, max_length=FIELD_LIMITS["password"]
        ),
        _error(),
        text_button(tr("set_new_password"), kind="primary", type="submit"),
        on_submit=LoginState.set_own_password,
        reset_on_submit=False,
        class_name="auth-card",
    )


def login_page() -> rx.Component:
    return auth_layout(rx.cond(LoginState.must_change_password, _own_password_form(), _log_in_form()))
