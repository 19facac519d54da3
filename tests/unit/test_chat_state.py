"""The chat page's event handlers called directly, without a browser.

How: under pytest Reflex allows building the state tree by hand (`rx.State(_reflex_internal_init=True)`
creates the root with every registered substate); a `Tab` holds one such tree with a session cookie
and a URL, and `tab.run(SomeState.handler, ...)` calls the handler's function on that tab's instance
of `SomeState`, as Reflex does. The database is a temp SQLite (`app_db`), and no answer is ever
asked of FabriX (`answers.run_answer` fails the test if it is reached without being replaced).

User B's browser is a tab holding B's session token; every handler is then called with user A's ids
(and with A's ids forged into B's state, as a tampered client could not do but a bug might):
nothing of A's shows in any state of B's tab, and A's data never changes.
"""

from __future__ import annotations

import asyncio
import functools
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from fabrix_chat import i18n
from fabrix_chat.fabrix.client import Agent
from fabrix_chat.models import Conversation, Message
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import answers, live
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import files as file_service
from fabrix_chat.services.files import StoredFile
from fabrix_chat.state import live_answer as live_answer_module
from fabrix_chat.state.agents import AgentState
from fabrix_chat.state.auth import AuthState
from fabrix_chat.state.chat import ChatState, MessageView, conversation_items, message_view
from fabrix_chat.state.composer import ComposerState
from fabrix_chat.state.conversation import ConversationState, MessagePageState
from fabrix_chat.state.live_answer import LiveAnswerState
from fabrix_chat.state.prompts import PromptState
from fabrix_chat.state.sidebar import SidebarState
from tests import reflex_tab
from tests.reflex_tab import download_of, js_of, redirect_path, set_value_of

AGENTS = [
    Agent(id="520e8dd8-3b9c-4f1e-8a6d-1c2b3d4e5f60", label="General Assistant"),
    Agent(id="7c9e6679-7425-40de-944b-e07fc1f90ae7", label="Code Helper"),
]
NOT_FOUND = "Conversation not found."
CHAT_STATES = (ChatState, ConversationState, MessagePageState, LiveAnswerState, SidebarState, AgentState, ComposerState)
REAL_RUN_ANSWER = answers.run_answer


# --- one browser tab --------------------------------------------------------------------------


class Tab(reflex_tab.Tab):
    """One browser tab on the chat page, with its chat states at hand."""

    @property
    def chat(self) -> ChatState:
        return self.get(ChatState)

    @property
    def conversation(self) -> ConversationState:
        return self.get(ConversationState)

    @property
    def page(self) -> MessagePageState:
        return self.get(MessagePageState)

    @property
    def live(self) -> LiveAnswerState:
        return self.get(LiveAnswerState)

    @property
    def sidebar(self) -> SidebarState:
        return self.get(SidebarState)

    @property
    def agents(self) -> AgentState:
        return self.get(AgentState)

    @property
    def composer(self) -> ComposerState:
        return self.get(ComposerState)


def own_values(state) -> dict[str, Any]:
    """The vars a state class declares itself (its parents' are their own)."""
    cls = type(state)
    parent = cls.get_parent_state()
    inherited = set(parent.__fields__) if parent is not None else set()
    return {name: state.get_value(name) for name in cls.__fields__ if name not in inherited}


# --- data ---------------------------------------------------------------------------------------


def signed_in(engine, username: str) -> tuple[int, str]:
    """A user with a live session: (user id, session token)."""
    token, token_hash = auth_service.new_session_token()
    with Session(engine, expire_on_commit=False) as session:
        user = users_repo.create_user(
            session=session, username=username, email=f"{username}@example.com", password_hash="x"
        )
        users_repo.create_session(session=session, user_id=user.id, token_hash=token_hash)
        session.commit()
        return user.id, token


def conversation_of(engine, user_id: int, title: str, turns: list[tuple[str, str]], agent_id: str = "") -> int:
    with Session(engine, expire_on_commit=False) as session:
        conversation = conv_repo.create_conversation(session=session, user_id=user_id, title=title, agent_id=agent_id)
        for role, text in turns:
            conv_repo.add_message(
                session=session, user_id=user_id, conversation_id=conversation.id, role=role, content=text
            )
        session.commit()
        return conversation.id


def long_conversation(engine, user_id: int, count: int, text: str = "") -> int:
    """A conversation of `count` messages, question and answer in turn, numbered in their text."""
    turns = [("user" if i % 2 == 0 else "assistant", f"message {i} {text}") for i in range(count)]
    return conversation_of(engine, user_id, "Long one", turns)


def many_conversations(engine, user_id: int, count: int) -> None:
    """`count` conversations titled "Chat 00", "Chat 01", ... (the last is the newest)."""
    with Session(engine, expire_on_commit=False) as session:
        for i in range(count):
            conv_repo.create_conversation(session=session, user_id=user_id, title=f"Chat {i:02d}")
        session.commit()


def snapshot(engine, conversation_id: int) -> tuple:
    """Everything stored about one conversation, to compare before and after."""
    with Session(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        messages = session.exec(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq, Message.id)
        ).all()
        return (
            conversation.title if conversation else None,
            conversation.agent_id if conversation else None,
            # An earlier version, off the screen, is marked "kept".
            [(m.seq, m.role, m.content, m.status) + (() if m.current else ("kept",)) for m in messages],
        )


def stored_messages(engine, user_id: int, conversation_id: int) -> list[Message]:
    with Session(engine) as session:
        return conv_repo.get_messages(session=session, user_id=user_id, conversation_id=conversation_id) or []


@pytest.fixture(autouse=True)
def no_fabrix(monkeypatch):
    """No test asks FabriX: asking only saves the question and returns the streaming event, and a
    test that runs the stream gives its own answer. Answers are followed on an in-process board."""

    async def must_not_run(*_a, **_kw):
        raise AssertionError("answers.run_answer was run")

    monkeypatch.setattr(answers, "run_answer", must_not_run)
    live.set_board(live.MemoryBoard())
    yield
    live.set_board(None)


@pytest.fixture
def agents(monkeypatch):
    async def fake_list_agents(refresh: bool = False, **_kw) -> list[Agent]:
        return AGENTS

    monkeypatch.setattr(chat_service, "list_agents", fake_list_agents)
    return AGENTS


@pytest.fixture
def two_users(app_db, agents):
    """User A with a private conversation; user B signed in, looking at it."""
    a_id, a_token = signed_in(app_db, "alice")
    b_id, b_token = signed_in(app_db, "bob")
    secret = conversation_of(
        app_db,
        a_id,
        "Alice's merger plan",
        [("user", "What is the secret merger code?"), ("assistant", "The code is BLUE-HERON-42.")],
        agent_id=AGENTS[1].id,
    )
    return {"a": a_id, "a_token": a_token, "b": b_id, "b_token": b_token, "secret": secret}


@pytest.fixture
async def alice_answering(app_db, two_users, monkeypatch):
    """User A's next answer being written in this process right now; its text so far is a secret."""
    with Session(app_db, expire_on_commit=False) as session:
        prepared = chat_service.prepare_question(
            session=session,
            user_id=two_users["a"],
            conversation_id=two_users["secret"],
            agent_id=AGENTS[1].id,
            question="And the backup code?",
            owner=answers.INSTANCE,
        )
        session.commit()

    async def upstream(job, update):
        update(text="The backup code is BLUE-HERON-43.")
        await asyncio.sleep(3600)

    monkeypatch.setattr(answers, "consume_answer", upstream)
    shown = asyncio.Event()

    class AlicesPage:
        async def show(self, part: int, added: str, status: str | None) -> None:
            shown.set()

    job = answers.AnswerJob(
        user_id=two_users["a"],
        username="alice",
        email="alice@example.com",
        conversation_id=two_users["secret"],
        question_seq=prepared.question.seq,
        message_id=prepared.answer_id,
        agent_id=AGENTS[1].id,
        contents=prepared.contents,
    )
    task = asyncio.create_task(REAL_RUN_ANSWER(job, AlicesPage()))
    await asyncio.wait_for(shown.wait(), 5)
    yield {**two_users, "answer_id": prepared.answer_id, "task": task}
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


@pytest.fixture
def stops(monkeypatch) -> list[int]:
    """The answers Stop was requested for (none is running: the request is only recorded)."""
    requested: list[int] = []

    async def request_stop(message_id: int, *, close: bool = False) -> None:
        requested.append(message_id)

    monkeypatch.setattr(answers, "request_stop", request_stop)
    return requested


