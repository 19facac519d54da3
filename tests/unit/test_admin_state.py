"""The admin page's handlers, called directly on a real state tree over a real SQLite database.

A signed-out visitor or a user who is not an administrator is refused by every handler (nothing
changes, nothing is shown); an administrator's actions each do what the page promises.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from fabrix_chat import db, i18n
from fabrix_chat.config import FabrixSettings, ServerSettings, Settings
from fabrix_chat.db import make_engine, session_scope
from fabrix_chat.fabrix.errors import FabrixUnavailable
from fabrix_chat.logging_setup import log_file_path
from fabrix_chat.models import Message, UsageRecord, User, utcnow
from fabrix_chat.repo import announcements as announcements_repo
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import invitations as invitations_repo
from fabrix_chat.repo import prompts as prompts_repo
from fabrix_chat.repo import shares as share_repo
from fabrix_chat.repo import usage as usage_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import files as file_service
from fabrix_chat.services import maintenance
from fabrix_chat.state.admin import AdminState, logs
from fabrix_chat.state.admin import maintenance as maintenance_tab
from fabrix_chat.state.admin import settings as settings_tab
from fabrix_chat.state.admin.conversations import ShareItem
from fabrix_chat.state.admin.prompts import PublishedRow
from fabrix_chat.state.admin.settings import SettingsSection
from fabrix_chat.state.admin.usage import USAGE_DAYS
from fabrix_chat.state.admin.users import UserRow
from fabrix_chat.state.auth import AuthState
from fabrix_chat.state.ui import UIState
from tests import reflex_tab
from tests.reflex_tab import redirect_path

SECRET_TOKEN = "Bearer tok-0123456789-very-secret"
PASSWORD = "correct-horse-9"


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        server=ServerSettings(data_dir=str(tmp_path / "data")),
        fabrix_api=FabrixSettings(openapi_token=SECRET_TOKEN),
    )


@pytest.fixture
def engine(settings: Settings, monkeypatch) -> Iterator[Engine]:
    """The migrated database of `settings`, used by run_db and by the admin state's settings."""
    maintenance.migrate(settings)
    engine = make_engine(settings.database_url)
    monkeypatch.setattr(db, "get_engine", lambda: engine)
    for module in (logs, maintenance_tab, settings_tab):
        monkeypatch.setattr(module, "get_settings", lambda: settings)
    yield engine
    engine.dispose()


def add_user(engine: Engine, username: str, *, admin: bool = False, password: str = PASSWORD) -> int:
    with session_scope(engine) as session:
        user = users_repo.create_user(
            session=session,
            username=username,
            email=f"{username}@example.com",
            password_hash=auth_service.hash_password(password),
            is_admin=admin,
        )
        assert user.id is not None
        return user.id


def sign_in(engine: Engine, user_id: int) -> str:
    """A live session for the user, as the log-in page makes; returns the cookie's token."""
    token, token_hash = auth_service.new_session_token()
    with session_scope(engine) as session:
        users_repo.create_session(session=session, user_id=user_id, token_hash=token_hash)
    return token


def session_alive(engine: Engine, token: str) -> bool:
    with session_scope(engine) as session:
        user = users_repo.get_session_user(session=session, token_hash=auth_service.hash_token(token), idle_minutes=30)
        return user is not None


def add_conversation(engine: Engine, user_id: int, texts: list[str], *, title: str = "t", age_days: float = 0) -> int:
    with session_scope(engine) as session:
        conversation = conv_repo.create_conversation(session=session, user_id=user_id, title=title)
        assert conversation.id is not None
        for seq, text in enumerate(texts):
            role = "user" if seq % 2 == 0 else "assistant"
            session.add(Message(conversation_id=conversation.id, seq=seq, role=role, content=text))
        conversation.updated_at = utcnow() - timedelta(days=age_days)
        session.add(conversation)
        return conversation.id


def add_share(engine: Engine, user_id: int, conversation_id: int) -> int:
    with session_scope(engine) as session:
        share = share_repo.share(session=session, user_id=user_id, conversation_id=conversation_id)
        assert share is not None and share.id is not None
        return share.id


def add_published_prompt(engine: Engine, title: str, body: str) -> int:
    with session_scope(engine) as session:
        prompt = prompts_repo.publish_prompt(session=session, title=title, body=body)
        assert prompt.id is not None
        return prompt.id


def admin_handlers() -> dict[str, Any]:
    """Every event handler of the admin page (AdminState's and its tab states'), by name."""
    handlers: dict[str, Any] = {}
    for state in (AdminState, *AdminState.get_substates()):
        for name, handler in state.event_handlers.items():
            if name not in AuthState.event_handlers:
                handlers[name] = handler
    return handlers


