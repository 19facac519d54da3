"""The Maintenance tab: backups, integrity check, optimize, and deleting old conversations after
a preview (components/admin/maintenance.py). Slow work runs in a worker thread."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import ClassVar

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.models import User
from fabrix_chat.services import audit, maintenance
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import AdminState, admin_only
from fabrix_chat.units import size_label

log = logging.getLogger(__name__)

MAX_CLEANUP_DAYS = 36_500


@dataclasses.dataclass
class BackupRow:
    name: str = ""
    size: str = ""
    modified: str = ""


class AdminMaintenanceState(AdminState):
    TAB: ClassVar[str] = "maintenance"

    database: str = ""
    backups: list[BackupRow] = []
    backup_result: str = ""
    check_result: str = ""
    check_ok: bool = True
    optimize_result: str = ""
    cleanup_days: str = "90"
    preview_days: int = 0
    preview_conversations: int = 0
    preview_messages: int = 0
    preview_result: str = ""
    cleanup_confirm: bool = False
    cleanup_result: str = ""

    @rx.var
    def cleanup_ready(self) -> bool:
        """Deleting is offered only after a preview for the same number of days found something."""
        return (
            self.preview_days > 0
            and self.preview_conversations > 0
            and self.cleanup_days.strip() == str(self.preview_days)
        )

    async def _load(self) -> None:
        settings = get_settings()
        self.database = maintenance.describe_database(settings)
        found = await asyncio.to_thread(maintenance.list_backups, settings)
        self.backups = [
            BackupRow(name=b["name"], size=size_label(b["size"]), modified=b["modified"].strftime("%Y-%m-%d %H:%M"))
            for b in found[:20]
        ]

    @admin_only
    async def back_up_now(self, admin: User):
        self.busy, self.backup_result = True, self._t("admin_working")
        yield
        try:
            path = await asyncio.to_thread(maintenance.backup, get_settings())
        except maintenance.MaintenanceError as exc:
            self.backup_result = ""
            self._say(error=i18n.error_text(exc, self._lang))
        else:
            log.warning("admin %s made a backup: %s", admin.username, path.name)
            await audit.note(Action.BACKUP, actor=admin.username, target=path.name, client=self._client())
            self.backup_result = self._t("admin_backup_done", name=path.name, size=size_label(path.stat().st_size))
            await self._load()
        finally:
            self.busy = False

    @admin_only
    async def check_integrity(self, admin: User):
        self.busy, self.check_result = True, self._t("admin_working")
        yield
        try:
            problems = await asyncio.to_thread(maintenance.check, get_settings())
        finally:
            self.busy = False
        self.check_ok = problems == ["ok"]
        self.check_result = (
            self._t("admin_check_ok") if self.check_ok else self._t("admin_check_failed", problems="; ".join(problems))
        )
        log.info("admin %s ran an integrity check: %s", admin.username, "; ".join(problems))
        await audit.note(
            Action.INTEGRITY_CHECK, actor=admin.username, client=self._client(), detail="; ".join(problems)[:500]
        )

    @admin_only
    async def optimize_database(self, admin: User):
        self.busy, self.optimize_result = True, self._t("admin_working")
        yield
        try:
            result = await asyncio.to_thread(maintenance.optimize, get_settings())
        except maintenance.MaintenanceError as exc:
            self.optimize_result = ""
            self._say(error=i18n.error_text(exc, self._lang))
        else:
            log.warning("admin %s optimized the database", admin.username)
            await audit.note(Action.OPTIMIZE, actor=admin.username, client=self._client())
            self.optimize_result = self._t(
                "admin_optimize_done",
                before=size_label(result["size_before"]),
                after=size_label(result["size_after"]),
                seconds=result["seconds"],
            )
        finally:
            self.busy = False

    def _parse_days(self) -> int | None:
        text = self.cleanup_days.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_CLEANUP_DAYS:
            self._say(error=self._t("admin_cleanup_days_invalid", limit=MAX_CLEANUP_DAYS))
            return None
        return int(text)

    @admin_only
    async def set_cleanup_days(self, admin: User, value: str):
        self.cleanup_days = str(value)[:6]

    @admin_only
    async def preview_cleanup(self, admin: User, form: dict):
        """Count what deleting conversations older than form["days"] days would remove."""
        self.cleanup_days = str(form.get("days", self.cleanup_days))[:6]
        days = self._parse_days()
        if days is None:
            self.preview_days = 0
            return
        result = await run_db(maintenance.cleanup, days=days, dry_run=True)
        self.preview_days = days
        self.preview_conversations = result["conversations"]
        self.preview_messages = result["messages"]
        self.preview_result = self._t(
            "admin_cleanup_preview", conversations=result["conversations"], messages=result["messages"], days=days
        )
        self.cleanup_result = ""
        self._say()

    @admin_only
    async def ask_cleanup(self, admin: User):
        if not self.cleanup_ready:
            self._say(error=self._t("admin_cleanup_preview_first"))
            return
        self.cleanup_confirm = True

    @admin_only
    async def cancel_cleanup(self, admin: User):
        self.cleanup_confirm = False

    @admin_only
    async def confirm_cleanup(self, admin: User):
        self.cleanup_confirm = False
        # The preview must still be for the number in the field: the dialog promised those days.
        if not self.cleanup_ready:
            self._say(error=self._t("admin_cleanup_preview_first"))
            return
        days = self.preview_days
        result = await run_db(maintenance.cleanup, days=days, dry_run=False)
        log.warning(
            "admin %s deleted %d conversations and %d messages older than %d days",
            admin.username,
            result["conversations"],
            result["messages"],
            days,
        )
        await audit.note(
            Action.CLEANUP,
            actor=admin.username,
            client=self._client(),
            detail=f"{result['conversations']} conversations, {result['messages']} messages idle {days} days",
        )
        self.cleanup_result = self._t(
            "admin_cleanup_done", conversations=result["conversations"], messages=result["messages"], days=days
        )
        self.preview_days = 0
        self.preview_conversations = 0
        self.preview_messages = 0
        self.preview_result = ""
