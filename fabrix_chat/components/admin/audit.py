"""Admin page, Audit tab: the filters (Filter by user, Filter by action, From, To), Export CSV,
and one row per record."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table
from fabrix_chat.components.common import text_button
from fabrix_chat.repo.audit import Action
from fabrix_chat.state.admin.audit import AdminAuditState, AuditRow
from fabrix_chat.state.ui import tr

AUDIT_COLUMNS = [
    "admin_col_when",
    "audit_col_actor",
    "audit_col_action",
    "audit_col_target",
    "audit_col_client",
    "audit_col_detail",
]


def _cells(row: AuditRow) -> list[rx.Component]:
    return [
        rx.el.td(row.when),
        rx.el.td(row.actor, class_name="admin-strong"),
        rx.el.td(rx.el.code(row.action)),
        rx.el.td(row.target),
        rx.el.td(row.client),
        rx.el.td(row.detail),
    ]


def _date(label: str, name: str, value) -> rx.Component:
    return rx.el.label(
        rx.el.span(tr(label), class_name="field-label"),
        rx.el.input(name=name, type="date", default_value=value, class_name="text-input"),
        class_name="admin-field",
    )


def audit_tab() -> rx.Component:
    return rx.el.div(
        rx.el.form(
            rx.el.label(
                rx.el.span(tr("audit_filter_user"), class_name="field-label"),
                rx.el.input(
                    name="user",
                    type="search",
                    default_value=AdminAuditState.audit_user,
                    max_length=64,
                    class_name="text-input",
                ),
                class_name="admin-field admin-grow",
            ),
            rx.el.label(
                rx.el.span(tr("audit_filter_action"), class_name="field-label"),
                rx.el.input(
                    name="action",
                    type="search",
                    list="audit-actions",
                    default_value=AdminAuditState.audit_action,
                    max_length=40,
                    class_name="text-input",
                ),
                rx.el.datalist(*[rx.el.option(value=a.value) for a in Action], id="audit-actions"),
                class_name="admin-field",
            ),
            _date("audit_from", "from", AdminAuditState.audit_from),
            _date("audit_to", "to", AdminAuditState.audit_to),
            text_button(tr("audit_apply"), kind="primary", type="submit"),
            text_button(tr("export_csv"), AdminAuditState.export_audit),
            on_submit=AdminAuditState.set_audit_filter,
            class_name="admin-toolbar",
        ),
        data_table(tr("tab_audit"), AUDIT_COLUMNS, AdminAuditState.audit_rows, _cells, empty_key="no_matches"),
        rx.cond(AdminAuditState.audit_more, rx.el.p(tr("audit_more"), class_name="admin-muted")),
        class_name="admin-tab-body",
    )
