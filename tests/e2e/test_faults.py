"""Upstream faults as a user meets them: a plain alert with Dismiss (and Retry where it helps), and
whatever part of the answer arrived stays on the page, also after a reload.

Faults come from the demo emulator inside the app, chosen by `#fault:NAME` in the question.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ask, sign_up

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
QUESTION = "article[data-message-role='user']"
# Internals a user must never read in an alert.
NOT_PLAIN = re.compile(r"HTTP|R5\d{4}|R4\d{4}|Traceback|Exception|demo-token|demo-client|\{")

FAULTS = {
    # fault: (start of the plain message, Retry offered, some answer text arrives first)
    "drop": ("The connection to FabriX was lost during the answer", True, True),
    "stream_error": ("The agent could not answer", True, True),
    "filter": ("The answer was blocked by the content filter", False, False),
    "server_error": ("FabriX is unavailable right now", True, False),
    "rate_limit": ("Server is busy, try again in 2 s.", True, False),
}


def conversation_id(page) -> int:
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def answers_in_db(app_server, cid: int) -> list[tuple[str, str, str, str]]:
    """(created_at, status, content, error) of the conversation's answers, straight from the app's database."""
    with contextlib.closing(sqlite3.connect(app_server.data_dir / "fabrix_chat.db", timeout=10)) as db:
        rows = db.execute(
            "SELECT created_at, status, content, error FROM messages "
            "WHERE conversation_id = ? AND role = 'assistant' ORDER BY seq",
            (cid,),
        ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_shows_a_plain_alert_and_keeps_the_partial_answer(page, app_server, fault) -> None:
    message, retry, partial = FAULTS[fault]
    sign_up(page, app_server.url)
    ask(page, f"Tell me about budgets #fault:{fault}")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(message, timeout=30_000)
    text = alert.inner_text()
    assert not NOT_PLAIN.search(text), text
    expect(alert.get_by_role("button", name="Dismiss")).to_be_visible()
    expect(alert.get_by_role("button", name="Retry")).to_have_count(1 if retry else 0)
    expect(page.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0)
    expect(page.get_by_role("button", name="Send message")).to_be_visible()

    cid = conversation_id(page)
    [(_, status, content, error)] = answers_in_db(app_server, cid)
    assert status == "error" and error and error in text, (status, error, text)
    answer = page.locator(ANSWER)
    expect(answer).to_have_count(1)
    if partial:
        shown = answer.inner_text().strip()
        assert shown and content.strip(), "the text received before the fault is shown and saved"
        page.reload()
        expect(page.locator(QUESTION)).to_contain_text("Tell me about budgets")
        expect(page.locator(ANSWER)).to_have_count(1)
        assert page.locator(ANSWER).inner_text().strip()[:30] == shown[:30]
    else:
        assert content == ""


def test_retry_asks_again_and_dismiss_removes_the_alert(page, app_server) -> None:
    sign_up(page, app_server.url)
    ask(page, "Tell me about budgets #fault:server_error")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("FabriX is unavailable right now", timeout=30_000)
    cid = conversation_id(page)
    [(first_created, _, _, _)] = answers_in_db(app_server, cid)

    alert.get_by_role("button", name="Retry").click()
    # A new attempt: the alert goes while the question is asked again (the client's own retries take
    # over a second), then the attempt fails the same way, its answer replacing the failed one.
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(alert).to_contain_text("FabriX is unavailable right now", timeout=30_000)
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(ANSWER)).to_have_count(1)
    # (Not the row id: SQLite hands the deleted answer's id to the new one.)
    [(second_created, status, _, _)] = answers_in_db(app_server, cid)
    assert second_created > first_created and status == "error"

    alert.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator(QUESTION)).to_have_count(1)  # dismissing hides the alert, not the conversation
