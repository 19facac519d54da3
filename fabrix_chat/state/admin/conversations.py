"""The Conversations tab: every user's conversations, searched, opened read-only, deleted, and
every share link, which the admin can stop (components/admin/conversations.py)."""

from __future__ import annotations

import dataclasses
import logging
from typing import ClassVar

from fabrix_chat.db import run_db
from fabrix_chat.models import Status, User, record_id
from fabrix_chat.repo import shares as share_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.repo.admin import admin_conversations, admin_delete_conversation, admin_open_conversation
from fabrix_chat.services import audit
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import AdminState, admin_only, local_time

log = logging.getLogger(__name__)


@dataclasses.dataclass
class UserOption:
    id: str = ""
    username: str = ""


@dataclasses.dataclass
class ConversationRow:
    id: int = 0
    title: str = ""
    username: str = ""
    updated: str = ""
    messages: int = 0


@dataclasses.dataclass
class ShareItem:
    id: int = 0
    title: str = ""
    username: str = ""
    created: str = ""


@dataclasses.dataclass
class ViewedMessage:
    id: int = 0
    role: str = "user"
    content: str = ""
    status: str = ""
    time: str = ""


class AdminConversationsState(AdminState):
    TAB: ClassVar[str] = "conversations"

    user_options: list[UserOption] = []
    conv_user: str = ""  # a user id, or "" for every user
    conv_query: str = ""
    conversations: list[ConversationRow] = []
    view_id: int = 0
    view_title: str = ""
    view_username: str = ""
    view_messages: list[ViewedMessage] = []
    conv_delete_id: int = 0
    conv_delete_title: str = ""
    shares: list[ShareItem] = []

    async def _load(self) -> None:
        everyone = await run_db(users_repo.list_users)
        self.user_options = [UserOption(id=str(u.id), username=u.username) for u in everyone]
        await self._load_conversations()
        await self._load_shares()

    async def _load_shares(self) -> None:
        rows = await run_db(share_repo.list_all)
        self.shares = [
            ShareItem(
                id=r.id, title=r.title or self._t("new_chat"), username=r.username, created=local_time(r.created_at)
            )
            for r in rows
        ]

    @admin_only
    async def revoke_share(self, admin: User, share_id: int):
        """`Stop sharing` on any user's share link: it stops working at once."""
        wanted = record_id(share_id)
        row = next((s for s in self.shares if s.id == wanted), None)
        if row is not None and await run_db(share_repo.revoke, share_id=wanted):
            log.info("admin %s stopped the share of %r by %s", admin.username, row.title, row.username)
            await audit.note(
                Action.SHARE_REVOKE, actor=admin.username, target=row.username, client=self._client(), detail=row.title
            )
            self._say(notice=self._t("admin_share_stopped", title=row.title))
        else:
            self._say(error=self._t("share_no_longer"))
        await self._load_shares()

    async def _load_conversations(self) -> None:
        user_id = int(self.conv_user) if self.conv_user.isdigit() else None
        found = await run_db(admin_conversations, user_id=user_id, query=self.conv_query)
        self.conversations = [
            ConversationRow(
                id=c.id or 0,
                title=c.title or self._t("new_chat"),
                username=username,
                updated=local_time(c.updated_at),
                messages=count,
            )
            for c, username, count in found
        ]

    @admin_only
    async def set_conv_user(self, admin: User, value: str):
        self.conv_user = value if value.isdigit() else ""
        self.view_id = 0
        await self._load_conversations()

    @admin_only
    async def set_conv_query(self, admin: User, query: str):
        self.conv_query = query[:200]
        await self._load_conversations()

    @admin_only
    async def open_conversation(self, admin: User, conversation_id: int):
        found = await run_db(admin_open_conversation, conversation_id=record_id(conversation_id))
        if found is None:
            self._say(error=self._t("conversation_not_found"))
            self.view_id = 0
            await self._load_conversations()
            return
        conversation, owner, messages = found
        log.info("admin %s opened conversation %s of %s", admin.username, conversation.id, owner)
        await audit.note(
            Action.CONVERSATION_VIEW,
            actor=admin.username,
            target=owner,
            client=self._client(),
            detail=conversation.title,
        )
        self.view_id = conversation.id or 0
        self.view_title = conversation.title or self._t("new_chat")
        self.view_username = owner
        self.view_messages = [
            ViewedMessage(
                id=m.id or 0,
                role=m.role,
                content=m.content,
                status="" if m.status == Status.COMPLETE else m.status,
                time=local_time(m.created_at),
            )
            for m in messages
        ]

    @admin_only
    async def close_conversation(self, admin: User):
        self.view_id = 0
        self.view_title = ""
        self.view_username = ""
        self.view_messages = []

    @admin_only
    async def ask_delete_conversation(self, admin: User, conversation_id: int):
        wanted = record_id(conversation_id)
        row = next((c for c in self.conversations if c.id == wanted), None)
        if row is None and wanted and self.view_id == wanted:
            row = ConversationRow(id=self.view_id, title=self.view_title)
        if row is None:
            return
        self.conv_delete_id = row.id
        self.conv_delete_title = row.title

    @admin_only
    async def cancel_delete_conversation(self, admin: User):
        self.conv_delete_id = 0
        self.conv_delete_title = ""

    @admin_only
    async def confirm_delete_conversation(self, admin: User):
        conversation_id, title = self.conv_delete_id, self.conv_delete_title
        self.conv_delete_id = 0
        self.conv_delete_title = ""
        if not conversation_id:
            return
        deleted = await run_db(admin_delete_conversation, conversation_id=conversation_id)
        if deleted:
            log.warning("admin %s deleted conversation %s", admin.username, conversation_id)
            await audit.note(Action.CONVERSATION_DELETE, actor=admin.username, client=self._client(), detail=title)
            self._say(notice=self._t("admin_conversation_deleted", title=title))
        else:
            self._say(error=self._t("conversation_not_found"))
        if self.view_id == conversation_id:
            self.view_id = 0
            self.view_messages = []
        await self._load_conversations()
