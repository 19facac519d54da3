"""Web basics in the real server: no page asks for anything that is missing (favicon included),
built assets are cached for good, and pages are always revalidated."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ask, sign_up

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"


def test_no_page_requests_anything_missing(page, app_server):
    failures: list[str] = []
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: failures.append(f"failed {r.url}"))
    for path in ("/login", "/signup"):
        page.goto(f"{app_server.url}{path}")
        page.wait_for_load_state("networkidle")
    sign_up(page, app_server.url)
    ask(page, "Show a Python example")
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    expect(page.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0, timeout=60_000)
    page.reload()
    page.wait_for_load_state("networkidle")
    assert failures == []
    icon = httpx.get(f"{app_server.url}/favicon.ico", timeout=10)
    assert icon.status_code == 200 and icon.content[:4] == b"\0\0\1\0"  # an .ico file


def test_hashed_assets_are_immutable_and_html_is_revalidated(page, app_server):
    scripts: list[str] = []
    page.on("response", lambda r: scripts.append(r.url) if re.search(r"/assets/.+-[\w-]{8}\.js$", r.url) else None)
    page.goto(f"{app_server.url}/login")
    page.wait_for_load_state("networkidle")
    assert scripts, "the page loads Vite's hashed scripts"
    with httpx.Client(timeout=10) as client:
        asset = client.get(scripts[0])
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        html = client.get(f"{app_server.url}/login/")
        assert html.headers["content-type"].startswith("text/html")
        assert html.headers["cache-control"] == "no-cache"
