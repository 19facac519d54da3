"""The agent picker: the agents FabriX offers (cached by services/chat.py) and the one chosen."""

from __future__ import annotations

import logging

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.services import chat as chat_service
from fabrix_chat.state.chat import AgentOption, ChatState

log = logging.getLogger(__name__)


class AgentState(ChatState):
    agents: list[AgentOption] = []
    selected_agent_id: str = ""
    agents_loading: bool = False

    @rx.event
    async def load_agents(self, refresh: bool = False):
        """Fill the agent picker; `refresh` (the reload button, Retry) skips the cache."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self.agents_loading = True
        try:
            await self._load(user, refresh=bool(refresh))
        finally:
            self.agents_loading = False

    async def _load(self, user, refresh: bool = False) -> bool:
        """Fill the picker (cached list unless refresh); False, with an alert, when there are none."""
        lang = await self._lang_now()
        try:
            agents = await chat_service.list_agents(refresh=refresh, user_id=user.id, username=user.username)
        except Exception as exc:  # every failure becomes a plain alert with Retry
            log.warning("agent list failed: %s", exc)
            detail = i18n.error_text(exc, lang)
            await self._alert_key("error_agents", retry=True, kind="agents", detail=detail)
            self._set(agents=[])
            return False
        self._set(agents=[AgentOption(id=a.id, label=a.label, short_id=a.short_id) for a in agents])
        if not agents:
            await self._alert_key("no_agents", retry=True, kind="agents")
            return False
        await self._clear_alert(kind="agents")
        known = {a.id for a in agents}
        if self.selected_agent_id not in known:
            default = get_settings().fabrix_api.agent_id
            self.selected_agent_id = default if default in known else agents[0].id
        return True

    @rx.event
    async def select_agent(self, agent_id: str):
        """The picker: the open conversation remembers the agent chosen for it."""
        from fabrix_chat.state.conversation import ConversationState
        from fabrix_chat.state.live_answer import LiveAnswerState

        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        agent_id = str(agent_id)
        if agent_id not in {a.id for a in self.agents} or (await self.get_state(LiveAnswerState)).streaming:
            return
        conversation = await self.get_state(ConversationState)
        if conversation.conversation_id:
            ok = await run_db(
                conv_repo.set_conversation_agent,
                user_id=user.id,
                conversation_id=conversation.conversation_id,
                agent_id=agent_id,
            )
            if not ok:
                await conversation._show_not_found()
                return
        self.selected_agent_id = agent_id