def shows_nothing_of_alice(tab: Tab) -> None:
    """B's tab holds nothing of A's conversation, in any of its states."""
    held = tab.held()
    for leak in ("merger", "BLUE-HERON", "backup code"):
        assert leak not in held, f"{leak!r} leaked into the other user's tab"


# --- a tab whose state expired or was lost ---------------------------------------------------
# Reflex forgets a tab's state after an hour without an event (and Redis may come back empty); the
# page still shows its conversation, and the next event arrives on a fresh state.


def messages_of(engine, conversation_id: int) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Message).where(Message.conversation_id == conversation_id, Message.current).order_by(Message.seq)
        )
        return [(m.role, m.content) for m in rows]


async def test_a_question_on_a_tab_whose_state_expired_goes_into_the_chat_on_its_page(app_db, two_users):
    cid = two_users["secret"]
    tab = Tab(two_users["a_token"], f"/chat/{cid}")  # fresh state, as after the expiry

    events = await tab.run(ConversationState.send_message, {"message": "And what comes next?"})

    assert redirect_path(events) is None  # no new chat
    assert tab.conversation.conversation_id == cid
    assert [r for r, _ in messages_of(app_db, cid)] == ["user", "assistant", "user", "assistant"]
    assert messages_of(app_db, cid)[2] == ("user", "And what comes next?")
    shown = [(m.role, m.content) for m in [*tab.page.messages, *tab.conversation.added]]
    assert shown[:3] == messages_of(app_db, cid)[:3]  # the page is the conversation again, question added
    assert tab.agents.selected_agent_id == AGENTS[1].id  # the chat's own agent
    with Session(app_db) as session:
        assert len(session.exec(select(Conversation)).all()) == 1


async def test_an_expired_tab_on_another_users_chat_saves_nothing_and_gives_the_text_back(app_db, two_users):
    tab = Tab(two_users["b_token"], f"/chat/{two_users['secret']}")

    events = await tab.run(ConversationState.send_message, {"message": "Let me in"})

    assert set_value_of(events) == ("composer-input", "Let me in")
    assert tab.conversation.not_found and tab.conversation.conversation_id == 0
    shows_nothing_of_alice(tab)
    assert len(messages_of(app_db, two_users["secret"])) == 2
    with Session(app_db) as session:
        assert len(session.exec(select(Conversation)).all()) == 1


async def test_an_expired_tab_whose_chat_is_answering_elsewhere_follows_it_and_keeps_the_text(app_db, alice_answering):
    cid = alice_answering["secret"]
    tab = Tab(alice_answering["a_token"], f"/chat/{cid}")

    events = await tab.run(ConversationState.send_message, {"message": "One more thing"})

    assert tab.chat.alert_text == i18n.t("error_answer_running", "en")
    assert tab.live.elsewhere_id == alice_answering["answer_id"]
    assert ("composer-input", "One more thing") in [set_value_of(e) for e in events]
    assert "One more thing" not in [c for _, c in messages_of(app_db, cid)]


# --- another user's conversation ------------------------------------------------------------


async def test_page_of_another_users_conversation_is_not_found(app_db, two_users):
    tab = Tab(two_users["b_token"], f"/chat/{two_users['secret']}")
    await tab.run(ChatState.load_page)
    conversation = tab.conversation
    page = tab.page
    assert conversation.not_found
    assert page.messages == [] and conversation.added == [] and not page.has_earlier
    assert conversation.conversation_title == "" and conversation.conversation_id == 0
    assert tab.sidebar.conversations == []
    assert tab.live.elsewhere_id == 0
    shows_nothing_of_alice(tab)


async def test_earlier_messages_of_another_users_conversation_are_not_found(app_db, two_users):
    long_id = long_conversation(app_db, two_users["a"], 120, "merger")
    before = snapshot(app_db, long_id)
    tab = Tab(two_users["b_token"])
    await tab.run(ChatState.load_page)
    # Forged: A's conversation open in B's tab, its newest page (without its text) shown.
    tab.conversation.conversation_id = long_id
    tab.page.messages = [MessageView(id=0, seq=seq) for seq in range(70, 120)]
    tab.page.has_earlier = True
    await tab.run(ConversationState.show_earlier)
    assert tab.conversation.not_found and tab.page.messages == [] and not tab.page.has_earlier
    assert snapshot(app_db, long_id) == before
    shows_nothing_of_alice(tab)


async def test_delete_of_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    tab = Tab(two_users["b_token"])
    await tab.run(SidebarState.ask_delete, two_users["secret"])
    assert tab.sidebar.delete_id == 0 and tab.sidebar.delete_title == ""
    assert tab.chat.alert_text == NOT_FOUND
    # Even with the id forged into the dialog, the delete does not happen.
    tab.sidebar.delete_id = two_users["secret"]
    await tab.run(SidebarState.confirm_delete)
    assert tab.chat.alert_text == NOT_FOUND
    assert snapshot(app_db, two_users["secret"]) == before
    shows_nothing_of_alice(tab)


async def test_rename_of_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    tab = Tab(two_users["b_token"])
    await tab.run(SidebarState.ask_rename, two_users["secret"])
    assert tab.sidebar.rename_id == 0 and tab.sidebar.rename_title == ""
    assert tab.chat.alert_text == NOT_FOUND
    tab.sidebar.rename_id = two_users["secret"]
    tab.sidebar.rename_title = "pwned"
    await tab.run(SidebarState.confirm_rename)
    assert tab.chat.alert_text == NOT_FOUND
    assert snapshot(app_db, two_users["secret"]) == before
    shows_nothing_of_alice(tab)


async def test_pinning_another_users_conversation_is_not_found(app_db, two_users):
    tab = Tab(two_users["b_token"])
    await tab.run(SidebarState.toggle_pin, two_users["secret"])
    assert tab.chat.alert_text == NOT_FOUND
    with Session(app_db) as session:
        assert session.get(Conversation, two_users["secret"]).pinned_at is None
    shows_nothing_of_alice(tab)


async def test_a_pinned_chat_heads_the_list_under_pinned_until_unpinned(app_db, two_users):
    other = conversation_of(app_db, two_users["a"], "Newer chat", [("user", "hi"), ("assistant", "hello")])
    tab = Tab(two_users["a_token"])
    await tab.run(ChatState.load_page)
    assert [c.title for c in tab.sidebar.conversations] == ["Newer chat", "Alice's merger plan"]
    await tab.run(SidebarState.toggle_pin, two_users["secret"])
    rows = tab.sidebar.conversations
    assert [(c.title, c.group, c.group_start, c.pinned) for c in rows] == [
        ("Alice's merger plan", "Pinned", True, True),
        ("Newer chat", "Today", True, False),
    ]
    await tab.run(SidebarState.toggle_pin, two_users["secret"])
    assert [c.id for c in tab.sidebar.conversations] == [other, two_users["secret"]]
    assert not any(c.pinned for c in tab.sidebar.conversations)


async def test_exporting_another_users_conversation_is_not_found_and_sends_nothing(app_db, two_users):
    tab = Tab(two_users["b_token"])
    tab.conversation.conversation_id = two_users["secret"]  # forged into B's state
    for handler in (ConversationState.export_markdown, ConversationState.print_chat):
        result = await tab.run(handler)
        assert result is None and tab.chat.alert_text == NOT_FOUND
        assert "BLUE-HERON" not in tab.held()


async def test_exporting_own_conversation_downloads_it_whole(app_db, two_users):
    tab = Tab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(AgentState.load_agents)  # as the page does on load
    tab.conversation.conversation_id = two_users["secret"]
    name, text = download_of(await tab.run(ConversationState.export_markdown))
    assert name.startswith("Alice's merger plan ") and name.endswith(".md")
    assert text.startswith("# Alice's merger plan\n") and "The code is BLUE-HERON-42." in text
    assert "- Agent: Code Helper" in text  # the agent's name, from the agent list


