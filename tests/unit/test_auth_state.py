"""The log-in, sign-up and session handlers, called directly on the Reflex states (no browser).

The states run against a temporary SQLite database (`app_db`); the browser side of the same
rules is in tests/e2e/test_accounts.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from datetime import timedelta

import pytest
from reflex_base.utils import format
from sqlmodel import Session, select

from fabrix_chat import web
from fabrix_chat.config import Settings
from fabrix_chat.models import AuthSession, User, utcnow
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services.throttle import Throttle
from fabrix_chat.state import auth as auth_state
from fabrix_chat.state.auth import AuthState, LoginState, SignupState
from fabrix_chat.state.ui import UIState
from tests import reflex_tab
from tests.reflex_tab import redirect_path

PASSWORD = "correct-horse-9"
CLIENT = "10.1.2.3"


@pytest.fixture(autouse=True)
def fresh_throttles(monkeypatch):
    for name in ("user_throttle", "client_throttle", "signup_throttle", "site_signup_throttle"):
        old = getattr(auth_service, name)
        monkeypatch.setattr(auth_service, name, Throttle(old.name, old.policy))
    monkeypatch.setattr(auth_service, "_gates", {})


def use_settings(monkeypatch, **auth_values) -> None:
    settings = Settings()
    settings = settings.model_copy(update={"auth": settings.auth.model_copy(update=auth_values)})
    monkeypatch.setattr(auth_state, "get_settings", lambda: settings)
    monkeypatch.setattr(web, "get_settings", lambda: settings)  # /auth/session checks the same key


class Browser(reflex_tab.Tab):
    """One browser tab's state tree, as the Reflex back end holds it, and its HttpOnly cookie."""

    def __init__(self, client_ip: str = CLIENT):
        # The session cookie (self.token): the browser holds it, the state never sees it.
        super().__init__("", "/login", client_ip)
        self.auth = self.get(AuthState)
        self.login = self.get(LoginState)
        self.signup = self.get(SignupState)
        self.ui = self.get(UIState)

    def load_with_cookie(self, token: str) -> None:
        """A page load: a new websocket, whose handshake web.py's middleware rewrites."""
        self.visit("/chat", token)

    async def follow(self, result) -> str | None:
        """What the browser does with a handler's answer; returns where it ends up."""
        url = script_url(result)
        if url and url.startswith("/auth/session?ticket="):
            token = await web._redeem(url.split("=", 1)[1])
            if token is None:
                return "/login?signin=expired"
            self.load_with_cookie(token)
            return "/chat"
        if url == "/auth/logout":
            self.load_with_cookie("")
            return "/login"
        return redirect_path(result)

    async def sign_up(self, username: str = "kim", **form) -> str | None:
        values = {
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            "confirm_password": PASSWORD,
            "invite_key": "123456",
        }
        values.update(form)
        return await self.follow(await self.run(SignupState.sign_up, values))

    async def log_in(self, username: str = "kim", password: str = PASSWORD) -> str | None:
        return await self.follow(await self.run(LoginState.log_in, {"username": username, "password": password}))

    async def log_out(self) -> str | None:
        return await self.follow(await self.run(AuthState.log_out))

    def sent_to_browser(self) -> str:
        """Every var of every state, serialised as Reflex sends them to the page."""
        return format.json_dumps(self.root.dict())


def script_url(spec) -> str | None:
    """The URL of a go_to() answer (a full page load of a server route)."""
    args = {str(name): value for name, value in getattr(spec, "args", ())}
    code = getattr(args.get("javascript_code"), "_var_value", None)
    match = re.fullmatch(r'window\.location\.replace\("(.*)"\)', code or "")
    return match.group(1) if match else None


def db_sessions(engine) -> list[AuthSession]:
    with Session(engine) as session:
        return list(session.exec(select(AuthSession)))


# --- sign-up ----------------------------------------------------------------------------------


