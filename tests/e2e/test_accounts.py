"""Accounts in the browser: sign-up rules, the session cookie, idle and revoked sessions, disabled
accounts and the failed-login slow-down. The database is the running app's own SQLite file."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ask, at, sign_up, unique_name

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-9"
SESSION_ENDED = "Your session ended"


def sql(app_server, query: str, *params) -> list[tuple]:
    """Run one statement on the app's database (WAL: safe while the app runs)."""
    with closing(sqlite3.connect(app_server.data_dir / "fabrix_chat.db", timeout=10)) as db:
        rows = db.execute(query, params).fetchall()
        db.commit()
        return rows


def session_cookie(context) -> dict:
    [cookie] = [c for c in context.cookies() if c["name"] == "fabrix_session" and c["value"]]
    return cookie


def fill_sign_up(page, base_url: str, username: str, email: str, password: str, confirm: str) -> None:
    page.goto(f"{base_url}/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(confirm)
    page.get_by_label("Invite key").fill("123456")
    page.get_by_role("button", name="Sign up").click()


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def settled(page) -> None:
    """The chat page has finished loading (its agents too): no event of its own is still on the way."""
    expect(page.get_by_label("Agent", exact=True)).to_contain_text("General Assistant")


def log_out(page, base_url: str) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(at(base_url, "/login"))


# --- sign-up ----------------------------------------------------------------------------------


def test_confirmation_must_match(page, app_server):
    name = unique_name()
    fill_sign_up(page, app_server.url, name, f"{name}@example.com", PASSWORD, "correct-horse-0")
    expect(page.get_by_role("alert")).to_have_text("The passwords do not match.")
    expect(page).to_have_url(at(app_server.url, "/signup"))
    assert sql(app_server, "SELECT id FROM users WHERE username = ?", name) == []


def test_duplicate_username_and_email_are_refused(page, app_server):
    name = sign_up(page, app_server.url)
    log_out(page, app_server.url)
    fill_sign_up(page, app_server.url, name.upper(), f"other-{name}@example.com", PASSWORD, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("That username is taken.")
    other = unique_name()
    fill_sign_up(page, app_server.url, other, f"{name}@EXAMPLE.com", PASSWORD, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("An account with that email exists.")
    expect(page).to_have_url(at(app_server.url, "/signup"))
    assert sql(app_server, "SELECT COUNT(*) FROM users WHERE username IN (?, ?)", name, other) == [(1,)]


# --- the session ------------------------------------------------------------------------------


def test_session_cookie_is_random_hashed_server_side_and_gone_with_the_browser(browser, app_server):
    context = browser.new_context()
    page = context.new_page()
    received: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: received.append(str(frame))))
    name = sign_up(page, app_server.url)
    expect(page.get_by_text(name, exact=True)).to_be_visible()

    cookie = session_cookie(context)
    token = cookie["value"]
    assert len(token) >= 43
    assert cookie["expires"] == -1  # a session cookie: no max-age, dropped when the browser closes
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert cookie["httpOnly"], "no script on the page can read the session token"
    assert token not in page.evaluate("document.cookie")
    [(token_hash, password_hash)] = sql(
        app_server,
        "SELECT s.token_hash, u.password_hash FROM auth_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = ?",
        name,
    )
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert sql(app_server, "SELECT COUNT(*) FROM auth_sessions WHERE token_hash = ?", token) == [(0,)]

    # What the server sent to the page over the websocket, before and after a reload: never the
    # token, its hash or anything of the password.
    page.reload()
    expect(page.get_by_text(name, exact=True)).to_be_visible()
    everything = "\n".join(received)
    assert name in everything, "the frames were captured"
    for secret in (token, PASSWORD, password_hash, token_hash, "$2b$"):
        assert secret not in everything

    # A restarted browser keeps only cookies with an expiry: ours is not among them.
    kept = [c for c in context.cookies() if c["expires"] != -1]
    context.close()
    restarted = browser.new_context()
    restarted.add_cookies(kept)
    page = restarted.new_page()
    page.goto(f"{app_server.url}/chat")
    page.wait_for_url(at(app_server.url, "/login"))
    expect(page.get_by_role("status")).to_have_count(0)  # nothing "ended": no session was sent
    restarted.close()


def test_revoked_session_signs_the_browser_out_on_its_next_action(page, app_server):
    name = sign_up(page, app_server.url)
    settled(page)
    sql(app_server, "DELETE FROM auth_sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)", name)
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url(at(app_server.url, "/login"))
    expect(page.get_by_role("status")).to_contain_text(SESSION_ENDED)
    # Logging in again works, and the notice goes away.
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(at(app_server.url, "/chat"))


def test_the_next_user_of_a_tab_sees_nothing_of_the_previous_one(browser, page, app_server):
    """A session that ends without Log out (here revoked), then someone else signs in in the same
    tab: the tab's state is reset, so the first user's chats never reach the second."""
    other = browser.new_context()
    lee = sign_up(other.new_page(), app_server.url)
    other.close()
    kim = sign_up(page, app_server.url)
    ask(page, "Kim's salary review notes")
    expect(page.get_by_role("link", name="Kim's salary review notes")).to_be_visible()
    expect(page.locator("article[data-message-role='assistant'][aria-busy='true']")).to_have_count(0, timeout=60_000)
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(str(frame))))
    sql(app_server, "DELETE FROM auth_sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)", kim)
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url(at(app_server.url, "/login"))
    page.reload()  # the page receives the tab's whole state again: none of kim's may be in it
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill(lee)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(at(app_server.url, "/chat"))
    expect(page.get_by_text(lee, exact=True)).to_be_visible()
    settled(page)
    expect(page.get_by_role("link", name="Kim's salary review notes")).to_have_count(0)
    assert "salary review" not in "\n".join(frames)


