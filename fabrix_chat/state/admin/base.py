"""The admin page's own state (which tab, the last action's result) and the admin rule.

The admin rule: every admin event handler is written with `@admin_only`, which checks against
the database that the signed-in user is an active administrator before the handler runs, and
passes that user to it. Anyone else is refused: nothing is read or changed, every admin datum
this tab holds (all the tab states below AdminState) is cleared, and the browser is sent to
/login (signed out) or /chat (not an administrator).
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import reflex as rx
from reflex.event import EventSpec

from fabrix_chat import i18n
from fabrix_chat.models import User
from fabrix_chat.services import auth as auth_service
from fabrix_chat.state.auth import HOME_ROUTE, LOGIN_ROUTE, AuthState
from fabrix_chat.state.ui import UIState

log = logging.getLogger(__name__)

TABS = (
    "users",
    "conversations",
    "usage",
    "logs",
    "maintenance",
    "settings",
    "invitations",
    "prompts",
    "announcements",
    "audit",
)
NOT_SET = "—"


def local_time(when: datetime | None) -> str:
    """'YYYY-MM-DD HH:MM' in the server's time zone; SQLite gives naive UTC datetimes back."""
    if when is None:
        return NOT_SET
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def admin_only(handler: Callable[..., Any]) -> Any:
    """An admin event handler: `handler(self, admin, *args)` runs only for an active
    administrator (`admin`, read from the database for this event); anyone else is refused.

    The event's arguments are the handler's after `admin`: Reflex reads them from the signature
    and the type hints, so both are given without it, and passes them by name.
    """
    name = handler.__name__
    if inspect.isasyncgenfunction(handler):

        async def checked(self: AdminState, *args: Any, **kwargs: Any):
            admin = await self._admin()
            if admin is None:
                yield await self._refuse(name)
                return
            async for update in handler(self, admin, *args, **kwargs):
                yield update

    else:

        async def checked(self: AdminState, *args: Any, **kwargs: Any):
            admin = await self._admin()
            if admin is None:
                return await self._refuse(name)
            return await handler(self, admin, *args, **kwargs)

    hints = typing.get_type_hints(handler)
    own, _admin, *event_args = inspect.signature(handler).parameters.values()
    event_args = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in event_args]
    checked.__signature__ = inspect.Signature([own, *event_args])  # type: ignore[attr-defined]
    checked.__annotations__ = {p.name: p.annotation for p in event_args if p.annotation is not p.empty}
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(checked, attribute, getattr(handler, attribute))
    checked.admin_only = True  # type: ignore[attr-defined]
    return rx.event(checked)


class AdminState(AuthState):
    """Which tab is open and what the last action said; each tab's data is in a substate of
    this one (state/admin/<tab>.py), which loads it with `_load()`."""

    tab: str = "users"
    notice: str = ""  # the result of the last action (role status)
    error: str = ""  # why the last action was refused or failed (role alert)
    busy: bool = False
    # wrong invite keys across the site in the last hour, once past the budget (0: nothing to say)
    invite_key_guesses: int = 0

    _lang: str = "en"

    TAB: ClassVar[str] = ""  # a tab state's tab (TABS)

    async def _admin(self) -> User | None:
        """The signed-in user if they are an active administrator (checked in the database), else None."""
        user = await self._current_user()
        if user is None or not user.is_admin:
            return None
        self._lang = (await self.get_state(UIState)).lang
        return user

    async def _refuse(self, action: str) -> EventSpec:
        """Clear every admin datum this tab holds and send it away: /login, or /chat for non-admins."""
        signed_in = bool(self.username)
        if signed_in:
            log.warning("admin action %s refused for %s, who is not an administrator", action, self.username)
        else:
            log.info("admin action %s refused for a signed-out visitor", action)
        page = await self.get_state(AdminState)
        for tab_state in AdminState.get_substates():
            await self.get_state(tab_state)  # loaded, so reset() reaches it (Redis loads lazily)
        page.reset()
        return rx.redirect(HOME_ROUTE if signed_in else LOGIN_ROUTE)

    def _t(self, key: str, **values: object) -> str:
        return i18n.t(key, self._lang, **values)

    def _client(self) -> str:
        """The address the event came from (for the audit trail)."""
        return self.router.session.client_ip or ""

    def _say(self, notice: str = "", error: str = "") -> None:
        self.notice, self.error = notice, error

    async def _load(self) -> None:
        """A tab state: read what its tab shows."""

    @admin_only
    async def load_page(self, admin: User):
        """on_load of /admin: signed-out visitors go to /login, users who are not admins to /chat."""
        self._say()
        self.invite_key_guesses = await auth_service.wrong_invite_keys_last_hour()
        await self._load_tab(self.tab if self.tab in TABS else "users")

    @admin_only
    async def select_tab(self, admin: User, tab: str):
        if tab not in TABS:
            return
        self.tab = tab
        self._say()
        await self._load_tab(tab)

    async def _load_tab(self, tab: str) -> None:
        for tab_state in AdminState.get_substates():
            if tab_state.TAB == tab:
                await (await self.get_state(tab_state))._load()