async def test_pin_and_feedback_with_odd_or_huge_input_change_nothing(app_db, two_users):
    tab = Tab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(ChatState.load_page)
    before = stored_feedback(app_db, two_users["secret"])
    answer = tab.page.messages[1]
    for message_id, value in (("abc", 1), (None, -1), (answer.id, "x"), (answer.id, None), (10**30, 1), ("", "")):
        assert await tab.run(ConversationState.toggle_feedback, message_id, value) is None
    assert stored_feedback(app_db, two_users["secret"]) == before
    for form in (None, [], "text", {"comment": ["a"]}):
        assert await tab.run(ConversationState.send_feedback, form) is None  # no comment field open
    for conversation_id in ("abc", None, -1, 10**30, ""):
        await tab.run(SidebarState.toggle_pin, conversation_id)
        assert tab.chat.alert_text == NOT_FOUND
    with Session(app_db) as session:
        assert session.get(Conversation, two_users["secret"]).pinned_at is None
    assert stored_feedback(app_db, two_users["secret"]) == before


def stored_feedback(engine, conversation_id: int) -> list[tuple[str, int, str]]:
    with Session(engine) as session:
        rows = session.exec(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq))
        return [(m.role, m.feedback, m.feedback_comment) for m in rows]


async def test_feedback_on_another_users_answer_is_not_found_and_changes_nothing(app_db, two_users):
    before = stored_feedback(app_db, two_users["secret"])
    with Session(app_db) as session:
        answer_id = session.exec(
            select(Message.id).where(Message.conversation_id == two_users["secret"], Message.role == "assistant")
        ).one()
    tab = Tab(two_users["b_token"])
    # As if B's page showed it (forged into B's state): the database still says whose it is.
    tab.page.messages = [MessageView(id=answer_id, role="assistant", content="x")]
    tab.conversation.feedback_open_id = answer_id
    await tab.run(ConversationState.toggle_feedback, answer_id, -1)
    await tab.run(ConversationState.send_feedback, {"comment": "pwned"})
    assert tab.chat.alert_text == NOT_FOUND
    assert stored_feedback(app_db, two_users["secret"]) == before


async def test_good_and_bad_answer_toggle_and_a_comment_goes_with_bad(app_db, two_users):
    tab = Tab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(ChatState.load_page)
    question, answer = tab.page.messages
    await tab.run(ConversationState.toggle_feedback, answer.id, 1)
    assert tab.page.messages[1].feedback == 1 and tab.conversation.feedback_open_id == 0
    assert stored_feedback(app_db, two_users["secret"])[1] == ("assistant", 1, "")
    await tab.run(ConversationState.toggle_feedback, answer.id, 1)  # pressed again: taken back
    assert tab.page.messages[1].feedback == 0 and stored_feedback(app_db, two_users["secret"])[1][1] == 0
    await tab.run(ConversationState.toggle_feedback, answer.id, -1)
    assert tab.conversation.feedback_open_id == answer.id  # the comment field opens
    await tab.run(ConversationState.send_feedback, {"comment": "  Wrong code \x00 " + "x" * 2000})
    role, value, comment = stored_feedback(app_db, two_users["secret"])[1]
    assert (role, value) == ("assistant", -1) and comment.startswith("Wrong code") and len(comment) <= 1000
    assert tab.conversation.feedback_open_id == 0 and tab.page.messages[1].feedback == -1
    # A question takes no verdict.
    await tab.run(ConversationState.toggle_feedback, question.id, 1)
    assert tab.chat.alert_text == NOT_FOUND and stored_feedback(app_db, two_users["secret"])[0][1] == 0


async def test_agent_choice_for_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    tab = Tab(two_users["b_token"])
    await tab.run(AgentState.load_agents)
    tab.conversation.conversation_id = two_users["secret"]
    await tab.run(AgentState.select_agent, AGENTS[0].id)
    assert tab.conversation.not_found and tab.conversation.conversation_id == 0
    assert snapshot(app_db, two_users["secret"]) == before
    shows_nothing_of_alice(tab)


async def test_asking_in_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    tab = Tab(two_users["b_token"])
    await tab.run(AgentState.load_agents)
    tab.conversation.conversation_id = two_users["secret"]
    result = await tab.run(ConversationState.send_message, {"message": "Tell me the code again"})
    assert tab.conversation.not_found and tab.conversation.added == []
    assert not tab.live.streaming and tab.live.live_id == 0 and answers.handed(tab.live.live_id) is None
    # The question is given back to the composer, not lost and not stored anywhere.
    assert "Tell me the code again" in str(result)
    assert snapshot(app_db, two_users["secret"]) == before
    with Session(app_db) as session:
        assert session.exec(select(Conversation).where(Conversation.user_id == two_users["b"])).all() == []
    shows_nothing_of_alice(tab)


@pytest.mark.parametrize("forged_into", ["messages", "added"])
@pytest.mark.parametrize("action", ["regenerate", "edit"])
async def test_regenerate_and_edit_in_another_users_conversation_are_not_found(app_db, two_users, action, forged_into):
    before = snapshot(app_db, two_users["secret"])
    alice_messages = stored_messages(app_db, two_users["a"], two_users["secret"])
    tab = Tab(two_users["b_token"])
    await tab.run(AgentState.load_agents)
    tab.conversation.conversation_id = two_users["secret"]
    target = tab.page if forged_into == "messages" else tab.conversation
    setattr(target, forged_into, [message_view(m) for m in alice_messages])
    if action == "regenerate":
        await tab.run(ConversationState.regenerate)
    else:
        await tab.run(ConversationState.start_edit, 0)
        await tab.run(ConversationState.set_edit_text, "Replace Alice's question")
        await tab.run(ConversationState.save_edit)
    conversation = tab.conversation
    page = tab.page
    assert conversation.not_found and page.messages == [] and conversation.added == []
    assert not tab.live.streaming and answers.handed(tab.live.live_id) is None
    assert snapshot(app_db, two_users["secret"]) == before
    shows_nothing_of_alice(tab)


async def test_search_never_finds_another_users_conversations(app_db, two_users):
    tab = Tab(two_users["b_token"])
    for query in ("merger", "BLUE-HERON", ""):
        await tab.run(SidebarState.set_search_query, query)
        assert tab.sidebar.conversations == [] and not tab.sidebar.has_more
    shows_nothing_of_alice(tab)


async def test_stop_with_nothing_running_stops_nothing(app_db, two_users, stops):
    tab = Tab(two_users["b_token"], f"/chat/{two_users['secret']}")
    await tab.run(ChatState.load_page)
    assert await tab.run(LiveAnswerState.stop_generating) is None
    # An answer this tab streamed earlier has ended: its id stays, but Stop does not touch it.
    tab.live.live_id = 987654
    assert await tab.run(LiveAnswerState.stop_generating) is None
    assert stops == [] and tab.chat.alert_text == ""


@pytest.mark.parametrize("forged", ["live_id", "elsewhere_id"])
async def test_stop_never_stops_another_users_answer(app_db, alice_answering, forged):
    before = snapshot(app_db, alice_answering["secret"])
    tab = Tab(alice_answering["b_token"])
    await tab.run(ChatState.load_page)
    if forged == "live_id":
        tab.live.streaming, tab.live.live_id = True, alice_answering["answer_id"]
        tab.live.live_conversation_id = alice_answering["secret"]
    else:
        tab.live.elsewhere_id = alice_answering["answer_id"]
    await tab.run(LiveAnswerState.stop_generating)
    await asyncio.sleep(0.2)
    assert not alice_answering["task"].done(), "A's answer was stopped by B"
    assert snapshot(app_db, alice_answering["secret"]) == before


async def test_resync_never_sends_another_users_message(app_db, two_users):
    alice_answer = stored_messages(app_db, two_users["a"], two_users["secret"])[1]
    tab = Tab(two_users["b_token"])
    await tab.run(ChatState.load_page)
    for request in (f"{alice_answer.id}:1", str(alice_answer.id), "0", "x:1", ""):
        assert await tab.run(LiveAnswerState.resync, request) is None, request
    # Forged: A's answer listed as streamed into this tab, in A's conversation.
    tab.conversation.conversation_id = two_users["secret"]
    tab.conversation.added = [MessageView(id=alice_answer.id, seq=1, role="assistant", live=True)]
    assert await tab.run(LiveAnswerState.resync, f"{alice_answer.id}:2") is None
    tab.live.live_id, tab.live.live_conversation_id = alice_answer.id, two_users["secret"]
    assert await tab.run(LiveAnswerState.resync, f"{alice_answer.id}:3") is None
    shows_nothing_of_alice(tab)


