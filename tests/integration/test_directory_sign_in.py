"""Log in with the directory: LoginState.log_in (no browser) against a real OpenLDAP server
(tests/ldap_server.py) and a temporary SQLite database, configured from a secrets.toml [ldap]."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from fabrix_chat import db, web
from fabrix_chat.config import Settings, load_settings
from fabrix_chat.db import make_engine
from fabrix_chat.models import AuditRecord, User
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import accounts
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services.throttle import Throttle
from fabrix_chat.state import auth as auth_state
from tests import ldap_server as ldap
from tests.integration.test_directory import closed_port
from tests.ldap_server import Directory
from tests.unit.test_admin_state import AdminTab, call
from tests.unit.test_auth_state import Browser

LOCAL_PASSWORD = "local-admin-pass-1"


@pytest.fixture(scope="module")
def slapd() -> Iterator[Directory]:
    with ldap.slapd_directory("the directory sign-in tests need it") as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_throttles(monkeypatch):
    for name in ("user_throttle", "client_throttle", "signup_throttle", "site_signup_throttle"):
        old = getattr(auth_service, name)
        monkeypatch.setattr(auth_service, name, Throttle(old.name, old.policy))
    monkeypatch.setattr(auth_service, "_gates", {})


def write_secrets(path: Path, url: str, data_dir: Path) -> Path:
    """A secrets.toml as an operator writes it: search with the service account, both groups."""
    path.write_text(
        f"""
[server]
data_dir = "{data_dir.as_posix()}"

