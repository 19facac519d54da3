"""The announcements a user's chat page shows (repo/announcements.py): loaded with the page,
each with Dismiss, which hides it for this user everywhere."""

from __future__ import annotations

import dataclasses

import reflex as rx

from fabrix_chat.db import run_db
from fabrix_chat.models import record_id
from fabrix_chat.repo import announcements as announcements_repo
from fabrix_chat.state.chat import ChatState


@dataclasses.dataclass
class AnnouncementView:
    id: int = 0
    text: str = ""
    level: str = "info"


class AnnouncementState(ChatState):
    announcements: list[AnnouncementView] = []

    async def _load(self, user_id: int) -> None:
        rows = await run_db(announcements_repo.for_user, user_id=user_id)
        self._set(announcements=[AnnouncementView(id=a.id or 0, text=a.text, level=a.level) for a in rows])

    @rx.event
    async def dismiss_announcement(self, announcement_id: int):
        """`Dismiss`: this announcement is not shown to this user again."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        wanted = record_id(announcement_id)
        if any(a.id == wanted for a in self.announcements):
            await run_db(announcements_repo.dismiss, user_id=user.id, announcement_id=wanted)
        await self._load(user.id)
        return None