async def test_sign_up_signs_in_with_a_random_token_stored_hashed(app_db):
    tab = Browser()
    assert await tab.sign_up() == "/chat"
    await tab.auth._current_user()  # the /chat page's on-load
    assert tab.auth.username == "kim" and tab.auth.signed_in
    token = tab.token
    assert len(token) >= 43
    [stored] = db_sessions(app_db)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.token_hash != token and stored.client == CLIENT
    with Session(app_db) as session:
        user = session.exec(select(User)).one()
    # Nothing secret reaches the page: not the password, its hash, or the stored token hash.
    sent = tab.sent_to_browser()
    for secret in (token, PASSWORD, user.password_hash, stored.token_hash, "123456"):
        assert secret not in sent


async def test_confirmation_must_match(app_db):
    tab = Browser()
    assert await tab.sign_up(confirm_password="correct-horse-0") is None
    assert tab.signup.signup_error == "The passwords do not match."
    assert not tab.token
    with Session(app_db) as session:
        assert session.exec(select(User)).all() == []


async def test_duplicate_username_or_email_is_refused_clearly(app_db):
    await Browser().sign_up("kim")
    tab = Browser()
    await tab.sign_up("KIM", email="other@example.com")
    assert tab.signup.signup_error == "That username is taken."
    await tab.sign_up("lee", email="Kim@Example.com")
    assert tab.signup.signup_error == "An account with that email exists."
    assert not tab.token


async def test_email_domain_allow_list(app_db, monkeypatch):
    use_settings(monkeypatch, allowed_email_domains=("samsung.com", "sds.co.kr"))
    tab = Browser()
    await tab.sign_up("kim", email="kim@gmail.com")
    assert tab.signup.signup_error == "Sign-up is limited to these email domains: samsung.com, sds.co.kr."
    assert (await tab.sign_up("kim", email="kim@samsung.com")) == "/chat"


async def test_wrong_invite_keys_are_refused_then_slowed(app_db):
    tab = Browser()
    for _ in range(10):
        await tab.sign_up(invite_key="000000")
        assert tab.signup.signup_error == "The invite key is not correct."
    await tab.sign_up(invite_key="123456")
    assert tab.signup.signup_error.startswith("Too many failed attempts. Try again in")
    assert not tab.token
    assert (await Browser("10.7.7.7").sign_up()) == "/chat"  # another client is not slowed


async def test_sign_up_messages_follow_the_language(app_db):
    tab = Browser()
    tab.ui.lang = "ko"
    await tab.sign_up(confirm_password="nope-nope-nope")
    assert tab.signup.signup_error == "비밀번호가 일치하지 않습니다."


# --- log-in -----------------------------------------------------------------------------------


async def test_log_in_and_wrong_password(app_db):
    await Browser().sign_up()
    tab = Browser()
    assert await tab.log_in(password="wrong-password") is None
    assert tab.login.login_error == "Wrong username or password."
    assert await tab.log_in(username="nobody") is None
    assert tab.login.login_error == "Wrong username or password."  # same words: no user enumeration
    assert (await tab.log_in(username=" Kim ")) == "/chat"
    assert tab.login.login_error == ""
    assert len(db_sessions(app_db)) == 2
    assert PASSWORD not in tab.sent_to_browser()


async def test_disabled_account_is_refused(app_db):
    await Browser().sign_up()
    with Session(app_db) as session:
        user = session.exec(select(User)).one()
        users_repo.set_active(session=session, user_id=user.id, active=False)
        session.commit()
    assert db_sessions(app_db) == []  # disabling ended the sign-up's session
    tab = Browser()
    assert await tab.log_in() is None
    assert tab.login.login_error == "Account is disabled. Ask an administrator."
    assert not tab.token and db_sessions(app_db) == []
    await tab.log_in(password="wrong-password")
    assert tab.login.login_error == "Wrong username or password."  # without the password, nothing is said


