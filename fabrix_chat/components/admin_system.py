"""Admin page, Logs, Maintenance and Settings tabs."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin import data_table, labelled_select, panel, result_line
from fabrix_chat.components.common import text_button
from fabrix_chat.state.admin import LOG_LEVELS, AdminState, BackupRow, LogLine, SettingRow, SettingsSection
from fabrix_chat.state.ui import tr


def _refresh_button(handler) -> rx.Component:
    return text_button(rx.fragment(rx.icon("refresh-cw", size=14, aria_hidden="true"), tr("admin_refresh")), handler)


# --- logs -------------------------------------------------------------------------------------


def _log_cells(line: LogLine) -> list[rx.Component]:
    return [
        rx.el.td(line.time, class_name="admin-nowrap"),
        rx.el.td(rx.el.span(line.level, class_name="admin-level", data_level=line.level)),
        rx.el.td(line.logger, class_name="admin-muted"),
        rx.el.td(line.message, class_name="admin-log-message"),
    ]


def logs_tab() -> rx.Component:
    return rx.el.div(
        rx.el.div(
            labelled_select(
                tr("admin_level"),
                [rx.el.option(level, value=level) for level in LOG_LEVELS],
                value=AdminState.log_level,
                on_change=AdminState.set_log_level,
            ),
            _refresh_button(AdminState.refresh_logs),
            class_name="admin-toolbar",
        ),
        rx.el.p(tr("admin_log_note"), " ", rx.el.code(AdminState.log_file), class_name="admin-muted"),
        data_table(
            tr("tab_logs"),
            ["admin_col_time", "admin_level", "admin_col_logger", "admin_col_message"],
            AdminState.log_lines,
            _log_cells,
            empty_key="admin_no_logs",
        ),
        class_name="admin-tab-body",
    )


# --- maintenance ------------------------------------------------------------------------------


def _backup_cells(row: BackupRow) -> list[rx.Component]:
    return [rx.el.td(row.name), rx.el.td(row.size, class_name="admin-number"), rx.el.td(row.modified)]


def _action(label_key: str, handler, **props) -> rx.Component:
    return text_button(tr(label_key), handler, disabled=AdminState.busy | props.pop("disabled", False), **props)


def maintenance_tab() -> rx.Component:
    return rx.el.div(
        rx.el.p(tr("admin_database"), ": ", rx.el.code(AdminState.database), class_name="admin-muted"),
        panel(
            tr("admin_backup_title"),
            rx.el.p(tr("admin_backup_note"), class_name="admin-muted"),
            _action("admin_back_up_now", AdminState.back_up_now, kind="primary"),
            result_line(AdminState.backup_result),
            data_table(
                tr("admin_backups_list"),
                ["admin_col_file", "admin_col_size", "admin_col_modified"],
                AdminState.backups,
                _backup_cells,
                empty_key="admin_no_backups",
            ),
        ),
        panel(
            tr("admin_health_title"),
            rx.el.div(
                _action("admin_check_integrity", AdminState.check_integrity),
                _action("admin_optimize", AdminState.optimize_database),
                class_name="admin-actions",
            ),
            rx.cond(
                AdminState.check_result != "",
                rx.el.p(
                    AdminState.check_result,
                    role="status",
                    class_name="admin-result",
                    data_ok=rx.cond(AdminState.check_ok, "true", "false"),
                ),
            ),
            result_line(AdminState.optimize_result),
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
                        default_value=AdminState.cleanup_days,
                        on_change=AdminState.set_cleanup_days,
                        class_name="text-input admin-days",
                    ),
                    class_name="admin-field",
                ),
                _action("admin_preview_cleanup", None, type="submit"),
                _action("admin_delete_old", AdminState.ask_cleanup, kind="danger", disabled=~AdminState.cleanup_ready),
                on_submit=AdminState.preview_cleanup,
                class_name="admin-form-row",
            ),
            result_line(AdminState.preview_result),
            result_line(AdminState.cleanup_result),
        ),
        class_name="admin-tab-body",
    )


def cleanup_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(tr("admin_cleanup_confirm_title")),
            rx.alert_dialog.description(AdminState.preview_result, " ", tr("admin_cannot_undo")),
            rx.el.div(
                rx.alert_dialog.cancel(text_button(tr("cancel"), AdminState.cancel_cleanup)),
                rx.alert_dialog.action(text_button(tr("delete"), AdminState.confirm_cleanup, kind="danger")),
                class_name="dialog-actions",
            ),
        ),
        open=AdminState.cleanup_confirm,
        on_open_change=lambda _open: AdminState.cancel_cleanup,
    )


# --- settings ---------------------------------------------------------------------------------


def _setting_cells(row: SettingRow) -> list[rx.Component]:
    return [rx.el.td(row.key, class_name="admin-strong"), rx.el.td(rx.el.code(row.value))]


def _settings_section(section: SettingsSection) -> rx.Component:
    return data_table("[" + section.name + "]", ["admin_col_setting", "admin_col_value"], section.rows, _setting_cells)


def settings_tab() -> rx.Component:
    return rx.el.div(
        rx.el.p(tr("admin_settings_note"), class_name="admin-muted"),
        rx.foreach(AdminState.settings_sections, _settings_section),
        class_name="admin-tab-body admin-settings",
    )
