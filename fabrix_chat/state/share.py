"""Share links: the owner's `Share chat` dialog (ShareState, on the chat page) and the shared copy
itself at /shared/{token} (SharedState, any signed-in user).

`Copy link` shares the open conversation as it is now (or renews the copy of one already
shared, keeping its link) and copies the link; `Stop sharing` ends it at once. The copy is made
and read by repo/shares.py, which checks the owner; a signed-out visitor of a link is sent to
log in and then back to it.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import reflex as rx

from fabrix_chat.db import run_db
from fabrix_chat.models import Role
from fabrix_chat.repo import shares as share_repo
from fabrix_chat.state.auth import LOGIN_ROUTE, AuthState
from fabrix_chat.state.chat import ChatState

log = logging.getLogger(__name__)

SHARED_ROUTE = "/shared"


def link_path(token: str) -> str:
    return f"{SHARED_ROUTE}/{token}"


def copy_script(path: str) -> str:
    """Copy this origin's link to `path` to the clipboard."""
    return f"navigator.clipboard.writeText(window.location.origin + {json.dumps(path)})"


class ShareState(ChatState):
    """The `Share chat` dialog of the open conversation."""

    share_open: bool = False
    share_path: str = ""  # /shared/{token} once the open conversation is shared, else ""
    share_copied: bool = False

    async def _conversation_id(self) -> int:
        from fabrix_chat.state.conversation import ConversationState

        return (await self.get_state(ConversationState)).conversation_id

    @rx.event
    async def open_share(self):
        """`Share chat`: the dialog, with the link when the chat is already shared."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id = await self._conversation_id()
        if not conversation_id:
            return None
        row = await run_db(share_repo.share_of, user_id=user.id, conversation_id=conversation_id)
        self._set(share_open=True, share_copied=False, share_path=link_path(row.token) if row else "")
        return None

    @rx.event
    def set_share_open(self, is_open: bool):
        self._set(share_open=bool(is_open))

    @rx.event
    async def copy_link(self):
        """`Copy link`: share the chat as it is now (a chat already shared keeps its link, with
        the copy renewed) and put the link on the clipboard."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id = await self._conversation_id()
        try:
            row = await run_db(share_repo.share, user_id=user.id, conversation_id=conversation_id)
        except share_repo.TooLong:
            await self._alert_key("share_too_long")
            self._set(share_open=False)
            return None
        if row is None:
            await self._alert_key("conversation_not_found")
            self._set(share_open=False, share_path="")
            return None
        log.info("user %s shared conversation %s", user.username, conversation_id)
        path = link_path(row.token)
        self._set(share_path=path, share_copied=True)
        await self._refresh_sidebar(user.id)
        return rx.call_script(copy_script(path))

    @rx.event
    async def stop_sharing(self):
        """`Stop sharing`: the link stops working at once."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id = await self._conversation_id()
        stopped = await run_db(share_repo.stop_sharing, user_id=user.id, conversation_id=conversation_id)
        if stopped is None:
            await self._alert_key("conversation_not_found")
            self._set(share_open=False)
        elif stopped:  # False: no longer shared already (an admin stopped it): nothing to do
            log.info("user %s stopped sharing conversation %s", user.username, conversation_id)
        self._set(share_path="", share_copied=False)
        await self._refresh_sidebar(user.id)
        return None

    async def _refresh_sidebar(self, user_id: int) -> None:
        from fabrix_chat.state.sidebar import SidebarState

        await (await self.get_state(SidebarState))._refresh(user_id)


@dataclasses.dataclass
class SharedMessageView:
    role: str = Role.USER
    content: str = ""
    attachment_name: str = ""


class SharedState(AuthState):
    """/shared/{token}: the read-only copy behind a link, for any signed-in user."""

    found: bool = False
    loaded: bool = False
    title: str = ""
    shared_on: str = ""  # the date it was shared, YYYY-MM-DD
    messages: list[SharedMessageView] = []
    _token: str = ""

    def _route_token(self) -> str:
        path = self.router.url.path.rstrip("/")
        prefix = SHARED_ROUTE + "/"
        return share_repo.valid_token(path[len(prefix) :]) if path.startswith(prefix) else ""

    def _show(self, copy: share_repo.SharedCopy | None) -> None:
        if copy is None:
            self.found, self.title, self.shared_on, self.messages, self._token = False, "", "", [], ""
        else:
            self.found, self.title, self._token = True, copy.title, copy.token
            self.shared_on = copy.created_at.strftime("%Y-%m-%d")
            self.messages = [
                SharedMessageView(role=m.role, content=m.content, attachment_name=m.attachment_name)
                for m in copy.messages
            ]
        self.loaded = True

    def _to_login(self) -> rx.event.EventSpec:
        """To log in, and back to this link afterwards."""
        token = self._route_token()
        return rx.redirect(f"{LOGIN_ROUTE}?next={link_path(token)}" if token else LOGIN_ROUTE)

    @rx.event
    async def load(self):
        """on_load: the copy, or "no longer shared" (also for a token that never was)."""
        if await self._current_user() is None:
            self._show(None)
            return self._to_login()
        token = self._route_token()
        self._show(await run_db(share_repo.read, token=token) if token else None)
        return None

    @rx.event
    async def continue_in_my_chats(self):
        """`Continue in my chats`: the copy becomes a conversation of the viewer's own."""
        user = await self._current_user()
        if user is None:
            self._show(None)
            return self._to_login()
        new_id = await run_db(share_repo.continue_copy, user_id=user.id, token=self._token) if self._token else 0
        if not new_id:
            self._show(None)  # it stopped being shared meanwhile
            return None
        log.info("user %s continued a shared chat as conversation %s", user.username, new_id)
        return rx.redirect(f"/chat/{new_id}")