async def test_failed_log_ins_are_slowed_per_username(app_db):
    await Browser().sign_up()
    tab = Browser()
    for _ in range(3):
        await tab.log_in(password="wrong-password")
        assert tab.login.login_error == "Wrong username or password."
    # The next attempt, even with the right password, must wait: the password is not even checked.
    assert await tab.log_in() is None
    assert tab.login.login_error == "Too many failed attempts. Try again in 1 s."
    # The same name from another client waits too; another name from this client does not.
    other = Browser("10.9.9.9")
    await other.log_in()
    assert other.login.login_error.startswith("Too many failed attempts")
    await Browser().sign_up("lee")
    assert (await Browser().log_in("lee")) == "/chat"


async def test_loading_the_page_never_counts_as_an_attempt(app_db):
    await Browser().sign_up()
    for _ in range(30):  # a user who keeps reloading the log-in page
        tab = Browser()
        await tab.run(AuthState.redirect_if_signed_in)
    assert (await tab.log_in()) == "/chat"


# --- the session ------------------------------------------------------------------------------


async def test_session_check_on_every_action(app_db):
    tab = Browser()
    await tab.sign_up()
    user = await tab.auth._current_user()
    assert user is not None and user.username == "kim"
    assert redirect_path(await tab.run(AuthState.redirect_if_signed_in)) == "/chat"
    assert await tab.run(AuthState.require_login) is None


async def test_revoked_session_signs_the_browser_out_with_a_reason(app_db):
    tab = Browser()
    await tab.sign_up()
    assert await tab.auth._current_user() is not None
    with Session(app_db) as session:
        users_repo.end_user_sessions(session=session, user_id=tab.auth._user_id)
        session.commit()
    assert redirect_path(await tab.run(AuthState.require_login)) == "/login"
    assert tab.auth.username == "" and not tab.auth.signed_in
    assert tab.auth.session_ended  # the log-in page says the session ended
    assert (await tab.log_in()) == "/chat"
    assert not tab.auth.session_ended


async def test_idle_minutes_end_the_session(app_db, monkeypatch):
    use_settings(monkeypatch, session_idle_minutes=1)
    tab = Browser()
    await tab.sign_up()
    token_hash = auth_service.hash_token(tab.token)
    with Session(app_db) as session:
        row = session.exec(select(AuthSession)).one()
        row.last_seen_at = utcnow() - timedelta(seconds=50)
        session.add(row)
        session.commit()
    assert await tab.auth._current_user() is not None  # 50 s idle: still signed in
    with Session(app_db) as session:
        assert users_repo.get_session_user(session=session, token_hash=token_hash, idle_minutes=1) is not None
        row = session.exec(select(AuthSession)).one()
        row.last_seen_at = utcnow() - timedelta(seconds=61)
        session.add(row)
        session.commit()
    assert await tab.auth._current_user() is None
    assert tab.auth.session_ended
    assert db_sessions(app_db) == []  # the idle session is removed, not just ignored


async def test_a_signed_out_visitor_is_not_told_a_session_ended(app_db):
    tab = Browser()
    assert redirect_path(await tab.run(AuthState.require_login)) == "/login"
    assert not tab.auth.session_ended


async def test_log_out_ends_the_session_in_the_database(app_db):
    tab = Browser()
    await tab.sign_up()
    assert len(db_sessions(app_db)) == 1
    assert await tab.log_out() == "/login"
    assert db_sessions(app_db) == []
    assert not tab.auth.signed_in and not tab.auth.session_ended


async def test_opening_the_page_again_clears_an_old_error(app_db):
    tab = Browser()
    await tab.log_in(password="wrong-password")
    await tab.sign_up(invite_key="000000")
    assert tab.login.login_error and tab.signup.signup_error
    await tab.run(AuthState.redirect_if_signed_in)
    assert tab.login.login_error == "" and tab.signup.signup_error == ""


