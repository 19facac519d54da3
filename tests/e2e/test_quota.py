"""Daily quotas as a user and an administrator meet them, in an app of its own started with
`[quota] daily_questions = 2`: the composer says what is left, the question over the limit is
refused with when it resets (nothing saved, the text kept), and the Users tab's `Daily question
limit` gives the user one more."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ask, at, create_admin, sign_up, start_app, stop_app

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
QUESTION = "article[data-message-role='user']"
PASSWORD = "correct-horse-9"


def questions_in_db(data_dir: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(data_dir / "fabrix_chat.db", timeout=10)) as db:
        return [row[0] for row in db.execute("SELECT content FROM messages WHERE role = 'user' ORDER BY id")]


def answered(page, count: int) -> None:
    expect(page.locator(ANSWER)).to_have_count(count)
    expect(page.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("button", name="Send message")).to_be_visible()


def test_what_is_left_the_refusal_and_a_users_own_limit(tmp_path: Path, build_lock, browser) -> None:
    data_dir = tmp_path / "app"
    server = start_app(data_dir, "[quota]\ndaily_questions = 2\n")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        username = sign_up(page, server.url, password=PASSWORD)
        left = page.get_by_role("status").filter(has_text="left today")
        ask(page, "First question about budgets")
        answered(page, 1)
        expect(left).to_have_text("1 question left today")
        ask(page, "Second question about budgets")
        answered(page, 2)
        expect(page.get_by_role("status").filter(has_text="No questions left today")).to_have_text(
            "No questions left today (the limit resets at 00:00)"
        )

        ask(page, "Third question about budgets")
        expect(page.get_by_role("alert")).to_contain_text(
            "You have used your 2 questions for today. The limit resets at 00:00."
        )
        expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value("Third question about budgets")
        expect(page.locator(QUESTION)).to_have_count(2)
        assert questions_in_db(data_dir) == ["First question about budgets", "Second question about budgets"]

        # An administrator gives this user 3 a day on the Users tab.
        admin = create_admin(server, password=PASSWORD)
        admin_page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        admin_page.set_default_timeout(15_000)
        admin_page.goto(f"{server.url}/login")
        admin_page.get_by_label("Username").fill(admin)
        admin_page.get_by_label("Password").fill(PASSWORD)
        admin_page.get_by_role("button", name="Log in").click()
        admin_page.wait_for_url(at(server.url, "/chat"))
        admin_page.goto(f"{server.url}/admin")
        row = admin_page.get_by_role("row").filter(has=admin_page.get_by_role("cell", name=username, exact=True))
        field = row.get_by_label("Daily question limit")
        expect(field).to_have_value("")
        expect(field).to_have_attribute("placeholder", "Default (2)")
        field.fill("3")
        field.press("Tab")
        expect(admin_page.get_by_role("status").filter(has_text="Daily question limit of")).to_have_text(
            f"Daily question limit of {username}: 3."
        )
        admin_page.context.close()

        page.get_by_role("button", name="Send message").click()  # the kept text, sent again
        answered(page, 3)
        expect(page.locator(QUESTION)).to_have_count(3)
        assert questions_in_db(data_dir)[-1] == "Third question about budgets"
    finally:
        context.close()
        stop_app(server.process)