@pytest.mark.parametrize("forged_into", ["live_id", "added"])
async def test_resync_never_sends_another_users_running_answer(app_db, alice_answering, forged_into):
    answer_id = alice_answering["answer_id"]
    tab = Tab(alice_answering["b_token"])
    await tab.run(ChatState.load_page)
    if forged_into == "live_id":
        tab.live.streaming, tab.live.live_id = True, answer_id
        tab.live.live_conversation_id = alice_answering["secret"]
    else:
        tab.conversation.conversation_id = alice_answering["secret"]
        tab.conversation.added = [MessageView(id=answer_id, seq=3, role="assistant", live=True)]
    result = await tab.run(LiveAnswerState.resync, f"{answer_id}:1")
    assert "BLUE-HERON" not in str(result)


async def test_watching_another_users_answer_shows_nothing(app_db, alice_answering, monkeypatch):
    monkeypatch.setattr(live_answer_module, "ELSEWHERE_POLL_SECONDS", 0.01)
    before = snapshot(app_db, alice_answering["secret"])
    answer_id = alice_answering["answer_id"]
    tab = Tab(alice_answering["b_token"])
    await tab.run(ChatState.load_page)
    # The event's id comes from the browser: one the tab was not told of is not watched.
    await asyncio.wait_for(tab.run(LiveAnswerState.watch_elsewhere, answer_id), 2)
    assert tab.page.messages == [] and not tab.conversation.not_found
    # Forged: A's conversation open and A's answer marked as written elsewhere.
    tab.conversation.conversation_id = alice_answering["secret"]
    tab.live.elsewhere_id = answer_id
    await asyncio.wait_for(tab.run(LiveAnswerState.watch_elsewhere, answer_id), 2)
    assert tab.conversation.not_found and tab.page.messages == []
    assert not alice_answering["task"].done()
    assert snapshot(app_db, alice_answering["secret"]) == before
    shows_nothing_of_alice(tab)


async def test_stream_answer_takes_nothing_from_the_browser(app_db, two_users):
    """The background event that streams has no parameters: a browser cannot hand it a job."""
    assert reflex_tab.event_arguments(LiveAnswerState.stream_answer) == {}
    tab = Tab(two_users["b_token"])
    await tab.run(ChatState.load_page)
    tab.clean()
    # Sent by a browser with no question asked: nothing streams, nothing changes.
    assert await tab.run(LiveAnswerState.stream_answer) == []
    assert not tab.live.streaming and tab.sent(LiveAnswerState) == set()


async def test_signed_out_browser_is_sent_to_log_in_and_changes_nothing(app_db, two_users, stops):
    before = snapshot(app_db, two_users["secret"])
    alice_answer = stored_messages(app_db, two_users["a"], two_users["secret"])[1]
    tab = Tab("")
    tab.sidebar.delete_id = two_users["secret"]
    tab.sidebar.rename_id = two_users["secret"]
    tab.sidebar.rename_title = "pwned"
    tab.conversation.conversation_id = two_users["secret"]
    tab.live.streaming, tab.live.live_id = True, alice_answer.id
    for handler, args in (
        (ChatState.load_page, ()),
        (SidebarState.ask_delete, (two_users["secret"],)),
        (SidebarState.confirm_delete, ()),
        (SidebarState.ask_rename, (two_users["secret"],)),
        (SidebarState.confirm_rename, ()),
        (SidebarState.set_search_query, ("merger",)),
        (SidebarState.show_more, ()),
        (AgentState.select_agent, (AGENTS[0].id,)),
        (AgentState.load_agents, ()),
        (ConversationState.show_earlier, ()),
        (LiveAnswerState.stop_generating, ()),
        (LiveAnswerState.resync, (f"{alice_answer.id}:1",)),
        (ComposerState.remove_file, ()),
        (SidebarState.toggle_pin, (two_users["secret"],)),
        (PromptState.set_prompts_open, (True,)),
        (PromptState.set_prompt_query, ("merger",)),
        (PromptState.choose_prompt, (1,)),
        (PromptState.delete_prompt, (1,)),
        (PromptState.save_as_prompt, (1,)),
        (PromptState.save_prompt, ({},)),
        (ConversationState.export_markdown, ()),
        (ConversationState.print_chat, ()),
        (ConversationState.toggle_feedback, (alice_answer.id, -1)),
        (ConversationState.send_feedback, ({"comment": "pwned"},)),
        (ConversationState.show_version, (alice_answer.id, -1)),
    ):
        result = await tab.run(handler, *args)
        assert "/login" in str(result), handler.fn.__name__
    result = await tab.run(ConversationState.send_message, {"message": "hello"})
    assert "/login" in str(result)
    assert snapshot(app_db, two_users["secret"]) == before
    assert stops == []
    assert tab.sidebar.conversations == [] and tab.page.messages == [] and tab.conversation.added == []
    shows_nothing_of_alice(tab)


# --- one's own conversations ----------------------------------------------------------------


async def test_own_conversation_opens_with_its_agent(app_db, two_users):
    tab = Tab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(AgentState.load_agents)
    assert tab.agents.selected_agent_id == AGENTS[0].id
    await tab.run(ChatState.load_page)
    assert not tab.conversation.not_found
    assert [m.content for m in tab.page.messages] == [
        "What is the secret merger code?",
        "The code is BLUE-HERON-42.",
    ]
    assert not tab.page.has_earlier
    assert tab.agents.selected_agent_id == AGENTS[1].id  # the conversation remembers its agent
    await tab.run(AgentState.select_agent, AGENTS[0].id)
    assert snapshot(app_db, two_users["secret"])[1] == AGENTS[0].id


async def test_rename_and_delete_own_conversation(app_db, two_users):
    tab = Tab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(ChatState.load_page)
    await tab.run(SidebarState.ask_rename, two_users["secret"])
    assert tab.sidebar.rename_title == "Alice's merger plan"
    await tab.run(SidebarState.set_rename_title, "  Q3   plans ")
    await tab.run(SidebarState.confirm_rename)
    assert snapshot(app_db, two_users["secret"])[0] == "Q3 plans"
    assert tab.conversation.conversation_title == "Q3 plans"
    assert [c.title for c in tab.sidebar.conversations] == ["Q3 plans"]
    await tab.run(SidebarState.ask_delete, two_users["secret"])
    assert tab.sidebar.delete_title == "Q3 plans"
    await tab.run(SidebarState.cancel_delete)
    assert snapshot(app_db, two_users["secret"])[0] == "Q3 plans"
    await tab.run(SidebarState.ask_delete, two_users["secret"])
    result = await tab.run(SidebarState.confirm_delete)
    assert snapshot(app_db, two_users["secret"]) == (None, None, [])
    assert tab.sidebar.conversations == []
    assert "/chat" in str(result)


async def test_search_matches_titles_and_message_text(app_db, two_users):
    conversation_of(app_db, two_users["a"], "Lunch", [("user", "Where to eat?"), ("assistant", "Try the bibimbap.")])
    tab = Tab(two_users["a_token"])
    await tab.run(SidebarState.set_search_query, "BIBIMBAP")
    assert [c.title for c in tab.sidebar.conversations] == ["Lunch"]
    await tab.run(SidebarState.set_search_query, "merger")
    assert [c.title for c in tab.sidebar.conversations] == ["Alice's merger plan"]
    await tab.run(SidebarState.set_search_query, "100%")
    assert tab.sidebar.conversations == []


async def test_send_saves_the_question_titled_from_it_and_keeps_the_job_on_the_server(app_db, two_users):
    tab = Tab(two_users["b_token"])
    await tab.run(AgentState.load_agents)
    question = "How do I rotate the API keys of our staging cluster safely?"
    events = await tab.run(ConversationState.send_message, {"message": question})
    conversation_id = tab.conversation.conversation_id
    assert tab.live.streaming and conversation_id and tab.live.live_conversation_id == conversation_id
    assert "/chat/" in str(events)  # a new conversation gets its own URL
    assert "stream_answer" in str(events)
    with Session(app_db) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation.user_id == two_users["b"]
        assert conversation.title == "How do I rotate the API keys…"
    stored = stored_messages(app_db, two_users["b"], conversation_id)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", question, "complete"),
        ("assistant", "", "streaming"),
    ]
    # The question, and the entry its answer streams into (shown from the page's buffer).
    assert [(m.role, m.content, m.live) for m in tab.conversation.added] == [
        ("user", question, False),
        ("assistant", "", True),
    ]
    assert [c.title for c in tab.sidebar.conversations] == ["How do I rotate the API keys…"]
    job = answers.handed(tab.live.live_id)
    assert isinstance(job, answers.AnswerJob)
    assert job.message_id == stored[1].id == tab.live.live_id and job.contents[-1] == question
    assert job.user_id == two_users["b"] and job.agent_id == AGENTS[0].id
    # The job (who asks, the history) is a backend var: never part of what the browser receives.
    sent = repr(tab.root.dict())
    assert "_job" not in sent and "bob@example.com" not in sent
    # A second question while this one streams is refused with a reason, and given back.
    result = await tab.run(ConversationState.send_message, {"message": "and another"})
    assert "another" in str(result)
    assert tab.chat.alert_text.startswith("An answer is still being written")
    assert len(stored_messages(app_db, two_users["b"], conversation_id)) == 2