[ldap]
url = "{url}"
search_base = "{ldap.PEOPLE}"
search_filter = "(&(objectClass=inetOrgPerson)(uid={{username}}))"
service_dn = "{ldap.SERVICE_DN}"
service_password = "{ldap.SERVICE_PASSWORD}"
email_attribute = "mail"
allowed_group = "{ldap.ALLOWED_GROUP}"
admin_group = "{ldap.ADMIN_GROUP}"
timeout_seconds = 2
""",
        encoding="utf-8",
    )
    return path


def use_settings(monkeypatch, settings: Settings) -> None:
    monkeypatch.setattr(auth_state, "get_settings", lambda: settings)
    monkeypatch.setattr(web, "get_settings", lambda: settings)  # /auth/session checks the same key


@pytest.fixture
def secrets_file(slapd, tmp_path, monkeypatch) -> Path:
    path = write_secrets(tmp_path / "secrets.toml", slapd.url, tmp_path / "data")
    use_settings(monkeypatch, load_settings(path))
    return path


def all_users(engine) -> list[User]:
    with Session(engine) as session:
        return list(session.exec(select(User).order_by(User.id)))


def audit_records(engine) -> list[AuditRecord]:
    with Session(engine) as session:
        return list(session.exec(select(AuditRecord).order_by(AuditRecord.id)))


def add_local_user(engine, username: str, *, admin: bool = False) -> int:
    with Session(engine) as session:
        user = users_repo.create_user(
            session=session,
            username=username,
            email=f"{username}.local@example.com",
            password_hash=auth_service.hash_password(LOCAL_PASSWORD),
            is_admin=admin,
        )
        session.commit()
        return user.id


async def test_the_first_directory_sign_in_creates_the_account_and_signs_in(secrets_file, app_db, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    tab = Browser()
    assert await tab.log_in("kim", ldap.PASSWORD) == "/chat"
    await tab.auth._current_user()  # the /chat page's on-load
    assert tab.auth.username == "kim" and not tab.auth.is_admin
    [user] = all_users(app_db)
    assert (user.username, user.email, user.auth_source) == ("kim", "kim@example.com", accounts.DIRECTORY)
    [record] = audit_records(app_db)
    assert (record.action, record.actor, record.detail) == ("sign_in", "kim", "with the directory; account created")
    # No password anywhere: not in the log, the audit trail, or what the page is sent.
    for secret in (ldap.PASSWORD, ldap.SERVICE_PASSWORD):
        assert secret not in caplog.text
        assert secret not in repr(audit_records(app_db))
        assert secret not in tab.sent_to_browser()


async def test_a_wrong_password_is_refused_and_creates_nothing(secrets_file, app_db) -> None:
    tab = Browser()
    assert await tab.log_in("kim", "not-the-password") is None
    assert tab.login.login_error == "Wrong username or password."
    assert not tab.token and all_users(app_db) == []
    [record] = audit_records(app_db)
    assert (record.action, record.target, record.detail) == ("sign_in_failed", "kim", "wrong username or password")


async def test_an_empty_password_is_refused(secrets_file, app_db) -> None:
    tab = Browser()
    assert await tab.log_in("kim", "") is None
    assert tab.login.login_error == "Fill in every field."
    assert all_users(app_db) == []


async def test_a_filter_injection_signs_nobody_in(secrets_file, app_db) -> None:
    tab = Browser()
    for username in ("k*", "*)(uid=*", "*"):
        assert await tab.log_in(username, ldap.PASSWORD) is None, username
        assert tab.login.login_error == "Wrong username or password."
    assert all_users(app_db) == [] and not tab.token


async def test_a_user_outside_the_allowed_group_is_told_plainly(secrets_file, app_db) -> None:
    tab = Browser()
    assert await tab.log_in("lee", ldap.PASSWORD) is None
    assert tab.login.login_error.startswith("Your directory account is not in the group allowed")
    assert all_users(app_db) == []
    [record] = audit_records(app_db)
    assert (record.action, record.target, record.detail) == ("sign_in_failed", "lee", "not in the allowed group")
    tab.ui.lang = "ko"
    assert await tab.log_in("lee", ldap.PASSWORD) is None
    assert tab.login.login_error.startswith("디렉터리 계정이")


async def test_admin_group_members_become_admins_and_lose_it_when_removed(slapd, secrets_file, app_db) -> None:
    tab = Browser()
    assert await tab.log_in("park", ldap.PASSWORD) == "/chat"
    await tab.auth._current_user()
    assert tab.auth.is_admin
    slapd.set_member(ldap.ADMIN_GROUP, "park", member=False)
    try:
        other = Browser()
        assert await other.log_in("park", ldap.PASSWORD) == "/chat"
        await other.auth._current_user()
        assert not other.auth.is_admin
        # Losing the rights ended the sessions that had them.
        assert await tab.auth._current_user() is None
    finally:
        slapd.set_member(ldap.ADMIN_GROUP, "park", member=True)
    assert audit_records(app_db)[-1].detail == "with the directory; administrator rights removed"


async def test_a_disabled_account_is_refused_even_when_the_directory_accepts(secrets_file, app_db) -> None:
    tab = Browser()
    assert await tab.log_in("kim", ldap.PASSWORD) == "/chat"
    with Session(app_db) as session:
        accounts.set_active(session=session, user_id=all_users(app_db)[0].id, active=False)
        session.commit()
    other = Browser()
    assert await other.log_in("kim", ldap.PASSWORD) is None
    assert other.login.login_error == "Account is disabled. Ask an administrator."
    assert not other.token
    assert audit_records(app_db)[-1].detail == "account disabled"


async def test_an_unreachable_directory_says_so_and_accepts_nobody(slapd, tmp_path, app_db, monkeypatch) -> None:
    reachable = load_settings(write_secrets(tmp_path / "up.toml", slapd.url, tmp_path / "data"))
    use_settings(monkeypatch, reachable)
    assert await Browser().log_in("kim", ldap.PASSWORD) == "/chat"  # kim's account exists from now on
    add_local_user(app_db, "root", admin=True)
    down = load_settings(write_secrets(tmp_path / "down.toml", f"ldap://127.0.0.1:{closed_port()}", tmp_path / "data"))
    use_settings(monkeypatch, down)
    for username in ("kim", "park"):  # a directory account, and a name not known here yet
        tab = Browser()
        assert await tab.log_in(username, ldap.PASSWORD) is None
        assert tab.login.login_error.startswith("The company directory cannot be reached right now")
        assert not tab.token
        assert audit_records(app_db)[-1].detail == "directory unreachable"
    # ...while the local administrator still signs in with the local password.
    assert await Browser().log_in("root", LOCAL_PASSWORD) == "/chat"
    tab = Browser()
    tab.ui.lang = "ko"
    assert await tab.log_in("kim", ldap.PASSWORD) is None
    assert tab.login.login_error.startswith("지금은 회사 디렉터리에 연결할 수 없어")


async def test_a_local_account_signs_in_with_its_own_password_only(secrets_file, app_db) -> None:
    # "park" is also a directory user (an administrator there): the local account wins, with its password.
    add_local_user(app_db, "park")
    add_local_user(app_db, "root", admin=True)
    tab = Browser()
    assert await tab.log_in("park", ldap.PASSWORD) is None
    assert tab.login.login_error == "Wrong username or password."
    assert await Browser().log_in("park", LOCAL_PASSWORD) == "/chat"
    admin = Browser()
    assert await admin.log_in("root", LOCAL_PASSWORD) == "/chat"
    await admin.auth._current_user()
    assert admin.auth.is_admin
    assert [u.auth_source for u in all_users(app_db)] == [accounts.LOCAL, accounts.LOCAL]


async def test_a_directory_name_that_is_not_a_username_here_is_told_plainly(secrets_file, app_db) -> None:
    tab = Browser()
    assert await tab.log_in("ab", ldap.PASSWORD) is None
    assert tab.login.login_error.startswith("Your directory user name cannot be used here")
    assert all_users(app_db) == []


async def test_the_account_survives_a_restart(slapd, secrets_file, app_db, monkeypatch) -> None:
    assert await Browser().log_in("kim", ldap.PASSWORD) == "/chat"
    [before] = all_users(app_db)
    # A restart: the configuration read again from the file, a new engine on the same database.
    engine = make_engine(str(app_db.url))
    try:
        monkeypatch.setattr(db, "get_engine", lambda: engine)
        use_settings(monkeypatch, load_settings(secrets_file))
        tab = Browser()
        assert await tab.log_in("kim", ldap.PASSWORD) == "/chat"
        await tab.auth._current_user()
        assert tab.auth.username == "kim"
        [after] = all_users(engine)
        assert after.id == before.id and after.auth_source == accounts.DIRECTORY
        assert audit_records(engine)[-1].detail == "with the directory"
    finally:
        engine.dispose()


async def test_an_administrator_cannot_reset_a_directory_account_password(secrets_file, app_db) -> None:
    assert await Browser().log_in("kim", ldap.PASSWORD) == "/chat"
    kim = all_users(app_db)[0]
    add_local_user(app_db, "root", admin=True)
    signed_in = Browser()
    assert await signed_in.log_in("root", LOCAL_PASSWORD) == "/chat"
    admin = AdminTab(signed_in.token, "/admin")
    await call(admin, "load_page")
    await call(admin, "open_reset", kim.id)
    assert admin.error.startswith("This account signs in with the company directory")
    assert admin.reset_user_id == 0
    assert all_users(app_db)[0].password_hash == accounts.NO_LOCAL_PASSWORD


async def test_with_directory_sign_in_off_a_directory_account_cannot_sign_in(app_db, monkeypatch) -> None:
    use_settings(monkeypatch, Settings())  # no [ldap] url
    with Session(app_db) as session:
        accounts.sign_in_from_directory(session=session, username="kim", email="kim@example.com", is_admin=None)
        session.commit()
    for password in (ldap.PASSWORD, accounts.NO_LOCAL_PASSWORD):
        tab = Browser()
        assert await tab.log_in("kim", password) is None
        assert tab.login.login_error == "Wrong username or password."
