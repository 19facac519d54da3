"""The Settings tab of the admin page (state/admin/settings.py)."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table
from fabrix_chat.state.admin.settings import AdminSettingsState, SettingRow, SettingsSection
from fabrix_chat.state.ui import tr


def _setting_cells(row: SettingRow) -> list[rx.Component]:
    return [rx.el.td(row.key, class_name="admin-strong"), rx.el.td(rx.el.code(row.value))]


def _settings_section(section: SettingsSection) -> rx.Component:
    return data_table("[" + section.name + "]", ["admin_col_setting", "admin_col_value"], section.rows, _setting_cells)


def settings_tab() -> rx.Component:
    return rx.el.div(
        rx.el.p(tr("admin_settings_note"), class_name="admin-muted"),
        rx.foreach(AdminSettingsState.settings_sections, _settings_section),
        class_name="admin-tab-body admin-settings",
    )