async def test_sixty_simultaneous_log_ins_for_one_name_reach_bcrypt_only_a_few_times(app_db, monkeypatch):
    await Browser().sign_up("kim")
    checks = []
    real = auth_service.verify_password

    def counting_verify(password, password_hash):
        checks.append(1)
        return real(password, password_hash)

    monkeypatch.setattr(auth_service, "verify_password", counting_verify)
    tabs = [Browser(client_ip=f"10.9.0.{i}") for i in range(60)]  # sixty addresses, one name
    await asyncio.gather(*(tab.log_in("kim", "wrong-password") for tab in tabs))
    assert len(checks) == 3, "only the free attempts of the name are checked"
    assert all(tab.login.login_error for tab in tabs)
    slowed = [tab for tab in tabs if tab.login.login_error.startswith("Too many failed attempts")]
    assert len(slowed) == 57


async def test_sixty_simultaneous_log_ins_from_one_client_are_held_to_a_few_at_once(app_db, monkeypatch):
    in_bcrypt, most = 0, 0
    real = auth_service.verify_password

    def slow_verify(password, password_hash):
        nonlocal in_bcrypt, most
        in_bcrypt += 1
        most = max(most, in_bcrypt)
        try:
            time.sleep(0.02)
            return real(password, password_hash)
        finally:
            in_bcrypt -= 1

    monkeypatch.setattr(auth_service, "verify_password", slow_verify)
    tabs = [Browser(client_ip="10.8.8.8") for _ in range(60)]
    await asyncio.gather(*(tab.log_in(f"name{i}", "wrong-password") for i, tab in enumerate(tabs)))
    assert most <= auth_service.MAX_CONCURRENT_LOGINS_PER_CLIENT
    assert auth_service._gates == {}, "every slot is given back"


async def test_an_over_long_username_is_refused_before_anything_is_looked_up_or_logged(app_db, monkeypatch, caplog):
    looked_up = []
    monkeypatch.setattr(auth_state.users_repo, "get_user_by_username", lambda **kw: looked_up.append(kw))
    tab = Browser()
    await tab.log_in("x" * 900_000, "whatever")
    assert tab.login.login_error == "One of the fields is too long."
    assert looked_up == [] and "xxxxxxxx" not in caplog.text
    await tab.sign_up("y" * 100_000)
    assert tab.signup.signup_error == "One of the fields is too long."


async def test_non_text_form_values_are_treated_as_empty(app_db):
    tab = Browser()
    await tab.run(LoginState.log_in, {"username": ["kim"], "password": {"a": 1}})
    assert tab.login.login_error == "Fill in every field."


async def test_with_no_shared_key_configured_sign_up_is_closed(app_db, monkeypatch):
    use_settings(monkeypatch, admin_signup_key="")
    tab = Browser()
    await tab.sign_up("kim", invite_key=" ")
    assert tab.signup.signup_error.startswith("Sign-up is closed here")
    assert not tab.auth.signed_in


def set_password_for(app_db, username: str, password: str) -> None:
    """What an admin's reset does: a password chosen for the user, to be changed at sign-in."""
    with Session(app_db) as session:
        user = users_repo.get_user_by_username(session=session, username=username)
        users_repo.set_password_hash(
            session=session, user_id=user.id, password_hash=auth_service.hash_password(password), must_change=True
        )
        session.commit()


async def test_a_password_chosen_by_an_admin_works_once_then_the_user_chooses_their_own(app_db):
    await Browser().sign_up("kim")
    set_password_for(app_db, "kim", "given-by-admin-1")
    tab = Browser()
    before = len(db_sessions(app_db))
    assert await tab.log_in("kim", "given-by-admin-1") is None, "no session yet"
    assert tab.login.must_change_password and len(db_sessions(app_db)) == before
    own = {"new_password": "given-by-admin-1", "confirm_new_password": "given-by-admin-1"}
    await tab.run(LoginState.set_own_password, own)
    assert tab.login.login_error == "Choose a password different from the one you were given."
    own = {"new_password": "my-own-secret-2", "confirm_new_password": "my-own-secret-3"}
    await tab.run(LoginState.set_own_password, own)
    assert tab.login.login_error == "The passwords do not match."
    own = {"new_password": "my-own-secret-2", "confirm_new_password": "my-own-secret-2"}
    assert await tab.follow(await tab.run(LoginState.set_own_password, own)) == "/chat"
    assert not tab.login.must_change_password
    # The given password no longer works; the user's own does, without being asked again.
    again = Browser("10.5.5.5")
    await again.log_in("kim", "given-by-admin-1")
    assert again.login.login_error == "Wrong username or password."
    assert await Browser("10.5.5.6").log_in("kim", "my-own-secret-2") == "/chat"


