"""The prompt library's data functions on a real SQLite file: each user sees their own prompts and
the published ones, never another user's; only one's own are deleted here; the limits hold; the
migration makes the same table as the models."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

from fabrix_chat.config import ServerSettings, Settings
from fabrix_chat.db import make_engine
from fabrix_chat.models import Prompt
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import prompts as repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.repo.prompts import PromptError
from fabrix_chat.services import maintenance


def add_user(session: Session, name: str) -> int:
    user = users_repo.create_user(session=session, username=name, email=f"{name}@example.com", password_hash="x")
    session.flush()
    assert user.id is not None
    return user.id


@pytest.fixture
def people(session: Session) -> dict[str, int]:
    return {"alice": add_user(session, "alice"), "bob": add_user(session, "bob")}


def titles(prompts: list[Prompt]) -> list[str]:
    return [p.title for p in prompts]


def test_a_user_sees_their_own_prompts_then_the_published_ones_never_another_users(session, people) -> None:
    repo.save_prompt(session=session, user_id=people["alice"], title="Summary", body="Summarize {{topic}}.")
    repo.save_prompt(session=session, user_id=people["alice"], title="Mail", body="Write a polite mail.")
    repo.save_prompt(session=session, user_id=people["bob"], title="Bob's secret", body="The code is BLUE-HERON.")
    repo.publish_prompt(session=session, title="Team rules", body="Answer in Korean.")
    assert titles(repo.list_prompts(session=session, user_id=people["alice"])) == ["Mail", "Summary", "Team rules"]
    listed = repo.list_prompts(session=session, user_id=people["bob"])
    assert titles(listed) == ["Bob's secret", "Team rules"]
    assert [p.user_id is None for p in listed] == [False, True]  # the published one is marked


def test_search_matches_title_or_text_case_insensitively_and_wildcards_match_themselves(session, people) -> None:
    alice = people["alice"]
    repo.save_prompt(session=session, user_id=alice, title="Quarterly report", body="Sum up Q3.")
    repo.save_prompt(session=session, user_id=alice, title="Code review", body="Review this 100% carefully.")
    repo.save_prompt(session=session, user_id=people["bob"], title="Report of Bob", body="secret")
    assert titles(repo.list_prompts(session=session, user_id=alice, query="REPORT")) == ["Quarterly report"]
    assert titles(repo.list_prompts(session=session, user_id=alice, query="q3")) == ["Quarterly report"]
    assert titles(repo.list_prompts(session=session, user_id=alice, query="100%")) == ["Code review"]
    assert titles(repo.list_prompts(session=session, user_id=alice, query="%")) == ["Code review"]
    assert repo.list_prompts(session=session, user_id=alice, query="_") == []
    assert len(repo.list_prompts(session=session, user_id=alice, query="   ")) == 2


def test_another_users_prompt_is_not_found_and_cannot_be_deleted(session, people) -> None:
    secret = repo.save_prompt(session=session, user_id=people["bob"], title="Secret", body="BLUE-HERON")
    published = repo.publish_prompt(session=session, title="Shared", body="For all")
    alice = people["alice"]
    assert repo.get_prompt(session=session, user_id=alice, prompt_id=secret.id) is None
    assert repo.get_prompt(session=session, user_id=alice, prompt_id=published.id) == published
    assert repo.get_prompt(session=session, user_id=alice, prompt_id=0) is None
    assert repo.get_prompt(session=session, user_id=alice, prompt_id=987654) is None
    assert not repo.delete_prompt(session=session, user_id=alice, prompt_id=secret.id)
    assert not repo.delete_prompt(session=session, user_id=alice, prompt_id=published.id)  # the admin's to delete
    assert not repo.delete_prompt(session=session, user_id=alice, prompt_id=-1)
    assert session.get(Prompt, secret.id) is not None and session.get(Prompt, published.id) is not None
    assert repo.delete_prompt(session=session, user_id=people["bob"], prompt_id=secret.id)
    assert session.get(Prompt, secret.id) is None


def test_text_is_trimmed_nul_free_and_an_empty_title_is_the_first_words(session, people) -> None:
    body = "  Explain\x00 the difference between {{a}} and {{b}} to a new colleague, with examples.  "
    prompt = repo.save_prompt(session=session, user_id=people["alice"], title=" \x00 ", body=body)
    assert prompt.body == "Explain the difference between {{a}} and {{b}} to a new colleague, with examples."
    assert prompt.title == "Explain the difference between {{a}} and…"
    assert len(prompt.title) <= repo.AUTO_TITLE_CHARS + 1
    short = repo.save_prompt(session=session, user_id=people["alice"], title="", body="Hi\n\nthere")
    assert short.title == "Hi there"
    spaced = repo.save_prompt(session=session, user_id=people["alice"], title="  two\n  lines ", body="x")
    assert spaced.title == "two lines"
    unbroken = repo.title_from_body("x" * 500)
    assert unbroken == "x" * repo.AUTO_TITLE_CHARS + "…"


@pytest.mark.parametrize(
    ("title", "body", "key"),
    [
        ("t", "", "prompt_empty"),
        ("t", " \n\x00 ", "prompt_empty"),
        ("t", ["not", "text"], "prompt_empty"),
        ("t", "x" * (repo.MAX_BODY_CHARS + 1), "prompt_too_long"),
        ("x" * (repo.MAX_TITLE_CHARS + 1), "body", "prompt_title_too_long"),
    ],
)
def test_empty_or_too_long_prompts_are_refused_with_a_reason(session, people, title, body, key) -> None:
    for save in (
        lambda: repo.save_prompt(session=session, user_id=people["alice"], title=title, body=body),
        lambda: repo.publish_prompt(session=session, title=title, body=body),
    ):
        with pytest.raises(PromptError) as refused:
            save()
        assert refused.value.key == key
    assert session.exec(select(Prompt)).all() == []


def test_the_limits_are_exact(session, people) -> None:
    full = repo.save_prompt(session=session, user_id=people["alice"], title="t" * 100, body="b" * repo.MAX_BODY_CHARS)
    assert len(full.title) == 100 and len(full.body) == repo.MAX_BODY_CHARS


def test_a_user_keeps_at_most_max_own_prompts(session, people, monkeypatch) -> None:
    monkeypatch.setattr(repo, "MAX_OWN_PROMPTS", 3)
    for i in range(3):
        repo.save_prompt(session=session, user_id=people["alice"], title=f"p{i}", body="x")
    repo.publish_prompt(session=session, title="published ones do not count", body="x")
    with pytest.raises(PromptError) as refused:
        repo.save_prompt(session=session, user_id=people["alice"], title="one more", body="x")
    assert refused.value.key == "prompt_limit" and "3" in str(refused.value)
    repo.save_prompt(session=session, user_id=people["bob"], title="bob's own count", body="x")
    assert repo.count_own(session=session, user_id=people["alice"]) == 3


def test_published_prompts_have_a_limit_too(session, monkeypatch) -> None:
    monkeypatch.setattr(repo, "MAX_PUBLISHED_PROMPTS", 2)
    repo.publish_prompt(session=session, title="a", body="x")
    repo.publish_prompt(session=session, title="b", body="x")
    with pytest.raises(PromptError) as refused:
        repo.publish_prompt(session=session, title="c", body="x")
    assert refused.value.key == "prompt_published_limit"


def test_the_admin_lists_and_deletes_only_published_prompts(session, people) -> None:
    own = repo.save_prompt(session=session, user_id=people["alice"], title="Mine", body="x")
    first = repo.publish_prompt(session=session, title="First", body="x")
    repo.publish_prompt(session=session, title="Second", body="x")
    assert titles(repo.list_published(session=session)) == ["Second", "First"]
    assert repo.delete_published(session=session, prompt_id=own.id) is None
    assert session.get(Prompt, own.id) is not None
    assert repo.delete_published(session=session, prompt_id=first.id) == first
    assert repo.delete_published(session=session, prompt_id=first.id) is None
    assert titles(repo.list_published(session=session)) == ["Second"]


def test_question_text_is_only_one_of_the_users_own_questions(session, people) -> None:
    conversation = conv_repo.create_conversation(session=session, user_id=people["bob"], title="Bob's")
    question = conv_repo.add_message(
        session=session, user_id=people["bob"], conversation_id=conversation.id, role="user", content="Bob asks"
    )
    answer = conv_repo.add_message(
        session=session, user_id=people["bob"], conversation_id=conversation.id, role="assistant", content="An answer"
    )
    assert repo.question_text(session=session, user_id=people["bob"], message_id=question.id) == "Bob asks"
    assert repo.question_text(session=session, user_id=people["alice"], message_id=question.id) is None
    assert repo.question_text(session=session, user_id=people["bob"], message_id=answer.id) is None
    assert repo.question_text(session=session, user_id=people["bob"], message_id=0) is None


def test_a_deleted_user_takes_their_prompts_along(session, people) -> None:
    repo.save_prompt(session=session, user_id=people["bob"], title="Bob's", body="x")
    repo.publish_prompt(session=session, title="Shared", body="x")
    session.commit()
    session.delete(users_repo.get_user(session=session, user_id=people["bob"]))
    session.commit()
    assert titles(list(session.exec(select(Prompt)))) == ["Shared"]


def test_the_migration_makes_the_table_the_models_describe(tmp_path: Path) -> None:
    settings = Settings(server=ServerSettings(data_dir=str(tmp_path / "migrated")))
    maintenance.migrate(settings)
    models_engine = make_engine(f"sqlite:///{(tmp_path / 'models.db').as_posix()}")
    SQLModel.metadata.create_all(models_engine)
    models_engine.dispose()

    def shape(path: Path) -> tuple:
        with closing(sqlite3.connect(path)) as conn:
            columns = [(c[1], c[2].upper(), c[3]) for c in conn.execute("PRAGMA table_info(prompts)")]
            indexes = sorted((i[1], i[2]) for i in conn.execute("PRAGMA index_list(prompts)"))
            keys = [(k[2], k[3], k[4], k[6]) for k in conn.execute("PRAGMA foreign_key_list(prompts)")]
            return columns, indexes, keys

    migrated = shape(maintenance.sqlite_file(settings))
    assert migrated[0], "the migration made no prompts table"
    assert migrated == shape(tmp_path / "models.db")
