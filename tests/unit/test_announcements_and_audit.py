"""Announcements (the admin's tab, the chat page's banner with Dismiss), the audit trail (what is
recorded, the Audit tab's filters and Export CSV, `manage audit`, cleanup) and the Usage tab's
Export CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from fabrix_chat import spreadsheet
from fabrix_chat.db import session_scope
from fabrix_chat.models import Announcement, AuditRecord, utcnow
from fabrix_chat.repo import audit as audit_repo
from fabrix_chat.repo import usage as usage_repo
from fabrix_chat.state.admin.announcements import AdminAnnouncementsState, parse_ends_at
from fabrix_chat.state.admin.audit import AdminAuditState
from fabrix_chat.state.announcements import AnnouncementState
from fabrix_chat.state.chat import ChatState
from tests.reflex_tab import download_of
from tests.unit import test_admin_state
from tests.unit.test_admin_state import add_user, call, sign_in
from tests.unit.test_chat_state import Tab

# Fixtures shared with test_admin_state.py
admin = test_admin_state.admin
engine = test_admin_state.engine
settings = test_admin_state.settings


def records(engine) -> list[AuditRecord]:
    with Session(engine) as session:
        return list(session.exec(select(AuditRecord).order_by(AuditRecord.id)))


# --- announcements ------------------------------------------------------------------------------


async def post(admin, text: str, level: str = "info", ends_at: str = "") -> None:
    await call(admin, "select_tab", "announcements")
    await call(admin, "post_announcement", {"text": text, "level": level, "ends_at": ends_at})


async def test_an_announcement_shows_on_every_chat_page_until_each_user_dismisses_it(engine, admin):
    await post(admin, "**Maintenance** tonight at 22:00 <script>alert(1)</script>", "warning")
    assert admin.error == "" and admin.notice == "The announcement is posted."
    kim, lee = (Tab(sign_in(engine, add_user(engine, name)), "/chat") for name in ("kim", "lee"))
    for tab in (kim, lee):
        await tab.run(ChatState.load_page)
        [shown] = tab.get(AnnouncementState).announcements
        # Stored and sent as typed: the page renders it as markdown with raw HTML shown as text.
        assert shown.level == "warning" and shown.text.startswith("**Maintenance**")
    await kim.run(AnnouncementState.dismiss_announcement, shown.id)
    assert kim.get(AnnouncementState).announcements == []
    await kim.run(ChatState.load_page)  # dismissed for good, for kim only
    assert kim.get(AnnouncementState).announcements == []
    await lee.run(ChatState.load_page)
    assert len(lee.get(AnnouncementState).announcements) == 1
    # Odd ids, twice, or one never shown change nothing.
    for odd in ("abc", 10**30, -1, None, shown.id):
        await kim.run(AnnouncementState.dismiss_announcement, odd)
    visitor = Tab("", "/chat")
    assert "/login" in str(await visitor.run(AnnouncementState.dismiss_announcement, shown.id))
    await call(admin, "remove_announcement", admin.get(AdminAnnouncementsState).announcement_rows[0].id)
    await lee.run(ChatState.load_page)
    assert lee.get(AnnouncementState).announcements == []
    assert [r.action for r in records(engine)][-2:] == ["announcement_post", "announcement_remove"][-2:]


async def test_an_announcement_is_gone_after_its_end_time(engine, admin):
    later = (datetime.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    await post(admin, "Until the next hour", ends_at=later)
    assert admin.error == ""
    kim = Tab(sign_in(engine, add_user(engine, "kim")), "/chat")
    await kim.run(ChatState.load_page)
    assert len(kim.get(AnnouncementState).announcements) == 1
    with session_scope(engine) as session:
        row = session.exec(select(Announcement)).one()
        row.ends_at = utcnow() - timedelta(seconds=1)
    await kim.run(ChatState.load_page)
    assert kim.get(AnnouncementState).announcements == []


async def test_posting_refuses_odd_input(engine, admin):
    past = (datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    for form, error in (
        ({"text": "   ", "level": "info"}, "Write the announcement first."),
        ({"text": "x" * 2001, "level": "info"}, "at most 2000 characters"),
        ({"text": "Hi", "level": "danger"}, "Choose info or warning."),
        ({"text": "Hi", "level": "info", "ends_at": past}, "already passed"),
        ({"text": "Hi", "level": "info", "ends_at": "tomorrow"}, "not a date and time"),
        ({"text": "Hi", "level": "info", "ends_at": "9" * 5000}, "not a date and time"),
        ("not a form", "Write the announcement first."),
    ):
        await call(admin, "select_tab", "announcements")
        await call(admin, "post_announcement", form)
        assert error in admin.error, (form, admin.error)
    assert admin.get(AdminAnnouncementsState).announcement_rows == []
    await call(admin, "remove_announcement", 12345)
    assert admin.error == "That announcement no longer exists."


def test_ends_at_is_the_servers_time():
    local = datetime(2026, 12, 24, 18, 0).astimezone()
    assert parse_ends_at("2026-12-24T18:00") == local.astimezone(UTC)
    assert parse_ends_at("") is None


# --- the audit trail ------------------------------------------------------------------------


async def test_admin_actions_are_recorded_with_who_what_whom_and_where(engine, admin):
    kim_id = add_user(engine, "kim")
    await call(admin, "select_tab", "settings")
    await call(admin, "select_tab", "announcements")
    await call(admin, "post_announcement", {"text": "Hello", "level": "info", "ends_at": ""})
    found = records(engine)
    assert [(r.actor, r.action) for r in found] == [("root", "settings_view"), ("root", "announcement_post")]
    assert all(r.client == "127.0.0.1" for r in found)
    assert kim_id


async def test_the_audit_tab_filters_and_exports_every_match(engine, admin):
    with session_scope(engine) as session:
        for i in range(305):
            audit_repo.record(session=session, action="sign_in", actor=f"user{i % 3}", client="10.0.0.1")
        audit_repo.record(session=session, action="sign_in_failed", target='=HYPERLINK("http://x")', client="10.0.0.2")
    await call(admin, "select_tab", "audit")
    tab = admin.get(AdminAuditState)
    assert len(tab.audit_rows) == 300 and tab.audit_more
    await call(admin, "set_audit_filter", {"user": "", "action": "FAILED", "from": "", "to": ""})
    assert [r.action for r in tab.audit_rows] == ["sign_in_failed"]
    await call(admin, "set_audit_filter", {"user": "user1", "action": "sign_in", "from": "", "to": ""})
    assert {r.actor for r in tab.audit_rows} == {"user1"} and len(tab.audit_rows) == 102
    today = datetime.now().strftime("%Y-%m-%d")
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    await call(admin, "set_audit_filter", {"user": "", "action": "", "from": tomorrow, "to": ""})
    assert tab.audit_rows == []
    await call(admin, "set_audit_filter", {"user": "", "action": "", "from": today, "to": today})
    [event] = await call(admin, "export_audit")
    name, text = download_of(event)
    assert name.startswith("audit-") and name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(audit_repo.CSV_COLUMNS) and len(rows) == 1 + 306
    # A cell a spreadsheet would run is text.
    assert any(cell.startswith("'=HYPERLINK") for row in rows for cell in row)
    assert records(engine)[-1].action == "audit_export"
    for odd in ("not a form", {"user": "x" * 10_000, "action": "%", "from": "x", "to": "2026-13-45"}):
        await call(admin, "set_audit_filter", odd)
        assert admin.error == ""


def test_formula_like_cells_are_quoted_and_numbers_are_not():
    assert spreadsheet.safe_cell("=1+1") == "'=1+1"
    assert spreadsheet.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet.safe_cell("-2") == "'-2" and spreadsheet.safe_cell(-2) == "-2"
    assert spreadsheet.safe_cell("kim") == "kim"


def test_old_records_are_purged(engine):
    with session_scope(engine) as session:
        old = audit_repo.record(session=session, action="sign_in", actor="kim")
        old.created_at = utcnow() - timedelta(days=400)
        audit_repo.record(session=session, action="sign_in", actor="lee")
    with session_scope(engine) as session:
        assert audit_repo.count_older(session=session, days=365) == 1
        assert audit_repo.purge_older(session=session, days=365) == 1
    assert [r.actor for r in records(engine)] == ["lee"]


# --- the Usage tab's export -------------------------------------------------------------------


async def test_usage_exports_totals_per_day_user_and_agent(engine, admin):
    with session_scope(engine) as session:
        for username, agent, tokens in (("kim", "a1", 10), ("kim", "a1", 5), ("kim", "a2", 1), ("lee", "a1", 7)):
            usage_repo.record_usage(
                session=session,
                user_id=None,
                username=username,
                agent_id=agent,
                kind="chat",
                tokens_in=tokens,
                tokens_out=0,
                latency_ms=10,
                outcome="ok",
            )
    await call(admin, "select_tab", "usage")
    [event] = await call(admin, "export_usage", {"from": "", "to": ""})
    name, text = download_of(event)
    rows = list(csv.DictReader(io.StringIO(text)))
    today = datetime.now().strftime("%Y-%m-%d")
    assert [(r["day"], r["user"], r["agent"], r["requests"], r["tokens_in"]) for r in rows] == [
        (today, "kim", "a1", "2", "15"),
        (today, "kim", "a2", "1", "1"),
        (today, "lee", "a1", "1", "7"),
    ]
    assert name.startswith("usage-") and name.endswith(".csv")
    for form in ({"from": "2026-12-10", "to": "2026-12-01"}, {"from": "2020-01-01", "to": "2026-01-01"}):
        assert await call(admin, "export_usage", form) == []
        assert "at most 366 days" in admin.error


async def test_every_change_to_a_user_is_on_the_record(engine, admin):
    from tests.unit.test_admin_state import PASSWORD, user_row

    await call(admin, "load_page")
    await call(admin, "create_user", {"username": "kim", "email": "kim@example.com", "password": PASSWORD})
    kim = user_row(admin, "kim").id
    for name in ("disable_user", "enable_user", "make_admin", "remove_admin"):
        await call(admin, name, kim)
    await call(admin, "open_reset", kim)
    await call(admin, "generate_password")
    generated = admin.generated_password
    assert len(generated) >= 12
    await call(admin, "open_email", kim)
    await call(admin, "save_email", {"email": "kim.new@example.com"})
    await call(admin, "ask_delete_user", kim)
    await call(admin, "confirm_delete_user")
    assert admin.error == ""
    found = [(r.actor, r.action, r.target) for r in records(engine)]
    assert found == [
        ("root", action, "kim")
        for action in (
            "user_create",
            "user_disable",
            "user_enable",
            "user_promote",
            "user_demote",
            "password_reset",
            "user_email",
            "user_delete",
        )
    ]
    # No password, hash or token is ever in a record.
    assert all(PASSWORD not in repr(r) and "$2b$" not in repr(r) for r in records(engine))
    assert all(generated not in repr(r) for r in records(engine))