class AdminTab(reflex_tab.Tab):
    """One browser tab on /admin, whose admin vars are read and set on the state that holds them
    (AdminState or one of its tab states)."""

    def _holder(self, name: str) -> AdminState:
        for state_cls in AdminState.get_substates():
            if reflex_tab.owns_var(state_cls, name):
                return self.get(state_cls)
        return self.get(AdminState)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._holder(name), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("root", "token", "client_ip"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._holder(name), name, value)


def new_state(token: str = "") -> AdminTab:
    return AdminTab(token, "/admin")


async def call(tab: AdminTab, name: str, *args: Any) -> list[Any]:
    """Run one handler the way Reflex does; returns what it returned or yielded (Nones dropped)."""
    handler = admin_handlers()[name]
    result = handler.fn(tab.get(handler.state), *args)
    if inspect.isasyncgen(result):
        out = [item async for item in result]
    else:
        out = [await result]
    flat: list[Any] = []
    for item in out:
        flat.extend(item if isinstance(item, list) else [item])
    return [item for item in flat if item is not None]


def table_dump(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the tables an admin action could change."""
    with closing(sqlite3.connect(str(engine.url.database))) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in (
                "users",
                "auth_sessions",
                "conversations",
                "messages",
                "usage_records",
                "prompts",
                "shares",
                "invitations",
                "announcements",
                "audit_records",
            )
        }


def others_rows(dump: dict[str, list[tuple]], requester: int) -> dict[str, list[tuple]]:
    """The dump without the requester's own sign-in sessions (a disabled user's are dropped on sight)."""
    return {**dump, "auth_sessions": [row for row in dump["auth_sessions"] if row[1] != requester]}


# Every event handler of the admin page, with arguments that would do something if allowed.
def handler_calls(victim_id: int, conversation_id: int, prompt_id: int = 1, share_id: int = 1) -> dict[str, tuple]:
    return {
        "load_page": (),
        "select_tab": ("settings",),
        "set_user_query": ("a",),
        "create_user": ({"username": "mallory", "email": "m@example.com", "password": PASSWORD, "is_admin": "on"},),
        "disable_user": (victim_id,),
        "enable_user": (victim_id,),
        "make_admin": (victim_id,),
        "remove_admin": (victim_id,),
        "open_reset": (victim_id,),
        "close_reset": (),
        "set_password": ({"new_password": "new-password-1"},),
        "generate_password": (),
        "open_email": (victim_id,),
        "close_email": (),
        "save_email": ({"email": "stolen@example.com"},),
        "ask_delete_user": (victim_id,),
        "cancel_delete_user": (),
        "confirm_delete_user": (),
        "set_question_limit": (victim_id, "1"),
        "set_token_limit": (victim_id, "1"),
        "set_conv_user": (str(victim_id),),
        "set_conv_query": ("secret",),
        "open_conversation": (conversation_id,),
        "close_conversation": (),
        "ask_delete_conversation": (conversation_id,),
        "cancel_delete_conversation": (),
        "confirm_delete_conversation": (),
        "revoke_share": (share_id,),
        "create_invitation": ({"email": "mallory@example.com", "days": "7"},),
        "revoke_invitation": (1,),
        "post_announcement": ({"text": "Mallory was here", "level": "warning", "ends_at": ""},),
        "remove_announcement": (1,),
        "set_audit_filter": ({"user": "victim", "action": "", "from": "", "to": ""},),
        "export_audit": (),
        "export_usage": ({"from": "", "to": ""},),
        "refresh_usage": (),
        "set_log_level": ("ERROR",),
        "refresh_logs": (),
        "back_up_now": (),
        "check_integrity": (),
        "optimize_database": (),
        "set_cleanup_days": ("1",),
        "preview_cleanup": ({"days": "1"},),
        "ask_cleanup": (),
        "cancel_cleanup": (),
        "confirm_cleanup": (),
        "publish_prompt": ({"title": "Mallory's", "body": "Send me your password"},),
        "delete_published_prompt": (prompt_id,),
    }


def own_handlers() -> set[str]:
    """The event handlers AdminState and its tab states add to those of AuthState."""
    return set(admin_handlers())


ADMIN_DATA = (
    "users",
    "conversations",
    "view_messages",
    "usage_by_user",
    "log_lines",
    "backups",
    "settings_sections",
    "published_prompts",
    "shares",
    "invitations",
    "invitation_code",
    "announcement_rows",
    "audit_rows",
)


def shows_no_admin_data(state: AdminTab) -> bool:
    return all(not getattr(state, name) for name in ADMIN_DATA) and not state.generated_password


# --- who may use the page ----------------------------------------------------------------------


def test_the_refusal_list_covers_every_handler() -> None:
    assert set(handler_calls(1, 1)) == own_handlers()


def test_every_admin_handler_goes_through_the_admin_rule() -> None:
    unchecked = [name for name, handler in admin_handlers().items() if not getattr(handler.fn, "admin_only", False)]
    assert unchecked == []


async def test_an_admin_handler_takes_its_arguments_by_name_as_reflex_passes_them(engine, admin) -> None:
    handler = admin_handlers()["select_tab"]
    assert list(inspect.signature(handler.fn).parameters) == ["self", "tab"]  # the admin is not an argument
    assert reflex_tab.event_arguments(handler) == {"tab": str}
    await handler.fn(admin.get(handler.state), tab="settings")
    assert admin.tab == "settings" and admin.settings_sections


async def test_a_signed_out_visitor_is_sent_to_login(engine) -> None:
    state = new_state()
    assert redirect_path(await call(state, "load_page")) == "/login"
    assert shows_no_admin_data(state)


@pytest.mark.parametrize("who", ["signed out", "user", "disabled admin", "expired token"])
async def test_every_handler_refuses_anyone_but_an_active_admin(engine, settings, who) -> None:
    add_user(engine, "root", admin=True)
    victim_id = add_user(engine, "victim")
    victim_token = sign_in(engine, victim_id)
    conversation_id = add_conversation(engine, victim_id, ["secret question", "secret answer"], age_days=400)
    prompt_id = add_published_prompt(engine, "Team style", "Answer briefly.")
    with session_scope(engine) as session:
        invitations_repo.create(session=session, email="invited@example.com", days=7, created_by="root")
        announcements_repo.post(
            session=session, text="Maintenance tonight", level="info", ends_at=None, created_by="root"
        )
    token, requester = "", 0
    if who == "user":
        token = sign_in(engine, add_user(engine, "plain"))
    elif who == "disabled admin":
        requester = add_user(engine, "requester-admin", admin=True)
        token = sign_in(engine, requester)
        with session_scope(engine) as session:
            session.get(User, requester).is_active = False
    elif who == "expired token":
        token = "made-up-token"
    share_id = add_share(engine, victim_id, conversation_id)
    before = others_rows(table_dump(engine), requester)
    for name, args in handler_calls(victim_id, conversation_id, prompt_id, share_id).items():
        state = new_state(token)
        # As if the page had been open as an admin before: data and targets are in the state.
        state.users = [UserRow(id=victim_id, username="victim")]
        state.settings_sections = [SettingsSection(name="server")]
        state.published_prompts = [PublishedRow(id=prompt_id, title="Team style")]
        state.shares = [ShareItem(id=share_id, title="secret question")]
        state.reset_user_id = state.delete_user_id = victim_id
        state.conv_delete_id = conversation_id
        state.preview_days, state.preview_conversations, state.cleanup_days = 1, 1, "1"
        events = await call(state, name, *args)
        expected = "/chat" if who == "user" else "/login"
        assert redirect_path(events) == expected, name
        assert shows_no_admin_data(state), name
        assert state.reset_user_id == state.delete_user_id == state.conv_delete_id == 0, name
    assert others_rows(table_dump(engine), requester) == before
    assert session_alive(engine, victim_token)
    assert maintenance.list_backups(settings) == []


async def test_an_admin_who_is_demoted_loses_the_page_at_the_next_click(engine) -> None:
    first = add_user(engine, "first", admin=True)
    second = add_user(engine, "second", admin=True)
    state = new_state(sign_in(engine, second))
    assert await call(state, "load_page") == []
    assert [u.username for u in state.users] == ["first", "second"]
    other = new_state(sign_in(engine, first))
    await call(other, "remove_admin", second)
    # Demotion ended the session: the open page is cleared and sent to log in.
    assert redirect_path(await call(state, "set_user_query", "")) == "/login"
    assert shows_no_admin_data(state)


# --- users -----------------------------------------------------------------------------------


@pytest.fixture
def admin(engine) -> AdminTab:
    """The state of a signed-in administrator 'root' with the page loaded."""
    return new_state(sign_in(engine, add_user(engine, "root", admin=True)))


def user_row(state: AdminTab, username: str):
    return next(u for u in state.users if u.username == username)


async def test_users_are_listed_and_searched(engine, admin) -> None:
    add_user(engine, "alice")
    add_user(engine, "bob")
    await call(admin, "load_page")
    assert [u.username for u in admin.users] == ["alice", "bob", "root"]
    await call(admin, "set_user_query", "ali")
    assert [u.username for u in admin.users] == ["alice"]


async def test_create_user(engine, admin) -> None:
    await call(admin, "load_page")
    form = {"username": "Carol", "email": "carol@example.com", "password": PASSWORD, "is_admin": True}
    await call(admin, "create_user", form)
    assert admin.error == ""
    assert "carol" in admin.notice
    row = user_row(admin, "carol")
    assert row.is_admin and row.is_active
    with session_scope(engine) as session:
        user = users_repo.get_user_by_username(session=session, username="carol")
        assert auth_service.verify_password(PASSWORD, user.password_hash)
        assert user.must_change_password, "the admin knows it: carol chooses her own at sign-in"
    await call(admin, "create_user", {**form, "email": "other@example.com"})
    assert admin.error == "That username is taken."
    await call(admin, "create_user", {"username": "dave", "email": "dave@example.com", "password": "short"})
    assert "at least 8" in admin.error
    await call(admin, "create_user", {"username": "dave", "email": "", "password": PASSWORD})
    assert admin.error == "Fill in every field."
    assert [u.username for u in admin.users] == ["carol", "root"]


async def test_disable_ends_the_users_sessions_and_enable_lets_them_back(engine, admin) -> None:
    alice = add_user(engine, "alice")
    alice_token = sign_in(engine, alice)
    alice_page = new_state(alice_token)
    await call(admin, "load_page")
    await call(admin, "disable_user", alice)
    assert not user_row(admin, "alice").is_active
    assert "alice" in admin.notice
    assert not session_alive(engine, alice_token)
    # Alice's open tab: her next event finds no session.
    assert await alice_page._current_user() is None
    await call(admin, "enable_user", alice)
    assert user_row(admin, "alice").is_active
    assert session_alive(engine, sign_in(engine, alice))


async def test_make_admin_and_remove_admin(engine, admin) -> None:
    alice = add_user(engine, "alice")
    alice_token = sign_in(engine, alice)
    await call(admin, "load_page")
    await call(admin, "make_admin", alice)
    assert user_row(admin, "alice").is_admin
    assert session_alive(engine, alice_token)
    await call(admin, "remove_admin", alice)
    assert not user_row(admin, "alice").is_admin
    assert not session_alive(engine, alice_token)


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("disable_user", "You cannot disable your own account."),
        ("remove_admin", "You cannot remove your own administrator rights"),
        ("ask_delete_user", "You cannot delete your own account."),
    ],
)
async def test_an_admin_cannot_lock_themself_out(engine, admin, handler, message) -> None:
    await call(admin, "load_page")
    me = user_row(admin, "root").id
    before = table_dump(engine)
    await call(admin, handler, me)
    assert admin.error.startswith(message)
    assert admin.delete_user_id == 0
    assert table_dump(engine) == before


async def test_reset_password_to_a_typed_one_ends_sessions(engine, admin) -> None:
    alice = add_user(engine, "alice")
    alice_token = sign_in(engine, alice)
    await call(admin, "load_page")
    await call(admin, "open_reset", alice)
    assert admin.reset_username == "alice"
    await call(admin, "set_password", {"new_password": "short"})
    assert admin.reset_error == "Password must be at least 8 characters."
    assert admin.reset_user_id == alice
    await call(admin, "set_password", {"new_password": "brand-new-pass-1"})
    assert admin.reset_user_id == 0
    assert "alice" in admin.notice
    with session_scope(engine) as session:
        assert auth_service.verify_password("brand-new-pass-1", session.get(User, alice).password_hash)
        assert session.get(User, alice).must_change_password, "it works once: alice then chooses her own"
    assert not session_alive(engine, alice_token)


async def test_reset_password_to_a_generated_one_shows_it_once(engine, admin) -> None:
    alice = add_user(engine, "alice")
    await call(admin, "load_page")
    await call(admin, "open_reset", alice)
    await call(admin, "generate_password")
    generated = admin.generated_password
    assert len(generated) >= 16
    with session_scope(engine) as session:
        assert auth_service.verify_password(generated, session.get(User, alice).password_hash)
        assert session.get(User, alice).must_change_password
    await call(admin, "close_reset")
    assert admin.generated_password == "" and admin.reset_user_id == 0


async def test_delete_user_states_and_deletes_their_content(engine, admin) -> None:
    alice = add_user(engine, "alice")
    alice_token = sign_in(engine, alice)
    add_conversation(engine, alice, ["q1", "a1", "q2"])
    add_conversation(engine, alice, ["q3", "a3"])
    upload = file_service.user_dir(alice) / "waiting.txt"
    upload.write_text("attached but never sent", encoding="utf-8")
    await call(admin, "load_page")
    await call(admin, "ask_delete_user", alice)
    assert admin.delete_user_id == alice
    assert "2 conversation(s) and 5 message(s)" in admin.delete_summary
    await call(admin, "cancel_delete_user")
    assert admin.delete_user_id == 0
    await call(admin, "ask_delete_user", alice)
    await call(admin, "confirm_delete_user")
    assert "2 conversation(s) and 5 message(s)" in admin.notice
    assert [u.username for u in admin.users] == ["root"]
    dump = table_dump(engine)
    assert dump["conversations"] == [] and dump["messages"] == []
    assert not session_alive(engine, alice_token)
    assert not upload.exists() and not upload.parent.exists(), "their uploaded files go with them"


async def test_an_admin_corrects_the_email_fabrix_is_told(engine, admin) -> None:
    alice = add_user(engine, "alice")
    add_user(engine, "bob")
    await call(admin, "load_page")
    await call(admin, "open_email", alice)
    assert admin.email_username == "alice" and admin.email_current == "alice@example.com"
    await call(admin, "save_email", {"email": "not-an-email"})
    assert admin.email_error and admin.email_user_id == alice
    await call(admin, "save_email", {"email": "Bob@Example.com"})
    assert admin.email_error == "An account with that email exists."
    await call(admin, "save_email", {"email": " Alice.Kim@Samsung.com "})
    assert admin.email_user_id == 0 and "alice.kim@samsung.com" in admin.notice
    with session_scope(engine) as session:
        assert session.get(User, alice).email == "alice.kim@samsung.com"


# --- conversations -----------------------------------------------------------------------------


async def test_conversations_of_one_user_or_all_and_message_search(engine, admin) -> None:
    alice, bob = add_user(engine, "alice"), add_user(engine, "bob")
    add_conversation(engine, alice, ["hello there", "hi"], title="Alice chat")
    add_conversation(engine, bob, ["the invoice number is 42", "noted", "thanks"], title="Bob chat", age_days=1)
    await call(admin, "select_tab", "conversations")
    assert [o.username for o in admin.user_options] == ["alice", "bob", "root"]
    assert [(c.title, c.username, c.messages) for c in admin.conversations] == [
        ("Alice chat", "alice", 2),
        ("Bob chat", "bob", 3),
    ]
    await call(admin, "set_conv_user", str(bob))
    assert [c.title for c in admin.conversations] == ["Bob chat"]
    await call(admin, "set_conv_user", "")
    await call(admin, "set_conv_query", "INVOICE")
    assert [c.title for c in admin.conversations] == ["Bob chat"]
    await call(admin, "set_conv_query", "100%")
    assert admin.conversations == []


async def test_open_a_conversation_read_only_and_delete_it(engine, admin) -> None:
    alice = add_user(engine, "alice")
    cid = add_conversation(engine, alice, ["<script>alert(1)</script>", "**bold**"], title="Mine")
    await call(admin, "select_tab", "conversations")
    await call(admin, "open_conversation", cid)
    assert admin.view_id == cid and admin.view_title == "Mine" and admin.view_username == "alice"
    assert [(m.role, m.content) for m in admin.view_messages] == [
        ("user", "<script>alert(1)</script>"),
        ("assistant", "**bold**"),
    ]
    await call(admin, "ask_delete_conversation", cid)
    assert admin.conv_delete_title == "Mine"
    await call(admin, "confirm_delete_conversation")
    assert admin.view_id == 0 and admin.conversations == []
    assert "Mine" in admin.notice
    assert table_dump(engine)["messages"] == []
    await call(admin, "open_conversation", cid)
    assert admin.error == "Conversation not found."


# --- usage -------------------------------------------------------------------------------------


async def test_usage_totals_chart_and_gauge(engine, admin) -> None:
    alice = add_user(engine, "alice")
    with session_scope(engine) as session:
        for outcome in ("ok", "ok", "timeout"):
            usage_repo.record_usage(
                session=session,
                user_id=alice,
                username="alice",
                agent_id="agent-1",
                kind="chat",
                tokens_in=10,
                tokens_out=20,
                latency_ms=100,
                outcome=outcome,
            )
    await chat_service.get_limiter().acquire(user="alice", tokens=50, max_wait=0)
    await call(admin, "select_tab", "usage")
    (row,) = admin.usage_by_user
    assert (row.key, row.requests, row.tokens_in, row.tokens_out, row.errors) == ("alice", 3, 30, 60, 1)
    assert [r.key for r in admin.usage_by_agent] == ["agent-1"]
    assert len(admin.usage_by_day) == 1 and admin.usage_by_day[0].requests == 3
    assert len(admin.usage_chart) == USAGE_DAYS
    assert admin.usage_chart[-1]["requests"] == 3 and admin.usage_chart[0]["requests"] == 0
    assert admin.gauge.rpm_used >= 1 and admin.gauge.rpm_limit == 100
    assert admin.gauge.rpm_remaining == admin.gauge.rpm_limit - admin.gauge.rpm_used
    assert "alice" in [u.username for u in admin.gauge_users]
    await chat_service.get_limiter().acquire(user="alice", tokens=50, max_wait=0)
    used = admin.gauge.rpm_used
    await call(admin, "refresh_usage")
    assert admin.gauge.rpm_used == used + 1


class FakeFabrix:
    """Stands in for the shared FabriX client: an empty agent list, or the given error."""

    def __init__(self, error: Exception | None = None):
        self.error = error
        self.calls = 0

    async def list_agents(self) -> list:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return []


def agent_records(engine: Engine) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        records = session.exec(select(UsageRecord).where(UsageRecord.kind == "agents")).all()
        return [(r.username, r.outcome) for r in records]


async def test_agent_list_calls_are_recorded_as_usage(engine, monkeypatch) -> None:
    fake = FakeFabrix()
    monkeypatch.setattr(chat_service, "get_client", lambda: fake)
    chat_service.clear_agent_cache()
    try:
        await chat_service.list_agents(refresh=True, username="alice")
        await chat_service.list_agents()  # from the cache: FabriX is not asked, nothing recorded
        assert fake.calls == 1
        assert agent_records(engine) == [("alice", "ok")]
        fake.error = FabrixUnavailable()
        with pytest.raises(FabrixUnavailable):
            await chat_service.list_agents(refresh=True)
        assert agent_records(engine) == [("alice", "ok"), ("", "unavailable")]
    finally:
        chat_service.clear_agent_cache()


# --- logs --------------------------------------------------------------------------------------


async def test_log_tail_with_level_filter(engine, admin, settings) -> None:
    path = log_file_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "2026-01-01 10:00:00,000 | INFO | fabrix_chat | started\n"
        "2026-01-01 10:00:01,000 | WARNING | fabrix_chat.chat | slow answer: 6000 ms\n"
        "2026-01-01 10:00:02,000 | ERROR | fabrix_chat.db | disk full\n",
        encoding="utf-8",
    )
    await call(admin, "select_tab", "logs")
    assert [line.message for line in admin.log_lines] == ["disk full", "slow answer: 6000 ms", "started"]
    await call(admin, "set_log_level", "WARNING")
    assert [line.level for line in admin.log_lines] == ["ERROR", "WARNING"]
    await call(admin, "set_log_level", "NONSENSE")
    assert admin.log_level == "WARNING"
    with path.open("a", encoding="utf-8") as fh:
        fh.write("2026-01-01 10:00:03,000 | ERROR | fabrix_chat | another\n")
    await call(admin, "refresh_logs")
    assert admin.log_lines[0].message == "another"


# --- maintenance -------------------------------------------------------------------------------


async def test_back_up_now_check_and_optimize(engine, admin, settings) -> None:
    await call(admin, "select_tab", "maintenance")
    assert admin.backups == []
    await call(admin, "back_up_now")
    (backup,) = maintenance.list_backups(settings)
    assert backup["name"] in admin.backup_result
    assert admin.backups[0].name == backup["name"]
    assert not admin.busy
    await call(admin, "check_integrity")
    assert admin.check_ok and admin.check_result == "Integrity check: ok."
    await call(admin, "optimize_database")
    assert admin.optimize_result.startswith("Optimized:") and " after " in admin.optimize_result
    assert admin.error == ""


@pytest.mark.parametrize("lang", ["en", "ko"])
async def test_backup_failure_is_shown_not_hidden_in_the_pages_language(engine, admin, monkeypatch, lang) -> None:
    def broken(_settings):
        raise maintenance.MaintenanceError("maint_backup_failed", path="/backups/x.db", error="disk full")

    monkeypatch.setattr(maintenance, "backup", broken)
    admin.get(UIState).lang = lang
    await call(admin, "back_up_now")
    assert admin.error == i18n.t("maint_backup_failed", lang, path="/backups/x.db", error="disk full")
    assert "disk full" in admin.error and "/backups/x.db" in admin.error
    assert admin.backup_result == "" and not admin.busy


async def test_cleanup_needs_a_preview_for_the_same_days(engine, admin) -> None:
    alice = add_user(engine, "alice")
    old = add_conversation(engine, alice, ["q", "a", "q2"], age_days=40)
    recent = add_conversation(engine, alice, ["q"], age_days=2)
    await call(admin, "select_tab", "maintenance")
    assert not admin.cleanup_ready
    await call(admin, "ask_cleanup")
    assert not admin.cleanup_confirm and "Preview" in admin.error
    await call(admin, "preview_cleanup", {"days": "abc"})
    assert "whole number" in admin.error
    await call(admin, "preview_cleanup", {"days": "30"})
    assert admin.preview_result == "No activity for 30 days: 1 conversation(s) with 3 message(s) would be deleted."
    assert admin.cleanup_ready
    assert len(table_dump(engine)["conversations"]) == 2  # a preview deletes nothing
    await call(admin, "set_cleanup_days", "1")  # the field changed after the preview
    assert not admin.cleanup_ready
    await call(admin, "ask_cleanup")
    assert not admin.cleanup_confirm
    await call(admin, "set_cleanup_days", "30")
    await call(admin, "ask_cleanup")
    assert admin.cleanup_confirm
    await call(admin, "confirm_cleanup")
    assert not admin.cleanup_confirm
    assert admin.cleanup_result == "Deleted 1 conversation(s) with 3 message(s) older than 30 days."
    assert [row[0] for row in table_dump(engine)["conversations"]] == [recent]
    assert old != recent and not admin.cleanup_ready


# --- settings ----------------------------------------------------------------------------------


async def test_settings_are_shown_with_secrets_masked(engine, admin) -> None:
    await call(admin, "select_tab", "settings")
    sections = {s.name: {r.key: r.value for r in s.rows} for s in admin.settings_sections}
    assert set(sections) >= {"server", "auth", "fabrix_api", "rate_limit", "database"}
    assert sections["fabrix_api"]["openapi_token"] == "********"
    assert sections["auth"]["admin_signup_key"] == "********"
    assert sections["rate_limit"]["rpm"] == "100"
    shown = repr(admin.settings_sections)
    assert "very-secret" not in shown and "123456" not in shown


async def test_the_admin_page_warns_when_invite_keys_are_being_guessed(engine, admin, monkeypatch) -> None:
    from fabrix_chat.services.throttle import Throttle

    site = Throttle(auth_service.site_signup_throttle.name, auth_service.site_signup_throttle.policy)
    monkeypatch.setattr(auth_service, "site_signup_throttle", site)
    await call(admin, "load_page")
    assert admin.invite_key_guesses == 0
    for _ in range(site.policy.free_attempts):
        await site.attempt(auth_service.SITE)
    await call(admin, "load_page")
    assert admin.invite_key_guesses == site.policy.free_attempts


async def test_change_email_refuses_empty_huge_or_odd_input_and_unknown_users(engine, admin) -> None:
    alice = add_user(engine, "alice")
    await call(admin, "load_page")
    await call(admin, "open_email", 999_999)  # nobody has this id
    assert admin.email_user_id == 0 and admin.error
    await call(admin, "open_email", alice)
    for form in ({"email": ""}, {"email": "a" * 300 + "@example.com"}, {"email": ["x@example.com"]}, "not a form"):
        await call(admin, "save_email", form)
        assert admin.email_error and admin.email_user_id == alice, form
    with session_scope(engine) as session:
        assert session.get(User, alice).email == "alice@example.com", "nothing was changed"


def limits_of(engine: Engine, user_id: int) -> tuple[int | None, int | None]:
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        return user.daily_question_limit, user.daily_token_limit


def quota_records(engine: Engine) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(str(engine.url.database))) as conn:
        rows = conn.execute("SELECT actor, target, detail FROM audit_records WHERE action = 'user_quota' ORDER BY id")
        return rows.fetchall()


async def test_daily_limits_per_user_once_quotas_are_on(engine, admin, monkeypatch) -> None:
    from fabrix_chat.config import QuotaSettings
    from fabrix_chat.services import quota as quota_service

    alice = add_user(engine, "alice")
    await call(admin, "load_page")
    assert not admin.quotas_on, "quotas are off by default: no limit fields"
    settings = Settings(quota=QuotaSettings(daily_questions=20))
    monkeypatch.setattr(quota_service, "get_settings", lambda: settings)
    await call(admin, "load_page")
    assert admin.quotas_on
    assert (admin.question_default, admin.token_default) == ("Default (20)", "Default (no limit)")
    await call(admin, "set_question_limit", alice, " 5 ")
    assert admin.notice == "Daily question limit of alice: 5." and user_row(admin, "alice").question_limit == "5"
    await call(admin, "set_token_limit", alice, "0")
    assert admin.notice == "Daily token limit of alice: no limit." and user_row(admin, "alice").token_limit == "0"
    assert limits_of(engine, alice) == (5, 0)
    await call(admin, "set_question_limit", alice, "")
    assert admin.notice == "Daily question limit of alice: the default (20)."
    assert limits_of(engine, alice) == (None, 0) and user_row(admin, "alice").question_limit == ""
    await call(admin, "set_question_limit", alice, "  ")  # the field left unchanged: nothing recorded
    assert quota_records(engine) == [
        ("root", "alice", "daily questions 5"),
        ("root", "alice", "daily tokens 0"),
        ("root", "alice", "daily questions default"),
    ]
    # A user's own limit turns the fields on even without a default.
    monkeypatch.setattr(quota_service, "get_settings", lambda: Settings())
    await call(admin, "load_page")
    assert admin.quotas_on and admin.question_default == "Default (no limit)"


async def test_daily_limits_refuse_odd_input_and_unknown_users(engine, admin) -> None:
    alice = add_user(engine, "alice")
    await call(admin, "load_page")
    for value in ("-1", "lots", "1.5", "1e3", "1000001", "9" * 50, ["5"], {"v": 5}, None):
        admin.error = ""
        await call(admin, "set_question_limit", alice, value)
        assert admin.error.startswith("A daily limit is a whole number from 0 (no limit) to 1,000,000"), value
    await call(admin, "set_token_limit", alice, "1000000001")
    assert "1,000,000,000" in admin.error
    for user_id in (999_999, 0, -1, "abc", 10**30, None):
        admin.error = ""
        await call(admin, "set_question_limit", user_id, "5")
        assert admin.error == "That user no longer exists.", user_id
    assert limits_of(engine, alice) == (None, None) and quota_records(engine) == []


# --- prompts ---------------------------------------------------------------------------------


def prompt_rows(engine: Engine) -> list[tuple]:
    with closing(sqlite3.connect(str(engine.url.database))) as conn:
        return conn.execute("SELECT id, user_id, title, body FROM prompts ORDER BY id").fetchall()


async def test_publish_a_prompt_for_everyone_and_delete_it(engine, admin) -> None:
    alice = add_user(engine, "alice")
    with session_scope(engine) as session:
        own = prompts_repo.save_prompt(session=session, user_id=alice, title="Alice's own", body="private").id
    await call(admin, "select_tab", "prompts")
    assert admin.tab == "prompts" and admin.published_prompts == []  # a user's own prompt is not listed
    events = await call(admin, "publish_prompt", {"title": " Team style ", "body": "Answer briefly about {{topic}}."})
    assert admin.notice == "“Team style” is published for everyone." and admin.error == ""
    assert [(p.title, p.preview) for p in admin.published_prompts] == [
        ("Team style", "Answer briefly about {{topic}}.")
    ]
    assert len(events) == 2  # the form's fields are emptied
    await call(admin, "publish_prompt", {"title": "", "body": "Write the weekly report for {{team}} in three bullets."})
    assert [p.title for p in admin.published_prompts] == ["Write the weekly report for {{team}} in…", "Team style"]
    published = admin.published_prompts[1].id
    with session_scope(engine) as session:
        assert [p.title for p in prompts_repo.list_prompts(session=session, user_id=alice)] == [
            "Alice's own",
            "Write the weekly report for {{team}} in…",
            "Team style",
        ]
    await call(admin, "delete_published_prompt", published)
    assert admin.notice == "“Team style” was deleted."
    assert [p.title for p in admin.published_prompts] == ["Write the weekly report for {{team}} in…"]
    assert [row[2] for row in prompt_rows(engine)] == ["Alice's own", "Write the weekly report for {{team}} in…"]
    # A user's own prompt is not the admin's to delete here, nor is a missing or odd id anything.
    for prompt_id in (own, published, 0, -5, "abc", 10**30, None):
        await call(admin, "delete_published_prompt", prompt_id)
        assert admin.error == "Prompt not found.", prompt_id
    assert len(prompt_rows(engine)) == 2


async def test_publish_refuses_empty_huge_or_odd_input(engine, admin) -> None:
    await call(admin, "select_tab", "prompts")
    for form, error in (
        ({"title": "t", "body": ""}, "The prompt is empty."),
        ({"title": "t", "body": " \x00 \n"}, "The prompt is empty."),
        ({"title": "t", "body": ["x"]}, "The prompt is empty."),
        ("not a form", "The prompt is empty."),
        ({"title": "t", "body": "x" * 4001}, "A prompt can hold at most 4000 characters."),
        ({"title": "t" * 101, "body": "x"}, "A prompt's title can be at most 100 characters."),
    ):
        assert await call(admin, "publish_prompt", form) == [], form  # the form keeps what was typed
        assert admin.error == error and admin.notice == "", form
    assert prompt_rows(engine) == []
    await call(admin, "publish_prompt", {"title": "Nul\x00 title", "body": "Keep\x00 it"})
    assert prompt_rows(engine)[0][1:] == (None, "Nul title", "Keep it")


# --- share links -----------------------------------------------------------------------------


async def test_an_admin_sees_every_share_and_stops_any(engine, admin) -> None:
    victim_id = add_user(engine, "victim")
    conversation_id = add_conversation(engine, victim_id, ["secret question", "secret answer"])
    share_id = add_share(engine, victim_id, conversation_id)
    await call(admin, "select_tab", "conversations")
    assert [(s.id, s.username) for s in admin.shares] == [(share_id, "victim")]
    for odd in ("abc", 10**30, -1, None, share_id + 1):
        await call(admin, "revoke_share", odd)
        assert admin.error == "This chat is no longer shared." and len(admin.shares) == 1, odd
    await call(admin, "revoke_share", share_id)
    assert admin.error == "" and "is no longer shared" in admin.notice and admin.shares == []
    with session_scope(engine) as session:
        assert share_repo.list_all(session=session) == []
        assert len(conv_repo.get_messages(session=session, user_id=victim_id, conversation_id=conversation_id)) == 2
