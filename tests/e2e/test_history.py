"""The conversation list in a real browser: titles from the first question, date groups, rename,
delete with an in-page confirmation, search over titles and message text, and another user's id."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from fabrix_chat.repo.conversations import make_title
from tests.e2e.conftest import sign_up
from tests.e2e.test_chat_experience import ANSWER, QUESTION, ask_and_wait, new_chat

pytestmark = pytest.mark.browser


def row_button(page: Page, title: str, name: str):
    """The hover button `name` beside the conversation link `title` (not inside it)."""
    link = page.get_by_role("link", name=title)
    row = link.locator(f"xpath=ancestor::*[.//button[@aria-label='{name}']][1]")
    row.hover()
    return row.get_by_role("button", name=name)


def search(page: Page, text: str) -> None:
    box = page.get_by_role("searchbox", name="Search chats").or_(page.get_by_role("textbox", name="Search chats"))
    box.fill(text)


def test_titles_rename_search_and_delete(page, app_server):
    sign_up(page, app_server.url)
    long_question = "Tell me about our team history, especially the Zanzibar launch"
    long_title = make_title(long_question)
    assert long_title.endswith("…") and "Zanzibar" not in long_title and len(long_title) <= 30
    ask_and_wait(page, long_question)
    new_chat(page)
    ask_and_wait(page, "Lunch ideas near the office")
    titles = page.get_by_role("link", name=re.compile("Tell me about|Lunch ideas"))
    expect(titles).to_have_count(2)
    # Titled by the first question, cut to about 30 characters; newest activity first.
    first = page.get_by_role("link", name=long_title)
    expect(first).to_have_count(1)
    expect(titles.nth(0)).to_have_accessible_name("Lunch ideas near the office")
    expect(page.get_by_text("Today", exact=True)).to_be_visible()

    row_button(page, "Lunch ideas near the office", "Rename chat").click()
    title_box = page.get_by_role("dialog").get_by_role("textbox", name="Chat title")
    expect(title_box).to_have_value("Lunch ideas near the office")
    title_box.fill("Where to eat")
    page.get_by_role("dialog").get_by_role("button", name="Save").click()
    expect(page.get_by_role("link", name="Where to eat")).to_be_visible()
    expect(page.get_by_role("link", name="Lunch ideas near the office")).to_have_count(0)

    # Search covers message text: "Zanzibar" is in the question, not in the cut title.
    search(page, "zanzibar")
    expect(first).to_be_visible()
    expect(page.get_by_role("link", name="Where to eat")).to_have_count(0)
    search(page, "where to")
    expect(page.get_by_role("link", name="Where to eat")).to_be_visible()
    expect(first).to_have_count(0)
    search(page, "no such words anywhere")
    expect(page.get_by_text("No conversations match.")).to_be_visible()
    search(page, "")
    expect(page.get_by_role("link", name="Where to eat")).to_be_visible()
    expect(first).to_be_visible()

    row_button(page, "Where to eat", "Delete chat").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Where to eat")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(page.get_by_role("link", name="Where to eat")).to_be_visible()
    deleted_url = page.get_by_role("link", name="Where to eat").get_attribute("href")

    row_button(page, "Where to eat", "Delete chat").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("link", name="Where to eat")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("link", name="Where to eat")).to_have_count(0)
    expect(first).to_be_visible()
    page.goto(app_server.url + deleted_url)
    expect(page.get_by_text("Conversation not found.")).to_be_visible()
    expect(page.locator(QUESTION)).to_have_count(0)


def test_a_pinned_chat_sits_under_pinned_at_the_top_until_unpinned(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Project Falcon notes")
    new_chat(page)
    ask_and_wait(page, "Coffee machine manual")
    links = page.get_by_role("link", name=re.compile("Project Falcon|Coffee machine"))
    expect(links.nth(0)).to_have_accessible_name("Coffee machine manual")
    expect(page.get_by_role("heading", name="Pinned")).to_have_count(0)

    row_button(page, "Project Falcon notes", "Pin chat").click()
    pinned = page.get_by_role("heading", name="Pinned")
    expect(pinned).to_be_visible()
    expect(links.nth(0)).to_have_accessible_name("Project Falcon notes")
    # The heading comes first, then the pinned chat, then the others under their date.
    nav = page.get_by_role("navigation", name="Conversations")
    text = nav.inner_text()
    assert text.index("Pinned") < text.index("Project Falcon notes") < text.index("Today") < text.index("Coffee")
    # Still pinned after a reload (stored), and keyboard-usable: the row's button is a real button.
    page.reload()
    expect(page.get_by_role("heading", name="Pinned")).to_be_visible()
    unpin = row_button(page, "Project Falcon notes", "Unpin chat")
    unpin.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Pinned")).to_have_count(0)
    expect(links.nth(0)).to_have_accessible_name("Coffee machine manual")


def test_export_chat_as_markdown_and_print(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Export me with a table")
    page.get_by_role("button", name="Export chat").click()
    with page.expect_download() as download:
        page.get_by_role("menuitem", name="Markdown").click()
    name = download.value.suggested_filename
    text = open(download.value.path(), encoding="utf-8").read()
    assert name.startswith("Export me with a table") and name.endswith(".md"), name
    assert text.startswith("# Export me with a table\n") and "## You · " in text and "## Assistant · " in text
    assert "- Agent: General Assistant" in text

    # Print: the browser's dialog (stubbed here) over a page that shows the conversation alone.
    # (Ending in `undefined`: Playwright calls a script that evaluates to a function, which would
    # count as a print. That made this test pass without one, and fail when the real one came first.)
    page.evaluate("window.__printed = 0; window.print = () => { window.__printed += 1; }; undefined")
    page.get_by_role("button", name="Export chat").click()
    page.get_by_role("menuitem", name="Print").click()
    page.wait_for_function("window.__printed === 1")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__printed") == 1  # once
    page.emulate_media(media="print")
    expect(page.get_by_role("textbox", name="Message")).to_be_hidden()
    expect(page.get_by_role("button", name="New chat")).to_be_hidden()
    expect(page.locator(QUESTION).last).to_be_visible()
    expect(page.locator(ANSWER).last).to_be_visible()
    page.emulate_media(media="screen")
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()


def test_deleting_the_open_conversation_goes_back_to_a_new_chat(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Short lived chat")
    row_button(page, "Short lived chat", "Delete chat").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    expect(page.get_by_text("How can I help you today?")).to_be_visible()
    expect(page.get_by_text("No conversations yet.")).to_be_visible()


def test_conversations_are_grouped_by_date(page, app_server):
    name = sign_up(page, app_server.url)
    for question in ("Chat from today", "Chat from yesterday", "Chat from last week", "Chat from last year"):
        new_chat(page)
        ask_and_wait(page, question)
    now = datetime.now(UTC)
    ages = {
        "Chat from yesterday": timedelta(days=1),
        "Chat from last week": timedelta(days=4),
        "Chat from last year": timedelta(days=300),
    }
    db = sqlite3.connect(app_server.data_dir / "fabrix_chat.db", timeout=10)
    try:
        for title, age in ages.items():
            when = (now - age).strftime("%Y-%m-%d %H:%M:%S.%f")
            changed = db.execute(
                "UPDATE conversations SET updated_at = ? WHERE title = ? AND user_id = "
                "(SELECT id FROM users WHERE username = ?)",
                (when, title, name),
            ).rowcount
            assert changed == 1
        db.commit()
    finally:
        db.close()
    page.reload()
    sidebar = page.locator("nav").filter(has=page.get_by_role("link", name="Chat from today"))
    expect(sidebar).to_contain_text("Previous 7 days")  # the reloaded list, not the one shown before
    sidebar_text = sidebar.inner_text()
    order = [
        "Today",
        "Chat from today",
        "Yesterday",
        "Chat from yesterday",
        "Previous 7 days",
        "Chat from last week",
        "Older",
        "Chat from last year",
    ]
    positions = [sidebar_text.find(text) for text in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), sidebar_text


def test_another_users_conversation_is_not_found_and_not_listed(browser, app_server):
    owner = browser.new_context()
    page = owner.new_page()
    sign_up(page, app_server.url)
    ask_and_wait(page, "Confidential salary review")
    private_url = page.url
    owner.close()

    other = browser.new_context()
    page = other.new_page()
    sign_up(page, app_server.url)
    page.goto(private_url)
    expect(page.get_by_text("Conversation not found.")).to_be_visible()
    expect(page.get_by_text("Confidential salary review")).to_have_count(0)
    expect(page.locator(ANSWER)).to_have_count(0)
    search(page, "salary")
    expect(page.get_by_text("No conversations match.")).to_be_visible()
    other.close()


def test_long_conversations_and_long_lists_come_a_page_at_a_time(page, app_server):
    """A conversation opens at its newest 50 messages with `Show earlier messages` above them;
    the sidebar holds 30 conversations with `Show more` below them."""
    name = sign_up(page, app_server.url)
    now = datetime.now(UTC)
    db = sqlite3.connect(app_server.data_dir / "fabrix_chat.db", timeout=10)
    try:
        user_id = db.execute("SELECT id FROM users WHERE username = ?", (name,)).fetchone()[0]
        for n in range(35):  # the oldest first: number 34 is the newest
            when = (now - timedelta(minutes=35 - n)).strftime("%Y-%m-%d %H:%M:%S.%f")
            cid = db.execute(
                "INSERT INTO conversations (user_id, title, agent_id, created_at, updated_at) VALUES (?, ?, '', ?, ?)",
                (user_id, f"Listed chat {n}", when, when),
            ).lastrowid
        rows = [
            (
                cid,
                seq,
                "user" if seq % 2 == 0 else "assistant",
                f"Message number {seq}.",
                "complete",
                "",
                "",
                0,
                when,
                when,
            )
            for seq in range(120)
        ]
        db.executemany(
            "INSERT INTO messages (conversation_id, seq, role, content, status, error, attachment_name,"
            " attachment_size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.commit()
    finally:
        db.close()
    page.reload()
    listed = page.get_by_role("link", name=re.compile(r"^Listed chat \d+"))
    expect(listed).to_have_count(30)
    expect(page.get_by_role("link", name="Listed chat 5", exact=True)).to_have_count(1)
    expect(page.get_by_role("link", name="Listed chat 4", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Show more").click()
    expect(listed).to_have_count(35)
    expect(page.get_by_role("button", name="Show more")).to_have_count(0)

    page.get_by_role("link", name="Listed chat 34", exact=True).click()
    articles = page.locator("article[data-message-role]")
    expect(articles).to_have_count(50)
    expect(articles.first).to_contain_text("Message number 70.")
    expect(articles.last).to_contain_text("Message number 119.")
    earlier = page.get_by_role("button", name="Show earlier messages")
    earlier.click()
    expect(articles).to_have_count(100)
    earlier.click()
    expect(articles).to_have_count(120)
    expect(articles.first).to_contain_text("Message number 0.")
    expect(earlier).to_have_count(0)
    ask_and_wait(page, "And after all of that?")  # the newest question joins the end of the page
    expect(articles).to_have_count(122)
    expect(articles.nth(120)).to_contain_text("And after all of that?")
