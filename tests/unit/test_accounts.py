"""The account rules (services/accounts.py) that sign-up, the admin page and `manage` share, on a
real SQLite database."""

from __future__ import annotations

import pytest
from sqlmodel import select

from fabrix_chat import i18n
from fabrix_chat.db import session_scope
from fabrix_chat.models import AuthSession, Conversation, Message, User
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import accounts
from fabrix_chat.services.accounts import AccountError

HASH = "$2b$12$" + "x" * 53


def add(engine, username: str, email: str = "", **kwargs) -> int:
    with session_scope(engine) as session:
        user = accounts.create(
            session=session, username=username, email=email or f"{username}@example.com", password_hash=HASH, **kwargs
        )
        return user.id


def sessions_of(engine, user_id: int) -> int:
    with session_scope(engine) as session:
        return len(list(session.exec(select(AuthSession).where(AuthSession.user_id == user_id))))


def sign_in(engine, user_id: int, n: int = 1) -> None:
    with session_scope(engine) as session:
        for i in range(n):
            users_repo.create_session(session=session, user_id=user_id, token_hash=f"h{user_id}-{i}")


def user(engine, user_id: int) -> User:
    with session_scope(engine) as session:
        found = session.get(User, user_id)
        session.expunge(found)
        return found


def test_a_new_account_is_normalized_and_checked_in_order() -> None:
    assert accounts.new_account(" Kim ", " Kim@Example.COM ", "long enough 1") == ("kim", "kim@example.com")
    with pytest.raises(AccountError) as refused:
        accounts.new_account("no spaces allowed", "bad", "short")
    assert refused.value.key == "username_invalid"
    with pytest.raises(AccountError) as refused:
        accounts.new_account("kim", "bad", "short")
    assert refused.value.key == "email_invalid"
    with pytest.raises(AccountError) as refused:
        accounts.new_account("kim", "kim@example.com", "short")
    assert refused.value.key == "password_too_short"
    assert accounts.new_account("kim", "kim@example.com", None) == ("kim", "kim@example.com")  # no password here


def test_self_sign_up_is_held_to_the_allowed_domains_and_says_which() -> None:
    with pytest.raises(AccountError) as refused:
        accounts.new_account("kim", "kim@gmail.com", "long enough 1", allowed_domains=("samsung.com", "sds.co.kr"))
    assert refused.value.key == "email_domain"
    assert "samsung.com, sds.co.kr" in i18n.error_text(refused.value, "ko")
    assert accounts.new_account("kim", "kim@sds.co.kr", "long enough 1", allowed_domains=("sds.co.kr",))


def test_a_taken_username_or_email_is_refused_with_its_own_text(app_db) -> None:
    add(app_db, "kim")
    for username, email, key in (
        ("kim", "other@example.com", "username_taken"),
        ("lee", "kim@example.com", "email_taken"),
    ):
        with pytest.raises(AccountError) as refused:
            add(app_db, username, email)
        assert refused.value.key == key and str(refused.value) == i18n.t(key)


def test_a_password_chosen_by_someone_else_works_once_and_ends_every_session(app_db) -> None:
    kim = add(app_db, "kim", chosen_by_other=True)
    assert user(app_db, kim).must_change_password
    sign_in(app_db, kim, 3)
    with session_scope(app_db) as session:
        ended = accounts.set_password(session=session, user_id=kim, password_hash=HASH, chosen_by_other=True)
    assert ended == 3 and sessions_of(app_db, kim) == 0 and user(app_db, kim).must_change_password
    sign_in(app_db, kim, 2)
    with session_scope(app_db) as session:  # an admin changing their own password keeps their session
        ended = accounts.set_password(
            session=session, user_id=kim, password_hash=HASH, chosen_by_other=False, keep_sessions=True
        )
    assert ended == 0 and sessions_of(app_db, kim) == 2 and not user(app_db, kim).must_change_password


def test_disabling_or_demoting_ends_the_sessions_and_promoting_enables(app_db) -> None:
    kim = add(app_db, "kim", is_admin=True)
    sign_in(app_db, kim)
    with session_scope(app_db) as session:
        accounts.set_admin(session=session, user_id=kim, admin=False)
    assert sessions_of(app_db, kim) == 0
    sign_in(app_db, kim)
    with session_scope(app_db) as session:
        accounts.set_active(session=session, user_id=kim, active=False)
    assert sessions_of(app_db, kim) == 0 and not user(app_db, kim).is_active
    with session_scope(app_db) as session:
        assert accounts.promote(session=session, user=session.get(User, kim)) is True  # it had been disabled
    assert user(app_db, kim).is_admin and user(app_db, kim).is_active


def test_an_email_is_corrected_only_to_a_free_valid_one(app_db) -> None:
    kim, lee = add(app_db, "kim"), add(app_db, "lee")
    with session_scope(app_db) as session:
        assert accounts.set_email(session=session, user_id=kim, email=" Kim@SDS.co.kr ") == "kim@sds.co.kr"
    for email, key in (
        ("lee@example.com", "email_taken"),
        ("not an email", "email_invalid"),
        ("x" * 300, "field_too_long"),
    ):
        with pytest.raises(AccountError) as refused, session_scope(app_db) as session:
            accounts.set_email(session=session, user_id=kim, email=email)
        assert refused.value.key == key
    assert user(app_db, kim).email == "kim@sds.co.kr" and user(app_db, lee).email == "lee@example.com"


def test_deleting_an_account_takes_what_goes_with_it_and_nothing_of_others(app_db) -> None:
    kim, lee = add(app_db, "kim"), add(app_db, "lee")
    with session_scope(app_db) as session:
        for owner in (kim, lee):
            conversation = Conversation(user_id=owner, title="t")
            session.add(conversation)
            session.flush()
            session.add_all(
                [Message(conversation_id=conversation.id, seq=i, role="user", content="q") for i in range(2)]
            )
    sign_in(app_db, kim)
    with session_scope(app_db) as session:
        assert accounts.delete(session=session, user_id=kim) == (1, 2)
    with session_scope(app_db) as session:
        assert session.get(User, kim) is None and session.get(User, lee) is not None
        assert [c.user_id for c in session.exec(select(Conversation))] == [lee]
        assert len(list(session.exec(select(Message)))) == 2
    assert sessions_of(app_db, kim) == 0
