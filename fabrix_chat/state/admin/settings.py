"""The Settings tab: the configuration in effect, secrets masked (components/admin/settings.py)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from fabrix_chat.config import get_settings
from fabrix_chat.services import audit
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import NOT_SET, AdminState


@dataclasses.dataclass
class SettingRow:
    key: str = ""
    value: str = ""


@dataclasses.dataclass
class SettingsSection:
    name: str = ""
    rows: list[SettingRow] = dataclasses.field(default_factory=list)


def setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or NOT_SET
    if value is None or value == "":
        return NOT_SET
    return str(value)


def settings_sections(masked: dict[str, dict[str, Any]]) -> list[SettingsSection]:
    """Settings.masked() as one table per section, for the Settings tab."""
    return [
        SettingsSection(name=section, rows=[SettingRow(key=k, value=setting_text(v)) for k, v in values.items()])
        for section, values in masked.items()
    ]


class AdminSettingsState(AdminState):
    TAB: ClassVar[str] = "settings"

    settings_sections: list[SettingsSection] = []

    async def _load(self) -> None:
        # Reached only through the admin rule (load_page, select_tab): the admin is signed in.
        self.settings_sections = settings_sections(get_settings().masked())
        await audit.note(Action.SETTINGS_VIEW, actor=self.username, client=self._client())
