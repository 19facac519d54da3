"""The first real path through the UI: sign up, ask, watch it stream, reload, stop, log out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ask, at, sign_up, unique_name

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
QUESTION = "article[data-message-role='user']"


def test_wrong_invite_key_is_refused(page, app_server):
    page.goto(f"{app_server.url}/signup")
    name = unique_name()
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Password", exact=True).fill("correct-horse-9")
    page.get_by_label("Confirm password").fill("correct-horse-9")
    page.get_by_label("Invite key").fill("000000")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_contain_text("invite key")
    expect(page).to_have_url(at(app_server.url, "/signup"))


def test_signed_out_visitor_lands_on_login(page, app_server):
    page.goto(f"{app_server.url}/chat")
    page.wait_for_url(at(app_server.url, "/login"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def test_ask_streams_then_survives_reload(page, app_server):
    sign_up(page, app_server.url)
    expect(page.get_by_text("How can I help you today?")).to_be_visible()
    expect(page.get_by_text("Demo mode")).to_be_visible()
    expect(page.get_by_label("Agent")).to_contain_text("General Assistant")
    ask(page, "Explain Python decorators #fault:slow")

    busy = page.locator(f"{ANSWER}[aria-busy='true']")
    expect(busy).to_be_visible()
    expect(busy).not_to_have_text(re.compile(r"^\s*$"), timeout=15_000)  # text shows while streaming
    expect(page.get_by_role("button", name="Stop generating")).to_be_visible()

    expect(busy).to_have_count(0, timeout=60_000)
    answer = page.locator(ANSWER).last
    final_text = answer.inner_text()
    assert len(final_text) > 40
    expect(page.get_by_role("button", name="Send message")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    expect(page.get_by_role("link", name="Explain Python decorators")).to_be_visible()

    page.reload()
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(QUESTION)).to_contain_text("Explain Python decorators")
    expect(page.locator(ANSWER)).to_have_count(1)
    assert page.locator(ANSWER).inner_text().strip()[:40] == final_text.strip()[:40]


def test_stop_keeps_the_partial_answer(page, app_server):
    sign_up(page, app_server.url)
    ask(page, "Write a long essay about databases #fault:slow #fault:long")
    busy = page.locator(f"{ANSWER}[aria-busy='true']")
    expect(busy).not_to_have_text(re.compile(r"^\s*$"), timeout=15_000)
    page.get_by_role("button", name="Stop generating").click()
    expect(busy).to_have_count(0)
    answer = page.locator(ANSWER).last
    expect(answer).to_contain_text("Stopped")
    partial = answer.inner_text()
    page.reload()
    expect(page.locator(ANSWER)).to_have_count(1)
    expect(page.locator(ANSWER)).to_contain_text("Stopped")
    saved = page.locator(ANSWER).inner_text()
    assert saved.strip()[:30] == partial.strip()[:30]


def test_log_out_and_log_in_again(page, app_server):
    name = sign_up(page, app_server.url)
    expect(page.get_by_text(name, exact=True)).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(at(app_server.url, "/login"))
    page.goto(f"{app_server.url}/chat")
    page.wait_for_url(at(app_server.url, "/login"))
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    page.get_by_label("Password").fill("correct-horse-9")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(at(app_server.url, "/chat"))


def test_health_and_security_headers(app_server):
    import httpx

    response = httpx.get(f"{app_server.url}/health", timeout=20)
    assert response.status_code == 200
    body = response.json()
    assert body == {"status": "ok", "database": "ok", "fabrix": "ok", "mode": "demo"}
    page = httpx.get(f"{app_server.url}/login", follow_redirects=True, timeout=20)
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
