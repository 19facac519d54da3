"""The Announcements tab: post a banner for every chat page (info or warning, optional end time),
see them, remove one (components/admin/announcements.py)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import ClassVar

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.db import run_db
from fabrix_chat.models import User, as_utc, record_id, utcnow
from fabrix_chat.repo import announcements as announcements_repo
from fabrix_chat.services import audit
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import AdminState, admin_only, local_time

log = logging.getLogger(__name__)

FORM_FIELDS = ("admin-announcement-text", "admin-announcement-ends")


@dataclasses.dataclass
class AnnouncementRow:
    id: int = 0
    text: str = ""
    level: str = ""
    ends: str = ""
    live: bool = True
    created: str = ""


def parse_ends_at(value: object) -> datetime | None:
    """`Ends at` as the browser sends a datetime-local field ("2026-12-24T18:00"), in the
    server's time zone; "" is no end. ValueError when it is not such a time."""
    text = str(value or "").strip()
    if not text:
        return None
    if len(text) > 32:
        raise ValueError(text[:32])
    when = datetime.fromisoformat(text)
    return (when if when.tzinfo else when.astimezone()).astimezone(UTC)


class AdminAnnouncementsState(AdminState):
    TAB: ClassVar[str] = "announcements"

    announcement_rows: list[AnnouncementRow] = []

    async def _load(self) -> None:
        rows = await run_db(announcements_repo.list_all)
        now = utcnow()
        self.announcement_rows = [
            AnnouncementRow(
                id=a.id or 0,
                text=a.text,
                level=self._t(announcements_repo.LEVEL_KEYS.get(a.level, "announcement_level_info")),
                ends=local_time(a.ends_at) if a.ends_at else self._t("announcement_no_end"),
                live=a.ends_at is None or as_utc(a.ends_at) > now,
                created=local_time(a.created_at),
            )
            for a in rows
        ]

    @admin_only
    async def post_announcement(self, admin: User, form: dict):
        """`Post announcement`: shown on every chat page from the next page load until it ends."""
        form = form if isinstance(form, dict) else {}
        try:
            ends_at = parse_ends_at(form.get("ends_at"))
        except ValueError:
            self._say(error=self._t("announcement_ends_at_bad"))
            return None
        try:
            row = await run_db(
                announcements_repo.post,
                text=form.get("text", ""),
                level=form.get("level", "info"),
                ends_at=ends_at,
                created_by=admin.username,
            )
        except announcements_repo.AnnouncementError as exc:
            self._say(error=i18n.error_text(exc, self._lang))
            return None
        log.warning("admin %s posted an announcement (%s)", admin.username, row.level)
        await audit.note(
            Action.ANNOUNCEMENT_POST,
            actor=admin.username,
            target=row.text[:80],
            client=self._client(),
            detail=row.level,
        )
        self._say(notice=self._t("announcement_posted"))
        await self._load()
        return [rx.set_value(field_id, "") for field_id in FORM_FIELDS]

    @admin_only
    async def remove_announcement(self, admin: User, announcement_id: int):
        """A row's `Remove announcement`: gone from every chat page at its next load."""
        row = await run_db(announcements_repo.remove, announcement_id=record_id(announcement_id))
        if row is None:
            self._say(error=self._t("announcement_not_found"))
        else:
            log.warning("admin %s removed an announcement", admin.username)
            await audit.note(
                Action.ANNOUNCEMENT_REMOVE, actor=admin.username, target=row.text[:80], client=self._client()
            )
            self._say(notice=self._t("announcement_removed"))
        await self._load()
