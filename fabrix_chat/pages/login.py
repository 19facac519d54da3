"""/login: log in with username and password."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import auth_layout, labelled_input, text_button
from fabrix_chat.state.auth import LoginState
from fabrix_chat.state.ui import tr


def login_page() -> rx.Component:
    return auth_layout(
        rx.form(
            rx.el.h1(tr("login_title")),
            rx.cond(
                LoginState.session_ended,
                rx.el.div(tr("session_ended_notice"), role="status", class_name="form-notice"),
            ),
            labelled_input(tr("username"), "username", auto_complete="username", required=True, max_length=32),
            labelled_input(
                tr("password"), "password", type_="password", auto_complete="current-password", required=True
            ),
            rx.cond(
                LoginState.login_error != "", rx.el.div(LoginState.login_error, role="alert", class_name="form-error")
            ),
            text_button(tr("log_in"), kind="primary", type="submit"),
            rx.el.p(tr("no_account"), " ", rx.link(tr("create_account"), href="/signup"), class_name="auth-switch"),
            on_submit=LoginState.log_in,
            class_name="auth-card",
        ),
    )
