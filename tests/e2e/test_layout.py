"""Look and feel in the browser: desktop, tablet and phone layouts in the light and dark themes,
with screenshots kept under tests/artifacts/ (CI keeps them), plus focus, motion, names and the
language switch."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, ask, at, sign_up

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
SIZES = {"desktop": (1280, 800), "tablet": (820, 1180), "mobile": (390, 844)}
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(15, 23, 42)"}
QUESTION = "Compare three databases in a table, then show a Python example"


@pytest.fixture(scope="module")
def account(browser, app_server) -> tuple[dict, str]:
    """A signed-in browser profile with one answered conversation, and that conversation's URL."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_up(page, app_server.url)
    ask(page, QUESTION)
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    expect(page.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0, timeout=60_000)
    expect(page.locator(ANSWER)).to_have_count(1)
    state, url = context.storage_state(), page.url
    context.close()
    return state, url


def open_page(browser, account, size: str, theme: str = "light", **options):
    state, url = account
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=theme, storage_state=state, **options
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(url)
    expect(page.locator(ANSWER)).to_have_count(1)
    return context, page


def sidebar_width(page) -> float:
    return page.locator(".sidebar").evaluate("el => el.getBoundingClientRect().width")


def wait_sidebar_width(page, width: int) -> None:
    """Until the sidebar is `width` px wide and the chat column has settled beside it."""
    page.wait_for_function(
        f"document.querySelector('.sidebar').getBoundingClientRect().width === {width}", timeout=5_000
    )
    page.wait_for_timeout(50)


def main_left(page) -> float:
    return round(page.locator(".main").bounding_box()["x"])


def assert_fits(page) -> None:
    """No horizontal scrolling, and the composer is fully inside the viewport."""
    scroll_width, inner_width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width
    box = page.get_by_role("textbox", name="Message", exact=True).bounding_box()
    viewport = page.viewport_size
    assert box and box["x"] >= 0 and box["y"] >= 0
    assert box["x"] + box["width"] <= viewport["width"] and box["y"] + box["height"] <= viewport["height"]


def assert_one_of_each(page, names: dict[str, str]) -> None:
    for name, role in names.items():
        expect(page.get_by_role(role, name=name, exact=True)).to_have_count(1)


ALWAYS = {
    "Toggle sidebar": "button",
    "Message": "textbox",
    "Send message": "button",
    "Attach file": "button",
    "Edit message": "button",
    "Regenerate answer": "button",
    "Copy code": "button",
}
IN_SIDEBAR = {
    "New chat": "button",
    "Search chats": "searchbox",
    "Agent": "combobox",
    "Log out": "button",
    "Delete chat": "button",
    "Rename chat": "button",
    "Toggle dark theme": "button",
}


def assert_sidebar_open(page) -> None:
    assert_one_of_each(page, {**ALWAYS, **IN_SIDEBAR})
    expect(page.get_by_label("Agent", exact=True)).to_have_count(1)
    expect(page.get_by_label("Agent", exact=True)).to_contain_text("General Assistant")
    for button in page.get_by_role("button").all():  # every button on the page has a name
        expect(button).to_have_accessible_name(re.compile(r"\S"))
    for control in page.get_by_role("combobox").all() + page.get_by_role("link").all():
        expect(control).to_have_accessible_name(re.compile(r"\S"))


