"""The repository functions on both supported databases: a fresh SQLite file and a real PostgreSQL
server, each built by the alembic migrations, so what the app does on one it does on the other."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, UTCDateTime, select

from fabrix_chat.db import make_engine
from fabrix_chat.models import AuthSession, Conversation, Message, UsageRecord, User, utcnow
from fabrix_chat.repo import conversations as conv
from fabrix_chat.repo import users
from tests.integration import pg

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP_TABLES = {"users", "auth_sessions", "conversations", "messages", "usage_records"}
# Children before parents, so emptying them never trips a foreign key.
EMPTYING_ORDER = ["usage_records", "messages", "conversations", "auth_sessions", "users"]
# Long enough for the other thread to be waiting on the lock, short enough to keep the suite quick.
LOCK_HOLD_SECONDS = 0.4


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run an alembic command on `url` the way an operator would, from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def migrate(url: str, *args: str) -> None:
    result = alembic(url, *args)
    assert result.returncode == 0, f"alembic {' '.join(args)} failed:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory) -> str:
    """An empty database of each kind: a new SQLite file, or a database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path_factory.mktemp('sqlite') / 'repo.db').as_posix()}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="module")
def db_engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url, "upgrade", "head")
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(db_engine: Engine) -> Iterator[Session]:
    """A session on emptied tables; each test starts from nothing."""
    with db_engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(EMPTYING_ORDER)} RESTART IDENTITY CASCADE"))
        else:
            for table in EMPTYING_ORDER:
                connection.execute(text(f"DELETE FROM {table}"))
    with Session(db_engine, expire_on_commit=False) as session:
        yield session


def new_session(db: Session) -> Session:
    """Another session on the same database: what a later request (or another user) would see."""
    return Session(db.get_bind(), expire_on_commit=False)


def add_user(db: Session, name: str = "alice") -> User:
    return users.create_user(session=db, username=name, email=f"{name}@example.com", password_hash="hash")


def add_conversation(db: Session, user: User, title: str = "chat", messages: tuple[str, ...] = ()) -> Conversation:
    conversation = conv.create_conversation(session=db, user_id=user.id, title=title)
    for i, content in enumerate(messages):
        role = "user" if i % 2 == 0 else "assistant"
        conv.add_message(session=db, user_id=user.id, conversation_id=conversation.id, role=role, content=content)
    return conversation


def count(db: Session, model: type) -> int:
    return db.exec(select(func.count()).select_from(model)).one()


# --- users -----------------------------------------------------------------------------------


def test_create_user_stores_lowercase_and_is_found_in_any_case(db):
    user = users.create_user(session=db, username="  Alice ", email="Alice@Example.COM ", password_hash="hash")
    db.commit()
    with new_session(db) as other:
        found = users.get_user_by_username(session=other, username="ALICE")
        assert found is not None and found.id == user.id
        assert (found.username, found.email) == ("alice", "alice@example.com")
        assert found.is_active and not found.is_admin


def test_duplicate_username_or_email_names_the_field_in_any_case(db):
    add_user(db, "alice")
    with pytest.raises(users.DuplicateUser) as taken:
        users.create_user(session=db, username="ALICE", email="other@example.com", password_hash="hash")
    assert taken.value.field == "username"
    with pytest.raises(users.DuplicateUser) as taken:
        users.create_user(session=db, username="bob", email="ALICE@Example.com", password_hash="hash")
    assert taken.value.field == "email"
    add_user(db, "carol")  # the session is still usable
    db.commit()
    assert count(db, User) == 2


@pytest.mark.parametrize("field", ["username", "email"])
def test_duplicate_registered_during_the_insert_names_the_field_and_keeps_the_transaction(db, field):
    """Two sign-ups at once: the other one commits after our existence check but before our insert."""
    bob_email = "taken@example.com" if field == "email" else "bob@example.com"
    rival_name = "bob" if field == "username" else "robert"
    expected = ["carol", rival_name]
    if db.get_bind().dialect.name == "postgresql":
        # Our transaction wrote before and that must survive. (SQLite has one writer at a time:
        # there the rival could not insert while we hold the write lock.)
        add_user(db, "alice")
        expected.append("alice")

    inserted = threading.Event()

    def rival_signup() -> None:
        with new_session(db) as rival:
            rival.add(User(username=rival_name, email=bob_email, password_hash="hash"))
            rival.flush()  # holds the row (PostgreSQL) or the write lock (SQLite), uncommitted
            inserted.set()
            threading.Event().wait(LOCK_HOLD_SECONDS)
            rival.commit()

    thread = threading.Thread(target=rival_signup)
    thread.start()
    try:
        assert inserted.wait(10)
        with pytest.raises(users.DuplicateUser) as taken:
            users.create_user(session=db, username="bob", email=bob_email, password_hash="hash")
    finally:
        thread.join(10)
    assert taken.value.field == field
    add_user(db, "carol")
    db.commit()
    with new_session(db) as other:
        assert sorted(other.exec(select(User.username))) == sorted(expected)


def test_users_created_in_a_transaction_that_rolls_back_are_gone(db):
    """All or nothing (the bulk import relies on it), including on SQLite."""
    add_user(db, "alice")
    add_user(db, "bob")
    db.rollback()
    assert count(db, User) == 0


def test_list_users_treats_percent_and_underscore_literally(db):
    for name in ("a_b", "axb", "plain"):
        add_user(db, name)
    assert [u.username for u in users.list_users(session=db, query="_")] == ["a_b"]
    assert [u.username for u in users.list_users(session=db, query="A_B")] == ["a_b"]
    assert users.list_users(session=db, query="%") == []
    assert [u.username for u in users.list_users(session=db, query="example.COM")] == ["a_b", "axb", "plain"]


# --- sign-in sessions ------------------------------------------------------------------------


def age_session(db: Session, token_hash: str, by: timedelta) -> None:
    auth = db.exec(select(AuthSession).where(AuthSession.token_hash == token_hash)).one()
    auth.last_seen_at = utcnow() - by
    db.add(auth)
    db.commit()


