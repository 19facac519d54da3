"""The chat page's event handlers called directly, without a browser.

How: under pytest Reflex allows building the state tree by hand (`rx.State(_reflex_internal_init=True)`
creates the root with every substate), the handler's function is `ChatState.NAME.fn`, and the
database is a temp SQLite (`app_db`). User B's browser is a ChatState holding B's session token;
every handler is then called with user A's ids (and with A's ids forged into B's state, as a
tampered client could not do but a bug might): nothing of A's shows, and A's data never changes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData
from sqlmodel import Session, select

from fabrix_chat.fabrix.client import Agent
from fabrix_chat.models import Conversation, Message
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import files as file_service
from fabrix_chat.state import chat as chat_state
from fabrix_chat.state.chat import ChatState, MessageView, conversation_items, message_view
from tests.conftest import session_headers

AGENTS = [
    Agent(id="520e8dd8-3b9c-4f1e-8a6d-1c2b3d4e5f60", label="General Assistant"),
    Agent(id="7c9e6679-7425-40de-944b-e07fc1f90ae7", label="Code Helper"),
]
NOT_FOUND = "Conversation not found."


def make_state(token: str = "", path: str = "/chat") -> ChatState:
    """A fresh state tree as one browser tab has it, with its session cookie and URL."""
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(ChatState.get_full_name().split(".")[1:])
    root.router = RouterData(url=ReflexURL(f"http://testserver{path}"), headers=session_headers(token))
    return state


async def call(handler, state: ChatState, *args):
    """Run an event handler's function the way Reflex does, returning what it returned."""
    result = handler.fn(state, *args)
    if asyncio.iscoroutine(result):
        result = await result
    return result


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


