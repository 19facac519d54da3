"""Admin page, Invitations tab: create a personal invitation (Email, Valid for days), its code
shown once; every invitation with its state and Revoke."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, panel
from fabrix_chat.components.common import icon_button, text_button
from fabrix_chat.repo.invitations import MAX_DAYS
from fabrix_chat.state.admin.invitations import DEFAULT_DAYS, FORM_FIELDS, AdminInvitationsState, InvitationRow
from fabrix_chat.state.ui import tr

INVITATION_COLUMNS = [
    "admin_col_email",
    "admin_col_state",
    "admin_col_detail",
    "admin_col_created",
    "admin_col_actions",
]


def _invitation_cells(row: InvitationRow) -> list[rx.Component]:
    return [
        rx.el.td(row.email, class_name="admin-strong"),
        rx.el.td(
            rx.el.span(
                row.state,
                class_name="admin-badge",
                data_state=rx.cond(row.state_key == "open", "ok", "off"),
            )
        ),
        rx.el.td(row.detail),
        rx.el.td(row.created),
        rx.el.td(
            rx.cond(
                row.state_key == "open",
                text_button(
                    tr("admin_revoke"), AdminInvitationsState.revoke_invitation(row.id), kind="small danger-text"
                ),
            )
        ),
    ]


def _new_code() -> rx.Component:
    """The code just created, shown this once, with a copy button."""
    return rx.cond(
        AdminInvitationsState.invitation_code != "",
        rx.el.div(
            rx.el.p(tr("admin_invitation_code_for"), " ", AdminInvitationsState.invitation_for),
            rx.el.code(AdminInvitationsState.invitation_code, class_name="admin-code"),
            icon_button(
                "copy", tr("admin_copy_code"), rx.set_clipboard(AdminInvitationsState.invitation_code), small=True
            ),
            rx.el.p(tr("admin_invitation_code_once"), class_name="admin-muted"),
            role="status",
            class_name="admin-once",
        ),
    )


def invitations_tab() -> rx.Component:
    return rx.el.div(
        panel(
            tr("admin_invitation_new"),
            rx.el.p(tr("admin_invitation_note"), class_name="admin-muted"),
            rx.el.form(
                rx.el.label(
                    rx.el.span(tr("email"), class_name="field-label"),
                    rx.el.input(
                        name="email",
                        id=FORM_FIELDS[0],
                        type="email",
                        required=True,
                        max_length=254,
                        auto_complete="off",
                        class_name="text-input",
                    ),
                    class_name="admin-field admin-grow",
                ),
                rx.el.label(
                    rx.el.span(tr("admin_valid_days"), class_name="field-label"),
                    rx.el.input(
                        name="days",
                        type="number",
                        min=1,
                        max=MAX_DAYS,
                        default_value=str(DEFAULT_DAYS),
                        class_name="text-input admin-number-input",
                    ),
                    class_name="admin-field",
                ),
                text_button(tr("admin_create_invitation"), kind="primary", type="submit"),
                on_submit=AdminInvitationsState.create_invitation,
                class_name="admin-form-row",
            ),
            _new_code(),
        ),
        data_table(
            tr("tab_invitations"),
            INVITATION_COLUMNS,
            AdminInvitationsState.invitations,
            _invitation_cells,
            empty_key="admin_no_invitations",
        ),
        class_name="admin-tab-body",
    )