async def test_edit_asks_again_in_place_of_the_question_and_keeps_the_old_one_as_a_version(app_db, two_users):
    cid = conversation_of(
        app_db,
        two_users["a"],
        "Trip",
        [("user", "Plan Busan"), ("assistant", "Day 1..."), ("user", "Add Gyeongju"), ("assistant", "Day 3...")],
    )
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.start_edit, 0)
    assert tab.conversation.edit_text == "Plan Busan"
    await tab.run(ConversationState.set_edit_text, "Plan Jeju")
    await tab.run(ConversationState.save_edit)
    assert tab.conversation.editing_seq == -1 and tab.live.streaming
    assert tab.page.messages == []
    assert [(m.role, m.content) for m in tab.conversation.added] == [("user", "Plan Jeju"), ("assistant", "")]
    assert [(m.version, m.versions) for m in tab.conversation.added] == [(2, 2), (0, 0)]
    assert snapshot(app_db, cid)[2] == [
        (0, "user", "Plan Busan", "complete", "kept"),
        (0, "user", "Plan Jeju", "complete"),
        (1, "assistant", "Day 1...", "complete", "kept"),
        (1, "assistant", "", "streaming"),
        (2, "user", "Add Gyeongju", "complete", "kept"),
        (3, "assistant", "Day 3...", "complete", "kept"),
    ]
    assert answers.handed(tab.live.live_id).contents == ("Plan Jeju",)  # asked again with the edited history


async def test_regenerate_asks_the_last_question_again_and_keeps_the_old_answer_as_a_version(app_db, two_users):
    cid = conversation_of(
        app_db,
        two_users["a"],
        "Trip",
        [("user", "Plan Busan"), ("assistant", "Day 1..."), ("user", "Add Gyeongju"), ("assistant", "Day 3...")],
    )
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.regenerate)
    assert snapshot(app_db, cid)[2] == [
        (0, "user", "Plan Busan", "complete"),
        (1, "assistant", "Day 1...", "complete"),
        (2, "user", "Add Gyeongju", "complete"),
        (3, "assistant", "Day 3...", "complete", "kept"),
        (3, "assistant", "", "streaming"),
    ]
    assert [m.content for m in tab.page.messages] == ["Plan Busan", "Day 1...", "Add Gyeongju"]
    assert [(m.role, m.content, m.version, m.versions) for m in tab.conversation.added] == [("assistant", "", 2, 2)]
    job = answers.handed(tab.live.live_id)
    assert job.contents[-1] == "Add Gyeongju" and "Day 1..." in job.contents[-2]


def with_two_answers(engine, user_id: int) -> int:
    """ "Plan Busan" answered twice ("Day 1..." was regenerated into "Day 1, again"), then a follow-up."""
    cid = conversation_of(engine, user_id, "Trip", [("user", "Plan Busan"), ("assistant", "Day 1...")])
    with Session(engine, expire_on_commit=False) as session:
        conv_repo.retire_from(session=session, user_id=user_id, conversation_id=cid, seq=1)
        for role, text in (("assistant", "Day 1, again"), ("user", "And Gyeongju?"), ("assistant", "Day 2...")):
            conv_repo.add_message(session=session, user_id=user_id, conversation_id=cid, role=role, content=text)
        session.commit()
    return cid


def shown_versions(tab: Tab) -> list[tuple[str, int, int]]:
    return [(m.content, m.version, m.versions) for m in [*tab.page.messages, *tab.conversation.added]]


async def test_previous_and_next_version_switch_the_answer_and_what_follows_it(app_db, two_users):
    cid = with_two_answers(app_db, two_users["a"])
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(ChatState.load_page)
    assert shown_versions(tab) == [
        ("Plan Busan", 0, 0),
        ("Day 1, again", 2, 2),
        ("And Gyeongju?", 0, 0),
        ("Day 2...", 0, 0),
    ]
    second = tab.page.messages[1].id
    await tab.run(ConversationState.show_version, second, -1)
    # The first answer had nothing after it: the conversation continues from it.
    assert shown_versions(tab) == [("Plan Busan", 0, 0), ("Day 1...", 1, 2)]
    assert tab.conversation.last_answer_seq == 1
    await tab.run(ConversationState.show_version, tab.page.messages[1].id, 1)
    assert [c for c, *_ in shown_versions(tab)] == ["Plan Busan", "Day 1, again", "And Gyeongju?", "Day 2..."]
    # The history sent with the next question is the version on screen.
    await tab.run(AgentState.load_agents)
    await tab.run(ConversationState.show_version, tab.page.messages[1].id, -1)
    await tab.run(ConversationState.send_message, {"message": "Only Busan then"})
    assert answers.handed(tab.live.live_id).contents == ("Plan Busan", "Day 1...", "Only Busan then")
    # While it is written, no version is switched.
    before = snapshot(app_db, cid)
    await tab.run(ConversationState.show_version, tab.page.messages[1].id, 1)
    assert tab.chat.alert_text.startswith("An answer is still being written") and snapshot(app_db, cid) == before


async def test_asking_in_a_chat_changed_in_another_tab_saves_nothing_and_gives_the_text_back(app_db, two_users):
    cid = with_two_answers(app_db, two_users["a"])
    first, second = Tab(two_users["a_token"], f"/chat/{cid}"), Tab(two_users["a_token"], f"/chat/{cid}")
    for tab in (first, second):
        await tab.run(ChatState.load_page)
        await tab.run(AgentState.load_agents)
    for handler, args, step, now_shown in (
        (ConversationState.send_message, ({"message": "Next?"},), -1, ["Plan Busan", "Day 1..."]),
        (ConversationState.regenerate, (), 1, ["Plan Busan", "Day 1, again", "And Gyeongju?", "Day 2..."]),
        (ConversationState.send_message, ({"message": "Next?"},), -1, ["Plan Busan", "Day 1..."]),
    ):
        await second.run(ConversationState.show_version, second.page.messages[1].id, step)
        before = snapshot(app_db, cid)
        events = await first.run(handler, *args)
        assert first.chat.alert_text.startswith("This chat was changed in another window"), handler.fn.__name__
        assert snapshot(app_db, cid) == before and not first.live.streaming
        # Shown as it is now, and what was typed is back in the message box.
        assert [m.content for m in first.page.messages] == now_shown
        assert ("Next?" in str(events)) == (handler is ConversationState.send_message)
    # An edit of a question the other tab has taken off the screen.
    await second.run(ConversationState.show_version, second.page.messages[1].id, 1)
    await first.run(ChatState.load_page)
    await first.run(ConversationState.start_edit, 2)
    await first.run(ConversationState.set_edit_text, "And Daegu?")
    await second.run(ConversationState.show_version, second.page.messages[1].id, -1)
    before = snapshot(app_db, cid)
    events = await first.run(ConversationState.save_edit)
    assert first.chat.alert_text.startswith("This chat was changed") and snapshot(app_db, cid) == before
    assert "And Daegu?" in str(events) and [m.content for m in first.page.messages] == ["Plan Busan", "Day 1..."]
    await first.run(ChatState.dismiss_alert)
    await first.run(ConversationState.send_message, {"message": "Next?"})
    assert first.chat.alert_text == "" and first.live.streaming
    assert answers.handed(first.live.live_id).contents == ("Plan Busan", "Day 1...", "Next?")


