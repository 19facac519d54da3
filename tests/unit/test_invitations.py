"""Personal invitations: the admin's Invitations tab (create, the code shown once, Revoke) and
sign-up with a code (one use, its email only, until it expires; the shared key turned off)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import Session, select

from fabrix_chat.models import AuditRecord, Invitation, User
from fabrix_chat.repo import invitations as invitations_repo
from fabrix_chat.state.admin.invitations import AdminInvitationsState
from tests.unit import test_admin_state, test_auth_state
from tests.unit.test_admin_state import call
from tests.unit.test_auth_state import Browser, use_settings

# Fixtures shared with test_admin_state.py
admin = test_admin_state.admin
engine = test_admin_state.engine
settings = test_admin_state.settings

# Fixtures shared with test_auth_state.py
fresh_throttles = test_auth_state.fresh_throttles


def another_open_invitation(engine) -> None:
    """One more open invitation, so sign-up stays open (with none and no shared key it is closed)."""
    with Session(engine) as session:
        invitations_repo.create(session=session, email="someone.else@example.com", days=7, created_by="root")
        session.commit()


def invitation_rows(engine) -> list[Invitation]:
    with Session(engine) as session:
        return list(session.exec(select(Invitation)))


async def create(admin, email: str = "new.hire@example.com", days: str = "7") -> str:
    """The admin creates an invitation on the tab: its code, as shown once."""
    await call(admin, "select_tab", "invitations")
    await call(admin, "create_invitation", {"email": email, "days": days})
    assert admin.error == "", admin.error
    code = admin.get(AdminInvitationsState).invitation_code
    assert len(code) == invitations_repo.CODE_LENGTH
    return code


def test_codes_are_random_and_only_their_hash_is_kept():
    codes = {invitations_repo.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 16 and set(c) <= set(invitations_repo.CODE_ALPHABET) for c in codes)
    code = "ABCD2345EFGH6789"
    # Typed with spaces, dashes or in lower case, it is the same code.
    assert invitations_repo.code_hash(code) == invitations_repo.code_hash("abcd-2345 efgh-6789")
    assert code not in invitations_repo.code_hash(code)


async def test_the_admin_creates_an_invitation_and_sees_its_state(engine, admin):
    code = await create(admin)
    tab = admin.get(AdminInvitationsState)
    assert [(r.email, r.state_key) for r in tab.invitations] == [("new.hire@example.com", "open")]
    assert "new.hire@example.com" in admin.notice
    [row] = invitation_rows(engine)
    assert row.code_hash == invitations_repo.code_hash(code) and code not in repr(row)
    # Shown once: the next action forgets it.
    await call(admin, "revoke_invitation", tab.invitations[0].id)
    assert tab.invitation_code == ""
    assert [r.state_key for r in tab.invitations] == ["revoked"]
    with Session(engine) as session:
        actions = [r.action for r in session.exec(select(AuditRecord))]
        assert "invitation_create" in actions and "invitation_revoke" in actions
        assert all(code not in repr(r) for r in session.exec(select(AuditRecord)))


async def test_create_refuses_odd_input(engine, admin):
    await call(admin, "select_tab", "invitations")
    for form, error in (
        ({"email": "not an email", "days": "7"}, "valid email"),
        ({"email": "a@example.com", "days": "0"}, "from 1 to 90"),
        ({"email": "a@example.com", "days": "91"}, "from 1 to 90"),
        ({"email": "a@example.com", "days": "-3"}, "from 1 to 90"),
        ({"email": "a@example.com", "days": "x" * 10_000}, "from 1 to 90"),
        ({"email": "x" * 300 + "@example.com", "days": "7"}, ""),
        ({"email": "root@example.com", "days": "7"}, "exists"),  # already an account
        ("not a form", "valid email"),
    ):
        await call(admin, "create_invitation", form)
        assert admin.error and error.lower() in admin.error.lower(), (form, admin.error)
    assert invitation_rows(engine) == []
    await call(admin, "revoke_invitation", "abc")
    await call(admin, "revoke_invitation", 10**30)
    assert "no longer open" in admin.error


async def test_sign_up_with_a_code_works_once_for_its_email(engine, admin, monkeypatch):
    code = await create(admin)
    use_settings(monkeypatch, shared_key_signup=False)
    # The shared key is off: it no longer signs anyone up.
    assert await Browser().sign_up("kim", email="new.hire@example.com") is None
    # Another email with the code: refused, and the code is still open.
    other = Browser()
    assert await other.sign_up("kim", email="someone@example.com", invite_key=code) is None
    assert other.signup.signup_error == "This invitation is for another email address."
    assert await Browser().sign_up("kim", email="new.hire@example.com", invite_key=code.lower()) == "/chat"
    [row] = invitation_rows(engine)
    assert row.used_by == "kim" and row.used_at is not None
    # Used: the same code signs up nobody else.
    another_open_invitation(engine)
    again = Browser()
    assert await again.sign_up("lee", email="new.hire@example.com", invite_key=code) is None
    assert again.signup.signup_error == "The invite key is not correct."
    await call(admin, "select_tab", "invitations")
    shown = next(r for r in admin.get(AdminInvitationsState).invitations if r.email == "new.hire@example.com")
    assert shown.state_key == "used" and "kim" in shown.detail
    # With no open invitation and no shared key, the page says sign-up is closed.
    await call(
        admin,
        "revoke_invitation",
        next(r.id for r in admin.get(AdminInvitationsState).invitations if r.state_key == "open"),
    )
    closed = Browser()
    await closed.sign_up("lee", email="lee@example.com", invite_key=code)
    assert closed.signup.signup_error.startswith("Sign-up is closed here")


async def test_a_code_signs_up_one_of_many_at_once(engine, admin, monkeypatch):
    code = await create(admin)
    use_settings(monkeypatch, shared_key_signup=False)
    results = await asyncio.gather(
        *(
            Browser(client_ip=f"10.0.0.{i}").sign_up(f"user{i}", email="new.hire@example.com", invite_key=code)
            for i in range(8)
        )
    )
    assert results.count("/chat") == 1
    with Session(engine) as session:
        assert len(session.exec(select(User).where(User.email == "new.hire@example.com")).all()) == 1


async def test_an_expired_or_revoked_code_signs_up_nobody(engine, admin, monkeypatch):
    expired = await create(admin, "late@example.com")
    revoked = await create(admin, "gone@example.com")
    with Session(engine) as session:
        row = session.exec(select(Invitation).where(Invitation.email == "late@example.com")).one()
        row.expires_at = row.created_at - timedelta(seconds=1)
        session.add(row)
        session.commit()
    gone = next(r for r in admin.get(AdminInvitationsState).invitations if r.email == "gone@example.com")
    await call(admin, "revoke_invitation", gone.id)
    use_settings(monkeypatch, shared_key_signup=False)
    another_open_invitation(engine)
    for email, code in (("late@example.com", expired), ("gone@example.com", revoked)):
        tab = Browser()
        assert await tab.sign_up("kim", email=email, invite_key=code) is None
        assert tab.signup.signup_error == "The invite key is not correct."
    await call(admin, "select_tab", "invitations")
    states = {r.email: r.state_key for r in admin.get(AdminInvitationsState).invitations}
    assert states == {"late@example.com": "expired", "gone@example.com": "revoked", "someone.else@example.com": "open"}


async def test_a_wrong_code_counts_toward_the_slow_down(engine, monkeypatch):
    use_settings(monkeypatch, shared_key_signup=False)
    another_open_invitation(engine)
    tab = Browser()
    errors = []
    for _ in range(12):
        await tab.sign_up("kim", invite_key="WRONGCODE1234567")
        errors.append(tab.signup.signup_error)
    assert errors[0] == "The invite key is not correct."
    assert errors[-1].startswith("Too many failed attempts. Try again in"), errors


async def test_with_directory_sign_in_there_is_no_sign_up(engine, admin, monkeypatch):
    """A local account keeps its local password, so a directory user's name signed up here first
    would take their sign-in: with [ldap] on, nobody signs up, not even with a code."""
    from fabrix_chat import web
    from fabrix_chat.config import LdapSettings, Settings
    from fabrix_chat.state import auth as auth_state

    code = await create(admin)
    ldap = LdapSettings(url="ldap://127.0.0.1:1", bind_dn_template="uid={username},dc=example,dc=com")
    settings = Settings().model_copy(update={"ldap": ldap})
    monkeypatch.setattr(auth_state, "get_settings", lambda: settings)
    monkeypatch.setattr(web, "get_settings", lambda: settings)
    for key in ("123456", code):
        tab = Browser()
        assert await tab.sign_up("kim", email="new.hire@example.com", invite_key=key) is None
        assert tab.signup.signup_error.startswith("There is no sign-up here")
    [row] = invitation_rows(engine)
    assert row.used_at is None