def assert_sidebar_closed(page) -> None:
    assert_one_of_each(page, ALWAYS)
    expect(page.get_by_role("searchbox", name="Search chats")).to_have_count(0)
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(350)  # let the 0.3 s transitions finish
    page.screenshot(path=str(ARTIFACTS / f"layout-{name}.png"))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_desktop(browser, app_server, account, theme):
    context, page = open_page(browser, account, "desktop", theme)
    expect(page.locator("html")).to_have_class(re.compile(rf"\b{theme}\b"))
    assert page.locator(".main").evaluate("el => getComputedStyle(el).backgroundColor") == BACKGROUND[theme]
    wait_sidebar_width(page, 280)
    assert main_left(page) == 280  # beside the chat, not over it
    expect(page.locator(".scrim")).to_be_hidden()
    assert_sidebar_open(page)
    assert_fits(page)
    shot(page, f"desktop-{theme}")

    page.get_by_role("button", name="Toggle sidebar").click()
    wait_sidebar_width(page, 56)
    assert main_left(page) == 56
    assert_sidebar_closed(page)
    expect(page.get_by_role("button", name="New chat")).to_have_count(1)  # the rail keeps it
    assert_fits(page)
    shot(page, f"desktop-{theme}-rail")

    page.get_by_role("button", name="Toggle sidebar").click()
    wait_sidebar_width(page, 280)
    assert_sidebar_open(page)

    page.get_by_role("button", name="New chat").click()
    expect(page.get_by_text("How can I help you today?")).to_be_visible()
    assert_fits(page)
    shot(page, f"desktop-{theme}-empty")
    context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_tablet(browser, app_server, account, theme):
    context, page = open_page(browser, account, "tablet", theme)
    wait_sidebar_width(page, 56)  # a rail until toggled
    assert main_left(page) == 56
    assert_sidebar_closed(page)
    assert_fits(page)
    shot(page, f"tablet-{theme}")

    page.get_by_role("button", name="Toggle sidebar").click()
    wait_sidebar_width(page, 280)
    assert main_left(page) == 56  # over the chat: nothing is pushed
    expect(page.locator(".scrim")).to_be_visible()
    assert_sidebar_open(page)
    assert_fits(page)
    shot(page, f"tablet-{theme}-open")

    page.locator(".scrim").click(position={"x": 700, "y": 600})
    wait_sidebar_width(page, 56)
    expect(page.locator(".scrim")).to_be_hidden()
    assert_sidebar_closed(page)
    context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_mobile(browser, app_server, account, theme):
    context, page = open_page(browser, account, "mobile", theme)
    expect(page.locator(".sidebar")).to_be_hidden()
    assert main_left(page) == 0
    assert_sidebar_closed(page)
    assert_fits(page)
    shot(page, f"mobile-{theme}")

    page.get_by_role("button", name="Toggle sidebar").click()
    expect(page.locator(".sidebar")).to_be_visible()
    page.wait_for_function("document.querySelector('.sidebar').getBoundingClientRect().left === 0")
    assert round(sidebar_width(page)) == 280  # min(85vw, 280 px)
    expect(page.locator(".scrim")).to_be_visible()
    assert_sidebar_open(page)  # exactly one Toggle sidebar: the header's is hidden under the overlay
    assert_fits(page)
    shot(page, f"mobile-{theme}-open")

    # Choosing a conversation closes the overlay; so does the scrim.
    page.get_by_role("link", name=QUESTION[:20]).click()
    expect(page.locator(".sidebar")).to_be_hidden()
    assert_sidebar_closed(page)
    page.get_by_role("button", name="Toggle sidebar").click()
    expect(page.locator(".sidebar")).to_be_visible()
    page.locator(".scrim").click(position={"x": 360, "y": 400})
    expect(page.locator(".sidebar")).to_be_hidden()

    # New chat from the overlay: the overlay closes and the empty conversation shows.
    page.get_by_role("button", name="Toggle sidebar").click()
    page.get_by_role("button", name="New chat").click()
    expect(page.get_by_text("How can I help you today?")).to_be_visible()
    expect(page.locator(".sidebar")).to_be_hidden()
    assert_fits(page)
    shot(page, f"mobile-{theme}-empty")
    context.close()


@pytest.mark.parametrize("size", ["desktop", "mobile"])
def test_sign_in_pages_fit_and_name_everything(browser, app_server, size):
    width, height = SIZES[size]
    for theme in ("light", "dark"):
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=theme)
        page = context.new_page()
        for route, names in (
            ("/login", {"Log in": "button", "Create an account": "link"}),
            ("/signup", {"Sign up": "button", "Log in": "link"}),
        ):
            page.goto(f"{app_server.url}{route}")
            expect(page.locator("html")).to_have_class(re.compile(rf"\b{theme}\b"))
            assert_one_of_each(page, {**names, "Toggle dark theme": "button"})
            expect(page.get_by_label("Username")).to_have_count(1)
            expect(page.get_by_label("Password", exact=True)).to_have_count(1)
            for button in page.get_by_role("button").all():
                expect(button).to_have_accessible_name(re.compile(r"\S"))
            scroll_width, inner_width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert scroll_width <= inner_width
            shot(page, f"{route.strip('/')}-{size}-{theme}")
        context.close()


