"""The Maintenance tab of the admin page and its clean-up dialog (state/admin/maintenance.py)."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, panel, result_line
from fabrix_chat.components.common import text_button
from fabrix_chat.state.admin.base import AdminState
from fabrix_chat.state.admin.maintenance import AdminMaintenanceState, BackupRow
from fabrix_chat.state.ui import tr


def _backup_cells(row: BackupRow) -> list[rx.Component]:
    return [rx.el.td(row.name), rx.el.td(row.size, class_name="admin-number"), rx.el.td(row.modified)]


def _action(label_key: str, handler, **props) -> rx.Component:
    return text_button(tr(label_key), handler, disabled=AdminState.busy | props.pop("disabled", False), **props)


def maintenance_tab() -> rx.Component:
    return rx.el.div(
        rx.el.p(tr("admin_database"), ": ", rx.el.code(AdminMaintenanceState.database), class_name="admin-muted"),
        panel(
            tr("admin_backup_title"),
            rx.el.p(tr("admin_backup_note"), class_name="admin-muted"),
            _action("admin_back_up_now", AdminMaintenanceState.back_up_now, kind="primary"),
            result_line(AdminMaintenanceState.backup_result),
            data_table(
                tr("admin_backups_list"),
                ["admin_col_file", "admin_col_size", "admin_col_modified"],
                AdminMaintenanceState.backups,
                _backup_cells,
                empty_key="admin_no_backups",
            ),
        ),
        panel(
            tr("admin_health_title"),
            rx.el.div(
                _action("admin_check_integrity", AdminMaintenanceState.check_integrity),
                _action("admin_optimize", AdminMaintenanceState.optimize_database),
                class_name="admin-actions",
            ),
            rx.cond(
                AdminMaintenanceState.check_result != "",
                rx.el.p(
                    AdminMaintenanceState.check_result,
                    role="status",
                    class_name="admin-result",
                    data_ok=rx.cond(AdminMaintenanceState.check_ok, "true", "false"),
                ),
            ),
            result_line(AdminMaintenanceState.optimize_result),
            rx.el.p(tr("admin_optimize_note"), class_name="admin-muted"),
        ),
        panel(
            tr("admin_cleanup_title"),
            rx.el.form(
                rx.el.label(
                    rx.el.span(tr("admin_older_than"), class_name="field-label"),
                    rx.el.input(
                        name="days",
                        type="text",
                        input_mode="numeric",
                        pattern="[0-9]*",
                        default_value=AdminMaintenanceState.cleanup_days,
                        on_change=AdminMaintenanceState.set_cleanup_days,
                        class_name="text-input admin-days",
                    ),
                    class_name="admin-field",
                ),
                _action("admin_preview_cleanup", None, type="submit"),
                _action(
                    "admin_delete_old",
                    AdminMaintenanceState.ask_cleanup,
                    kind="danger",
                    disabled=~AdminMaintenanceState.cleanup_ready,
                ),
                on_submit=AdminMaintenanceState.preview_cleanup,
                class_name="admin-form-row",
            ),
            result_line(AdminMaintenanceState.preview_result),
            result_line(AdminMaintenanceState.cleanup_result),
        ),
        class_name="admin-tab-body",
    )


def cleanup_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(tr("admin_cleanup_confirm_title")),
            rx.alert_dialog.description(AdminMaintenanceState.preview_result, " ", tr("admin_cannot_undo")),
            rx.el.div(
                rx.alert_dialog.cancel(text_button(tr("cancel"), AdminMaintenanceState.cancel_cleanup)),
                rx.alert_dialog.action(text_button(tr("delete"), AdminMaintenanceState.confirm_cleanup, kind="danger")),
                class_name="dialog-actions",
            ),
        ),
        open=AdminMaintenanceState.cleanup_confirm,
        on_open_change=lambda _open: AdminMaintenanceState.cancel_cleanup,
    )
