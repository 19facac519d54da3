"""The prompt library's chat-page handlers called directly on a tab's state tree (tests/reflex_tab.py)
over a temp SQLite database: Prompts lists the user's own and the published prompts, search,
choose, delete, Save as prompt. Another user's prompt or message is "not found" (also when its id
is forged into the tab's state), a signed-out visitor is sent to log in and nothing changes, and
odd, huge or empty input is refused plainly."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from fabrix_chat.models import Prompt
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import prompts as prompts_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.state.chat import ChatState, MessageView
from fabrix_chat.state.conversation import MessagePageState
from fabrix_chat.state.prompts import PromptState, insert_script
from tests import reflex_tab
from tests.reflex_tab import js_of, redirect_path

ODD_IDS = ("abc", "", None, -1, 0, 10**30, "1e3", [1], {"id": 1})


class Tab(reflex_tab.Tab):
    @property
    def prompts(self) -> PromptState:
        return self.get(PromptState)

    @property
    def chat(self) -> ChatState:
        return self.get(ChatState)


def signed_in(engine, username: str) -> tuple[int, str]:
    token, token_hash = auth_service.new_session_token()
    with Session(engine, expire_on_commit=False) as session:
        user = users_repo.create_user(
            session=session, username=username, email=f"{username}@example.com", password_hash="x"
        )
        users_repo.create_session(session=session, user_id=user.id, token_hash=token_hash)
        session.commit()
        return user.id, token


def question_in_new_chat(engine, user_id: int, text: str) -> tuple[int, int, int]:
    """A conversation of the user's with one question and its answer: (conversation, question, answer) ids."""
    with Session(engine, expire_on_commit=False) as session:
        conversation = conv_repo.create_conversation(session=session, user_id=user_id, title="A chat")
        question = conv_repo.add_message(
            session=session, user_id=user_id, conversation_id=conversation.id, role="user", content=text
        )
        answer = conv_repo.add_message(
            session=session, user_id=user_id, conversation_id=conversation.id, role="assistant", content="Answer."
        )
        session.commit()
        return conversation.id, question.id, answer.id


def add_prompt(engine, user_id: int | None, title: str, body: str) -> int:
    with Session(engine, expire_on_commit=False) as session:
        if user_id is None:
            prompt = prompts_repo.publish_prompt(session=session, title=title, body=body)
        else:
            prompt = prompts_repo.save_prompt(session=session, user_id=user_id, title=title, body=body)
        session.commit()
        return prompt.id


def stored(engine) -> list[tuple]:
    with Session(engine) as session:
        return [(p.id, p.user_id, p.title, p.body) for p in session.exec(select(Prompt).order_by(Prompt.id))]


@pytest.fixture
def people(app_db):
    """Alice and Bob signed in; Bob has a secret prompt and a secret question; one prompt is published."""
    alice, alice_token = signed_in(app_db, "alice")
    bob, bob_token = signed_in(app_db, "bob")
    conversation, question, answer = question_in_new_chat(app_db, bob, "What is the BLUE-HERON code?")
    return {
        "alice": alice,
        "alice_token": alice_token,
        "bob": bob,
        "bob_token": bob_token,
        "bob_prompt": add_prompt(app_db, bob, "Bob's secret", "The merger code is BLUE-HERON-42."),
        "published": add_prompt(app_db, None, "Team style", "Answer briefly about {{topic}}."),
        "bob_conversation": conversation,
        "bob_question": question,
        "bob_answer": answer,
    }


def shows_nothing_of_bob(tab: Tab) -> None:
    held = tab.held()
    for leak in ("BLUE-HERON", "Bob's secret"):
        assert leak not in held, f"{leak!r} leaked into another user's tab"


# --- the Prompts dialog --------------------------------------------------------------------------


async def test_prompts_lists_the_users_own_and_the_published_ones_and_search_filters(app_db, people) -> None:
    add_prompt(app_db, people["alice"], "Weekly report", "Summarize {{project}} for the week.")
    tab = Tab(people["alice_token"])
    assert await tab.run(PromptState.set_prompts_open, True) is None
    assert tab.prompts.prompts_open
    assert [(p.title, p.published) for p in tab.prompts.prompts] == [("Weekly report", False), ("Team style", True)]
    await tab.run(PromptState.set_prompt_query, "WEEK")
    assert [p.title for p in tab.prompts.prompts] == ["Weekly report"]
    await tab.run(PromptState.set_prompt_query, "merger")  # Bob's prompt's text
    assert tab.prompts.prompts == []
    shows_nothing_of_bob(tab)
    await tab.run(PromptState.set_prompts_open, False)
    await tab.run(PromptState.set_prompts_open, True)  # opens afresh, the search emptied
    assert tab.prompts.prompt_query == "" and len(tab.prompts.prompts) == 2


