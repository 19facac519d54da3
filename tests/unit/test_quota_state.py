"""The daily quotas on the chat page, through its event handlers: over the limit a question is
refused with a plain message saying when it resets, nothing is saved or sent to FabriX, and the
typed text goes back into the message box; the composer says what is left once it runs low."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import Session, func, select

from fabrix_chat.config import QuotaSettings, Settings
from fabrix_chat.models import Message, User
from fabrix_chat.services import answers, live
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import quota as quota_service
from fabrix_chat.state.agents import AgentState
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.conversation import ConversationState
from fabrix_chat.state.quota import QuotaState
from tests.unit.test_chat_state import AGENTS, Tab, conversation_of, signed_in, snapshot

REFUSED = "You have used your {n} questions for today. The limit resets at 00:00."


@pytest.fixture(autouse=True)
def no_fabrix(monkeypatch):
    """Nothing reaches FabriX: asking saves the question and hands its job over, nothing more."""
    sent = []

    async def must_not_run(*_a, **_kw):
        raise AssertionError("answers.run_answer was run")

    monkeypatch.setattr(answers, "run_answer", must_not_run)
    real_hand_over = answers.hand_over
    monkeypatch.setattr(answers, "hand_over", lambda job: (sent.append(job), real_hand_over(job)))
    live.set_board(live.MemoryBoard())
    quota_service.set_quotas(quota_service.Quotas())
    yield sent
    live.set_board(None)
    quota_service.set_quotas(None)


@pytest.fixture
def agents(monkeypatch):
    async def fake_list_agents(refresh: bool = False, **_kw):
        return AGENTS

    monkeypatch.setattr(chat_service, "list_agents", fake_list_agents)
    return AGENTS


@pytest.fixture
def daily_questions(monkeypatch):
    def use(n: int) -> None:
        settings = Settings(quota=QuotaSettings(daily_questions=n))
        monkeypatch.setattr(quota_service, "get_settings", lambda: settings)

    return use


@pytest.fixture
def bob(app_db, agents) -> tuple[int, str]:
    return signed_in(app_db, "bob")


def questions_saved(engine, content: str | None = None) -> int:
    with Session(engine) as session:
        stmt = select(func.count()).select_from(Message).where(Message.role == "user")
        if content is not None:
            stmt = stmt.where(Message.content == content)
        return session.exec(stmt).one()


async def new_tab(token: str, path: str = "/chat") -> Tab:
    tab = Tab(token, path)
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    return tab


def note(tab: Tab) -> str:
    return tab.get(QuotaState).quota_note


async def test_over_the_limit_nothing_is_saved_or_sent_and_the_text_comes_back(app_db, bob, daily_questions, no_fabrix):
    daily_questions(2)
    first = await new_tab(bob[1])
    assert note(first) == "", "plenty left"
    await first.run(ConversationState.send_message, {"message": "First question"})
    assert first.live.streaming and note(first) == "1 question left today"
    second = await new_tab(bob[1])  # another tab: the first one's answer is still being written
    assert note(second) == "1 question left today"
    await second.run(ConversationState.send_message, {"message": "Second question"})
    assert note(second) == "No questions left today (the limit resets at 00:00)"
    assert len(no_fabrix) == 2

    third = await new_tab(bob[1])
    result = await third.run(ConversationState.send_message, {"message": "Third question"})
    assert third.chat.alert_text == REFUSED.format(n=2)
    assert "Third question" in str(result), "the typed text goes back into the message box"
    assert questions_saved(app_db, "Third question") == 0 and questions_saved(app_db) == 2
    assert len(no_fabrix) == 2, "nothing more was handed to FabriX"
    assert not third.live.streaming and third.conversation.conversation_id == 0
    assert note(third) == "No questions left today (the limit resets at 00:00)"


async def test_the_refusal_is_in_the_pages_language(app_db, bob, daily_questions) -> None:
    from fabrix_chat.state.ui import UIState

    daily_questions(1)
    tab = await new_tab(bob[1])
    await tab.run(ConversationState.send_message, {"message": "One"})
    other = Tab(bob[1])
    other.get(UIState).lang = "ko"
    await other.run(AgentState.load_agents)
    await other.run(ChatState.load_page)
    assert note(other) == "오늘 남은 질문이 없습니다(00:00에 초기화)"
    await other.run(ConversationState.send_message, {"message": "Two"})
    assert other.chat.alert_text == "오늘 쓸 수 있는 질문 1개를 모두 썼습니다. 한도는 00:00에 초기화됩니다."


async def test_regenerate_and_edit_and_resend_count_as_questions(app_db, bob, daily_questions, no_fabrix) -> None:
    daily_questions(1)
    cid = conversation_of(app_db, bob[0], "Trip", [("user", "Plan Busan"), ("assistant", "Day 1...")])
    tab = await new_tab(bob[1], f"/chat/{cid}")
    await tab.run(ConversationState.regenerate)
    assert tab.live.streaming and len(no_fabrix) == 1
    before = snapshot(app_db, cid)
    again = await new_tab(bob[1], f"/chat/{cid}")
    await again.run(ConversationState.regenerate)
    assert again.chat.alert_text == REFUSED.format(n=1) and not again.live.streaming
    edit = await new_tab(bob[1], f"/chat/{cid}")
    await edit.run(ConversationState.start_edit, 0)
    await edit.run(ConversationState.set_edit_text, "Plan Jeju")
    await edit.run(ConversationState.save_edit)
    assert edit.chat.alert_text == REFUSED.format(n=1)
    assert edit.conversation.editing_seq == 0 and edit.conversation.edit_text == "Plan Jeju", "the edit stays open"
    assert snapshot(app_db, cid) == before and len(no_fabrix) == 1


async def test_a_users_own_limit_beats_the_default(app_db, bob, daily_questions) -> None:
    daily_questions(1)
    with Session(app_db) as session:
        session.get(User, bob[0]).daily_question_limit = 0  # no limit for bob
        session.commit()
    for n in range(3):
        tab = await new_tab(bob[1])
        await tab.run(ConversationState.send_message, {"message": f"Question {n}"})
        assert tab.live.streaming and tab.chat.alert_text == "" and note(tab) == ""


async def test_a_question_that_could_not_be_saved_does_not_count(app_db, bob, daily_questions, monkeypatch) -> None:
    daily_questions(1)
    real = chat_service.prepare_question

    def broken(**_kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(chat_service, "prepare_question", broken)
    tab = await new_tab(bob[1])
    await tab.run(ConversationState.send_message, {"message": "Lost"})
    assert tab.chat.alert_text == "Your message could not be saved. Try again."
    monkeypatch.setattr(chat_service, "prepare_question", real)
    await tab.run(ConversationState.send_message, {"message": "Saved"})
    assert tab.live.streaming and tab.chat.alert_text == ""


async def test_sixty_questions_at_once_from_sixty_tabs_save_five(app_db, bob, daily_questions, no_fabrix) -> None:
    daily_questions(5)
    tabs = [Tab(bob[1]) for _ in range(60)]
    for tab in tabs:
        await tab.run(AgentState.load_agents)
    await asyncio.gather(*(tab.run(ConversationState.send_message, {"message": f"Q{i}"}) for i, tab in enumerate(tabs)))
    assert questions_saved(app_db) == 5 and len(no_fabrix) == 5
    refused = [tab for tab in tabs if tab.chat.alert_text == REFUSED.format(n=5)]
    assert len(refused) == 55


async def test_the_answers_tokens_count_when_it_ends(app_db, bob, monkeypatch) -> None:
    from types import SimpleNamespace

    settings = Settings(quota=QuotaSettings(daily_tokens=1000))
    monkeypatch.setattr(quota_service, "get_settings", lambda: settings)
    tab = await new_tab(bob[1])
    await tab.run(ConversationState.send_message, {"message": "x" * 40})  # 10 estimated tokens
    job = answers.handed(tab.live.live_id)

    async def stream_answer(**_kw):
        yield SimpleNamespace(kind="chunk", text="y" * 80)  # 20 estimated tokens

    monkeypatch.setattr(answers, "get_client", lambda: SimpleNamespace(stream_answer=stream_answer))
    await answers.consume_answer(job, lambda **_kw: None)
    with Session(app_db) as session:
        standing = await quota_service.standing(session.get(User, bob[0]))
    assert standing.tokens == 30 and standing.tokens_left == 970
