"""The chat experience in a real browser: keys, the growing composer, streaming (cursor, status
line, auto-scroll, Stop), a long answer that keeps going while the user looks elsewhere, edit,
regenerate, copy, errors that keep what arrived, and agents remembered per conversation."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ask, sign_up

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
QUESTION = "article[data-message-role='user']"
BUSY = f"{ANSWER}[aria-busy='true']"
DONE_TIMEOUT = 90_000


def composer(page: Page):
    return page.get_by_role("textbox", name="Message", exact=True)


def wait_until_answered(page: Page, timeout: int = DONE_TIMEOUT) -> None:
    """The streaming answer has started and ended (Send message is back)."""
    expect(page.locator(BUSY)).to_have_count(0, timeout=timeout)
    expect(page.get_by_role("button", name="Send message")).to_be_visible(timeout=timeout)


def ask_and_wait(page: Page, question: str) -> None:
    """Ask and wait until the answer has ended (the question's article shows with its answer)."""
    ask(page, question)
    expect(page.locator(QUESTION).last).to_contain_text(question, timeout=20_000)
    wait_until_answered(page)


def new_chat(page: Page) -> None:
    page.get_by_role("button", name="New chat").click()
    expect(page.get_by_text("How can I help you today?")).to_be_visible()


def open_conversation(page: Page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    expect(page.locator(QUESTION).first).to_contain_text(title.rstrip("…"), timeout=15_000)


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_enter_sends_shift_enter_breaks_the_line_and_the_composer_grows(page, app_server):
    sign_up(page, app_server.url)
    box = composer(page)
    box.click()
    height = box.bounding_box()["height"]
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("third line")
    expect(box).to_have_value("first line\nsecond line\nthird line")
    expect(page.locator(QUESTION)).to_have_count(0)  # Shift+Enter did not send
    grown = box.bounding_box()["height"]
    assert grown > height + 30, (height, grown)
    for _ in range(30):
        page.keyboard.press("Shift+Enter")
    capped = box.bounding_box()["height"]
    assert grown < capped <= 220, capped  # it grows, up to a cap, then scrolls
    box.fill("first line\nsecond line")
    box.press("Enter")
    question = page.locator(QUESTION)
    expect(question).to_have_count(1)
    assert question.inner_text().strip().splitlines()[:2] == ["first line", "second line"]
    expect(box).to_have_value("")
    wait_until_answered(page)


def test_streaming_shows_a_cursor_and_status_lines_that_never_enter_the_answer(page, app_server):
    sign_up(page, app_server.url)
    page.evaluate(
        """() => {
        window.__statuses = [];
        new MutationObserver(() => {
          for (const el of document.querySelectorAll('.stream-status')) {
            const text = el.hidden ? '' : el.textContent.trim();
            if (text && !window.__statuses.includes(text)) window.__statuses.push(text);
          }
        }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
        }"""
    )
    ask(page, "Explain event sourcing #fault:slow #fault:status")
    busy = page.locator(BUSY)
    expect(busy).not_to_have_text(re.compile(r"^\s*$"), timeout=15_000)
    expect(composer(page)).to_be_disabled()  # no second question while this one streams
    # Exactly one blinking cursor, at the end of what has arrived so far.
    page.wait_for_function(
        """() => {
        const busy = document.querySelector("article[aria-busy='true']");
        if (!busy) return false;
        const withCursor = [...busy.querySelectorAll('*')].filter(e => getComputedStyle(e, '::after').content.includes('▍'));
        return withCursor.length === 1;
        }""",
        timeout=10_000,
    )
    wait_until_answered(page)
    statuses = page.evaluate("window.__statuses")
    assert any(s.startswith("Checking source") for s in statuses), statuses
    answer = page.locator(ANSWER).last.inner_text()
    assert "Checking source" not in answer and "Searching documents" not in answer
    assert "event sourcing" in answer
    assert page.locator(ANSWER).last.evaluate(
        "el => [...el.querySelectorAll('*')].every(e => !getComputedStyle(e, '::after').content.includes('▍'))"
    ), "the cursor goes when the answer ends"
    expect(composer(page)).to_be_enabled()


def test_auto_scroll_follows_the_answer_until_the_reader_scrolls_up_and_esc_stops(page, app_server):
    page.set_viewport_size({"width": 1280, "height": 600})
    sign_up(page, app_server.url)
    ask(page, "Write a very long report on databases #fault:long")
    scroller = page.locator("#chat-scroller")

    def metrics() -> dict:
        return scroller.evaluate("el => ({top: el.scrollTop, height: el.scrollHeight, view: el.clientHeight})")

    page.wait_for_function(
        "() => { const el = document.getElementById('chat-scroller'); return el.scrollHeight > el.clientHeight + 800; }",
        timeout=30_000,
    )
    for _ in range(3):  # pinned to the bottom while it grows
        time.sleep(0.4)
        m = metrics()
        assert m["height"] - m["top"] - m["view"] < 120, m
    scroller.hover()
    page.mouse.wheel(0, -600)
    time.sleep(0.5)
    held = metrics()
    assert held["height"] - held["top"] - held["view"] > 300, held
    time.sleep(1.5)
    later = metrics()
    assert later["height"] > held["height"], "the answer kept growing"
    assert abs(later["top"] - held["top"]) < 5, "but the reader's position was left alone"
    page.keyboard.press("Escape")
    expect(page.locator(BUSY)).to_have_count(0, timeout=10_000)
    expect(page.locator(ANSWER).last).to_contain_text("Stopped")
    # Back at the bottom, following resumes with the next answer.
    page.mouse.wheel(0, 100_000)


def test_a_streaming_answer_finishes_and_is_saved_while_the_user_is_elsewhere(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Quick question about lunch")
    new_chat(page)
    ask(page, "Explain the history of Seoul slowly #fault:slow")
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    streaming_url = page.url
    busy = page.locator(BUSY)
    expect(busy).to_contain_text("history of Seoul", timeout=15_000)  # the answer's first words

    open_conversation(page, "Quick question about lunch")  # not blocked by the answer
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(BUSY)).to_have_count(0)
    expect(page.locator(QUESTION)).to_contain_text("Quick question about lunch")

    open_conversation(page, "Explain the history of Seoul…")
    expect(page).to_have_url(streaming_url)
    expect(busy).to_have_count(1)  # still streaming: the live answer is back
    partial = busy.inner_text()
    assert "history of Seoul" in partial
    wait_until_answered(page)
    answer = page.locator(ANSWER)
    expect(answer).to_have_count(1)  # now a normal message, not a second copy
    final = answer.inner_text()
    assert "for real answers" in final and len(final) > len(partial)
    page.reload()
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(page.locator(ANSWER)).to_contain_text("for real answers")
    assert page.locator(ANSWER).inner_text().strip() == final.strip()


def test_an_answer_finished_while_away_is_there_in_full(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "First topic")
    new_chat(page)
    ask(page, "Second topic, streamed slowly #fault:slow")
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    expect(page.locator(BUSY)).to_contain_text("Second topic", timeout=15_000)
    open_conversation(page, "First topic")
    expect(page.locator(BUSY)).to_have_count(0)
    expect(page.get_by_role("button", name="Send message")).to_be_visible(timeout=DONE_TIMEOUT)
    open_conversation(page, "Second topic, streamed slowly")
    expect(page.locator(BUSY)).to_have_count(0)
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(page.locator(ANSWER)).to_contain_text("for real answers")


def test_edit_asks_again_and_keeps_the_earlier_question_and_answers_as_a_version(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Plan a trip to Busan")
    ask_and_wait(page, "Add a day in Gyeongju")
    expect(page.locator(QUESTION)).to_have_count(2)
    first = page.locator(QUESTION).first
    first.hover()
    first.get_by_role("button", name="Edit message").click()
    edited = page.get_by_role("textbox", name="Edited message")
    expect(edited).to_have_value("Plan a trip to Busan")
    edited.fill("Plan a trip to Jeju")
    page.get_by_role("button", name="Save and send").click()
    wait_until_answered(page)
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(QUESTION)).to_contain_text("Plan a trip to Jeju")
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(page.locator(ANSWER)).to_contain_text("Plan a trip to Jeju")  # asked with the edited text
    expect(page.get_by_text("Gyeongju")).to_have_count(0)
    # The earlier question, with what followed it, is version 1 of 2.
    question = page.locator(QUESTION)
    expect(question.get_by_text("2 / 2", exact=True)).to_be_visible()
    expect(question.get_by_role("button", name="Next version")).to_be_disabled()
    question.get_by_role("button", name="Previous version").click()
    expect(page.locator(QUESTION)).to_have_count(2)
    expect(page.locator(QUESTION).first).to_contain_text("Plan a trip to Busan")
    expect(page.locator(QUESTION).last).to_contain_text("Add a day in Gyeongju")
    expect(page.locator(QUESTION).first.get_by_text("1 / 2", exact=True)).to_be_visible()
    page.reload()  # the database agrees, and remembers the version chosen
    expect(page.locator(QUESTION)).to_have_count(2)
    expect(page.locator(QUESTION).first.get_by_text("1 / 2", exact=True)).to_be_visible()
    page.locator(QUESTION).first.get_by_role("button", name="Next version").click()
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(QUESTION)).to_contain_text("Plan a trip to Jeju")
    expect(page.locator(ANSWER)).to_have_count(1)


def test_edit_can_be_cancelled(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Keep this question")
    question = page.locator(QUESTION)
    question.hover()
    question.get_by_role("button", name="Edit message").click()
    page.get_by_role("textbox", name="Edited message").fill("Something else")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("textbox", name="Edited message")).to_have_count(0)
    expect(question).to_contain_text("Keep this question")
    expect(page.locator(ANSWER)).to_have_count(1)


def test_regenerate_and_copy(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Compare tea and coffee")
    answer = page.locator(ANSWER)
    answer.hover()
    answer.get_by_role("button", name="Copy message").click()
    copied = clipboard(page)
    assert copied.startswith("## Compare tea and coffee")  # the answer's own markdown
    assert "| Aspect | Notes |" in copied
    question = page.locator(QUESTION)
    question.hover()
    question.get_by_role("button", name="Copy message").click()
    assert clipboard(page) == "Compare tea and coffee"
    answer.hover()
    answer.get_by_role("button", name="Regenerate answer").click()
    expect(page.locator(BUSY)).to_have_count(1, timeout=10_000)
    wait_until_answered(page)
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(page.locator(ANSWER)).to_contain_text("Compare tea and coffee")
    # The first answer is kept: "2 / 2", and Previous version shows it.
    expect(answer.get_by_text("2 / 2", exact=True)).to_be_visible()
    answer.get_by_role("button", name="Previous version").click()
    expect(answer.get_by_text("1 / 2", exact=True)).to_be_visible()
    expect(answer.get_by_role("button", name="Previous version")).to_be_disabled()
    expect(answer.get_by_role("button", name="Next version")).to_be_enabled()
    page.reload()
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(answer.get_by_text("1 / 2", exact=True)).to_be_visible()
    # Only the last answer offers Regenerate.
    ask_and_wait(page, "And what about juice?")
    expect(page.get_by_role("button", name="Regenerate answer")).to_have_count(1)
    expect(page.get_by_role("button", name="Copy message")).to_have_count(4)


def test_stop_keeps_the_partial_answer_marked_stopped(page, app_server):
    sign_up(page, app_server.url)
    ask(page, "Write a long essay about indexes #fault:slow #fault:long")
    busy = page.locator(BUSY)
    expect(busy).to_contain_text("essay about indexes", timeout=15_000)
    page.get_by_role("button", name="Stop generating").click()
    expect(busy).to_have_count(0, timeout=10_000)
    answer = page.locator(ANSWER)
    expect(answer).to_contain_text("Stopped")
    partial = answer.inner_text()
    page.reload()
    expect(page.locator(ANSWER)).to_contain_text("Stopped")
    assert page.locator(ANSWER).inner_text().strip() == partial.strip()


def test_a_failed_answer_keeps_what_arrived_with_dismiss_and_retry(page, app_server):
    sign_up(page, app_server.url)
    ask(page, "Summarise the quarterly numbers #fault:stream_error")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible(timeout=30_000)
    expect(alert.get_by_role("button", name="Dismiss")).to_be_visible()
    expect(alert.get_by_role("button", name="Retry")).to_be_visible()
    assert "Traceback" not in alert.inner_text() and "HTTP" not in alert.inner_text()
    answer = page.locator(ANSWER)
    expect(answer).to_contain_text("Summarise the quarterly numbers")  # the part that arrived stays
    partial = answer.inner_text()
    alert.get_by_role("button", name="Retry").click()  # asks again (and fails again: same fault)
    expect(page.get_by_role("alert")).to_be_visible(timeout=30_000)
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(ANSWER)).to_have_count(1)
    page.get_by_role("alert").get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    page.reload()
    expect(page.locator(ANSWER)).to_have_count(1)
    saved = page.locator(ANSWER).inner_text()
    assert saved.strip()[:40] == partial.strip()[:40]


def test_a_conversation_remembers_its_agent(page, app_server):
    sign_up(page, app_server.url)
    picker = page.get_by_label("Agent", exact=True)
    expect(picker).to_contain_text("General Assistant")
    expect(picker).to_contain_text("520e8dd8")  # label and shortened id
    picker.click()
    page.get_by_role("option", name=re.compile("Code Helper")).click()
    expect(picker).to_contain_text("Code Helper")
    ask_and_wait(page, "Review my Python loop")
    expect(page.locator(ANSWER)).to_contain_text("Code Helper")
    new_chat(page)
    picker.click()
    page.get_by_role("option", name=re.compile("Document Analyst")).click()
    ask_and_wait(page, "Summarise the memo")
    expect(page.locator(ANSWER)).to_contain_text("Document Analyst")
    open_conversation(page, "Review my Python loop")
    expect(picker).to_contain_text("Code Helper")
    open_conversation(page, "Summarise the memo")
    expect(picker).to_contain_text("Document Analyst")
    page.reload()
    expect(picker).to_contain_text("Document Analyst")
    ask_and_wait(page, "One more thing")  # a follow-up goes to the conversation's agent
    expect(page.locator(ANSWER).last).to_contain_text("Document Analyst")


def test_a_lost_connection_or_a_reload_in_the_middle_of_an_answer_loses_and_doubles_nothing(page, app_server):
    """Batches are pushed as the text they add; a page that missed some (its websocket dropped) or
    lost its buffer (a reload) gets the whole text from the server and then continues."""
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    sign_up(page, app_server.url)
    ask(page, "Tell me about reconnecting #fault:slow")
    busy = page.locator(BUSY)
    expect(busy).to_contain_text(re.compile(r"\w{3,}"))
    opened = len(sockets)
    page.context.set_offline(True)
    page.wait_for_timeout(2000)  # batches sent meanwhile are lost
    page.context.set_offline(False)
    expect(busy).to_contain_text(re.compile(r"\w{3,}"))
    page.wait_for_timeout(1500)
    assert len(sockets) > opened, "the page never reconnected: the test did not drop the connection"
    page.reload()  # mid-answer again: the page's buffer is gone
    expect(busy).to_contain_text(re.compile(r"\w{3,}"))
    wait_until_answered(page)
    streamed = page.locator(ANSWER).last.text_content() or ""
    assert "Demo mode" in streamed, "the whole answer arrived"
    page.reload()  # the saved answer is exactly what the page showed
    expect(page.locator(ANSWER).last).to_contain_text("Demo mode")
    saved = page.locator(ANSWER).last.text_content() or ""
    assert " ".join(streamed.split()) == " ".join(saved.split())
    assert streamed.count("a demo answer from the emulator") == 1


def test_keyboard_shortcuts_work_and_are_listed(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Shortcut check")
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    page.evaluate(
        "window.__copied = []; navigator.clipboard.writeText = (t) => { window.__copied.push(t); return Promise.resolve(); }"
    )
    search = page.get_by_role("searchbox", name="Search chats")
    page.keyboard.press("Control+k")
    expect(search).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(composer(page)).to_be_focused()
    page.keyboard.press("Control+Shift+c")
    page.wait_for_function("window.__copied.some((t) => typeof t === 'string' && t.includes('Shortcut check'))")
    copied = page.evaluate("window.__copied.filter((t) => typeof t === 'string').pop()")
    assert copied.startswith("## Shortcut check")  # the last answer's own markdown

    # `?` in a text field is a character; outside one it opens the list.
    page.keyboard.type("?")
    expect(composer(page)).to_have_value("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_have_count(0)
    composer(page).fill("")
    page.locator("h1").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for text in ("Ctrl/⌘ + Shift + O", "New chat", "Ctrl/⌘ + K", "Shift + Esc", "Copy the last answer"):
        expect(dialog).to_contain_text(text)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)

    page.keyboard.press("Control+Shift+o")
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    expect(page.get_by_text("How can I help you today?")).to_be_visible()