async def test_choosing_a_prompt_puts_its_text_into_the_composer_and_closes_the_dialog(app_db, people) -> None:
    tab = Tab(people["alice_token"])
    await tab.run(PromptState.set_prompts_open, True)
    event = await tab.run(PromptState.choose_prompt, people["published"])
    script = js_of(event)
    assert json.dumps("Answer briefly about {{topic}}.") in script and "composer-input" in script
    assert "setSelectionRange" in script
    assert not tab.prompts.prompts_open


async def test_another_users_prompt_is_not_found_to_choose_or_delete(app_db, people) -> None:
    before = stored(app_db)
    tab = Tab(people["alice_token"])
    await tab.run(PromptState.set_prompts_open, True)
    for prompt_id in (people["bob_prompt"], str(people["bob_prompt"]), *ODD_IDS):
        assert js_of(await tab.run(PromptState.choose_prompt, prompt_id)) == "", prompt_id
        assert tab.prompts.prompts_error == "Prompt not found.", prompt_id
        await tab.run(PromptState.delete_prompt, prompt_id)
        assert tab.prompts.prompts_error == "Prompt not found.", prompt_id
    # A published prompt is the administrator's to delete.
    await tab.run(PromptState.delete_prompt, people["published"])
    assert tab.prompts.prompts_error == "Prompt not found."
    assert stored(app_db) == before
    shows_nothing_of_bob(tab)


async def test_delete_own_prompt(app_db, people) -> None:
    own = add_prompt(app_db, people["alice"], "Old one", "x")
    tab = Tab(people["alice_token"])
    await tab.run(PromptState.set_prompts_open, True)
    await tab.run(PromptState.delete_prompt, own)
    assert tab.prompts.prompts_error == ""
    assert [p.title for p in tab.prompts.prompts] == ["Team style"]
    assert own not in [row[0] for row in stored(app_db)]


async def test_odd_or_huge_search_is_cut_and_harmless(app_db, people) -> None:
    tab = Tab(people["alice_token"])
    for query in ("x" * 100_000, "\x00style", "%", "_", "'; DROP TABLE prompts; --"):
        await tab.run(PromptState.set_prompt_query, query)
        assert len(tab.prompts.prompt_query) <= prompts_repo.MAX_QUERY_CHARS
        assert "\x00" not in tab.prompts.prompt_query
    await tab.run(PromptState.set_prompt_query, "\x00style")
    assert [p.title for p in tab.prompts.prompts] == ["Team style"]
    assert len(stored(app_db)) == 2


# --- Save as prompt ------------------------------------------------------------------------------


async def test_save_a_question_as_a_prompt(app_db, people) -> None:
    text = "Write a short poem about {{season}} in the style of {{poet}}, with a title."
    conversation, question, answer = question_in_new_chat(app_db, people["alice"], text)
    tab = Tab(people["alice_token"], f"/chat/{conversation}")
    await tab.run(ChatState.load_page)
    assert await tab.run(PromptState.save_as_prompt, question) is None
    assert tab.prompts.save_message_id == question
    assert tab.prompts.save_title == "Write a short poem about {{season}} in…"
    assert tab.prompts.save_preview == text
    await tab.run(PromptState.save_prompt, {"title": "  Poem  "})
    assert tab.prompts.save_message_id == 0 and tab.prompts.save_error == ""
    assert stored(app_db)[-1][1:] == (people["alice"], "Poem", text)
    # An empty title: the question's first words.
    await tab.run(PromptState.save_as_prompt, str(question))
    await tab.run(PromptState.save_prompt, {"title": ""})
    assert stored(app_db)[-1][1:] == (people["alice"], "Write a short poem about {{season}} in…", text)
    # An answer is not a question.
    await tab.run(PromptState.save_as_prompt, answer)
    assert tab.prompts.save_message_id == 0 and tab.chat.alert_text == "Message not found."