def snapshot(engine, conversation_id: int) -> tuple:
    """Everything stored about one conversation, to compare before and after."""
    with Session(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        messages = session.exec(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
        ).all()
        return (
            conversation.title if conversation else None,
            conversation.agent_id if conversation else None,
            [(m.seq, m.role, m.content, m.status) for m in messages],
        )


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


def shows_nothing_of_alice(state: ChatState) -> None:
    """B's state holds nothing of A's conversation."""
    dumped = repr(state.dict())
    for leak in ("merger", "BLUE-HERON", "secret merger code"):
        assert leak not in dumped, f"{leak!r} leaked into the other user's state"


# --- another user's conversation ------------------------------------------------------------


@pytest.mark.asyncio
async def test_page_of_another_users_conversation_is_not_found(app_db, two_users):
    state = make_state(two_users["b_token"], f"/chat/{two_users['secret']}")
    await call(ChatState.load_page, state)
    assert state.not_found
    assert state.messages == [] and state.conversation_title == "" and state.conversation_id == 0
    assert state.conversations == []
    shows_nothing_of_alice(state)


@pytest.mark.asyncio
async def test_delete_of_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    state = make_state(two_users["b_token"])
    await call(ChatState.ask_delete, state, two_users["secret"])
    assert state.delete_id == 0 and state.delete_title == ""
    assert state.alert_text == NOT_FOUND
    # Even with the id forged into the dialog, the delete does not happen.
    state.delete_id = two_users["secret"]
    await call(ChatState.confirm_delete, state)
    assert state.alert_text == NOT_FOUND
    assert snapshot(app_db, two_users["secret"]) == before
    shows_nothing_of_alice(state)


@pytest.mark.asyncio
async def test_rename_of_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    state = make_state(two_users["b_token"])
    await call(ChatState.ask_rename, state, two_users["secret"])
    assert state.rename_id == 0 and state.rename_title == ""
    assert state.alert_text == NOT_FOUND
    state.rename_id = two_users["secret"]
    state.rename_title = "pwned"
    await call(ChatState.confirm_rename, state)
    assert state.alert_text == NOT_FOUND
    assert snapshot(app_db, two_users["secret"]) == before


@pytest.mark.asyncio
async def test_agent_choice_for_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    state = make_state(two_users["b_token"])
    await call(ChatState.load_agents, state)
    state.conversation_id = two_users["secret"]
    await call(ChatState.select_agent, state, AGENTS[0].id)
    assert state.not_found
    assert snapshot(app_db, two_users["secret"]) == before


@pytest.mark.asyncio
async def test_asking_in_another_users_conversation_is_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    state = make_state(two_users["b_token"])
    await call(ChatState.load_agents, state)
    state.conversation_id = two_users["secret"]
    result = await call(ChatState.send_message, state, {"message": "Tell me the code again"})
    assert state.not_found and not state.streaming
    assert state._job == {}
    # The question is given back to the composer, not lost and not stored anywhere.
    assert "Tell me the code again" in str(result)
    assert snapshot(app_db, two_users["secret"]) == before
    with Session(app_db) as session:
        assert session.exec(select(Conversation).where(Conversation.user_id == two_users["b"])).all() == []


@pytest.mark.asyncio
async def test_regenerate_and_edit_in_another_users_conversation_are_not_found(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    with Session(app_db) as session:
        alice_messages = conv_repo.get_messages(
            session=session, user_id=two_users["a"], conversation_id=two_users["secret"]
        )
    for action in ("regenerate", "edit"):
        state = make_state(two_users["b_token"])
        await call(ChatState.load_agents, state)
        state.conversation_id = two_users["secret"]
        state.messages = [message_view(m) for m in alice_messages]
        if action == "regenerate":
            await call(ChatState.regenerate, state)
        else:
            await call(ChatState.start_edit, state, 0)
            await call(ChatState.set_edit_text, state, "Replace Alice's question")
            await call(ChatState.save_edit, state)
        assert state.not_found and state.messages == [] and not state.streaming, action
        assert snapshot(app_db, two_users["secret"]) == before, action


@pytest.mark.asyncio
async def test_search_never_finds_another_users_conversations(app_db, two_users):
    state = make_state(two_users["b_token"])
    for query in ("merger", "BLUE-HERON", ""):
        await call(ChatState.set_search_query, state, query)
        assert state.conversations == []


@pytest.mark.asyncio
async def test_stop_never_stops_another_users_answer(app_db, two_users):
    async def forever():
        await asyncio.sleep(3600)

    task = asyncio.create_task(forever())
    chat_state._RUNNING[987654] = chat_state._Running(user_id=two_users["a"], task=task)
    try:
        state = make_state(two_users["b_token"])
        state._stream_message_id = 987654
        await call(ChatState.stop_generating, state)
        await asyncio.sleep(0)
        assert not task.cancelled()
    finally:
        chat_state._RUNNING.pop(987654, None)
        task.cancel()


@pytest.mark.asyncio
async def test_stream_answer_takes_nothing_from_the_browser(app_db, two_users):
    """The background event that streams has no parameters: a browser cannot hand it a job."""
    assert list(ChatState.stream_answer._get_type_hints()) in ([], ["return"])


@pytest.mark.asyncio
async def test_signed_out_browser_is_sent_to_log_in_and_changes_nothing(app_db, two_users):
    before = snapshot(app_db, two_users["secret"])
    state = make_state("")
    state.delete_id = two_users["secret"]
    state.rename_id = two_users["secret"]
    state.rename_title = "pwned"
    state.conversation_id = two_users["secret"]
    for handler, args in (
        (ChatState.load_page, ()),
        (ChatState.ask_delete, (two_users["secret"],)),
        (ChatState.confirm_delete, ()),
        (ChatState.ask_rename, (two_users["secret"],)),
        (ChatState.confirm_rename, ()),
        (ChatState.select_agent, (AGENTS[0].id,)),
        (ChatState.set_search_query, ("merger",)),
        (ChatState.regenerate, ()),
        (ChatState.stop_generating, ()),
        (ChatState.load_agents, ()),
    ):
        result = await call(handler, state, *args)
        if handler is not ChatState.regenerate:  # nothing to regenerate: returns before the check
            assert "/login" in str(result), handler.fn.__name__
    result = await call(ChatState.send_message, state, {"message": "hello"})
    assert "/login" in str(result)
    assert snapshot(app_db, two_users["secret"]) == before
    assert state.conversations == [] and state.messages == []


# --- one's own conversations ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_own_conversation_opens_with_its_agent(app_db, two_users):
    state = make_state(two_users["a_token"], f"/chat/{two_users['secret']}")
    await call(ChatState.load_agents, state)
    assert state.selected_agent_id == AGENTS[0].id
    await call(ChatState.load_page, state)
    assert not state.not_found
    assert [m.content for m in state.messages] == ["What is the secret merger code?", "The code is BLUE-HERON-42."]
    assert state.selected_agent_id == AGENTS[1].id  # the conversation remembers its agent
    await call(ChatState.select_agent, state, AGENTS[0].id)
    assert snapshot(app_db, two_users["secret"])[1] == AGENTS[0].id


@pytest.mark.asyncio
async def test_rename_and_delete_own_conversation(app_db, two_users):
    state = make_state(two_users["a_token"], f"/chat/{two_users['secret']}")
    await call(ChatState.load_page, state)
    await call(ChatState.ask_rename, state, two_users["secret"])
    assert state.rename_title == "Alice's merger plan"
    await call(ChatState.set_rename_title, state, "  Q3   plans ")
    await call(ChatState.confirm_rename, state)
    assert snapshot(app_db, two_users["secret"])[0] == "Q3 plans"
    assert state.conversation_title == "Q3 plans"
    assert [c.title for c in state.conversations] == ["Q3 plans"]
    await call(ChatState.ask_delete, state, two_users["secret"])
    assert state.delete_title == "Q3 plans"
    await call(ChatState.cancel_delete, state)
    assert snapshot(app_db, two_users["secret"])[0] == "Q3 plans"
    await call(ChatState.ask_delete, state, two_users["secret"])
    result = await call(ChatState.confirm_delete, state)
    assert snapshot(app_db, two_users["secret"]) == (None, None, [])
    assert state.conversations == []
    assert "/chat" in str(result)


@pytest.mark.asyncio
async def test_search_matches_titles_and_message_text(app_db, two_users):
    conversation_of(app_db, two_users["a"], "Lunch", [("user", "Where to eat?"), ("assistant", "Try the bibimbap.")])
    state = make_state(two_users["a_token"])
    await call(ChatState.set_search_query, state, "BIBIMBAP")
    assert [c.title for c in state.conversations] == ["Lunch"]
    await call(ChatState.set_search_query, state, "merger")
    assert [c.title for c in state.conversations] == ["Alice's merger plan"]
    await call(ChatState.set_search_query, state, "100%")
    assert state.conversations == []


@pytest.mark.asyncio
async def test_send_saves_the_question_titled_from_it_and_keeps_the_job_on_the_server(app_db, two_users):
    state = make_state(two_users["b_token"])
    await call(ChatState.load_agents, state)
    question = "How do I rotate the API keys of our staging cluster safely?"
    events = await call(ChatState.send_message, state, {"message": question})
    assert state.streaming and state.conversation_id
    assert "/chat/" in str(events)  # a new conversation gets its own URL
    with Session(app_db) as session:
        conversation = session.get(Conversation, state.conversation_id)
        assert conversation.user_id == two_users["b"]
        assert conversation.title == "How do I rotate the API keys…"
        stored = conv_repo.get_messages(session=session, user_id=two_users["b"], conversation_id=conversation.id)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", question, "complete"),
        ("assistant", "", "streaming"),
    ]
    assert state._job["message_id"] == stored[1].id and state._job["contents"][-1] == question
    # The job (user ids, the history) is a backend var: never part of what the browser receives.
    assert "_job" not in repr(state.dict()) and "contents" not in repr(state.dict())
    # A second question while this one streams is refused with a reason, and given back.
    result = await call(ChatState.send_message, state, {"message": "and another"})
    assert "another" in str(result)
    assert state.alert_text.startswith("An answer is still being written")


@pytest.mark.asyncio
async def test_edit_replaces_the_question_and_everything_after_it(app_db, two_users):
    cid = conversation_of(
        app_db,
        two_users["a"],
        "Trip",
        [("user", "Plan Busan"), ("assistant", "Day 1..."), ("user", "Add Gyeongju"), ("assistant", "Day 3...")],
    )
    state = make_state(two_users["a_token"], f"/chat/{cid}")
    await call(ChatState.load_agents, state)
    await call(ChatState.load_page, state)
    await call(ChatState.start_edit, state, 0)
    assert state.edit_text == "Plan Busan"
    await call(ChatState.set_edit_text, state, "Plan Jeju")
    await call(ChatState.save_edit, state)
    assert state.editing_seq == -1 and state.streaming
    assert [m.content for m in state.messages] == ["Plan Jeju"]
    assert snapshot(app_db, cid)[2] == [(0, "user", "Plan Jeju", "complete"), (1, "assistant", "", "streaming")]
    assert state._job["contents"] == ["Plan Jeju"]  # asked again with the edited history


@pytest.mark.asyncio
async def test_regenerate_replaces_the_last_answer_only(app_db, two_users):
    cid = conversation_of(
        app_db,
        two_users["a"],
        "Trip",
        [("user", "Plan Busan"), ("assistant", "Day 1..."), ("user", "Add Gyeongju"), ("assistant", "Day 3...")],
    )
    state = make_state(two_users["a_token"], f"/chat/{cid}")
    await call(ChatState.load_agents, state)
    await call(ChatState.load_page, state)
    await call(ChatState.regenerate, state)
    assert snapshot(app_db, cid)[2] == [
        (0, "user", "Plan Busan", "complete"),
        (1, "assistant", "Day 1...", "complete"),
        (2, "user", "Add Gyeongju", "complete"),
        (3, "assistant", "", "streaming"),
    ]
    assert state._job["contents"][-1] == "Add Gyeongju" and "Day 1..." in state._job["contents"][-2]


# --- agents ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unreachable_fabrix_gives_an_agents_alert_with_retry(app_db, two_users, monkeypatch):
    from fabrix_chat.fabrix import errors as fx

    async def unreachable(refresh: bool = False, **_kw):
        raise fx.FabrixNetworkError("connection refused")

    monkeypatch.setattr(chat_service, "list_agents", unreachable)
    state = make_state(two_users["a_token"])
    await call(ChatState.load_agents, state)
    assert state.agents == []
    assert state.alert_text.startswith("Could not load the agents") and state.alert_retry
    event = await call(ChatState.retry, state)
    assert "load_agents" in str(event) and state.alert_text == ""


@pytest.mark.asyncio
async def test_no_agents_gives_an_alert_with_retry_and_a_refresh_clears_it(app_db, two_users, monkeypatch):
    answers: list[list[Agent]] = [[], AGENTS]

    async def listing(refresh: bool = False, **_kw):
        return answers.pop(0)

    monkeypatch.setattr(chat_service, "list_agents", listing)
    state = make_state(two_users["a_token"])
    await call(ChatState.load_agents, state)
    assert state.alert_text == "No agents are available." and state.alert_retry
    await call(ChatState.load_agents, state, True)
    assert state.alert_text == "" and state.selected_agent_id == AGENTS[0].id


@pytest.mark.asyncio
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
    assert items[0].href == "/chat/1" and items[5].title == "New chat"
    assert [i.group for i in conversation_items(rows[:1], "ko", now=now)] == ["오늘"]


def test_titles_come_from_the_first_question():
    assert conv_repo.make_title("  Explain\n Python   decorators ") == "Explain Python decorators"
    long = conv_repo.make_title("How do I rotate the API keys of our staging cluster safely?")
    assert len(long) <= 30 and long.endswith("…")


# --- what each streamed update sends ---------------------------------------------------------


def test_a_streamed_update_sends_only_the_answer_whatever_the_conversation_size():
    """Reflex sends every changed var whole: a batch must change the answer's vars and nothing big."""
    state = make_state("t", "/chat/1")
    state.messages = [MessageView(id=i, seq=i, role="user", content="x" * 2000) for i in range(300)]
    state.conversation_id = 1
    state.streaming = True
    state.stream_conversation_id = 1
    state.get_delta()
    state._clean()
    state.stream_text = "The answer so far"
    state.stream_status = "Searching documents..."
    delta = state.get_delta()
    sent = {key: value for substate in delta.values() for key, value in substate.items()}
    assert set(sent) <= {"stream_text_rx_state_", "stream_status_rx_state_"}, sorted(sent)
    assert len(repr(sent)) < 200


# --- another user on the same tab ---------------------------------------------------------------


def root_of(state):
    while state.parent_state is not None:
        state = state.parent_state
    return state


async def test_when_another_user_signs_in_on_the_tab_nothing_of_the_first_stays(app_db, agents):
    kim_id, kim_token = signed_in(app_db, "kim")
    conversation_of(app_db, kim_id, "Kim's secret plan", [("user", "hello"), ("assistant", "hi")])
    _, lee_token = signed_in(app_db, "lee")
    state = make_state(kim_token)
    await call(ChatState.load_page, state)
    assert [c.title for c in state.conversations] == ["Kim's secret plan"]
    kim_file = file_service.user_dir(kim_id) / "notes.txt"
    kim_file.write_text("kim's file", encoding="utf-8")
    state._pending_file = {"path": str(kim_file), "name": "notes.txt", "size": 10}
    state.attachment_name = "notes.txt"

    # Kim's session ends without Log out; Lee signs in in the same tab (its state tree stays).
    root_of(state).router = RouterData(url=ReflexURL("http://testserver/chat"), headers=session_headers(lee_token))
    await call(ChatState.load_page, state)
    assert state.username == "lee"
    assert state.conversations == [] and state.attachment_name == "" and state._pending_file == {}
    assert "Kim's secret plan" not in json.dumps(root_of(state).dict(), default=str)


async def test_a_file_from_another_users_folder_is_never_sent(app_db, agents):
    kim_id, _ = signed_in(app_db, "kim")
    _, lee_token = signed_in(app_db, "lee")
    kim_file = file_service.user_dir(kim_id) / "kim.txt"
    kim_file.write_text("kim's file", encoding="utf-8")
    state = make_state(lee_token)
    await call(ChatState.load_page, state)
    state._pending_file = {"path": str(kim_file), "name": "kim.txt", "size": 10}
    await call(ChatState.send_message, state, {"message": "summarise"})
    assert state.alert_text.startswith("The file of that question is no longer kept")
    assert state.messages == [] and state._pending_file == {}
    assert kim_file.exists(), "and it is not touched"