async def test_a_version_of_another_users_or_an_odd_id_is_not_found_and_changes_nothing(app_db, two_users):
    cid = with_two_answers(app_db, two_users["a"])
    before = snapshot(app_db, cid)
    alices = Tab(two_users["a_token"], f"/chat/{cid}")
    await alices.run(ChatState.load_page)
    hers = alices.page.messages[1].id
    tab = Tab(two_users["b_token"], "/chat")
    await tab.run(ChatState.load_page)
    for message_id, step in ((hers, -1), ("abc", -1), (10**30, 1), (-5, 1), (None, 1), (hers, "x")):
        await tab.run(ConversationState.show_version, message_id, step)
        assert tab.chat.alert_text == NOT_FOUND, (message_id, step)
        await tab.run(ChatState.dismiss_alert)
    # Alice herself: an odd step does nothing; a version that is not on her page is not found.
    await alices.run(ConversationState.show_version, hers, "x")
    await alices.run(ConversationState.show_version, hers, 1)  # already the last version
    assert alices.chat.alert_text == NOT_FOUND
    assert snapshot(app_db, cid) == before
    assert "Day 1" not in tab.held() and "Busan" not in tab.held()


# --- pages: long conversations and many conversations ----------------------------------------


async def test_show_earlier_still_works_after_editing_the_first_question_on_the_page(app_db, two_users, agents):
    cid = long_conversation(app_db, two_users["a"], 120)
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.start_edit, 70)
    await tab.run(ConversationState.set_edit_text, "Asked again")
    await tab.run(ConversationState.save_edit)
    assert tab.page.messages == [] and tab.page.has_earlier
    await tab.run(ConversationState.show_earlier)
    assert [m.seq for m in tab.page.messages] == list(range(20, 70))


async def test_an_edit_refused_keeps_the_edited_text(app_db, two_users, agents):
    cid = long_conversation(app_db, two_users["a"], 4)
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.start_edit, 2)
    await tab.run(ConversationState.set_edit_text, "x" * 20_001)
    await tab.run(ConversationState.save_edit)
    assert tab.conversation.editing_seq == 2 and len(tab.conversation.edit_text) == 20_001
    assert "too long" in tab.chat.alert_text


async def test_stop_before_the_answer_starts_ends_it_and_the_tab(app_db, two_users, agents):
    """Stop pressed between the question being saved and the background event taking its job:
    the answer never starts, is saved as stopped, and the tab does not stay "streaming"."""
    tab = Tab(two_users["a_token"])
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.send_message, {"message": "Never mind"})
    answer_id = tab.live.live_id
    await tab.run(LiveAnswerState.stop_generating)
    assert answers.handed(answer_id) is None
    async for _ in tab.stream(LiveAnswerState.stream_answer):
        pass
    assert not tab.live.streaming and tab.live.live_status == "stopped"
    saved = next(
        m for m in stored_messages(app_db, two_users["a"], tab.conversation.conversation_id) if m.id == answer_id
    )
    assert saved.status == "stopped"


async def test_a_long_conversation_opens_at_its_newest_page_and_shows_earlier_ones(app_db, two_users):
    cid = long_conversation(app_db, two_users["a"], 120)
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(ChatState.load_page)
    conversation = tab.conversation
    page = tab.page
    assert [m.seq for m in page.messages] == list(range(70, 120))
    assert page.messages[-1].content.startswith("message 119")
    assert page.has_earlier and conversation.added == []
    await tab.run(ConversationState.show_earlier)
    assert [m.seq for m in page.messages] == list(range(20, 120))
    assert page.has_earlier
    await tab.run(ConversationState.show_earlier)
    assert [m.seq for m in page.messages] == list(range(120))
    assert not page.has_earlier
    # The same conversation in another user's tab: not found, and nothing of it.
    other = Tab(two_users["b_token"], f"/chat/{cid}")
    await other.run(ChatState.load_page)
    assert other.conversation.not_found and other.page.messages == [] and not other.page.has_earlier
    assert "message 119" not in other.held()


async def test_sidebar_lists_a_page_at_a_time_and_search_starts_again(app_db, two_users):
    many_conversations(app_db, two_users["b"], 70)
    tab = Tab(two_users["b_token"])
    await tab.run(ChatState.load_page)
    sidebar = tab.sidebar
    assert len(sidebar.conversations) == 30 and sidebar.has_more
    assert [c.title for c in sidebar.conversations[:2]] == ["Chat 69", "Chat 68"]  # newest first
    await tab.run(SidebarState.show_more)
    assert len(sidebar.conversations) == 60 and sidebar.has_more
    assert sidebar.conversations[-1].title == "Chat 10"
    await tab.run(SidebarState.set_search_query, "chat")
    assert len(sidebar.conversations) == 30 and sidebar.has_more  # the first page of the results
    await tab.run(SidebarState.show_more)
    await tab.run(SidebarState.show_more)
    assert len(sidebar.conversations) == 70 and not sidebar.has_more
    await tab.run(SidebarState.set_search_query, "Chat 07")
    assert [c.title for c in sidebar.conversations] == ["Chat 07"] and not sidebar.has_more
    assert "merger" not in tab.held()


async def test_a_refresh_with_nothing_changed_does_not_resend_the_sidebar(app_db, two_users):
    many_conversations(app_db, two_users["b"], 70)
    tab = Tab(two_users["b_token"])
    await tab.run(ChatState.load_page)
    assert len(tab.sidebar.conversations) == 30
    tab.clean()
    await tab.run(ChatState.load_page)
    assert "conversations" not in tab.sidebar.dirty_vars
    assert tab.sent(SidebarState) == set()
    # A change in its rows does send it again.
    await tab.run(SidebarState.show_more)
    assert "conversations" in tab.sent(SidebarState)


async def test_asking_in_a_long_conversation_sends_only_the_question(app_db, two_users):
    cid = long_conversation(app_db, two_users["a"], 120, "x" * 500)
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    shown = list(tab.page.messages)
    tab.clean()
    events = await tab.run(ConversationState.send_message, {"message": "What about message 3?"})
    assert "stream_answer" in str(events) and "/chat/" not in str(events)  # no new URL
    conversation = tab.conversation
    assert [(m.role, m.content, m.seq) for m in conversation.added] == [
        ("user", "What about message 3?", 120),
        ("assistant", "", 121),
    ]
    # The page of 50 is neither sent again nor (being a substate of its own) written to Redis.
    assert tab.page.messages == shown and not tab.page.dirty_vars
    assert tab.sent(MessagePageState) == set() and "added" in tab.sent(ConversationState)
    answer = stored_messages(app_db, two_users["a"], cid)[-1]
    assert (answer.seq, answer.role, answer.status) == (121, "assistant", "streaming")
    assert tab.live.streaming and tab.live.live_id == answer.id and tab.live.live_conversation_id == cid
    job = answers.handed(tab.live.live_id)
    assert isinstance(job, answers.AnswerJob) and job.message_id == answer.id
    assert "What about message 3?" in job.contents and job.question_seq == 120


# --- the live answer -------------------------------------------------------------------------


async def test_resync_sends_the_saved_text_of_an_answer_that_has_ended(app_db, two_users):
    tab = Tab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.send_message, {"message": "And the backup code?"})
    answer_id = tab.live.live_id
    # The answer ended without this tab (on another worker, or before a reload): saved, complete.
    with Session(app_db) as session:
        conv_repo.update_message(
            session=session,
            user_id=two_users["a"],
            message_id=answer_id,
            content='The backup code is "GREY-OWL-7".',
            status="complete",
        )
        session.commit()
    assert await answers.snapshot(answer_id) is None  # running nowhere
    for streaming in (True, False):  # while the tab still streams it, and after it ended there
        tab.live.streaming = streaming
        js = js_of(await tab.run(LiveAnswerState.resync, f"{answer_id}:1700000000"))
        assert js.startswith(f"window.fabrixLive&&fabrixLive.reset({answer_id},") and "GREY-OWL-7" in js, js
    # An answer that ended in this tab is still its own, listed with this visit's messages.
    tab.live.live_id = 0
    tab.conversation.added = [*tab.conversation.added, MessageView(id=answer_id, seq=3, role="assistant", live=True)]
    assert "GREY-OWL-7" in js_of(await tab.run(LiveAnswerState.resync, str(answer_id)))