def test_dark_theme_toggle_follows_the_css_variables(browser, app_server, account):
    context, page = open_page(browser, account, "desktop", "light")
    main = page.locator(".main")
    assert main.evaluate("el => getComputedStyle(el).backgroundColor") == BACKGROUND["light"]
    page.get_by_role("button", name="Toggle dark theme").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.wait_for_function(
        f"getComputedStyle(document.querySelector('.main')).backgroundColor === '{BACKGROUND['dark']}'"
    )
    text = page.locator(".main-title").evaluate("el => getComputedStyle(el).color")
    assert text == "rgb(241, 245, 249)"
    page.reload()  # the choice is remembered by this browser
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.get_by_role("button", name="Toggle dark theme").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\blight\b"))
    context.close()


def test_keyboard_focus_is_visible_and_motion_is_as_designed(browser, app_server, account):
    context, page = open_page(browser, account, "desktop")
    focus_ring = (
        "(() => { const el = document.activeElement; const s = getComputedStyle(el);"
        " return [el.tagName, el.getAttribute('aria-label'), s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()  # ready to type
    page.keyboard.press("Tab")
    tag, name, style, width = page.evaluate(focus_ring)
    assert tag == "BUTTON" and name and style != "none" and width >= 2
    page.get_by_role("button", name="New chat").focus()  # after a key press: still keyboard focus
    tag, name, style, width = page.evaluate(focus_ring)
    assert name == "New chat" and style != "none" and width >= 2
    sidebar = page.locator(".sidebar").evaluate(
        "el => { const s = getComputedStyle(el); return [s.transitionProperty, s.transitionDuration,"
        " s.transitionTimingFunction]; }"
    )
    properties = [p.strip() for p in sidebar[0].split(",")]
    durations = [d.strip() for d in sidebar[1].split(",")]
    assert durations[properties.index("width")] == "0.3s"
    assert "cubic-bezier(0.25, 0.1, 0.25, 1)" in sidebar[2]
    message = page.locator(ANSWER).evaluate(
        "el => [getComputedStyle(el).animationName, getComputedStyle(el).animationDuration]"
    )
    assert message == ["fade-in", "0.3s"]
    context.close()

    context, page = open_page(browser, account, "desktop", reduced_motion="reduce")
    assert page.locator(".sidebar").evaluate("el => getComputedStyle(el).transitionDuration").startswith("0s")
    assert page.locator(ANSWER).evaluate("el => getComputedStyle(el).animationName") == "none"
    page.get_by_role("button", name="Toggle sidebar").click()
    assert sidebar_width(page) in (56, 280)  # no in-between: the width changes at once
    wait_sidebar_width(page, 56)
    context.close()


def test_language_switch_on_sign_in_and_chat_pages(browser, app_server, account):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{app_server.url}/login")
    page.get_by_role("button", name="Language: 한국어").click()
    expect(page.get_by_label("사용자 이름")).to_be_visible()
    expect(page.get_by_role("button", name="로그인")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    page.get_by_role("link", name="계정 만들기").click()
    page.wait_for_url(at(app_server.url, "/signup"))
    expect(page.get_by_label("초대 키")).to_be_visible()
    page.get_by_role("button", name="언어: English").click()
    expect(page.get_by_label("Invite key")).to_be_visible()
    context.close()

    context, page = open_page(browser, account, "desktop")
    page.get_by_role("button", name="Language: 한국어").click()
    expect(page.get_by_role("button", name="새 채팅")).to_be_visible()
    expect(page.get_by_role("textbox", name="메시지")).to_be_visible()
    page.reload()  # remembered by this browser
    expect(page.get_by_role("button", name="새 채팅")).to_be_visible()
    page.get_by_role("button", name="언어: English").click()
    expect(page.get_by_role("button", name="New chat")).to_be_visible()
    context.close()
