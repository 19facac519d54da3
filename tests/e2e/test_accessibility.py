"""An automated accessibility audit: axe-core (every rule it runs by default, every impact) finds no
violation on any page, in the light and the dark theme, on a desktop and on a phone.

A violation is fixed in the app, never by turning a rule off or leaving an element out of the audit.
axe-core comes from .tools/axe (`./run.sh test` installs it there)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ROOT, create_admin, sign_up
from tests.e2e.test_admin import TABS, log_in, open_tab
from tests.e2e.test_chat_experience import ANSWER, ask_and_wait

pytestmark = pytest.mark.browser

AXE = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct-horse-9"
PHONE = {"width": 390, "height": 844}
# The emulator's every answer has a heading, a list, a table and a highlighted code block.
RICH_QUESTION = "Show me a table and some code"


def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `./run.sh test` installs axe-core there")
    return AXE.read_text(encoding="utf-8")


def settle(page: Page) -> None:
    """Wait for fade-ins and transitions to end, so contrast is measured on what the user ends up seeing."""
    page.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter((a) => a.effect && a.effect.getTiming().iterations !== Infinity)
            .map((a) => a.finished.catch(() => null)))"""
    )


def audit(page: Page, where: str) -> None:
    """Run axe-core on the whole document and fail with every violation, its rule, help and targets."""
    settle(page)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    result = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    violations = result["violations"]
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {' >> '.join(str(t) for t in node['target'])}   {node['html'][:160]}")
            if node.get("failureSummary"):
                lines.append("      " + node["failureSummary"].replace("\n", "\n      "))
    assert not violations, f"axe-core found {len(violations)} violation(s) on {where}:\n" + "\n".join(lines)


def use_dark_theme(page: Page) -> None:
    """The theme switch, as a user flips it (the choice is kept by the browser for later pages)."""
    page.get_by_role("button", name="Toggle dark theme").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))


@pytest.fixture(scope="module")
def audit_admin(app_server) -> str:
    return create_admin(app_server, "a11yadmin", PASSWORD)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_login_and_signup_pages(page, app_server, theme):
    page.goto(f"{app_server.url}/login")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    if theme == "dark":
        use_dark_theme(page)
    audit(page, f"/login ({theme})")
    page.get_by_label("Username").fill("nobody-here")
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit(page, f"/login with an error ({theme})")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("button", name="Sign up")).to_be_visible()
    audit(page, f"/signup ({theme})")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_chat_empty_and_with_a_table_and_code(page, app_server, theme):
    sign_up(page, app_server.url)
    expect(page.get_by_text("How can I help you today?")).to_be_visible()
    if theme == "dark":
        use_dark_theme(page)
    audit(page, f"/chat, empty ({theme})")
    ask_and_wait(page, RICH_QUESTION)
    answer = page.locator(ANSWER)
    expect(answer.locator("table")).to_have_count(1)
    expect(answer.locator("pre")).to_have_count(1)
    audit(page, f"/chat/{{id}} with a table and code ({theme})")
    # The in-page dialogs and an error alert.
    page.get_by_role("button", name="Delete chat").first.focus()
    page.get_by_role("button", name="Delete chat").first.click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    audit(page, f"/chat/{{id}}, Delete chat dialog ({theme})")
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    page.get_by_role("button", name="Rename chat").first.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    audit(page, f"/chat/{{id}}, Rename chat dialog ({theme})")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    # Versions of an answer, the Share chat dialog with its link, and the shared copy's page.
    page.get_by_role("button", name="Regenerate answer").click()
    expect(page.locator(ANSWER).get_by_text("2 / 2", exact=True)).to_be_visible(timeout=60_000)
    audit(page, f"/chat/{{id}} with versions of an answer ({theme})")
    chat_url = page.url
    page.get_by_role("button", name="Share chat").click()
    page.get_by_role("dialog").get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("dialog").get_by_role("textbox", name="Share link")).to_be_visible()
    audit(page, f"/chat/{{id}}, Share chat dialog ({theme})")
    link = page.evaluate("navigator.clipboard.readText()")
    page.goto(link)
    expect(page.get_by_role("button", name="Continue in my chats")).to_be_visible()
    expect(page.locator(ANSWER).locator("table")).to_have_count(1)
    audit(page, f"/shared/{{token}} ({theme})")
    page.goto(chat_url)
    expect(page.locator(ANSWER)).to_have_count(1)
    ask_and_wait(page, "And now fail #fault:server_error")
    expect(page.get_by_role("alert")).to_be_visible()
    audit(page, f"/chat/{{id}} with an error alert ({theme})")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_chat_on_a_phone(browser, app_server, theme):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_up(page, app_server.url)
        if theme == "dark":
            page.get_by_role("button", name="Toggle sidebar").click()
            use_dark_theme(page)
            page.get_by_role("button", name="Toggle sidebar").click()
        ask_and_wait(page, RICH_QUESTION)
        page.reload()
        expect(page.locator(ANSWER).locator("pre")).to_have_count(1)
        audit(page, f"/chat/{{id}} on a phone ({theme})")
        page.get_by_role("button", name="Toggle sidebar").click()
        expect(page.get_by_role("button", name="New chat")).to_be_visible()
        audit(page, f"/chat/{{id}} on a phone, sidebar open ({theme})")
    finally:
        context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_admin_tab(page, app_server, audit_admin, theme):
    log_in(page, app_server.url, audit_admin)
    # Usage to show: the chart renders only with requests in it.
    ask_and_wait(page, RICH_QUESTION)
    if theme == "dark":
        use_dark_theme(page)
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("tab", name="Users", exact=True)).to_be_visible()
    for tab in TABS:
        open_tab(page, tab)
        if tab == "Usage":
            expect(page.locator(".admin-chart .recharts-surface")).to_be_visible()
            expect(page.locator(".admin-chart .recharts-bar-rectangle").first).to_be_attached()
        elif tab == "Logs":
            expect(page.get_by_role("table", name="Logs").get_by_role("row").nth(1)).to_be_visible()
        elif tab == "Settings":
            expect(page.get_by_role("table", name="[fabrix_api]")).to_be_visible()
        audit(page, f"/admin, tab {tab} ({theme})")
    # On a phone the wide tables scroll sideways.
    page.set_viewport_size(PHONE)
    for tab in TABS:
        open_tab(page, tab)
        audit(page, f"/admin on a phone, tab {tab} ({theme})")


def test_audit_reports_a_violation(page, app_server):
    """The audit itself works: a page with a known fault fails it."""
    page.goto(f"{app_server.url}/login")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"/favicon.ico\" id=\"no-alt\">')")
    with pytest.raises(AssertionError, match=r"image-alt[\s\S]*#no-alt"):
        audit(page, "/login with an image without alt text")