async def test_a_bug_in_the_answer_path_still_ends_the_answer_with_a_plain_message(app_db, two_users, monkeypatch):
    """run_answer raising (a bug, not an upstream failure) must not leave the tab streaming for
    ever, nor lose the text saved so far."""

    async def broken(job, view, **_kw):
        await view.show(1, "Saved so far", None)
        await answers.save_answer(job, "Saved so far", "streaming")
        raise RuntimeError("a bug")

    monkeypatch.setattr(answers, "run_answer", broken)
    tab = Tab(two_users["a_token"])
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.send_message, {"message": "Go"})
    async for _ in tab.stream(LiveAnswerState.stream_answer):
        pass
    assert not tab.live.streaming
    assert tab.chat.alert_text == "Something went wrong. Try again." and tab.chat.alert_retry
    answer = stored_messages(app_db, two_users["a"], tab.conversation.conversation_id)[-1]
    assert (answer.status, answer.content, answer.error) == (
        "error",
        "Saved so far",
        "Something went wrong. Try again.",
    )


async def test_an_answer_ending_while_redis_is_down_is_shown_once_it_is_back(app_db, two_users, monkeypatch):
    """Redis (the tabs' state store) restarting as the answer ends: the tab must not stay
    "streaming" (its message box disabled until a reload); its end is shown once Redis answers."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def run_answer(job, view, **_kw):
        await view.show(1, "The whole answer.", None)
        await answers.save_answer(job, "The whole answer.", "complete")
        return answers.AnswerEnd("The whole answer.", "complete", parts=1)

    real_show_end = LiveAnswerState._show_end
    refusals = [2]

    async def redis_down_at_first(self, job, end):
        if refusals[0]:
            refusals[0] -= 1
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await real_show_end(self, job, end)

    monkeypatch.setattr(answers, "run_answer", run_answer)
    monkeypatch.setattr(LiveAnswerState, "_show_end", redis_down_at_first)
    monkeypatch.setattr(live_answer_module, "STATE_STORE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    tab = Tab(two_users["a_token"])
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.send_message, {"message": "Go"})
    async for _ in tab.stream(LiveAnswerState.stream_answer):
        pass
    assert refusals == [0]
    assert not tab.live.streaming and tab.live.live_status == "complete"


@pytest.mark.parametrize("lost", ["the question", "everything"])
async def test_an_answer_whose_start_the_tab_state_lost_ends_with_the_saved_conversation(
    app_db, two_users, monkeypatch, lost
):
    """Reflex keeps a busy tab's state in memory for a few seconds before writing it to Redis;
    Redis failing meanwhile loses the question's event, and the tab is back to before it (or, for
    a tab that new, to nothing) although the page shows the answer streaming. Its end shows the
    conversation as the database has it."""
    tab = Tab(two_users["a_token"])
    lost_state: dict[str, Any] = {}

    async def run_answer(job, view, **_kw):
        await view.show(1, f"Answer to {job.contents[-1]}.", None)
        await answers.save_answer(job, f"Answer to {job.contents[-1]}.", "complete")
        if lost_state and lost == "the question":  # Redis came back with the tab as before it
            tab.live.live_id, tab.live.streaming = lost_state["live_id"], False
            tab.conversation.added = lost_state["added"]
        elif lost_state:  # nothing of the tab had reached Redis
            tab.get(AuthState)._user_id = 0
            tab.live.live_id, tab.live.streaming = 0, False
            tab.conversation.conversation_id, tab.conversation.added = 0, []
        return answers.AnswerEnd(f"Answer to {job.contents[-1]}.", "complete", parts=1)

    monkeypatch.setattr(answers, "run_answer", run_answer)
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.send_message, {"message": "First"})
    async for _ in tab.stream(LiveAnswerState.stream_answer):
        pass
    cid = tab.conversation.conversation_id
    lost_state.update(live_id=tab.live.live_id, added=list(tab.conversation.added))
    await tab.run(ConversationState.send_message, {"message": "Second"})
    second = tab.live.live_id
    tab.clean()
    async for _ in tab.stream(LiveAnswerState.stream_answer):
        pass
    assert "streaming" in tab.sent(LiveAnswerState) and not tab.live.streaming  # the page stops streaming
    assert tab.live.live_id == second
    shown = [(m.role, m.content) for m in [*tab.page.messages, *tab.conversation.added]]
    assert shown == [
        ("user", "First"),
        ("assistant", "Answer to First."),
        ("user", "Second"),
        ("assistant", "Answer to Second."),
    ]
    assert tab.conversation.conversation_id == cid


async def test_a_streamed_batch_changes_no_state_var(app_db, two_users, monkeypatch):
    """Reflex sends every changed var whole: a batch is pushed as its added text instead, so it
    costs about its own size, whatever the size of the conversation."""
    batches = ["The answer ", "so far", ", and the rest."]

    async def run_answer(job, view, **_kw):
        for part, text in enumerate(batches, start=1):
            await view.show(part, text, "Searching documents..." if part == 1 else None)
            await asyncio.sleep(0)
        await answers.save_answer(job, "".join(batches), "complete")
        return answers.AnswerEnd("".join(batches), "complete", parts=len(batches))

    monkeypatch.setattr(answers, "run_answer", run_answer)
    cid = long_conversation(app_db, two_users["a"], 120, "x" * 2000)
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.send_message, {"message": "Summarise it"})
    answer_id = tab.live.live_id
    tab.clean()
    stream = tab.stream(LiveAnswerState.stream_answer)
    pushed: list[str] = []
    async for event in stream:  # the batches, then its end (the answer joins this visit's messages)
        pushed.append(js_of(event))
        assert len(pushed[-1]) < 300, pushed[-1]
        if not tab.live.streaming:
            break
        for state_cls in CHAT_STATES:
            assert tab.sent(state_cls) == set(), state_cls.__name__
    async for _ in stream:
        pass
    assert f"fabrixLive.push({answer_id},1," in pushed[0] and f',{len(batches)},"' in pushed[-1]
    assert all(f"fabrixLive.push({answer_id}," in js for js in pushed)
    assert all(text in "".join(pushed) for text in [*batches, "Searching documents..."])
    assert not tab.live.streaming and tab.live.live_id == answer_id
    last = tab.conversation.added[-1]
    assert (last.id, last.role, last.live, last.content) == (answer_id, "assistant", True, "")
    # Its end is a few values of LiveAnswerState; the text is the page's already, and neither the
    # page of messages nor this visit's list is sent again.
    assert (tab.live.live_status, tab.live.live_parts) == ("complete", len(batches))
    assert tab.sent(ConversationState) == set() and tab.sent(MessagePageState) == set()
    # The next question writes how it ended into its entry.
    await tab.run(ConversationState.send_message, {"message": "And then?"})
    ended = next(m for m in tab.conversation.added if m.id == answer_id)
    assert (ended.status, ended.parts) == ("complete", len(batches))
    saved = next(m for m in stored_messages(app_db, two_users["a"], cid) if m.id == answer_id)
    assert saved.content == "".join(batches)


# --- agents ---------------------------------------------------------------------------------


async def test_unreachable_fabrix_gives_an_agents_alert_with_retry(app_db, two_users, monkeypatch):
    from fabrix_chat.fabrix import errors as fx

    async def unreachable(refresh: bool = False, **_kw):
        raise fx.FabrixNetworkError("connection refused")

    monkeypatch.setattr(chat_service, "list_agents", unreachable)
    tab = Tab(two_users["a_token"])
    await tab.run(AgentState.load_agents)
    assert tab.agents.agents == [] and not tab.agents.agents_loading
    assert tab.chat.alert_text.startswith("Could not load the agents") and tab.chat.alert_retry
    event = await tab.run(ChatState.retry)
    assert "load_agents" in str(event) and tab.chat.alert_text == ""


async def test_no_agents_gives_an_alert_with_retry_and_a_refresh_clears_it(app_db, two_users, monkeypatch):
    answers_given: list[list[Agent]] = [[], AGENTS]

    async def listing(refresh: bool = False, **_kw):
        return answers_given.pop(0)

    monkeypatch.setattr(chat_service, "list_agents", listing)
    tab = Tab(two_users["a_token"])
    await tab.run(AgentState.load_agents)
    assert tab.chat.alert_text == "No agents are available." and tab.chat.alert_retry
    await tab.run(AgentState.load_agents, True)
    assert tab.chat.alert_text == "" and tab.agents.selected_agent_id == AGENTS[0].id


async def test_agent_list_is_cached_until_refreshed(monkeypatch):
    calls: list[int] = []

    class FakeClient:
        async def list_agents(self):
            calls.append(1)
            return AGENTS

    monkeypatch.setattr(chat_service, "get_client", lambda: FakeClient())
    monkeypatch.setattr(chat_service, "_agents_cache", None)

    async def no_usage(*_a, **_kw):
        return None

    monkeypatch.setattr(chat_service, "_record_agents_call", no_usage)
    assert await chat_service.list_agents() == AGENTS
    assert await chat_service.list_agents() == AGENTS
    assert len(calls) == 1
    await chat_service.list_agents(refresh=True)
    assert len(calls) == 2


# --- history grouping and titles ------------------------------------------------------------


def test_conversations_are_grouped_by_date_newest_first():
    now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC).astimezone()
    rows = [
        Conversation(id=1, user_id=1, title="a", updated_at=now - timedelta(minutes=5)),
        Conversation(id=2, user_id=1, title="b", updated_at=now - timedelta(hours=1)),
        Conversation(id=3, user_id=1, title="c", updated_at=now - timedelta(days=1)),
        Conversation(id=4, user_id=1, title="d", updated_at=now - timedelta(days=3)),
        Conversation(id=5, user_id=1, title="e", updated_at=now - timedelta(days=30)),
        Conversation(id=6, user_id=1, title="", updated_at=now - timedelta(days=31)),
    ]
    items = conversation_items(rows, "en", now=now)
    assert [(i.group, i.group_start) for i in items] == [
        ("Today", True),
        ("Today", False),
        ("Yesterday", True),
        ("Previous 7 days", True),
        ("Older", True),
        ("Older", False),
    ]
    assert items[0].id == 1 and items[5].title == "New chat"
    assert [i.group for i in conversation_items(rows[:1], "ko", now=now)] == ["오늘"]


def test_titles_come_from_the_first_question():
    assert conv_repo.make_title("  Explain\n Python   decorators ") == "Explain Python decorators"
    long = conv_repo.make_title("How do I rotate the API keys of our staging cluster safely?")
    assert len(long) <= 30 and long.endswith("…")


# --- another user on the same tab ---------------------------------------------------------------


async def kims_tab_while_answering(engine) -> tuple[Tab, int]:
    """Kim's tab with a conversation open, a file attached and an answer streaming; Kim's id."""
    kim_id, kim_token = signed_in(engine, "kim")
    cid = conversation_of(engine, kim_id, "Kim's secret plan", [("user", "hello"), ("assistant", "hi")])
    tab = Tab(kim_token, f"/chat/{cid}")
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.send_message, {"message": "Kim's private question"})
    assert tab.live.streaming and tab.live.live_id
    kim_file = file_service.user_dir(kim_id) / "notes.txt"
    kim_file.write_text("kim's file", encoding="utf-8")
    tab.composer._pending_file = StoredFile(path=str(kim_file), name="notes.txt", size=10, content_type="text/plain")
    tab.composer.attachment_name = "notes.txt"
    assert [c.title for c in tab.sidebar.conversations] == ["Kim's secret plan"]
    return tab, kim_id


def holds_nothing_of_kim(tab: Tab) -> None:
    held = tab.held()
    for leak in ("Kim's secret plan", "Kim's private question", "notes.txt", "kim@example.com"):
        assert leak not in held, f"{leak!r} stayed in the tab"
    assert (
        answers.handed(tab.live.live_id) is None
        and tab.composer._pending_file is None
        and tab.composer._retry_file is None
    )


async def test_when_another_user_signs_in_on_the_tab_nothing_of_the_first_stays(app_db, agents, stops):
    tab, _ = await kims_tab_while_answering(app_db)
    kims_answer = tab.live.live_id
    _, lee_token = signed_in(app_db, "lee")

    # Kim's session ends without Log out; Lee signs in in the same tab (its state tree stays).
    tab.visit("/chat", token=lee_token)
    await tab.run(ChatState.load_page)
    assert tab.chat.username == "lee"
    assert stops == [kims_answer], "Kim's answer stops streaming into the tab"
    assert not tab.live.streaming and tab.live.live_id == 0
    assert tab.page.messages == [] and tab.conversation.added == [] and tab.conversation.conversation_id == 0
    assert tab.sidebar.conversations == [] and tab.composer.attachment_name == ""
    holds_nothing_of_kim(tab)


async def test_an_answer_stops_reaching_the_tab_once_another_user_has_it(app_db, agents, monkeypatch):
    gates = [asyncio.Event(), asyncio.Event()]

    async def upstream(job, update):
        update(text="Kim's first words.")
        await gates[0].wait()
        update(text=" Kim's next words.")
        await gates[1].wait()
        update(text=" Kim's last words.")
        await asyncio.sleep(3600)

    monkeypatch.setattr(answers, "consume_answer", upstream)
    # The real answer, gathering batches for a second so the reset surely falls inside a gathering.
    monkeypatch.setattr(answers, "run_answer", functools.partial(REAL_RUN_ANSWER, batch_interval=1.0))
    tab, _ = await kims_tab_while_answering(app_db)
    _, lee_token = signed_in(app_db, "lee")
    pushed: list[tuple[bool, str]] = []  # (sent after the reset, the script)
    reset = False

    arrived = asyncio.Event()

    async def the_page():
        async for event in tab.stream(LiveAnswerState.stream_answer):
            pushed.append((reset, js_of(event)))
            arrived.set()

    async def until_pushed(text: str) -> None:
        while not any(text in js for _, js in pushed):
            arrived.clear()
            await arrived.wait()

    page = asyncio.create_task(the_page())
    await asyncio.wait_for(until_pushed("Kim's first words."), 5)
    gates[0].set()
    await asyncio.wait_for(until_pushed("Kim's next words."), 5)
    gates[1].set()  # the last words arrive while the next batch gathers
    await asyncio.sleep(0.05)
    # Kim's session ends; Lee signs in on the same tab: Kim's answer is stopped and its tab reset.
    tab.visit("/chat", token=lee_token)
    await tab.run(ChatState.load_page)
    reset = True
    await asyncio.wait_for(page, 5)
    assert tab.chat.username == "lee"
    assert [js for after, js in pushed if after and "Kim's" in js] == []


async def test_log_out_resets_every_substate_and_stops_the_answer(app_db, agents, stops):
    tab, _ = await kims_tab_while_answering(app_db)
    kims_answer = tab.live.live_id
    result = await tab.run(AuthState.log_out)
    assert "/auth/logout" in str(result)
    assert stops == [kims_answer]
    fresh = Tab("")
    for state_cls in (AuthState, *CHAT_STATES):
        assert own_values(tab.get(state_cls)) == own_values(fresh.get(state_cls)), state_cls.__name__
    holds_nothing_of_kim(tab)


async def test_a_file_from_another_users_folder_is_never_sent(app_db, agents):
    kim_id, _ = signed_in(app_db, "kim")
    _, lee_token = signed_in(app_db, "lee")
    kim_file = file_service.user_dir(kim_id) / "kim.txt"
    kim_file.write_text("kim's file", encoding="utf-8")
    tab = Tab(lee_token)
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    tab.composer._pending_file = StoredFile(path=str(kim_file), name="kim.txt", size=10, content_type="text/plain")
    await tab.run(ConversationState.send_message, {"message": "summarise"})
    assert tab.chat.alert_text.startswith("The file of that question is no longer kept")
    assert tab.conversation.added == [] and tab.composer._pending_file is None and not tab.live.streaming
    assert kim_file.exists(), "and it is not touched"


async def test_retry_after_an_answer_that_failed_before_any_text_keeps_no_empty_version(app_db, two_users):
    cid = conversation_of(app_db, two_users["a"], "Trip", [("user", "Plan Busan")])
    with Session(app_db, expire_on_commit=False) as session:
        conv_repo.add_message(
            session=session, user_id=two_users["a"], conversation_id=cid, role="assistant", content="", status="error"
        )
        session.commit()
    tab = Tab(two_users["a_token"], f"/chat/{cid}")
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    await tab.run(ConversationState.regenerate)
    assert snapshot(app_db, cid)[2] == [(0, "user", "Plan Busan", "complete"), (1, "assistant", "", "streaming")]
    assert [(m.version, m.versions) for m in tab.conversation.added] == [(0, 0)]
