"""Users and their server-side sign-in sessions. Data functions only: no Reflex here."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, delete, select, update

from fabrix_chat.models import AuthSession, Conversation, Message, User, utcnow
from fabrix_chat.repo.conversations import LIKE_ESCAPE, escape_like

# Sessions are touched at most this often, so a busy user does not write on every click.
TOUCH_INTERVAL = timedelta(seconds=60)


class DuplicateUser(ValueError):
    """The username or the email is taken; `field` says which."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


def normalize_username(username: str) -> str:
    return username.strip().lower()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get_user(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == normalize_username(username))).first()


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def _taken_field(session: Session, username: str, email: str) -> str | None:
    if session.exec(select(User.id).where(User.username == username)).first() is not None:
        return "username"
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        return "email"
    return None


def _savepoint(session: Session) -> SessionTransaction:
    """A SAVEPOINT inside the session's transaction, so a failed statement does not end it.

    pysqlite sends BEGIN only before its first INSERT/UPDATE/DELETE; after reads alone a SAVEPOINT
    would open the transaction itself and releasing it would commit everything. Begin it first.
    """
    connection = session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, sqlite3.Connection) and not dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
    return session.begin_nested()


def create_user(
    *,
    session: Session,
    username: str,
    email: str,
    password_hash: str,
    is_admin: bool = False,
    must_change_password: bool = False,
    auth_source: str = "local",
) -> User:
    """Add a user; raises DuplicateUser when the username or email is taken."""
    username, email = normalize_username(username), normalize_email(email)
    taken = _taken_field(session, username, email)
    if taken:
        raise DuplicateUser(taken)
    user = User(
        username=username,
        email=email,
        password_hash=password_hash,
        is_admin=is_admin,
        must_change_password=must_change_password,
        auth_source=auth_source,
    )
    # Someone may register the same name between the check above and this insert: the unique
    # index refuses it, and only the savepoint is rolled back, not the caller's transaction.
    try:
        with _savepoint(session):
            session.add(user)
            session.flush()
    except IntegrityError:
        taken = _taken_field(session, username, email)
        if taken is None:
            raise
        raise DuplicateUser(taken) from None
    return user


def list_users(*, session: Session, query: str = "", limit: int = 500) -> list[User]:
    """Users by name; `query` matches part of the username or email (% and _ match themselves)."""
    stmt = select(User).order_by(User.username).limit(limit)
    if query.strip():
        like = f"%{escape_like(query.strip().lower())}%"
        stmt = stmt.where(
            or_(col(User.username).like(like, escape=LIKE_ESCAPE), col(User.email).like(like, escape=LIKE_ESCAPE))
        )
    return list(session.exec(stmt))


def user_content_counts(*, session: Session, user_id: int) -> tuple[int, int]:
    """How many conversations and messages belong to the user."""
    conversations = session.exec(
        select(func.count()).select_from(Conversation).where(Conversation.user_id == user_id)
    ).one()
    messages = session.exec(
        select(func.count())
        .select_from(Message)
        .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
        .where(Conversation.user_id == user_id)
    ).one()
    return conversations, messages


def set_password_hash(*, session: Session, user_id: int, password_hash: str, must_change: bool = False) -> None:
    """A new password; `must_change` when someone else chose it (the user picks their own at sign-in)."""
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    user.password_hash = password_hash
    user.must_change_password = must_change
    session.add(user)


def replace_given_password(
    *, session: Session, user_id: int, given_digest: str, digest: Callable[[str], str], password_hash: str
) -> bool:
    """The user's own password in place of one chosen for them, once, in one transaction: only
    while that given password (identified by `digest(hash) == given_digest`) is still the one set
    and still to be changed. Every other session of the user ends."""
    user = session.get(User, user_id)
    if user is None or not user.must_change_password or digest(user.password_hash) != given_digest:
        return False
    user.password_hash = password_hash
    user.must_change_password = False
    session.add(user)
    session.exec(delete(AuthSession).where(AuthSession.user_id == user_id))
    return True


def set_email(*, session: Session, user_id: int, email: str) -> None:
    """Change a user's email (the identity sent to FabriX); DuplicateUser when another has it."""
    email = normalize_email(email)
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    if session.exec(select(User.id).where(User.email == email, User.id != user_id)).first() is not None:
        raise DuplicateUser("email")
    user.email = email
    session.add(user)


