"""/signup: create an account with the invite key."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import auth_layout, labelled_input, password_input, text_button
from fabrix_chat.services.auth import FIELD_LIMITS
from fabrix_chat.state.auth import SignupState
from fabrix_chat.state.ui import tr


def signup_page() -> rx.Component:
    return auth_layout(
        rx.form(
            rx.el.h1(tr("signup_title")),
            rx.cond(
                ~SignupState.signup_open,
                rx.el.div(tr("signup_closed"), role="status", class_name="form-notice"),
            ),
            labelled_input(tr("username"), "username", auto_complete="username", required=True, max_length=32),
            labelled_input(tr("email"), "email", type_="email", auto_complete="email", required=True, max_length=254),
            password_input(tr("password"), "password", new=True, max_length=FIELD_LIMITS["password"]),
            password_input(
                tr("confirm_password"), "confirm_password", new=True, max_length=FIELD_LIMITS["confirm_password"]
            ),
            labelled_input(
                tr("invite_key"),
                "invite_key",
                auto_complete="off",
                required=True,
                max_length=FIELD_LIMITS["invite_key"],
            ),
            rx.cond(
                SignupState.signup_error != "",
                rx.el.div(SignupState.signup_error, role="alert", class_name="form-error"),
            ),
            text_button(tr("sign_up"), kind="primary", type="submit"),
            rx.el.p(tr("have_account"), " ", rx.link(tr("log_in"), href="/login"), class_name="auth-switch"),
            on_submit=SignupState.sign_up,
            class_name="auth-card",
        ),
    )