def test_session_signs_in_touches_and_ends(db):
    user = add_user(db)
    users.create_session(session=db, user_id=user.id, token_hash="t1", client="x" * 300)
    db.commit()
    with new_session(db) as other:
        assert users.get_user(session=other, user_id=user.id).last_login_at is not None
        assert other.exec(select(AuthSession.client)).one() == "x" * 100
        assert users.get_session_user(session=other, token_hash="t1", idle_minutes=30).id == user.id
        assert users.get_session_user(session=other, token_hash="unknown", idle_minutes=30) is None

    age_session(db, "t1", timedelta(minutes=5))
    with new_session(db) as other:
        assert users.get_session_user(session=other, token_hash="t1", idle_minutes=30) is not None
        other.commit()
    with new_session(db) as other:
        seen = other.exec(select(AuthSession.last_seen_at)).one()
        assert utcnow() - seen < timedelta(seconds=30)

    age_session(db, "t1", timedelta(seconds=10))  # touched recently: no write on every click
    with new_session(db) as other:
        users.get_session_user(session=other, token_hash="t1", idle_minutes=30)
        other.commit()
    with new_session(db) as other:
        seen = other.exec(select(AuthSession.last_seen_at)).one()
        assert timedelta(seconds=9) < utcnow() - seen < timedelta(seconds=30)

    users.end_session(session=db, token_hash="t1")
    db.commit()
    assert users.get_session_user(session=db, token_hash="t1", idle_minutes=30) is None


def test_idle_session_expires_and_is_removed(db):
    user = add_user(db)
    users.create_session(session=db, user_id=user.id, token_hash="idle")
    users.create_session(session=db, user_id=user.id, token_hash="fresh")
    db.commit()
    age_session(db, "idle", timedelta(minutes=31))
    age_session(db, "fresh", timedelta(minutes=29))
    assert users.get_session_user(session=db, token_hash="idle", idle_minutes=30) is None
    assert users.get_session_user(session=db, token_hash="fresh", idle_minutes=30) is not None
    db.commit()
    assert list(db.exec(select(AuthSession.token_hash))) == ["fresh"]


def test_disabled_user_has_no_session(db):
    user = add_user(db)
    users.create_session(session=db, user_id=user.id, token_hash="t1")
    user.is_active = False  # disabled by another path than set_active: the session must still not work
    db.add(user)
    db.commit()
    assert users.get_session_user(session=db, token_hash="t1", idle_minutes=30) is None


