"""The Logs tab of the admin page (state/admin/logs.py)."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, labelled_select, refresh_button
from fabrix_chat.state.admin.logs import LOG_LEVELS, AdminLogsState, LogLine
from fabrix_chat.state.ui import tr


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
                value=AdminLogsState.log_level,
                on_change=AdminLogsState.set_log_level,
            ),
            refresh_button(AdminLogsState.refresh_logs),
            class_name="admin-toolbar",
        ),
        rx.el.p(tr("admin_log_note"), " ", rx.el.code(AdminLogsState.log_file), class_name="admin-muted"),
        data_table(
            tr("tab_logs"),
            ["admin_col_time", "admin_level", "admin_col_logger", "admin_col_message"],
            AdminLogsState.log_lines,
            _log_cells,
            empty_key="admin_no_logs",
        ),
        class_name="admin-tab-body",
    )