def test_idle_session_ends(page, app_server):
    name = sign_up(page, app_server.url)
    settled(page)

    def last_activity(minutes_ago: int) -> None:
        # Stored as naive UTC text, like the app writes it.
        when = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=minutes_ago)
        sql(
            app_server,
            "UPDATE auth_sessions SET last_seen_at = ? WHERE user_id = (SELECT id FROM users WHERE username = ?)",
            when.isoformat(sep=" "),
            name,
        )

    last_activity(29)  # inside the 30 idle minutes: still signed in
    search = page.get_by_role("searchbox", name="Search chats")
    search.fill("nothing like this")
    expect(page.get_by_text("No conversations match.")).to_be_visible()
    expect(page).to_have_url(at(app_server.url, "/chat"))
    last_activity(31)  # past them: the next action lands on the log-in page, which says why
    search.fill("anything")
    page.wait_for_url(at(app_server.url, "/login"))
    expect(page.get_by_role("status")).to_contain_text(SESSION_ENDED)
    assert sql(app_server, "SELECT COUNT(*) FROM auth_sessions s JOIN users u ON u.id = s.user_id "
               "WHERE u.username = ?", name) == [(0,)]  # fmt: skip


def test_disabled_account_is_refused_and_signed_out(page, app_server):
    name = sign_up(page, app_server.url)
    sql(app_server, "UPDATE users SET is_active = 0 WHERE username = ?", name)
    page.reload()
    page.wait_for_url(at(app_server.url, "/login"))
    expect(page.get_by_role("status")).to_contain_text(SESSION_ENDED)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Account is disabled")
    expect(page).to_have_url(at(app_server.url, "/login"))
    # Without the right password a guesser learns nothing about the account.
    log_in(page, app_server.url, name, "wrong-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")


# --- failed log-ins ---------------------------------------------------------------------------


def test_failed_log_ins_are_slowed_but_reloading_never_is(page, app_server):
    name = sign_up(page, app_server.url)
    log_out(page, app_server.url)
    # Reloading the log-in page, however often, slows no one.
    for _ in range(5):
        page.reload()
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
    log_in(page, app_server.url, name, PASSWORD)
    page.wait_for_url(at(app_server.url, "/chat"))
    log_out(page, app_server.url)

    messages = []
    slowed_at = 0.0
    for _ in range(8):
        log_in(page, app_server.url, name, "wrong-password")
        alert = page.get_by_role("alert")
        expect(alert).to_have_text(re.compile(r"Wrong username or password\.|Too many failed attempts"))
        messages.append(alert.inner_text())
        if "Too many" in messages[-1]:
            slowed_at = time.monotonic()
            break
    assert messages[:3] == ["Wrong username or password."] * 3  # the first failures cost nothing
    wait = re.fullmatch(r"Too many failed attempts\. Try again in (\d+) s\.", messages[-1])
    assert wait, messages
    # While slowed, even the right password is not checked. (On a loaded machine the browser may
    # only get to click after the short wait is over; then there is nothing to check here.)
    if time.monotonic() - slowed_at < int(wait.group(1)) - 1:
        log_in(page, app_server.url, name, PASSWORD)
        expect(page.get_by_role("alert")).to_contain_text("Too many failed attempts")

    # Someone else on the same computer is not slowed by it.
    other = sign_up(page, app_server.url)
    log_out(page, app_server.url)
    log_in(page, app_server.url, other, PASSWORD)
    page.wait_for_url(at(app_server.url, "/chat"))
    log_out(page, app_server.url)

    # After the wait (reloads meanwhile don't extend it) the right password works.
    deadline = time.monotonic() + int(wait.group(1)) + 1
    while time.monotonic() < deadline:
        page.reload()
        time.sleep(0.5)
    log_in(page, app_server.url, name, PASSWORD)
    page.wait_for_url(at(app_server.url, "/chat"))
