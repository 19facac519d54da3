"""The sidebar's conversation list (newest first, a page at a time), search, rename and delete.

The list is sent to the browser again only when its rows changed: a new conversation, another
order, a rename, a search, or `Show more`.
"""

from __future__ import annotations

import reflex as rx

from fabrix_chat.db import run_db
from fabrix_chat.models import record_id
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import shares as share_repo
from fabrix_chat.services import answers
from fabrix_chat.state.chat import ChatState, ConversationItem, conversation_items

PAGE_SIZE = 30


class SidebarState(ChatState):
    conversations: list[ConversationItem] = []
    has_more: bool = False
    search_query: str = ""
    rename_id: int = 0
    rename_title: str = ""
    delete_id: int = 0
    delete_title: str = ""
    _shown: int = PAGE_SIZE  # how many rows the list holds (grows with Show more)

    async def _refresh(self, user_id: int) -> None:
        rows, more, shared = await run_db(
            share_repo.conversation_page, user_id=user_id, query=self.search_query, limit=self._shown
        )
        self._set(conversations=conversation_items(rows, self._lang, shared=shared), has_more=more)

    @rx.event
    async def show_more(self):
        """`Show more`: the next page of older conversations."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self._shown += PAGE_SIZE
        await self._refresh(user.id)

    @rx.event
    async def set_search_query(self, query: str):
        """The search box: conversations whose title or messages contain the text."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self._set(search_query=str(query)[:200])
        self._shown = PAGE_SIZE
        await self._refresh(user.id)

    @rx.event
    def new_chat(self):
        return rx.redirect("/chat")

    async def _row_conversation(self, conversation_id):
        """The conversation of a row's button: (it, None) when it is the signed-in user's, (None,
        None) with the "not found" alert when not, (None, a redirect) when signed out."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return None, redirect
        wanted = record_id(conversation_id)
        conversation = await run_db(conv_repo.get_conversation, user_id=user.id, conversation_id=wanted)
        if conversation is None:
            await self._alert_key("conversation_not_found")
        return conversation, None

    @rx.event
    async def ask_delete(self, conversation_id: int):
        """A row's Delete chat: open the confirmation dialog (for the user's own chats only)."""
        conversation, redirect = await self._row_conversation(conversation_id)
        if conversation is not None:
            self.delete_id, self.delete_title = conversation.id or 0, conversation.title
        return redirect

    @rx.event
    def cancel_delete(self):
        self._set(delete_id=0, delete_title="")

    @rx.event
    async def confirm_delete(self):
        """The dialog's Delete: the chat and its messages go (an answer still streaming stops)."""
        from fabrix_chat.state.conversation import ConversationState
        from fabrix_chat.state.live_answer import LiveAnswerState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id = self.delete_id
        self._set(delete_id=0, delete_title="")
        if not conversation_id:
            return
        deleted = await run_db(conv_repo.delete_conversation, user_id=user.id, conversation_id=conversation_id)
        if not deleted:
            await self._alert_key("conversation_not_found")
            return
        live = await self.get_state(LiveAnswerState)
        if live.streaming and live.live_conversation_id == conversation_id:
            await answers.request_stop(live.live_id)
        await self._refresh(user.id)
        if conversation_id == (await self.get_state(ConversationState)).conversation_id:
            return rx.redirect("/chat")

    @rx.event
    async def toggle_pin(self, conversation_id: int):
        """A row's Pin chat / Unpin chat (the user's own chats only)."""
        conversation, redirect = await self._row_conversation(conversation_id)
        if conversation is None:
            return redirect
        owner = conversation.user_id  # the signed-in user's, as _row_conversation checked
        pinned = conversation.pinned_at is None
        ok = await run_db(conv_repo.set_pinned, user_id=owner, conversation_id=conversation.id, pinned=pinned)
        if not ok:  # deleted meanwhile
            await self._alert_key("conversation_not_found")
        await self._refresh(owner)

    @rx.event
    async def ask_rename(self, conversation_id: int):
        """A row's Rename chat: open the dialog with the current title (the user's own chats only)."""
        conversation, redirect = await self._row_conversation(conversation_id)
        if conversation is not None:
            self.rename_id, self.rename_title = conversation.id or 0, conversation.title
        return redirect

    @rx.event
    def set_rename_title(self, title: str):
        self.rename_title = str(title)[:200]

    @rx.event
    def cancel_rename(self):
        self._set(rename_id=0)

    @rx.event
    async def confirm_rename(self):
        from fabrix_chat.state.conversation import ConversationState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        conversation_id = self.rename_id
        self._set(rename_id=0)
        if not conversation_id or not self.rename_title.strip():
            return
        ok = await run_db(
            conv_repo.rename_conversation, user_id=user.id, conversation_id=conversation_id, title=self.rename_title
        )
        if not ok:
            await self._alert_key("conversation_not_found")
        else:
            conversation = await self.get_state(ConversationState)
            if conversation_id == conversation.conversation_id:
                conversation._set(conversation_title=" ".join(self.rename_title.split()))
        await self._refresh(user.id)
