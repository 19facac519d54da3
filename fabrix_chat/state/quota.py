"""The daily quotas on the chat page: a question counted before it is saved (or refused, with
the alert saying when the limit resets), and what is left, shown in the composer once less than
10 % of a limit remains (services/quota.py holds the rules)."""

from __future__ import annotations

import logging

from fabrix_chat import i18n
from fabrix_chat.models import User
from fabrix_chat.services import quota as quota_service
from fabrix_chat.state.chat import ChatState

log = logging.getLogger(__name__)


class QuotaState(ChatState):
    quota_note: str = ""  # e.g. "3 questions left today"; "" while plenty is left or no limit applies

    async def _show(self, standing: quota_service.Standing | None) -> None:
        note = standing.note(await self._lang_now()) if standing is not None else ""
        if note != self.quota_note:
            self.quota_note = note

    async def _refresh(self, user: User) -> None:
        """What is left today, at page load."""
        try:
            standing = await quota_service.standing(user)
        except Exception:  # the note is a courtesy: the page still opens
            log.exception("reading the daily quota of user %s failed", user.id)
            standing = None
        await self._show(standing)

    async def _reserve(self, user: User, question: str) -> quota_service.Reservation | None:
        """Count the question against the user's daily limits; None, with an alert saying when
        the limit resets, when it is over them (then nothing may be saved or sent)."""
        try:
            held = await quota_service.reserve(user, question)
        except quota_service.OverQuota as refused:
            await self._show(refused.standing)
            await self._alert(i18n.error_text(refused, await self._lang_now()))
            return None
        except Exception:
            log.exception("checking the daily quota of user %s failed", user.id)
            await self._alert_key("error_saving")
            return None
        await self._show(held.standing)
        return held

    async def _release(self, held: quota_service.Reservation) -> None:
        """The question was not saved after all: it does not count."""
        try:
            await self._show(await quota_service.release(held))
        except Exception:
            log.exception("giving back a reserved question of user %s failed", held.user_id)