async def test_save_as_prompt_with_another_users_or_an_odd_message_id_is_not_found(app_db, people) -> None:
    before = stored(app_db)
    conversation, _question, _answer = question_in_new_chat(app_db, people["alice"], "Alice's own question")
    tab = Tab(people["alice_token"], f"/chat/{conversation}")
    await tab.run(ChatState.load_page)
    for message_id in (people["bob_question"], people["bob_answer"], *ODD_IDS):
        tab.chat.alert_text = ""
        await tab.run(PromptState.save_as_prompt, message_id)
        assert tab.prompts.save_message_id == 0, message_id
        assert tab.chat.alert_text == "Message not found.", message_id
    # Bob's question forged into the messages this tab shows: its owner is checked in the database.
    page = tab.get(MessagePageState)
    page.messages = [*page.messages, MessageView(id=people["bob_question"], seq=9, role="user", content="forged")]
    await tab.run(PromptState.save_as_prompt, people["bob_question"])
    assert tab.prompts.save_message_id == 0 and tab.chat.alert_text == "Message not found."
    # ... and so is the dialog's target, were it forged too.
    tab.prompts.save_message_id = people["bob_question"]
    await tab.run(PromptState.save_prompt, {"title": "stolen"})
    assert tab.prompts.save_error == "Message not found."
    assert stored(app_db) == before
    shows_nothing_of_bob(tab)


async def test_save_prompt_refuses_an_odd_form_a_long_title_a_long_question_and_too_many(
    app_db, people, monkeypatch
) -> None:
    conversation, question, _ = question_in_new_chat(app_db, people["alice"], "Explain {{thing}}")
    long_conversation, long_question, _ = question_in_new_chat(
        app_db, people["alice"], "y" * (prompts_repo.MAX_BODY_CHARS + 1)
    )
    tab = Tab(people["alice_token"], f"/chat/{conversation}")
    await tab.run(ChatState.load_page)
    await tab.run(PromptState.save_as_prompt, question)
    await tab.run(PromptState.save_prompt, {"title": "t" * 101})
    assert tab.prompts.save_error == "A prompt's title can be at most 100 characters."
    await tab.run(PromptState.save_prompt, "not a form")  # no title: the first words
    assert stored(app_db)[-1][2:] == ("Explain {{thing}}", "Explain {{thing}}")
    monkeypatch.setattr(prompts_repo, "MAX_OWN_PROMPTS", 1)
    await tab.run(PromptState.save_as_prompt, question)
    await tab.run(PromptState.save_prompt, {"title": "second"})
    assert "Delete one first" in tab.prompts.save_error and tab.prompts.save_message_id == question
    await tab.run(PromptState.cancel_save_prompt)
    assert tab.prompts.save_message_id == 0 and tab.prompts.save_error == ""
    # A question longer than a prompt holds is refused at once, with the limit.
    tab.visit(f"/chat/{long_conversation}")
    await tab.run(ChatState.load_page)
    await tab.run(PromptState.save_as_prompt, long_question)
    assert tab.prompts.save_message_id == 0
    assert tab.chat.alert_text == f"A prompt can hold at most {prompts_repo.MAX_BODY_CHARS} characters."


async def test_texts_follow_the_pages_language(app_db, people) -> None:
    from fabrix_chat.state.ui import UIState

    tab = Tab(people["alice_token"])
    tab.get(UIState).lang = "ko"
    await tab.run(PromptState.choose_prompt, people["bob_prompt"])
    assert tab.prompts.prompts_error == "프롬프트를 찾을 수 없습니다."


# --- signed out ----------------------------------------------------------------------------------


async def test_a_signed_out_visitor_is_sent_to_log_in_and_nothing_changes(app_db, people) -> None:
    before = stored(app_db)
    tab = Tab("")
    tab.prompts.save_message_id = people["bob_question"]  # as if left from before
    for handler, args in (
        (PromptState.set_prompts_open, (True,)),
        (PromptState.set_prompt_query, ("merger",)),
        (PromptState.choose_prompt, (people["bob_prompt"],)),
        (PromptState.delete_prompt, (people["bob_prompt"],)),
        (PromptState.save_as_prompt, (people["bob_question"],)),
        (PromptState.save_prompt, ({"title": "stolen"},)),
    ):
        result = await tab.run(handler, *args)
        assert redirect_path(result) == "/login", handler.fn.__name__
    assert stored(app_db) == before
    assert tab.prompts.prompts == [] and not tab.prompts.prompts_open
    shows_nothing_of_bob(tab)


# --- the script ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['He said "hi" </script><script>alert(1)</script>', "line\u2028sep\\n", "`${x}`"])
def test_the_text_reaches_the_script_as_one_javascript_string(text: str) -> None:
    script = insert_script(text)
    literal = json.dumps(text)
    assert script.endswith(f"({literal})")
    assert "\u2028" not in script  # json.dumps escapes it (ASCII only)