def set_active(*, session: Session, user_id: int, active: bool) -> None:
    _set_flag(session, user_id, "is_active", active)


def set_admin(*, session: Session, user_id: int, admin: bool) -> None:
    _set_flag(session, user_id, "is_admin", admin)


def _set_flag(session: Session, user_id: int, name: str, value: bool) -> None:
    """Set a user's is_active or is_admin; taking either away ends the user's sessions."""
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    setattr(user, name, value)
    session.add(user)
    if not value:
        end_user_sessions(session=session, user_id=user_id)


def delete_user(*, session: Session, user_id: int) -> tuple[int, int]:
    """Delete the user with everything they own; returns (conversations, messages) deleted."""
    counts = user_content_counts(session=session, user_id=user_id)
    conversation_ids = select(Conversation.id).where(Conversation.user_id == user_id)
    session.exec(delete(Message).where(col(Message.conversation_id).in_(conversation_ids)))
    session.exec(delete(Conversation).where(Conversation.user_id == user_id))
    session.exec(delete(AuthSession).where(AuthSession.user_id == user_id))
    user = session.get(User, user_id)
    if user is not None:
        session.delete(user)
    return counts


# --- sign-in sessions -------------------------------------------------------------------


def create_session(*, session: Session, user_id: int, token_hash: str, client: str = "") -> AuthSession:
    auth = AuthSession(user_id=user_id, token_hash=token_hash, client=client[:100])
    session.add(auth)
    user = session.get(User, user_id)
    if user is not None:
        user.last_login_at = utcnow()
        session.add(user)
    session.flush()
    return auth


def redeem_session(
    *, session: Session, session_id: int, placeholder_hash: str, token_hash: str, max_age_seconds: int
) -> bool:
    """Give a new session its real token, once: the row must still hold its placeholder and be
    younger than max_age_seconds. A second redemption of the same ticket changes nothing."""
    cutoff = utcnow() - timedelta(seconds=max_age_seconds)
    result = session.exec(
        update(AuthSession)
        .where(AuthSession.id == session_id)
        .where(AuthSession.token_hash == placeholder_hash)
        .where(AuthSession.created_at >= cutoff)
        .values(token_hash=token_hash, last_seen_at=utcnow())
    )
    return (result.rowcount or 0) == 1


def get_session_user(*, session: Session, token_hash: str, idle_minutes: int) -> User | None:
    """The active user of a live session, touching it; None when unknown, idle too long or disabled."""
    auth = session.exec(select(AuthSession).where(AuthSession.token_hash == token_hash)).first()
    if auth is None:
        return None
    now = utcnow()
    if now - auth.last_seen_at > timedelta(minutes=idle_minutes):
        session.delete(auth)
        return None
    user = session.get(User, auth.user_id)
    if user is None or not user.is_active:
        session.delete(auth)
        return None
    if now - auth.last_seen_at > TOUCH_INTERVAL:
        auth.last_seen_at = now
        session.add(auth)
    return user


def purge_sessions(*, session: Session, idle_minutes: int, ticket_seconds: int, placeholder_prefix: str) -> int:
    """Forget sessions idle too long and sign-in tickets never redeemed (rows whose token_hash
    still starts with `placeholder_prefix`); returns how many."""
    now = utcnow()
    idle = session.exec(delete(AuthSession).where(AuthSession.last_seen_at < now - timedelta(minutes=idle_minutes)))
    unredeemed = session.exec(
        delete(AuthSession)
        .where(col(AuthSession.token_hash).startswith(placeholder_prefix))
        .where(AuthSession.created_at < now - timedelta(seconds=ticket_seconds))
    )
    return (idle.rowcount or 0) + (unredeemed.rowcount or 0)


def end_session(*, session: Session, token_hash: str) -> None:
    session.exec(delete(AuthSession).where(AuthSession.token_hash == token_hash))


def end_user_sessions(*, session: Session, user_id: int) -> int:
    result = session.exec(delete(AuthSession).where(AuthSession.user_id == user_id))
    return result.rowcount or 0
