"""The admin page in a real browser: who may see it, every tab, and each administrator action."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ask, at, create_admin, sign_up, unique_name

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
PASSWORD = "correct-horse-9"
TABS = (
    "Users",
    "Conversations",
    "Usage",
    "Logs",
    "Maintenance",
    "Settings",
    "Invitations",
    "Prompts",
    "Announcements",
    "Audit",
)


@pytest.fixture(scope="module")
def admin_user(app_server) -> str:
    return create_admin(app_server, "admin", PASSWORD)


def log_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(at(base_url, "/chat"))


def open_admin(page, base_url: str, username: str) -> None:
    """Log in as the administrator and open the page through the sidebar's Admin link."""
    log_in(page, base_url, username)
    page.get_by_role("link", name="Admin", exact=True).click()
    page.wait_for_url(at(base_url, "/admin"))
    expect(page.get_by_role("tab", name="Users", exact=True)).to_be_visible()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute("aria-selected", "true")


def user_row(page, username: str):
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=username, exact=True))


def find_user(page, username: str):
    """Narrow the users table to one user and return their row."""
    page.get_by_role("searchbox", name="Search users").fill(username)
    row = user_row(page, username)
    expect(row).to_have_count(1)
    return row


def notice(page):
    return page.locator(".admin-notice")


