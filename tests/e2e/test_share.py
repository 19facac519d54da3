"""Share links in a real browser: Share chat, Copy link, the read-only copy for a colleague (who
logs in first and comes back to the link), Continue in my chats, Stop sharing, and an admin
stopping any share."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import at, create_admin, sign_up
from tests.e2e.test_chat_experience import ANSWER, QUESTION, ask_and_wait

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-9"


def share_link(page) -> str:
    """Share chat, then Copy link: the link, as the clipboard and the dialog have it."""
    page.get_by_role("button", name="Share chat").click()
    dialog = page.get_by_role("dialog", name="Share chat")
    expect(dialog.get_by_role("button", name="Stop sharing")).to_have_count(0)
    dialog.get_by_role("button", name="Copy link").click()
    expect(dialog.get_by_role("status")).to_have_text("Link copied.")
    link = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(re.escape(page.url.split("/chat")[0]) + r"/shared/[A-Za-z0-9_-]{32}", link), link
    expect(dialog.get_by_role("textbox", name="Share link")).to_have_value(link)
    return link


def log_in(page, base_url: str, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_share_read_continue_and_stop_sharing(browser, page, app_server):
    owner = sign_up(page, app_server.url)
    ask_and_wait(page, "Quarterly plan for the Busan office")
    link = share_link(page)
    page.get_by_role("button", name="Close").click()
    expect(page.get_by_role("img", name="Shared")).to_have_count(1)  # the owner's sidebar marks it

    colleague_context = browser.new_context()
    colleague = colleague_context.new_page()
    colleague.set_default_timeout(15_000)
    name = sign_up(colleague, app_server.url)
    colleague.get_by_role("button", name="Log out").click()
    colleague.wait_for_url(at(app_server.url, "/login"))
    # Signed out, the link leads to log in, and back to the link afterwards.
    colleague.goto(link)
    colleague.wait_for_url(re.compile(re.escape(app_server.url) + r"/login\?next=/shared/"))
    log_in(colleague, app_server.url, name)
    colleague.wait_for_url(link)
    expect(colleague.get_by_role("heading", level=1)).to_have_text("Quarterly plan for the Busan…")
    expect(colleague.locator(QUESTION)).to_have_text("Quarterly plan for the Busan office")
    expect(colleague.locator(ANSWER)).to_contain_text("Quarterly plan for the Busan office")
    assert owner not in colleague.content() and f"{owner}@example.com" not in colleague.content()
    # Read-only: no composer, no edit.
    expect(colleague.get_by_role("textbox", name="Message", exact=True)).to_have_count(0)
    expect(colleague.get_by_role("button", name="Edit message")).to_have_count(0)
    colleague.get_by_role("button", name="Continue in my chats").click()
    colleague.wait_for_url(re.compile(re.escape(app_server.url) + r"/chat/\d+$"))
    expect(colleague.locator(QUESTION)).to_have_text("Quarterly plan for the Busan office")
    expect(colleague.get_by_role("link", name="Quarterly plan for the Busan…")).to_be_visible()

    # Stop sharing: the link says so at once.
    page.get_by_role("button", name="Share chat").click()
    page.get_by_role("dialog", name="Share chat").get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_role("dialog", name="Share chat").get_by_role("textbox", name="Share link")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.get_by_role("img", name="Shared")).to_have_count(0)
    colleague.goto(link)
    expect(colleague.get_by_role("heading", name="This chat is no longer shared.")).to_be_visible()
    expect(colleague.locator(ANSWER)).to_have_count(0)
    colleague_context.close()


def test_an_admin_stops_any_share(browser, page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Team offsite agenda")
    link = share_link(page)
    admin_context = browser.new_context()
    admin = admin_context.new_page()
    admin.set_default_timeout(15_000)
    admin_name = create_admin(app_server)
    admin.goto(f"{app_server.url}/login")
    log_in(admin, app_server.url, admin_name)
    admin.wait_for_url(at(app_server.url, "/chat"))
    admin.goto(f"{app_server.url}/admin")
    admin.get_by_role("tab", name="Conversations").click()
    shares = admin.get_by_role("table", name="Shared links")
    row = shares.get_by_role("row").filter(has_text="Team offsite agenda")
    row.get_by_role("button", name="Stop sharing").click()
    expect(admin.get_by_role("status").filter(has_text="is no longer shared")).to_be_visible()
    expect(shares.get_by_role("row").filter(has_text="Team offsite agenda")).to_have_count(0)
    admin.goto(link)
    expect(admin.get_by_role("heading", name="This chat is no longer shared.")).to_be_visible()
    admin_context.close()