async def test_the_own_password_form_needs_a_fresh_correct_sign_in(app_db, monkeypatch):
    tab = Browser()
    await tab.run(LoginState.set_own_password, {"new_password": "x" * 10, "confirm_new_password": "x" * 10})
    assert tab.login.login_error.startswith("That sign-in took too long")
    await Browser().sign_up("kim")
    set_password_for(app_db, "kim", "given-by-admin-1")
    await tab.log_in("kim", "given-by-admin-1")
    later = time.time() + auth_state.CHANGE_PASSWORD_SECONDS + 1
    monkeypatch.setattr(auth_state.time, "time", lambda: later)
    await tab.run(LoginState.set_own_password, {"new_password": "my-own-2x", "confirm_new_password": "my-own-2x"})
    assert tab.login.login_error.startswith("That sign-in took too long") and not tab.login.must_change_password


async def test_a_stale_own_password_form_cannot_overwrite_the_owners_choice(app_db):
    await Browser().sign_up("kim")
    set_password_for(app_db, "kim", "given-by-admin-1")
    intruder, owner = Browser("10.6.0.1"), Browser("10.6.0.2")
    await intruder.log_in("kim", "given-by-admin-1")  # knows the given password, waits at the form
    await owner.log_in("kim", "given-by-admin-1")
    done = await owner.follow(
        await LoginState.set_own_password.fn(
            owner.login, {"new_password": "owners-own-1", "confirm_new_password": "owners-own-1"}
        )
    )
    assert done == "/chat"
    result = await LoginState.set_own_password.fn(
        intruder.login, {"new_password": "intruders-9x", "confirm_new_password": "intruders-9x"}
    )
    assert await intruder.follow(result) is None and intruder.login.login_error.startswith("That sign-in took too long")
    assert await Browser("10.6.0.3").log_in("kim", "owners-own-1") == "/chat", "the owner's password stands"


async def test_choosing_ones_own_password_ends_every_other_session(app_db):
    kim = Browser()
    await kim.sign_up("kim")
    set_password_for(app_db, "kim", "given-by-admin-1")
    tab = Browser("10.6.0.4")
    await tab.log_in("kim", "given-by-admin-1")
    own = {"new_password": "my-own-secret-2", "confirm_new_password": "my-own-secret-2"}
    assert await tab.follow(await tab.run(LoginState.set_own_password, own)) == "/chat"
    assert await kim.auth._current_user() is None, "the sign-up's session ended"
    assert await tab.auth._current_user() is not None


async def test_logging_out_keeps_the_tabs_language(app_db):
    tab = Browser()
    await tab.sign_up("kim")
    tab.ui.lang = "ko"
    await tab.auth._current_user()
    await tab.log_out()
    assert tab.ui.lang == "ko"


async def test_the_own_password_form_refuses_empty_huge_or_odd_input(app_db):
    await Browser().sign_up("kim")
    set_password_for(app_db, "kim", "given-by-admin-1")
    tab = Browser()
    await tab.log_in("kim", "given-by-admin-1")
    for form in (
        {"new_password": "", "confirm_new_password": ""},
        {"new_password": "x" * 100_000, "confirm_new_password": "x" * 100_000},
        {"new_password": ["my-own-pass-1"], "confirm_new_password": "my-own-pass-1"},
        "not a form",
    ):
        assert await tab.run(LoginState.set_own_password, form) is None
        assert tab.login.login_error and tab.login.must_change_password, form
    assert await Browser("10.7.0.1").log_in("kim", "given-by-admin-1") is None, "the given password still stands"