def sign_up_elsewhere(browser, base_url: str, question: str | None = None):
    """A second person in their own browser: signs up, optionally asks and waits for the answer."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    username = sign_up(page, base_url)
    if question:
        ask(page, question)
        expect(page).to_have_url(re.compile(r"/chat/\d+$"))
        expect(page.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0, timeout=60_000)
        expect(page.locator(ANSWER)).to_have_count(1)
    return context, page, username


def database(app_server) -> sqlite3.Connection:
    return sqlite3.connect(app_server.data_dir / "fabrix_chat.db", timeout=10)


# --- who may see the page ----------------------------------------------------------------------


def test_signed_out_visitor_and_non_admin_are_sent_away(page, app_server):
    page.goto(f"{app_server.url}/admin")
    page.wait_for_url(at(app_server.url, "/login"))
    sign_up(page, app_server.url)
    expect(page.get_by_role("button", name="New chat")).to_be_visible()
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    page.goto(f"{app_server.url}/admin")
    page.wait_for_url(at(app_server.url, "/chat"))
    expect(page.get_by_role("tab", name="Users")).to_have_count(0)


def test_every_tab_opens(page, app_server, admin_user):
    open_admin(page, app_server.url, admin_user)
    expect(user_row(page, admin_user)).to_be_visible()
    open_tab(page, "Conversations")
    expect(page.get_by_label("Filter by user")).to_be_visible()
    expect(page.get_by_label("Search messages")).to_be_visible()
    open_tab(page, "Usage")
    expect(page.get_by_text("Requests per minute", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Usage per day")).to_be_visible()
    page.get_by_role("button", name="Refresh").click()
    open_tab(page, "Logs")
    expect(page.get_by_label("Level")).to_be_visible()
    expect(page.get_by_role("table", name="Logs").get_by_role("row").nth(1)).to_be_visible()
    open_tab(page, "Maintenance")
    for name in ("Back up now", "Check integrity", "Optimize database", "Preview cleanup"):
        expect(page.get_by_role("button", name=name)).to_be_enabled()
    expect(page.get_by_role("button", name="Delete old conversations")).to_be_disabled()
    open_tab(page, "Settings")
    fabrix = page.get_by_role("table", name="[fabrix_api]")
    expect(fabrix).to_be_visible()
    # The demo invite key is a secret: only its mask is shown.
    expect(
        page.get_by_role("table", name="[auth]").get_by_role("row").filter(has_text="admin_signup_key")
    ).to_contain_text("********")
    expect(page.get_by_text("123456")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("tab", name="Settings", exact=True)).to_have_attribute("aria-selected", "true")


# --- users -------------------------------------------------------------------------------------


def test_disabling_a_user_ends_their_open_session(browser, page, app_server, admin_user):
    other, other_page, username = sign_up_elsewhere(browser, app_server.url)
    open_admin(page, app_server.url, admin_user)
    find_user(page, username).get_by_role("button", name="Disable", exact=True).click()
    expect(notice(page)).to_contain_text(f"{username} is disabled")
    expect(find_user(page, username).get_by_role("button", name="Enable", exact=True)).to_be_visible()

    # The other browser's next action lands on the log-in page, and logging in again is refused.
    other_page.get_by_role("button", name="New chat").click()
    other_page.wait_for_url(at(app_server.url, "/login"))
    other_page.get_by_label("Username").fill(username)
    other_page.get_by_label("Password").fill(PASSWORD)
    other_page.get_by_role("button", name="Log in").click()
    expect(other_page.get_by_role("alert")).to_contain_text("Account is disabled")

    find_user(page, username).get_by_role("button", name="Enable", exact=True).click()
    expect(find_user(page, username).get_by_role("button", name="Disable", exact=True)).to_be_visible()
    other_page.get_by_role("button", name="Log in").click()
    other_page.wait_for_url(at(app_server.url, "/chat"))
    other.close()


def test_an_admin_cannot_disable_or_delete_themself(page, app_server, admin_user):
    open_admin(page, app_server.url, admin_user)
    row = find_user(page, admin_user)
    row.get_by_role("button", name="Disable", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("You cannot disable your own account.")
    row.get_by_role("button", name="Delete user").click()
    expect(page.get_by_role("alert")).to_have_text("You cannot delete your own account.")
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(row.get_by_role("button", name="Disable", exact=True)).to_be_visible()


def test_make_admin_then_remove_admin(browser, page, app_server, admin_user):
    other, other_page, username = sign_up_elsewhere(browser, app_server.url)
    open_admin(page, app_server.url, admin_user)
    find_user(page, username).get_by_role("button", name="Make admin").click()
    expect(find_user(page, username)).to_contain_text("Administrator")

    # The new administrator can open the page.
    other_page.goto(f"{app_server.url}/admin")
    expect(other_page.get_by_role("tab", name="Users", exact=True)).to_be_visible()

    find_user(page, username).get_by_role("button", name="Remove admin").click()
    expect(find_user(page, username).get_by_role("button", name="Make admin")).to_be_visible()
    expect(notice(page)).to_contain_text("no longer an administrator")
    # Their open admin page stops working at the next click: the session has ended.
    other_page.get_by_role("tab", name="Logs", exact=True).click()
    other_page.wait_for_url(at(app_server.url, "/login"))
    log_in(other_page, app_server.url, username)
    other_page.goto(f"{app_server.url}/admin")
    other_page.wait_for_url(at(app_server.url, "/chat"))
    other.close()


def test_reset_password_then_log_in_with_it(browser, page, app_server, admin_user):
    other, other_page, username = sign_up_elsewhere(browser, app_server.url)
    open_admin(page, app_server.url, admin_user)
    find_user(page, username).get_by_role("button", name="Reset password").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(username)
    dialog.get_by_label("New password").fill("brand-new-pass-1")
    dialog.get_by_role("button", name="Set password").click()
    expect(dialog).to_have_count(0)
    expect(notice(page)).to_contain_text(f"The password of {username} was changed")

    # The old session ended; the new password works, the old one does not.
    other_page.reload()
    other_page.wait_for_url(at(app_server.url, "/login"))
    other_page.get_by_label("Username").fill(username)
    other_page.get_by_label("Password").fill(PASSWORD)
    other_page.get_by_role("button", name="Log in").click()
    expect(other_page.get_by_role("alert")).to_contain_text("Wrong username or password")
    # The password the admin chose works once: the user then chooses their own.
    other_page.get_by_label("Password").fill("brand-new-pass-1")
    other_page.get_by_role("button", name="Log in").click()
    expect(other_page.get_by_role("status")).to_contain_text("Choose your own to continue")
    other_page.get_by_label("New password", exact=True).fill("my-very-own-pass-2")
    other_page.get_by_label("Confirm new password").fill("my-very-own-pass-2")
    other_page.get_by_role("button", name="Set new password").click()
    other_page.wait_for_url(at(app_server.url, "/chat"))

    # A generated password is shown once and works too.
    find_user(page, username).get_by_role("button", name="Reset password").click()
    page.get_by_role("dialog").get_by_role("button", name="Generate password").click()
    secret = page.get_by_role("dialog").locator("code")
    expect(secret).to_have_text(re.compile(r"^\S{16,}$"))
    generated = secret.inner_text()
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text(generated)).to_have_count(0)
    other.close()
    fresh = browser.new_context()
    fresh_page = fresh.new_page()
    fresh_page.goto(f"{app_server.url}/login")
    fresh_page.get_by_label("Username").fill(username)
    fresh_page.get_by_label("Password").fill(generated)
    fresh_page.get_by_role("button", name="Log in").click()
    expect(fresh_page.get_by_role("heading", name="Choose your own password")).to_be_visible()
    fresh.close()


def test_delete_user_states_what_goes_with_it(browser, page, app_server, admin_user):
    other, _other_page, username = sign_up_elsewhere(browser, app_server.url, "Count my words please")
    other.close()
    open_admin(page, app_server.url, admin_user)
    find_user(page, username).get_by_role("button", name="Delete user").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(f"{username} will be deleted with 1 conversation(s) and 2 message(s)")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(user_row(page, username)).to_have_count(1)
    user_row(page, username).get_by_role("button", name="Delete user").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete", exact=True).click()
    expect(notice(page)).to_contain_text(f"{username} was deleted with 1 conversation(s) and 2 message(s)")
    expect(user_row(page, username)).to_have_count(0)
    with closing(database(app_server)) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE username = ?", (username,)).fetchone()[0] == 0


def test_create_user_and_see_it_in_the_log(browser, page, app_server, admin_user):
    open_admin(page, app_server.url, admin_user)
    username = unique_name("made")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Email", exact=True).fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill("given-pass-12")
    page.get_by_role("button", name="Create user").click()
    expect(notice(page)).to_contain_text(f"User {username} was created.")
    expect(user_row(page, username)).to_be_visible()
    expect(page.get_by_label("Username", exact=True)).to_have_value("")

    open_tab(page, "Logs")
    page.get_by_label("Level").select_option("WARNING")
    log = page.get_by_role("table", name="Logs")
    expect(log).to_contain_text(f"created user {username}")
    expect(log.get_by_role("cell", name="INFO", exact=True)).to_have_count(0)

    # The admin knows that password: it works once, then the new user chooses their own.
    fresh = browser.new_context()
    fresh_page = fresh.new_page()
    fresh_page.goto(f"{app_server.url}/login")
    fresh_page.get_by_label("Username").fill(username)
    fresh_page.get_by_label("Password").fill("given-pass-12")
    fresh_page.get_by_role("button", name="Log in").click()
    fresh_page.get_by_label("New password", exact=True).fill("their-own-pass-3")
    fresh_page.get_by_label("Confirm new password").fill("their-own-pass-3")
    fresh_page.get_by_role("button", name="Set new password").click()
    fresh_page.wait_for_url(at(app_server.url, "/chat"))
    fresh.close()


# --- conversations and usage -------------------------------------------------------------------


def test_browse_search_open_and_delete_a_conversation(browser, page, app_server, admin_user):
    word = unique_name("xylophone")
    other, _other_page, username = sign_up_elsewhere(browser, app_server.url, f"Remember the word {word}")
    other.close()
    open_admin(page, app_server.url, admin_user)
    open_tab(page, "Conversations")
    page.get_by_label("Filter by user").select_option(label=username)
    table = page.get_by_role("table", name="Conversations")
    row = table.get_by_role("row").filter(has_text="Remember the word")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(username)
    expect(row.get_by_role("cell", name="2", exact=True)).to_be_visible()  # messages

    page.get_by_label("Filter by user").select_option(label="All users")
    page.get_by_label("Search messages").fill(word)
    expect(table.get_by_role("row")).to_have_count(2)  # the header and the one match
    row.get_by_role("button", name="Open", exact=True).click()
    viewer = page.get_by_role("dialog")
    expect(viewer.locator("article[data-message-role='user']")).to_contain_text(f"Remember the word {word}")
    expect(viewer.locator("article[data-message-role='assistant']")).to_have_count(1)
    viewer.get_by_role("button", name="Close").click()
    expect(viewer).to_have_count(0)

    row.get_by_role("button", name="Delete conversation").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete", exact=True).click()
    expect(notice(page)).to_contain_text("was deleted")
    expect(table.get_by_role("row").filter(has_text="Remember the word")).to_have_count(0)

    # Usage keeps the record of the call after the conversation is gone.
    open_tab(page, "Usage")
    per_user = page.get_by_role("table", name="Usage per user")
    expect(per_user.get_by_role("row").filter(has_text=username)).to_have_count(1)
    expect(page.locator(".admin-chart .recharts-surface")).to_be_visible()


# --- maintenance -------------------------------------------------------------------------------


def test_backup_check_and_optimize(page, app_server, admin_user):
    open_admin(page, app_server.url, admin_user)
    open_tab(page, "Maintenance")
    page.get_by_role("button", name="Back up now").click()
    result = page.get_by_role("status").filter(has_text="Backup created")
    expect(result).to_have_text(re.compile(r"Backup created: fabrix_chat-\d{8}-\d{6}(-\d+)?\.db \(\d+\.\d KB\)\."))
    name = re.search(r"fabrix_chat-[\d-]+\.db", result.inner_text()).group(0)
    assert (app_server.data_dir / "backups" / name).is_file()
    expect(page.get_by_role("table", name="Recent backups")).to_contain_text(name)

    page.get_by_role("button", name="Check integrity").click()
    expect(page.get_by_role("status").filter(has_text="Integrity check")).to_have_text("Integrity check: ok.")
    page.get_by_role("button", name="Optimize database").click()
    expect(page.get_by_role("status").filter(has_text="Optimized")).to_have_text(
        re.compile(r"Optimized: [\d.]+ [KM]?B before, [\d.]+ [KM]?B after \([\d.]+ s\)\.")
    )


def test_preview_then_delete_old_conversations(browser, page, app_server, admin_user):
    other, _other_page, username = sign_up_elsewhere(browser, app_server.url, "An old question")
    other.close()
    # Age the conversation far beyond anything other tests leave behind.
    with closing(database(app_server)) as conn:
        conn.execute(
            "UPDATE conversations SET updated_at = '2000-01-01 00:00:00.000000' "
            "WHERE user_id = (SELECT id FROM users WHERE username = ?)",
            (username,),
        )
        conn.commit()
    open_admin(page, app_server.url, admin_user)
    open_tab(page, "Maintenance")
    delete_old = page.get_by_role("button", name="Delete old conversations")
    expect(delete_old).to_be_disabled()
    days = page.get_by_label("Older than (days)")
    days.fill("5000")
    page.get_by_role("button", name="Preview cleanup").click()
    expect(page.get_by_role("status").filter(has_text="would be deleted")).to_have_text(
        "No activity for 5000 days: 1 conversation(s) with 2 message(s) would be deleted."
    )
    expect(delete_old).to_be_enabled()
    days.fill("5001")  # another number of days needs its own preview
    expect(delete_old).to_be_disabled()
    days.fill("5000")
    expect(delete_old).to_be_enabled()
    delete_old.click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("1 conversation(s) with 2 message(s)")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Deleted")).to_have_text(
        "Deleted 1 conversation(s) with 2 message(s) older than 5000 days."
    )
    expect(delete_old).to_be_disabled()
    with closing(database(app_server)) as conn:
        left = conn.execute(
            "SELECT count(*) FROM conversations WHERE user_id = (SELECT id FROM users WHERE username = ?)", (username,)
        ).fetchone()[0]
    assert left == 0


def test_feedback_on_answers_reaches_the_usage_tab(browser, app_server, admin_user):
    user = browser.new_context()
    page = user.new_page()
    sign_up(page, app_server.url)
    ask(page, "Feedback target question")
    answer = page.locator("article[data-message-role='assistant']").last
    good = answer.get_by_role("button", name="Good answer")
    bad = answer.get_by_role("button", name="Bad answer")
    expect(good).to_have_attribute("aria-pressed", "false", timeout=60_000)
    good.click()
    expect(good).to_have_attribute("aria-pressed", "true")
    bad.click()  # the other verdict replaces it
    expect(bad).to_have_attribute("aria-pressed", "true")
    expect(good).to_have_attribute("aria-pressed", "false")
    answer.get_by_label("Comment").fill("The table is missing a column")
    answer.get_by_role("button", name="Send feedback").click()
    expect(answer.get_by_label("Comment")).to_have_count(0)
    page.reload()  # stored
    expect(
        page.locator("article[data-message-role='assistant']").last.get_by_role("button", name="Bad answer")
    ).to_have_attribute("aria-pressed", "true")
    user.close()

    admin = browser.new_context()
    page = admin.new_page()
    open_admin(page, app_server.url, admin_user)
    open_tab(page, "Usage")
    per_agent = page.get_by_role("table", name=re.compile("Good and bad answers per agent"))
    # One bad verdict for the demo agent (its id: the conversation's agent).
    expect(per_agent.get_by_role("row").nth(1)).to_contain_text("1")
    comments = page.get_by_role("table", name="Recent comments on bad answers")
    row = comments.get_by_role("row", name=re.compile("The table is missing a column"))
    expect(row).to_be_visible()
    row.get_by_role("button", name="Open").click()
    expect(page.get_by_role("dialog")).to_contain_text("Feedback target question")
    admin.close()
