"""Issue 13 in a real browser: a personal invitation used to sign up, an announcement on the chat
page with Dismiss, the Audit tab (filter, Export CSV) and the Usage tab's Export CSV."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.e2e import test_admin
from tests.e2e.conftest import at, unique_name
from tests.e2e.test_admin import PASSWORD, open_admin, open_tab
from tests.e2e.test_chat_experience import ask_and_wait

pytestmark = pytest.mark.browser

# Fixtures shared with test_admin.py
admin_user = test_admin.admin_user


def downloaded_text(page, click) -> tuple[str, str]:
    with page.expect_download() as info:
        click()
    download = info.value
    return download.suggested_filename, open(download.path(), encoding="utf-8").read()


def test_invite_sign_up_announce_and_audit(browser, page, app_server, admin_user):
    open_admin(page, app_server.url, admin_user)
    open_tab(page, "Invitations")
    newcomer = unique_name("invited")
    email = f"{newcomer}@example.com"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Valid for days").fill("3")
    page.get_by_role("button", name="Create invitation").click()
    shown = page.get_by_role("status").filter(has_text="Invitation code for")
    expect(shown).to_contain_text(email)
    code = shown.locator("code").inner_text()
    assert len(code) == 16
    row = page.get_by_role("row").filter(has_text=email)
    expect(row).to_contain_text("Open")
    expect(row.get_by_role("button", name="Revoke")).to_be_visible()

    open_tab(page, "Announcements")
    page.get_by_role("textbox", name="Announcement").fill("Planned maintenance **tonight** at 22:00 <b>bold?</b>")
    page.get_by_label("Level").select_option("warning")
    page.get_by_role("button", name="Post announcement").click()
    expect(page.get_by_role("row").filter(has_text="Planned maintenance")).to_have_count(1)

    # The newcomer signs up with the code in the invite key field.
    other = browser.new_context()
    guest = other.new_page()
    guest.set_default_timeout(15_000)
    guest.goto(f"{app_server.url}/signup")
    guest.get_by_label("Username").fill(newcomer)
    guest.get_by_label("Email").fill(email)
    guest.get_by_label("Password", exact=True).fill(PASSWORD)
    guest.get_by_label("Confirm password").fill(PASSWORD)
    guest.get_by_label("Invite key").fill(code)
    guest.get_by_role("button", name="Sign up").click()
    guest.wait_for_url(at(app_server.url, "/chat"))
    banner = guest.get_by_role("status").filter(has_text="Planned maintenance")
    expect(banner).to_be_visible()
    expect(banner.locator("strong")).to_have_text("tonight")  # markdown
    expect(banner).to_contain_text("<b>bold?</b>")  # raw HTML shown as text, never run
    ask_and_wait(guest, "First question after joining")
    banner.get_by_role("button", name="Dismiss").click()
    expect(banner).to_have_count(0)
    guest.reload()
    expect(guest.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
    expect(guest.get_by_role("status").filter(has_text="Planned maintenance")).to_have_count(0)
    other.close()

    # Used, and on the record.
    open_tab(page, "Invitations")
    expect(page.get_by_role("row").filter(has_text=email)).to_contain_text("Used")
    open_tab(page, "Audit")
    page.get_by_label("Filter by user").fill(newcomer)
    page.get_by_role("button", name="Apply filters").click()
    table = page.get_by_role("table", name="Audit")
    expect(table.get_by_role("row").filter(has_text="sign_up")).to_have_count(1)
    page.get_by_label("Filter by action").fill("sign_up")
    page.get_by_role("button", name="Apply filters").click()
    expect(table.get_by_role("row")).to_have_count(2)  # the header and the one record
    name, text = downloaded_text(page, lambda: page.get_by_role("button", name="Export CSV").click())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert name.endswith(".csv") and [(r["actor"], r["action"]) for r in rows] == [(newcomer, "sign_up")]
    assert code not in text

    open_tab(page, "Usage")
    name, text = downloaded_text(page, lambda: page.get_by_role("button", name="Export CSV").click())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert name.startswith("usage-") and any(r["user"] == newcomer and int(r["requests"]) >= 1 for r in rows)
