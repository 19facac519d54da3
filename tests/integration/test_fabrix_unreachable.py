"""FabriX that cannot be reached (nothing listens on its port), through the real client: the chat
page says so plainly with Retry, never shows the address or the exception, and asking anyway
saves nothing and explains why. (Below the browser: the same handlers a page calls, without a
front-end build.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from fabrix_chat import i18n
from fabrix_chat.fabrix import client as client_module
from fabrix_chat.models import Message
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services import chat as chat_service
from fabrix_chat.state.agents import AgentState
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.conversation import ConversationState
from tests.e2e.conftest import free_port
from tests.reflex_tab import Tab

pytestmark = pytest.mark.asyncio


@pytest.fixture
def closed_fabrix(monkeypatch) -> Iterator[str]:
    """The process-wide client pointed at a loopback port where nothing listens."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(client_module, "_shared", None)
    client_module.set_base_url_override(url, "key", "token")
    chat_service.clear_agent_cache()
    yield url
    client_module.clear_base_url_override()
    chat_service.clear_agent_cache()


def signed_in(engine) -> str:
    token, token_hash = auth_service.new_session_token()
    with Session(engine, expire_on_commit=False) as session:
        user = users_repo.create_user(session=session, username="kim", email="kim@example.com", password_hash="x")
        users_repo.create_session(session=session, user_id=user.id, token_hash=token_hash)
        session.commit()
    return token


async def test_unreachable_fabrix_gives_a_plain_alert_with_retry_and_asking_saves_nothing(app_db, closed_fabrix):
    tab = Tab(signed_in(app_db))
    await tab.run(ChatState.load_page)
    await tab.run(AgentState.load_agents)
    chat = tab.get(ChatState)
    expected = i18n.t("error_agents", detail=i18n.t("error_network"))
    assert chat.alert_text == expected and chat.alert_retry
    assert "127.0.0.1" not in chat.alert_text and "Connect" not in chat.alert_text
    assert tab.get(AgentState).agents == []

    retry = await tab.run(ChatState.retry)  # Retry asks again, and FabriX is still not there
    assert "load_agents" in str(retry)
    await tab.run(AgentState.load_agents)
    assert chat.alert_text == expected

    # Asking anyway says why nothing happened, and nothing is saved.
    await tab.run(ConversationState.send_message, {"message": "Is anyone there?"})
    assert chat.alert_text.startswith(i18n.t("error_agents", detail="").rstrip())
    with Session(app_db) as session:
        assert list(session.exec(select(Message))) == []