def test_disabling_a_user_ends_their_sessions_only(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    for token, user in (("a1", alice), ("a2", alice), ("b1", bob)):
        users.create_session(session=db, user_id=user.id, token_hash=token)
    db.commit()
    users.set_active(session=db, user_id=alice.id, active=False)
    db.commit()
    users.set_active(session=db, user_id=alice.id, active=True)
    db.commit()
    assert list(db.exec(select(AuthSession.token_hash))) == ["b1"]
    assert users.get_session_user(session=db, token_hash="a1", idle_minutes=30) is None
    with pytest.raises(LookupError):
        users.set_active(session=db, user_id=999_999, active=False)


def test_end_user_sessions_counts_and_spares_others(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    for token, user in (("a1", alice), ("a2", alice), ("b1", bob)):
        users.create_session(session=db, user_id=user.id, token_hash=token)
    db.commit()
    assert users.end_user_sessions(session=db, user_id=alice.id) == 2
    db.commit()
    assert users.end_user_sessions(session=db, user_id=alice.id) == 0
    assert list(db.exec(select(AuthSession.token_hash))) == ["b1"]


def test_delete_user_removes_everything_they_own_and_keeps_usage_history(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    add_conversation(db, alice, "one", ("q1", "a1"))
    add_conversation(db, alice, "two", ("q2",))
    add_conversation(db, alice, "empty")
    kept = add_conversation(db, bob, "bob's", ("q", "a"))
    users.create_session(session=db, user_id=alice.id, token_hash="a1")
    users.create_session(session=db, user_id=bob.id, token_hash="b1")
    db.add(UsageRecord(user_id=alice.id, username="alice", kind="chat", tokens_in=5))
    db.commit()
    alice_id = alice.id

    assert users.user_content_counts(session=db, user_id=alice_id) == (3, 3)
    assert users.delete_user(session=db, user_id=alice_id) == (3, 3)
    db.commit()

    with new_session(db) as other:
        assert users.get_user(session=other, user_id=alice_id) is None
        assert list(other.exec(select(Conversation.id))) == [kept.id]
        assert sorted(other.exec(select(Message.content))) == ["a", "q"]
        assert list(other.exec(select(AuthSession.token_hash))) == ["b1"]
        usage = other.exec(select(UsageRecord)).one()
        assert (usage.user_id, usage.username) == (None, "alice")
    assert users.delete_user(session=db, user_id=alice_id) == (0, 0)


# --- conversations ---------------------------------------------------------------------------


def set_updated(db: Session, conversation: Conversation, when: datetime) -> None:
    conversation.updated_at = when
    db.add(conversation)
    db.flush()


def titles(rows: list[Conversation]) -> list[str]:
    return [c.title for c in rows]


def test_conversations_listed_by_last_activity(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    base = utcnow() - timedelta(hours=1)
    first, second, third = (add_conversation(db, alice, t) for t in ("first", "second", "third"))
    for minutes, conversation in enumerate((first, second, third)):
        set_updated(db, conversation, base + timedelta(minutes=minutes))
    add_conversation(db, bob, "bob's")
    db.commit()
    assert titles(conv.list_conversations(session=db, user_id=alice.id)) == ["third", "second", "first"]

    conv.add_message(session=db, user_id=alice.id, conversation_id=first.id, role="user", content="again")
    db.commit()
    assert titles(conv.list_conversations(session=db, user_id=alice.id)) == ["first", "third", "second"]
    assert titles(conv.list_conversations(session=db, user_id=alice.id, limit=2)) == ["first", "third"]


def test_pinned_conversations_come_first_each_part_by_last_activity_and_only_the_owner_pins(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    base = utcnow() - timedelta(hours=1)
    chats = {t: add_conversation(db, alice, t) for t in ("a", "b", "c", "d")}
    for minutes, conversation in enumerate(chats.values()):
        set_updated(db, conversation, base + timedelta(minutes=minutes))
    db.commit()
    for title in ("a", "c"):
        assert conv.set_pinned(session=db, user_id=alice.id, conversation_id=chats[title].id, pinned=True)
    db.commit()
    assert titles(conv.list_conversations(session=db, user_id=alice.id)) == ["c", "a", "d", "b"]
    page, more = conv.list_conversation_page(session=db, user_id=alice.id, limit=3)
    assert titles(page) == ["c", "a", "d"] and more
    # Activity still orders the pinned part.
    conv.add_message(session=db, user_id=alice.id, conversation_id=chats["a"].id, role="user", content="again")
    db.commit()
    assert titles(conv.list_conversations(session=db, user_id=alice.id)) == ["a", "c", "d", "b"]
    # Another user's id changes nothing; pinning twice keeps the first time; unpinning puts it back.
    assert not conv.set_pinned(session=db, user_id=bob.id, conversation_id=chats["b"].id, pinned=True)
    pinned_at = chats["c"].pinned_at
    assert conv.set_pinned(session=db, user_id=alice.id, conversation_id=chats["c"].id, pinned=True)
    assert chats["c"].pinned_at == pinned_at
    assert conv.set_pinned(session=db, user_id=alice.id, conversation_id=chats["a"].id, pinned=False)
    db.commit()
    assert titles(conv.list_conversations(session=db, user_id=alice.id)) == ["c", "a", "d", "b"]
    assert titles(conv.list_conversations(session=db, user_id=alice.id, query="a")) == ["a"]


def test_search_finds_title_or_message_text_in_any_case(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    add_conversation(db, alice, "Quarterly REPORT")
    add_conversation(db, alice, "chat", ("What is the Budget for 2025?", "About 3 billion won."))
    add_conversation(db, alice, "unrelated", ("hello",))
    add_conversation(db, bob, "bob's report", ("budget",))
    db.commit()

    def search(query: str) -> list[str]:
        return sorted(titles(conv.list_conversations(session=db, user_id=alice.id, query=query)))

    assert search("report") == ["Quarterly REPORT"]
    assert search("  BUDGET ") == ["chat"]
    assert search("BILLION") == ["chat"]
    assert search("nothing like this") == []
    assert search("") == ["Quarterly REPORT", "chat", "unrelated"]


def test_search_treats_percent_underscore_and_backslash_literally(db):
    alice = add_user(db)
    add_conversation(db, alice, "100% done")
    add_conversation(db, alice, "1000 done")
    add_conversation(db, alice, "snake_case")
    add_conversation(db, alice, "snakeXcase")
    add_conversation(db, alice, r"C:\temp")
    add_conversation(db, alice, "discount", ("50% off today",))
    add_conversation(db, alice, "no discount", ("500 off today",))
    db.commit()

    def search(query: str) -> list[str]:
        return sorted(titles(conv.list_conversations(session=db, user_id=alice.id, query=query)))

    assert search("100%") == ["100% done"]
    assert search("%") == ["100% done", "discount"]
    assert search("e_c") == ["snake_case"]
    assert search("_") == ["snake_case"]
    assert search("\\") == [r"C:\temp"]
    assert search("50% OFF") == ["discount"]


def test_a_conversation_is_visible_to_its_owner_only(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    mine = add_conversation(db, alice, "mine", ("secret",))
    db.commit()
    assert conv.get_conversation(session=db, user_id=alice.id, conversation_id=mine.id).title == "mine"
    assert conv.get_conversation(session=db, user_id=bob.id, conversation_id=mine.id) is None
    assert conv.get_conversation(session=db, user_id=alice.id, conversation_id=mine.id + 1000) is None
    assert conv.get_messages(session=db, user_id=bob.id, conversation_id=mine.id) is None
    with pytest.raises(LookupError):
        conv.add_message(session=db, user_id=bob.id, conversation_id=mine.id, role="user", content="hi")
    assert not conv.rename_conversation(session=db, user_id=bob.id, conversation_id=mine.id, title="taken")
    assert not conv.delete_conversation(session=db, user_id=bob.id, conversation_id=mine.id)
    db.commit()
    assert conv.get_conversation(session=db, user_id=alice.id, conversation_id=mine.id).title == "mine"
    assert [m.content for m in conv.get_messages(session=db, user_id=alice.id, conversation_id=mine.id)] == ["secret"]


def test_messages_are_numbered_in_order(db):
    alice = add_user(db)
    chat = add_conversation(db, alice, "chat", ("q1", "a1", "q2"))
    other = add_conversation(db, alice, "other", ("x",))
    db.commit()
    with new_session(db) as later:
        messages = conv.get_messages(session=later, user_id=alice.id, conversation_id=chat.id)
        assert [(m.seq, m.role, m.content) for m in messages] == [
            (0, "user", "q1"),
            (1, "assistant", "a1"),
            (2, "user", "q2"),
        ]
        assert [m.seq for m in conv.get_messages(session=later, user_id=alice.id, conversation_id=other.id)] == [0]


def test_two_appends_at_once_get_different_positions(db):
    """Two tabs sending into one conversation: the second waits for the first, no seq is reused."""
    alice = add_user(db)
    chat = add_conversation(db, alice, "chat")
    db.commit()
    conv.add_message(session=db, user_id=alice.id, conversation_id=chat.id, role="user", content="from tab 1")
    failures: list[Exception] = []

    def second_tab() -> None:
        try:
            with new_session(db) as tab:
                conv.add_message(
                    session=tab, user_id=alice.id, conversation_id=chat.id, role="user", content="from tab 2"
                )
                tab.commit()
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=second_tab)
    thread.start()
    threading.Event().wait(LOCK_HOLD_SECONDS)
    db.commit()
    thread.join(10)
    assert failures == []
    with new_session(db) as later:
        messages = conv.get_messages(session=later, user_id=alice.id, conversation_id=chat.id)
        assert [(m.seq, m.content) for m in messages] == [(0, "from tab 1"), (1, "from tab 2")]


def test_update_message_saves_the_answer_for_its_owner_only(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    chat = add_conversation(db, alice, "chat", ("question",))
    answer = conv.add_message(
        session=db, user_id=alice.id, conversation_id=chat.id, role="assistant", content="", status="streaming"
    )
    set_updated(db, chat, utcnow() - timedelta(hours=1))
    db.commit()

    assert not conv.update_message(
        session=db, user_id=bob.id, message_id=answer.id, content="hijack", status="complete"
    )
    assert not conv.update_message(
        session=db, user_id=alice.id, message_id=answer.id + 1000, content="x", status="complete"
    )
    db.commit()
    with new_session(db) as later:
        assert later.get(Message, answer.id).content == ""

    assert conv.update_message(
        session=db, user_id=alice.id, message_id=answer.id, content="partial", status="error", error="e" * 900
    )
    db.commit()
    with new_session(db) as later:
        saved = later.get(Message, answer.id)
        assert (saved.content, saved.status, saved.error) == ("partial", "error", "e" * 500)
        assert utcnow() - later.get(Conversation, chat.id).updated_at < timedelta(seconds=30)


def shown(db: Session, user: User, chat: Conversation) -> list[tuple[int, str]]:
    with new_session(db) as later:
        return [(m.seq, m.content) for m in conv.get_messages(session=later, user_id=user.id, conversation_id=chat.id)]


def test_retire_from_keeps_that_message_and_later_ones_as_a_version(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    chat = add_conversation(db, alice, "chat", ("q1", "a1", "q2", "a2"))
    db.commit()
    with pytest.raises(LookupError):
        conv.retire_from(session=db, user_id=bob.id, conversation_id=chat.id, seq=0)
    assert conv.retire_from(session=db, user_id=alice.id, conversation_id=chat.id, seq=2) == 2
    edited = conv.add_message(session=db, user_id=alice.id, conversation_id=chat.id, role="user", content="q2 edited")
    db.commit()
    assert shown(db, alice, chat) == [(0, "q1"), (1, "a1"), (2, "q2 edited")]
    assert count(db, Message) == 5  # nothing was deleted
    old = db.exec(select(Message).where(Message.content == "q2")).one()
    assert edited.parent_id == old.parent_id
    assert conv.versions(session=db, messages=[edited]) == {edited.id: conv.Version(2, 2, previous_id=old.id)}
    # Search and the page see only what is on screen.
    assert conv.list_conversations(session=db, user_id=alice.id, query="a2") == []
    page = conv.open_message_page(session=db, user_id=alice.id, conversation_id=chat.id)
    assert [m.content for m in page.messages] == ["q1", "a1", "q2 edited"]
    assert set(page.versions) == {edited.id}


def test_showing_a_version_brings_back_what_followed_it_as_last_chosen(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    chat = add_conversation(db, alice, "chat", ("q1", "a1", "q2", "a2"))
    cid = chat.id

    def add(role: str, text: str) -> Message:
        return conv.add_message(session=db, user_id=alice.id, conversation_id=cid, role=role, content=text)

    def by_text(text: str) -> Message:
        return db.exec(select(Message).where(Message.content == text)).one()

    conv.retire_from(session=db, user_id=alice.id, conversation_id=cid, seq=3)  # Regenerate a2
    add("assistant", "a2 again")
    conv.retire_from(session=db, user_id=alice.id, conversation_id=cid, seq=2)  # edit q2
    add("user", "q2 edited")
    add("assistant", "a2 edited")
    db.commit()
    assert shown(db, alice, chat)[2:] == [(2, "q2 edited"), (3, "a2 edited")]
    # Another user's id, or one of another conversation, is not found.
    assert not conv.show_version(session=db, user_id=bob.id, conversation_id=cid, message_id=by_text("q2").id)
    other = add_conversation(db, alice, "other", ("x",))
    assert not conv.show_version(session=db, user_id=alice.id, conversation_id=other.id, message_id=by_text("q2").id)
    # Back to q2: the newest of its answers follows it.
    assert conv.show_version(session=db, user_id=alice.id, conversation_id=cid, message_id=by_text("q2").id)
    db.commit()
    assert shown(db, alice, chat) == [(0, "q1"), (1, "a1"), (2, "q2"), (3, "a2 again")]
    # Choose the first answer, go to the edited question and back: the first answer is still chosen.
    assert conv.show_version(session=db, user_id=alice.id, conversation_id=cid, message_id=by_text("a2").id)
    assert conv.show_version(session=db, user_id=alice.id, conversation_id=cid, message_id=by_text("q2 edited").id)
    db.commit()
    assert shown(db, alice, chat)[2:] == [(2, "q2 edited"), (3, "a2 edited")]
    assert conv.show_version(session=db, user_id=alice.id, conversation_id=cid, message_id=by_text("q2").id)
    db.commit()
    assert shown(db, alice, chat)[2:] == [(2, "q2"), (3, "a2")]
    answers = conv.versions(session=db, messages=[by_text("a2")])
    assert answers[by_text("a2").id] == conv.Version(1, 2, next_id=by_text("a2 again").id)
    # A follow-up continues from the version on screen.
    follow = add("user", "q3")
    assert (follow.seq, follow.parent_id) == (4, by_text("a2").id)


def test_no_version_is_switched_while_an_answer_of_the_conversation_streams(db):
    alice = add_user(db)
    chat = add_conversation(db, alice, "chat", ("q1", "a1"))
    conv.retire_from(session=db, user_id=alice.id, conversation_id=chat.id, seq=1)
    conv.add_message(
        session=db, user_id=alice.id, conversation_id=chat.id, role="assistant", content="", status="streaming"
    )
    first = db.exec(select(Message).where(Message.content == "a1")).one()
    with pytest.raises(conv.AnswerRunning):
        conv.show_version(session=db, user_id=alice.id, conversation_id=chat.id, message_id=first.id)


def test_rename_conversation(db):
    alice = add_user(db)
    chat = add_conversation(db, alice, "old")
    assert conv.rename_conversation(session=db, user_id=alice.id, conversation_id=chat.id, title="  new \n  name ")
    db.commit()
    assert conv.get_conversation(session=db, user_id=alice.id, conversation_id=chat.id).title == "new name"
    assert conv.rename_conversation(session=db, user_id=alice.id, conversation_id=chat.id, title="   ")
    assert conv.rename_conversation(session=db, user_id=alice.id, conversation_id=chat.id + 1000, title="x") is False
    db.commit()
    with new_session(db) as later:
        assert later.get(Conversation, chat.id).title == "new name"


def test_delete_conversation_removes_its_messages(db):
    alice = add_user(db)
    gone = add_conversation(db, alice, "gone", ("q", "a"))
    kept = add_conversation(db, alice, "kept", ("q",))
    db.commit()
    assert conv.delete_conversation(session=db, user_id=alice.id, conversation_id=gone.id)
    db.commit()
    assert titles(conv.list_conversations(session=db, user_id=alice.id)) == ["kept"]
    assert list(db.exec(select(Message.conversation_id))) == [kept.id]
    assert not conv.delete_conversation(session=db, user_id=alice.id, conversation_id=gone.id)


def test_mark_interrupted_stops_streaming_answers_and_keeps_their_text(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    for user in (alice, bob):
        chat = add_conversation(db, user, "chat", ("question",))
        conv.add_message(
            session=db,
            user_id=user.id,
            conversation_id=chat.id,
            role="assistant",
            content="half an",
            status="streaming",
        )
    db.commit()
    after_the_crash = utcnow() + timedelta(seconds=conv.HEARTBEAT_STALE_SECONDS + 1)
    assert conv.mark_interrupted(session=db, now=after_the_crash) == 2
    db.commit()
    with new_session(db) as later:
        rows = sorted((m.role, m.status, m.content) for m in later.exec(select(Message)))
        assert rows == [("assistant", "stopped", "half an")] * 2 + [("user", "complete", "question")] * 2
        assert conv.mark_interrupted(session=later, now=after_the_crash) == 0


# --- pages of messages and conversations -------------------------------------------------------


def seqs(page: tuple[list[Message], bool] | None) -> tuple[list[int], bool] | None:
    return None if page is None else ([m.seq for m in page[0]], page[1])


def test_message_page_edges(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    empty = add_conversation(db, alice, "empty")
    three = add_conversation(db, alice, "three", ("q1", "a1", "q2"))
    four = add_conversation(db, alice, "four", ("q1", "a1", "q2", "a2"))
    db.commit()

    def page(conversation: Conversation, user: User = alice, **kwargs) -> tuple[list[int], bool] | None:
        return seqs(conv.get_message_page(session=db, user_id=user.id, conversation_id=conversation.id, **kwargs))

    assert page(empty) == ([], False)
    assert page(three, limit=3) == ([0, 1, 2], False)
    assert page(four, limit=3) == ([1, 2, 3], True)
    assert page(four, limit=3, before_seq=1) == ([0], False)
    assert page(four, limit=3, before_seq=0) == ([], False)
    assert page(four, limit=10, before_seq=99) == ([0, 1, 2, 3], False)
    assert page(four) == ([0, 1, 2, 3], False)
    assert page(four, user=bob) is None
    assert conv.get_message_page(session=db, user_id=alice.id, conversation_id=four.id + 1000) is None


def test_message_pages_walk_back_to_the_start_without_repeats(db):
    alice = add_user(db)
    chat = add_conversation(db, alice, "long", tuple(f"m{i}" for i in range(11)))
    add_conversation(db, alice, "other", ("x", "y"))
    db.commit()
    pages, before = [], None
    while True:
        messages, older = conv.get_message_page(
            session=db, user_id=alice.id, conversation_id=chat.id, before_seq=before, limit=4
        )
        pages.append([m.content for m in messages])
        if not older:
            break
        before = messages[0].seq
    assert pages == [["m7", "m8", "m9", "m10"], ["m3", "m4", "m5", "m6"], ["m0", "m1", "m2"]]


def test_recent_messages_are_the_last_ones_in_order_for_the_owner_only(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    chat = add_conversation(db, alice, "chat", ("q1", "a1", "q2", "a2", "q3"))
    db.commit()

    def recent(user: User, limit: int) -> list[str]:
        return [
            m.content for m in conv.recent_messages(session=db, user_id=user.id, conversation_id=chat.id, limit=limit)
        ]

    assert recent(alice, 2) == ["a2", "q3"]
    assert recent(alice, 50) == ["q1", "a1", "q2", "a2", "q3"]
    assert recent(alice, 0) == []
    assert recent(bob, 50) == []


def walk_conversation_pages(db: Session, user: User, limit: int, query: str = "") -> list[tuple[list[str], bool]]:
    pages, offset = [], 0
    while True:
        rows, more = conv.list_conversation_page(session=db, user_id=user.id, query=query, limit=limit, offset=offset)
        pages.append((titles(rows), more))
        if not more:
            return pages
        offset += len(rows)


def test_conversation_pages_with_equal_activity_times_neither_repeat_nor_skip(db):
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    same_time = utcnow() - timedelta(hours=1)
    for i in range(7):
        set_updated(db, add_conversation(db, alice, f"c{i}"), same_time)
    set_updated(db, add_conversation(db, bob, "bob's"), same_time)
    db.commit()

    pages = walk_conversation_pages(db, alice, limit=3)
    assert [more for _, more in pages] == [True, True, False]
    listed = [title for rows, _ in pages for title in rows]
    assert listed == ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]  # same time: newest created first
    assert listed == titles(conv.list_conversations(session=db, user_id=alice.id))
    assert walk_conversation_pages(db, alice, limit=7) == [(listed, False)]
    assert conv.list_conversation_page(session=db, user_id=alice.id, offset=7) == ([], False)


def test_conversation_pages_follow_last_activity_and_the_search(db):
    alice = add_user(db)
    base = utcnow() - timedelta(hours=1)
    for i in range(5):
        budget = add_conversation(db, alice, f"plan {i}", ("What is the BUDGET?",))
        set_updated(db, budget, base + timedelta(minutes=i))
        set_updated(db, add_conversation(db, alice, f"chat {i}", ("hello",)), base + timedelta(minutes=i))
    db.commit()

    assert walk_conversation_pages(db, alice, limit=2, query="budget") == [
        (["plan 4", "plan 3"], True),
        (["plan 2", "plan 1"], True),
        (["plan 0"], False),
    ]
    first, more = conv.list_conversation_page(session=db, user_id=alice.id, limit=4)
    assert (titles(first), more) == (["chat 4", "plan 4", "chat 3", "plan 3"], True)  # equal times: newer first


# --- the heartbeat of a streaming answer -------------------------------------------------------


def answering(db: Session, user: User, owner: str = "instance-a") -> Message:
    """A conversation with a question and its answer, still streaming, written by `owner`."""
    chat = add_conversation(db, user, "chat", ("question",))
    return conv.add_message(
        session=db,
        user_id=user.id,
        conversation_id=chat.id,
        role="assistant",
        content="",
        status="streaming",
        owner=owner,
    )


def set_heartbeat(db: Session, message: Message, when: datetime | None) -> None:
    message.heartbeat_at = when
    db.add(message)
    db.flush()


def is_recent(when: datetime | None) -> bool:
    return when is not None and abs(utcnow() - when) < timedelta(seconds=30)


def test_heartbeat_is_kept_while_streaming_and_cleared_at_the_end(db):
    alice = add_user(db)
    answer = answering(db, alice, owner="host-1:8000:" + "x" * 80)
    question = db.exec(select(Message).where(Message.seq == 0)).one()
    done = conv.add_message(
        session=db, user_id=alice.id, conversation_id=answer.conversation_id, role="assistant", content="x", owner="b"
    )
    db.commit()
    with new_session(db) as later:
        saved = later.get(Message, answer.id)
        assert saved.owner == ("host-1:8000:" + "x" * 80)[:64] and is_recent(saved.heartbeat_at)
        for finished in (later.get(Message, question.id), later.get(Message, done.id)):
            assert (finished.owner, finished.heartbeat_at) == ("", None)

    set_heartbeat(db, answer, utcnow() - timedelta(minutes=5))
    assert conv.update_message(session=db, user_id=alice.id, message_id=answer.id, content="par", status="streaming")
    db.commit()
    with new_session(db) as later:
        saved = later.get(Message, answer.id)
        assert saved.owner.startswith("host-1:8000:") and is_recent(saved.heartbeat_at)

    for status in ("complete", "stopped", "error"):
        assert conv.update_message(session=db, user_id=alice.id, message_id=answer.id, content="all", status=status)
        db.commit()
        with new_session(db) as later:
            saved = later.get(Message, answer.id)
            assert (saved.status, saved.owner, saved.heartbeat_at) == (status, "", None)


def test_beat_touches_only_streaming_answers(db):
    alice = add_user(db)
    beating, other = answering(db, alice), answering(db, alice)
    finished = answering(db, alice)
    conv.update_message(session=db, user_id=alice.id, message_id=finished.id, content="done", status="complete")
    long_ago = utcnow() - timedelta(minutes=5)
    set_heartbeat(db, beating, long_ago)
    set_heartbeat(db, other, long_ago)
    db.commit()

    assert conv.beat(session=db, message_ids=[beating.id, finished.id, beating.id + 1000]) == 1
    assert conv.beat(session=db, message_ids=[]) == 0
    db.commit()
    with new_session(db) as later:
        assert is_recent(later.get(Message, beating.id).heartbeat_at)
        assert later.get(Message, other.id).heartbeat_at == long_ago
        assert (later.get(Message, finished.id).status, later.get(Message, finished.id).heartbeat_at) == (
            "complete",
            None,
        )


def test_mark_interrupted_spares_answers_another_instance_is_writing(db):
    alice = add_user(db)
    now = utcnow()
    fresh, stale, silent = answering(db, alice, "live"), answering(db, alice, "gone"), answering(db, alice, "")
    set_heartbeat(db, fresh, now - timedelta(seconds=conv.HEARTBEAT_STALE_SECONDS - 2))
    set_heartbeat(db, stale, now - timedelta(seconds=conv.HEARTBEAT_STALE_SECONDS + 1))
    set_heartbeat(db, silent, None)  # written before heartbeats existed
    db.commit()

    assert conv.mark_interrupted(session=db, stale_after_seconds=conv.HEARTBEAT_STALE_SECONDS, now=now) == 2
    db.commit()
    with new_session(db) as later:
        assert (later.get(Message, fresh.id).status, later.get(Message, fresh.id).owner) == ("streaming", "live")
        for gone in (stale, silent):
            saved = later.get(Message, gone.id)
            assert (saved.status, saved.owner, saved.heartbeat_at) == ("stopped", "", None)
        # Once its writer has gone quiet long enough, that one is stopped too.
        assert conv.mark_interrupted(session=later, now=now + timedelta(seconds=conv.HEARTBEAT_STALE_SECONDS)) == 1


def test_old_conversations_are_those_idle_longer_than_the_limit(db):
    alice = add_user(db)
    now = utcnow()
    for title, age in (("ancient", 400), ("old", 31), ("recent", 29)):
        set_updated(db, add_conversation(db, alice, title), now - timedelta(days=age))
    db.commit()
    assert sorted(titles(conv.old_conversations(session=db, days=30, now=now))) == ["ancient", "old"]
    assert titles(conv.old_conversations(session=db, days=365, now=now)) == ["ancient"]
    assert sorted(titles(conv.old_conversations(session=db, days=30))) == ["ancient", "old"]


def test_times_read_back_as_the_same_utc_instant(db):
    """The test server runs in Asia/Seoul: a stored instant must come back unchanged and in UTC."""
    alice = add_user(db)
    chat = add_conversation(db, alice)
    written = datetime(2026, 3, 1, 23, 30, 15, 123456, tzinfo=UTC)
    set_updated(db, chat, written)
    db.commit()
    with new_session(db) as later:
        read = later.get(Conversation, chat.id).updated_at
        assert read == written and read.utcoffset() == timedelta(0)


def test_text_with_nul_characters_is_saved(db):
    """PostgreSQL text cannot hold NUL (SQLite can): a pasted or streamed NUL must not lose the message."""
    alice = add_user(db)
    chat = conv.create_conversation(session=db, user_id=alice.id, title="a\x00b")
    question = conv.add_message(
        session=db, user_id=alice.id, conversation_id=chat.id, role="user", content="q\x00", attachment_name="f\x00.txt"
    )
    answer = conv.add_message(session=db, user_id=alice.id, conversation_id=chat.id, role="assistant", content="")
    assert conv.update_message(
        session=db, user_id=alice.id, message_id=answer.id, content="an\x00swer", status="error", error="e\x00"
    )
    assert conv.rename_conversation(session=db, user_id=alice.id, conversation_id=chat.id, title="x\x00y")
    db.commit()
    with new_session(db) as later:
        assert later.get(Conversation, chat.id).title == "xy"
        assert (later.get(Message, question.id).content, later.get(Message, question.id).attachment_name) == (
            "q",
            "f.txt",
        )
        assert (later.get(Message, answer.id).content, later.get(Message, answer.id).error) == ("answer", "e")


def test_make_title_is_one_short_line():
    assert conv.make_title("  How do I\n reset   my password? ") == "How do I reset my password?"
    long = conv.make_title("Please summarise the attached quarterly report for the board")
    assert long.endswith("…") and len(long) <= 30
    assert long.startswith("Please summarise the attached")
    assert conv.make_title(" \n ") == "New chat"


# --- migrations ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'migrations.db').as_posix()}"
    return pg.create_database(request.getfixturevalue("postgres_url"), "fabrix_migrations")


def test_migrations_upgrade_downgrade_and_upgrade_again(empty_db_url):
    engine = make_engine(empty_db_url)
    try:
        migrate(empty_db_url, "upgrade", "head")
        assert APP_TABLES <= set(inspect(engine).get_table_names())
        check = alembic(empty_db_url, "check")  # the models and the migrated schema agree
        assert check.returncode == 0, check.stdout + check.stderr

        migrate(empty_db_url, "downgrade", "base")
        assert not APP_TABLES & set(inspect(engine).get_table_names())

        migrate(empty_db_url, "upgrade", "head")
        assert APP_TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migration_0003_adds_the_heartbeat_to_an_existing_database(empty_db_url):
    """A database at 0002 with an answer cut off mid-stream: after the upgrade that answer has no
    writer and no heartbeat, so the next start stops it."""
    engine = make_engine(empty_db_url)
    try:
        migrate(empty_db_url, "upgrade", "0002")
        with Session(engine) as session:
            # The users table as 0002 has it (the model has columns added later).
            users_0002 = sa.table(
                "users",
                *(sa.column(name) for name in ("id", "username", "email", "password_hash", "is_admin", "is_active")),
                sa.column("must_change_password"),
                sa.column("created_at", UTCDateTime()),
            )
            alice_id = session.execute(
                users_0002.insert()
                .values(
                    username="alice",
                    email="alice@example.com",
                    password_hash="hash",
                    is_admin=False,
                    is_active=True,
                    must_change_password=False,
                    created_at=utcnow(),
                )
                .returning(users_0002.c.id)
            ).scalar_one()
            # The tables as 0002 has them: the models now have columns this database lacks.
            conversations_0002 = sa.table(
                "conversations",
                *(sa.column(name) for name in ("id", "user_id", "title", "agent_id")),
                sa.column("created_at", UTCDateTime()),
                sa.column("updated_at", UTCDateTime()),
            )
            chat_id = session.execute(
                conversations_0002.insert()
                .values(user_id=alice_id, title="before", agent_id="", created_at=utcnow(), updated_at=utcnow())
                .returning(conversations_0002.c.id)
            ).scalar_one()
            plain = (
                "conversation_id",
                "seq",
                "role",
                "content",
                "status",
                "error",
                "attachment_name",
                "attachment_size",
            )
            messages_0002 = sa.table(
                "messages",
                *(sa.column(name) for name in plain),
                sa.column("created_at", UTCDateTime()),
                sa.column("updated_at", UTCDateTime()),
            )
            row = dict(conversation_id=chat_id, seq=0, role="assistant", content="half", status="streaming")
            row |= dict(error="", attachment_name="", attachment_size=0, created_at=utcnow(), updated_at=utcnow())
            session.execute(messages_0002.insert().values(**row))
            session.commit()

        migrate(empty_db_url, "upgrade", "head")
        assert {"owner", "heartbeat_at"} <= {c["name"] for c in inspect(engine).get_columns("messages")}
        with Session(engine) as session:
            (answer,) = session.exec(select(Message)).all()
            assert (answer.content, answer.status, answer.owner, answer.heartbeat_at) == ("half", "streaming", "", None)
            assert conv.mark_interrupted(session=session) == 1
            session.commit()

        migrate(empty_db_url, "downgrade", "0002")
        assert not {"owner", "heartbeat_at"} & {c["name"] for c in inspect(engine).get_columns("messages")}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT content, status FROM messages")).all() == [("half", "stopped")]
    finally:
        engine.dispose()


def test_migration_0007_makes_an_existing_conversation_a_line_of_versions(empty_db_url):
    """A database at 0006: each message follows the one before it after the upgrade, so versions
    start from there; the downgrade keeps only the versions on screen."""
    engine = make_engine(empty_db_url)
    try:
        migrate(empty_db_url, "upgrade", "0006")
        now = utcnow()
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (username, email, password_hash, is_admin, is_active, created_at,"
                    " must_change_password) VALUES ('kim', 'kim@example.com', 'x', false, true, :now, false)"
                ),
                {"now": now},
            )
            user_id = connection.execute(text("SELECT id FROM users")).scalar_one()
            connection.execute(
                text(
                    "INSERT INTO conversations (user_id, title, agent_id, created_at, updated_at)"
                    " VALUES (:user, 'old', '', :now, :now)"
                ),
                {"user": user_id, "now": now},
            )
            chat_id = connection.execute(text("SELECT id FROM conversations")).scalar_one()
            for seq, (role, content) in enumerate(
                (("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2"))
            ):
                connection.execute(
                    text(
                        "INSERT INTO messages (conversation_id, seq, role, content, status, error, attachment_name,"
                        " attachment_size, created_at, updated_at, owner, feedback, feedback_comment)"
                        " VALUES (:chat, :seq, :role, :content, 'complete', '', '', 0, :now, :now, '', 0, '')"
                    ),
                    {"chat": chat_id, "seq": seq, "role": role, "content": content, "now": now},
                )

        migrate(empty_db_url, "upgrade", "head")
        with Session(engine, expire_on_commit=False) as session:
            rows = session.exec(select(Message).order_by(Message.seq)).all()
            assert [m.parent_id for m in rows] == [None, rows[0].id, rows[1].id, rows[2].id]
            assert all(m.current for m in rows)
            # Regenerate the last answer: the old one is a version beside the new one.
            conv.retire_from(session=session, user_id=user_id, conversation_id=chat_id, seq=3)
            again = conv.add_message(
                session=session, user_id=user_id, conversation_id=chat_id, role="assistant", content="a2 again"
            )
            session.commit()
            assert conv.versions(session=session, messages=[again])[again.id] == conv.Version(
                2, 2, previous_id=rows[3].id
            )

        migrate(empty_db_url, "downgrade", "0006")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT seq, content FROM messages ORDER BY seq")).all() == [
                (0, "q1"),
                (1, "a1"),
                (2, "q2"),
                (3, "a2 again"),
            ]
    finally:
        engine.dispose()


def test_idle_sessions_and_unredeemed_tickets_are_purged(session) -> None:
    from fabrix_chat.services import auth as auth_service

    user = users.create_user(session=session, username="kim", email="kim@example.com", password_hash="x")
    fresh = users.create_session(session=session, user_id=user.id, token_hash="a" * 64)
    idle = users.create_session(session=session, user_id=user.id, token_hash="b" * 64)
    idle.last_seen_at = utcnow() - timedelta(minutes=31)
    _, placeholder = auth_service.new_ticket_nonce()
    ticket = users.create_session(session=session, user_id=user.id, token_hash=placeholder)
    ticket.created_at = utcnow() - timedelta(seconds=auth_service.TICKET_SECONDS + 1)
    session.flush()
    purged = users.purge_sessions(
        session=session,
        idle_minutes=30,
        ticket_seconds=auth_service.TICKET_SECONDS,
        placeholder_prefix=auth_service.PLACEHOLDER_PREFIX,
    )
    assert purged == 2
    left = session.exec(select(AuthSession)).all()
    assert [s.id for s in left] == [fresh.id]


def test_the_id_of_a_deleted_newest_message_is_never_given_again(db):
    """Answers are found by id while they stream (the running answers, the live board, the page's
    buffer): a regenerated answer must never get the id of the one it replaced."""
    user = add_user(db)
    conversation = add_conversation(db, user, messages=("question", "answer"))
    newest = max(m.id for m in conv.get_messages(session=db, user_id=user.id, conversation_id=conversation.id))
    db.delete(db.get(Message, newest))
    db.commit()
    again = conv.add_message(
        session=db, user_id=user.id, conversation_id=conversation.id, role="assistant", content="", status="streaming"
    )
    db.commit()
    assert again.id > newest


# --- the company features' records (issue 13), on SQLite and PostgreSQL ---------------------------


def test_usage_totals_per_day_user_and_agent_for_a_range(db):
    from fabrix_chat.repo import usage

    at = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    for username, agent, minutes, tokens in (("kim", "a1", 0, 3), ("kim", "a1", 60, 4), ("lee", "a2", 0, 5)):
        db.add(
            UsageRecord(
                username=username,
                agent_id=agent,
                kind="chat",
                tokens_in=tokens,
                created_at=at + timedelta(minutes=minutes),
            )
        )
    db.add(UsageRecord(username="old", agent_id="a1", kind="chat", created_at=at - timedelta(days=40)))
    db.flush()
    rows = usage.daily_totals(
        session=db, since=at - timedelta(days=1), until=at + timedelta(days=1), tz_offset_minutes=540
    )
    # KST: 23:30 UTC is the next morning, 00:30 UTC later that morning too.
    assert [(r["day"], r["user"], r["agent"], r["requests"], r["tokens_in"]) for r in rows] == [
        ("2026-12-01", "kim", "a1", 2, 7),
        ("2026-12-01", "lee", "a2", 1, 5),
    ]


def test_audit_records_are_filtered_newest_first_and_purged(db):
    from fabrix_chat.repo import audit

    for actor, action, days_ago in (("kim", "sign_in", 0), ("lee", "sign_in_failed", 1), ("kim", "user_delete", 500)):
        row = audit.record(session=db, action=action, actor=actor, client="10.0.0.1")
        row.created_at = utcnow() - timedelta(days=days_ago)
    db.flush()
    assert [r.actor for r in audit.list_records(session=db)] == ["kim", "lee", "kim"]
    assert [r.action for r in audit.list_records(session=db, user="KI")] == ["sign_in", "user_delete"]
    assert [r.action for r in audit.list_records(session=db, action="in_f")] == ["sign_in_failed"]
    assert audit.list_records(session=db, user="%") == []  # % matches itself only
    assert [r.actor for r in audit.list_records(session=db, since=utcnow() - timedelta(days=2))] == ["kim", "lee"]
    assert audit.purge_older(session=db, days=365) == 1


def test_an_invitation_is_used_once(db):
    from fabrix_chat.repo import invitations

    row, code = invitations.create(session=db, email="new@example.com", days=7, created_by="root")
    found = invitations.find_open(session=db, code=code.lower())
    assert found == invitations.OpenInvitation(row.id, "new@example.com")
    assert invitations.any_open(session=db)
    assert invitations.use(session=db, invitation_id=row.id, username="kim")
    assert not invitations.use(session=db, invitation_id=row.id, username="lee")
    assert invitations.find_open(session=db, code=code) is None and not invitations.any_open(session=db)
    assert invitations.revoke(session=db, invitation_id=row.id) is None  # used: nothing to revoke
    assert invitations.find_open(session=db, code="") is None
