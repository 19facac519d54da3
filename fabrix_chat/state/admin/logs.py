"""The Logs tab: the newest lines of the log file, by level (components/admin/logs.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import ClassVar

from fabrix_chat.config import get_settings
from fabrix_chat.logging_setup import log_file_path, read_log_tail
from fabrix_chat.models import User
from fabrix_chat.state.admin.base import AdminState, admin_only

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_LINES = 200


@dataclasses.dataclass
class LogLine:
    time: str = ""
    level: str = ""
    logger: str = ""
    message: str = ""


class AdminLogsState(AdminState):
    TAB: ClassVar[str] = "logs"

    log_level: str = "INFO"
    log_lines: list[LogLine] = []
    log_file: str = ""

    async def _load(self) -> None:
        settings = get_settings()
        records = await asyncio.to_thread(read_log_tail, settings, LOG_LINES, self.log_level)
        # Newest first: what an operator looks for is at the top.
        self.log_lines = [LogLine(**r) for r in reversed(records)]
        self.log_file = str(log_file_path(settings))

    @admin_only
    async def set_log_level(self, admin: User, level: str):
        if level in LOG_LEVELS:
            self.log_level = level
        await self._load()

    @admin_only
    async def refresh_logs(self, admin: User):
        await self._load()
