"""Directory sign-in (services/directory.py) against a real OpenLDAP server (tests/ldap_server.py):
both ways of finding the user, passwords, groups, injection in the username, an unreachable or
silent server, TLS, and the local account a directory sign-in makes (services/accounts.py)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from fabrix_chat import manage
from fabrix_chat.config import LdapSettings, ServerSettings, Settings
from fabrix_chat.db import make_engine, session_scope
from fabrix_chat.models import User
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import accounts, directory, maintenance
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services.directory import DirectoryError, DirectoryUnavailable
from tests import ldap_server as ldap
from tests.ldap_server import Directory


@pytest.fixture(scope="module")
def slapd() -> Iterator[Directory]:
    with ldap.slapd_directory("the directory sign-in tests need it") as server:
        yield server


def template_mode(server: Directory, **values) -> LdapSettings:
    """Bind as the user: uid={username},ou=people,..., groups as configured below."""
    values = {
        "url": server.url,
        "bind_dn_template": f"uid={{username}},{ldap.PEOPLE}",
        "allowed_group": ldap.ALLOWED_GROUP,
        "admin_group": ldap.ADMIN_GROUP,
        "timeout_seconds": 2,
    } | values
    return LdapSettings(**values)


def search_mode(server: Directory, **values) -> LdapSettings:
    """Search for the user with the service account, then bind as the entry found."""
    values = {
        "url": server.url,
        "search_base": ldap.PEOPLE,
        "search_filter": "(&(objectClass=inetOrgPerson)(uid={username}))",
        "service_dn": ldap.SERVICE_DN,
        "service_password": ldap.SERVICE_PASSWORD,
        "allowed_group": ldap.ALLOWED_GROUP,
        "admin_group": ldap.ADMIN_GROUP,
        "timeout_seconds": 2,
    } | values
    return LdapSettings(**values)


def template_then_search_mode(server: Directory, **values) -> LdapSettings:
    """Bind as the user, then find their entry by searching as them (as with AD's user@domain)."""
    return template_mode(server, search_base=ldap.PEOPLE, search_filter="(uid={username})", **values)


MODES = {
    "bind DN template": template_mode,
    "bind DN template, entry searched": template_then_search_mode,
    "service account search": search_mode,
}


@pytest.fixture(params=list(MODES))
def mode(request):
    return MODES[request.param]


# --- the password ------------------------------------------------------------------------------


async def test_the_right_password_gives_the_directory_user_with_its_email(slapd, mode) -> None:
    found = await directory.authenticate(mode(slapd), "kim", ldap.PASSWORD)
    assert found is not None
    assert found.dn == ldap.person_dn("kim")
    assert found.email == "kim@example.com"
    assert found.is_admin is False


async def test_a_wrong_password_or_an_unknown_user_is_refused(slapd, mode) -> None:
    settings = mode(slapd)
    assert await directory.authenticate(settings, "kim", "not-the-password") is None
    assert await directory.authenticate(settings, "kim", ldap.PASSWORD.upper()) is None
    assert await directory.authenticate(settings, "nobody-here", ldap.PASSWORD) is None


async def test_an_empty_password_is_refused_before_asking(slapd, mode) -> None:
    # A simple bind with a DN and no password is an anonymous bind on many servers: it must
    # never sign anyone in, whatever the directory would say.
    for password in ("", None):
        assert await directory.authenticate(mode(slapd), "kim", password or "") is None


async def test_a_username_cannot_inject_into_the_filter_or_the_dn(slapd, mode) -> None:
    settings = mode(slapd)
    for username in ("k*", "*", "*)(uid=*", "kim)(|(uid=*", "kim)", "kim,ou=people", f"kim,{ldap.PEOPLE}", "kim\\"):
        assert await directory.authenticate(settings, username, ldap.PASSWORD) is None, username


async def test_injection_is_refused_with_an_anonymous_search_too(slapd) -> None:
    # service_dn empty: the search is anonymous (this test server allows it), the bind is still the user's.
    settings = search_mode(slapd, service_dn="", service_password="")
    assert (await directory.authenticate(settings, "kim", ldap.PASSWORD)).email == "kim@example.com"
    assert await directory.authenticate(settings, "k*", ldap.PASSWORD) is None


async def test_a_wrong_service_password_is_a_directory_problem_not_a_refusal(slapd) -> None:
    with pytest.raises(DirectoryUnavailable):
        await directory.authenticate(search_mode(slapd, service_password="wrong"), "kim", ldap.PASSWORD)


# --- groups ------------------------------------------------------------------------------------


async def test_only_members_of_the_allowed_group_sign_in(slapd, mode) -> None:
    with pytest.raises(DirectoryError) as refused:
        await directory.authenticate(mode(slapd), "lee", ldap.PASSWORD)
    assert refused.value.key == "directory_not_allowed"
    assert refused.value.detail == "not in the allowed group"
    # Without allowed_group, anyone the directory knows may.
    assert await directory.authenticate(mode(slapd, allowed_group=""), "lee", ldap.PASSWORD) is not None
    # The wrong password is still just wrong: nothing is said about the group.
    assert await directory.authenticate(mode(slapd), "lee", "not-the-password") is None


async def test_membership_is_read_from_memberof_when_the_group_itself_is_hidden(slapd, mode) -> None:
    # hidden-staff cannot be read by anyone here: only choi's memberOf says choi is in it.
    settings = mode(slapd, allowed_group=ldap.HIDDEN_GROUP)
    assert (await directory.authenticate(settings, "choi", ldap.PASSWORD)).email == "choi@example.com"
    with pytest.raises(DirectoryError):
        await directory.authenticate(settings, "kim", ldap.PASSWORD)


async def test_admin_group_members_are_admins_and_stop_being_when_removed(slapd, mode) -> None:
    # chat-admins is a groupOfUniqueNames, which the memberof overlay does not track: read from the group.
    settings = mode(slapd)
    assert (await directory.authenticate(settings, "park", ldap.PASSWORD)).is_admin is True
    slapd.set_member(ldap.ADMIN_GROUP, "park", member=False)
    try:
        assert (await directory.authenticate(settings, "park", ldap.PASSWORD)).is_admin is False
    finally:
        slapd.set_member(ldap.ADMIN_GROUP, "park", member=True)
    # No admin_group: the directory says nothing about admin rights (they are managed here).
    assert (await directory.authenticate(mode(slapd, admin_group=""), "park", ldap.PASSWORD)).is_admin is None


# --- a directory that cannot answer -------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung directory)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


async def test_an_unreachable_directory_is_unavailable_in_both_modes(slapd, mode) -> None:
    settings = mode(slapd, url=f"ldap://127.0.0.1:{closed_port()}")
    with pytest.raises(DirectoryUnavailable) as unavailable:
        await directory.authenticate(settings, "kim", ldap.PASSWORD)
    assert unavailable.value.key == "directory_unavailable"
    assert str(unavailable.value).startswith("The company directory cannot be reached")


async def test_a_directory_that_never_answers_is_unavailable_after_the_timeout(slapd, silent_server) -> None:
    settings = template_mode(slapd, url=f"ldap://127.0.0.1:{silent_server}", timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable):
        await directory.authenticate(settings, "kim", ldap.PASSWORD)
    assert time.monotonic() - started < 1 + 2, "given up after about timeout_seconds"


async def test_other_sign_ins_are_not_held_up_while_the_directory_is_silent(slapd, silent_server) -> None:
    settings = template_mode(slapd, url=f"ldap://127.0.0.1:{silent_server}", timeout_seconds=1)
    waiting = asyncio.create_task(directory.authenticate(settings, "kim", ldap.PASSWORD))
    started = time.monotonic()
    await asyncio.sleep(0.05)
    assert not waiting.done() and time.monotonic() - started < 0.5, "the event loop kept running"
    with pytest.raises(DirectoryUnavailable):
        await waiting


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(slapd) -> Directory:
    if not slapd.ldaps_port:
        pytest.skip("openssl not installed: the test slapd has no TLS certificate (Debian package openssl)")
    return slapd


async def test_ldaps_and_starttls_work_with_the_configured_ca(tls_server) -> None:
    ldaps = template_mode(tls_server, url=tls_server.ldaps_url, ca_file=tls_server.ca_file)
    assert (await directory.authenticate(ldaps, "kim", ldap.PASSWORD)).email == "kim@example.com"
    start_tls = search_mode(tls_server, start_tls=True, ca_file=tls_server.ca_file)
    assert (await directory.authenticate(start_tls, "kim", ldap.PASSWORD)).email == "kim@example.com"


async def test_a_certificate_that_is_not_trusted_is_unavailable_never_accepted(tls_server) -> None:
    # The test CA is not among the system's: the certificate cannot be verified.
    for settings in (
        template_mode(tls_server, url=tls_server.ldaps_url),
        search_mode(tls_server, start_tls=True),
    ):
        with pytest.raises(DirectoryUnavailable):
            await directory.authenticate(settings, "kim", ldap.PASSWORD)


async def test_a_certificate_for_another_host_name_is_refused(tls_server) -> None:
    # The certificate names 127.0.0.1 and localhost; the machine's own name is neither.
    other_name = socket.gethostname()
    if other_name in ("localhost", "127.0.0.1"):
        pytest.skip("this machine's host name is localhost")
    try:
        socket.create_connection((other_name, tls_server.ldaps_port), timeout=2).close()
    except OSError:
        pytest.skip(f"{other_name} does not reach the loopback server here")
    settings = template_mode(
        tls_server, url=f"ldaps://{other_name}:{tls_server.ldaps_port}", ca_file=tls_server.ca_file
    )
    with pytest.raises(DirectoryUnavailable):
        await directory.authenticate(settings, "kim", ldap.PASSWORD)


async def test_a_missing_ca_file_refuses_instead_of_trusting_something_else(tls_server, tmp_path) -> None:
    settings = template_mode(tls_server, url=tls_server.ldaps_url, ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(DirectoryUnavailable):
        await directory.authenticate(settings, "kim", ldap.PASSWORD)


# --- the local account ---------------------------------------------------------------------------


def users(engine) -> list[User]:
    with Session(engine) as session:
        return list(session.exec(select(User).order_by(User.id)))


async def test_the_first_sign_in_creates_a_local_account_without_a_password(slapd, app_db) -> None:
    user, changes = await directory.sign_in(template_mode(slapd), "kim", ldap.PASSWORD)
    assert changes == ["account created"]
    [stored] = users(app_db)
    assert (stored.id, stored.username, stored.email) == (user.id, "kim", "kim@example.com")
    assert stored.auth_source == accounts.DIRECTORY and not stored.is_admin and not stored.must_change_password
    # No password typed here ever matches it, not even the directory's.
    for password in (ldap.PASSWORD, "!directory", ""):
        assert not auth_service.verify_password(password, stored.password_hash)
    # The next sign-in finds the same account and changes nothing.
    again, changes = await directory.sign_in(template_mode(slapd), "kim", ldap.PASSWORD)
    assert again.id == user.id and changes == []
    assert len(users(app_db)) == 1


async def test_admin_rights_follow_the_admin_group_at_every_sign_in(slapd, app_db) -> None:
    settings = search_mode(slapd)
    user, changes = await directory.sign_in(settings, "park", ldap.PASSWORD)
    assert user.is_admin and changes == ["account created"]
    slapd.set_member(ldap.ADMIN_GROUP, "park", member=False)
    try:
        user, changes = await directory.sign_in(settings, "park", ldap.PASSWORD)
        assert not user.is_admin and changes == ["administrator rights removed"]
        assert not users(app_db)[0].is_admin
    finally:
        slapd.set_member(ldap.ADMIN_GROUP, "park", member=True)
    user, changes = await directory.sign_in(settings, "park", ldap.PASSWORD)
    assert user.is_admin and changes == ["administrator rights given"]


async def test_without_an_admin_group_rights_given_here_stay(slapd, app_db) -> None:
    settings = template_mode(slapd, admin_group="")
    user, _ = await directory.sign_in(settings, "kim", ldap.PASSWORD)
    with Session(app_db) as session:
        accounts.set_admin(session=session, user_id=user.id, admin=True)
        session.commit()
    user, changes = await directory.sign_in(settings, "kim", ldap.PASSWORD)
    assert user.is_admin and changes == []


async def test_a_directory_name_that_is_not_a_username_here_is_refused_plainly(slapd, app_db) -> None:
    with pytest.raises(DirectoryError) as refused:
        await directory.sign_in(template_mode(slapd), "ab", ldap.PASSWORD)  # 2 letters: 3 to 32 here
    assert refused.value.key == "directory_username_invalid"
    assert users(app_db) == []


async def test_a_directory_user_without_an_email_is_refused_plainly(slapd, app_db) -> None:
    with pytest.raises(DirectoryError) as refused:
        await directory.sign_in(template_mode(slapd), "nomail", ldap.PASSWORD)
    assert (refused.value.key, refused.value.detail) == ("directory_no_email", "no email in the directory")
    assert users(app_db) == []


async def test_a_local_account_of_the_same_name_is_never_signed_in_by_the_directory(slapd, app_db) -> None:
    with Session(app_db) as session:
        users_repo.create_user(
            session=session,
            username="kim",
            email="kim.local@example.com",
            password_hash=auth_service.hash_password("x" * 8),
        )
        session.commit()
    assert await directory.sign_in(template_mode(slapd), "kim", ldap.PASSWORD) is None
    [stored] = users(app_db)
    assert stored.auth_source == accounts.LOCAL and stored.email == "kim.local@example.com"


async def test_a_directory_account_email_follows_the_directory(slapd, app_db) -> None:
    user, _ = await directory.sign_in(template_mode(slapd), "kim", ldap.PASSWORD)
    with Session(app_db) as session:
        accounts.set_email(session=session, user_id=user.id, email="old@example.com")
        session.commit()
    user, changes = await directory.sign_in(template_mode(slapd), "kim", ldap.PASSWORD)
    assert user.email == "kim@example.com" and changes == ["email updated"]


async def test_a_directory_account_password_cannot_be_set_here(slapd, app_db) -> None:
    user, _ = await directory.sign_in(template_mode(slapd), "kim", ldap.PASSWORD)
    with Session(app_db) as session, pytest.raises(accounts.AccountError) as refused:
        accounts.set_password(
            session=session,
            user_id=user.id,
            password_hash=auth_service.hash_password("new-pass-123"),
            chosen_by_other=True,
        )
    assert refused.value.key == "directory_password_elsewhere"
    assert users(app_db)[0].password_hash == accounts.NO_LOCAL_PASSWORD


def test_manage_reset_password_refuses_a_directory_account(tmp_path) -> None:
    settings = Settings(server=ServerSettings(data_dir=str(tmp_path / "data")))
    maintenance.migrate(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            accounts.sign_in_from_directory(session=session, username="kim", email="kim@example.com", is_admin=None)
    finally:
        engine.dispose()
    args = argparse.Namespace(username="kim", password_stdin=True, keep=False)
    with pytest.raises(manage.CommandError, match="signs in with the company directory"):
        manage.cmd_reset_password(settings, args)


def test_without_slapd_the_directory_tests_are_skipped_saying_why(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(ldap, "SLAPD", tmp_path / "no-slapd")
    with pytest.raises(pytest.skip.Exception, match=r"Debian package slapd.*run\.sh test installs it"):
        with ldap.slapd_directory("the directory sign-in tests need it"):
            pass
