"""Directory sign-in in the browser: the app in service mode with an [ldap] section pointing at a
real OpenLDAP server (tests/ldap_server.py). A directory user logs in with the directory password
and lands on the chat, again after a restart of the app; a user outside the allowed group is told
so; once the directory is gone, the log-in page says it cannot be reached and signs nobody in."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import ldap_server as ldap
from tests.e2e.conftest import at, start_app, stop_app

pytestmark = pytest.mark.browser


def ldap_toml(url: str) -> str:
    return f"""
[ldap]
url = "{url}"
search_base = "{ldap.PEOPLE}"
search_filter = "(uid={{username}})"
service_dn = "{ldap.SERVICE_DN}"
service_password = "{ldap.SERVICE_PASSWORD}"
allowed_group = "{ldap.ALLOWED_GROUP}"
admin_group = "{ldap.ADMIN_GROUP}"
timeout_seconds = 2
"""


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def accounts(data_dir: Path) -> list[tuple[str, str, str]]:
    with contextlib.closing(sqlite3.connect(data_dir / "fabrix_chat.db", timeout=10)) as db:
        return db.execute("SELECT username, email, auth_source FROM users ORDER BY id").fetchall()


def test_directory_users_log_in_again_after_a_restart_and_a_lost_directory_is_said(
    tmp_path: Path, build_lock, browser
) -> None:
    data_dir = tmp_path / "app"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    server = None
    try:
        with ldap.slapd_directory("the browser test of directory sign-in needs it") as directory:
            extra = ldap_toml(directory.url)
            server = start_app(data_dir, extra)
            page = context.new_page()
            log_in(page, server.url, "kim", ldap.PASSWORD)
            page.wait_for_url(at(server.url, "/chat"))
            expect(page.get_by_role("button", name="Log out")).to_be_visible()
            assert accounts(data_dir) == [("kim", "kim@example.com", "ldap")]

            outsider = context.new_page()  # same browser: kim's cookie would send it to /chat
            outsider.context.clear_cookies()
            log_in(outsider, server.url, "lee", ldap.PASSWORD)
            expect(outsider.get_by_role("alert")).to_contain_text("not in the group allowed to use this app")
            log_in(outsider, server.url, "kim", "not-the-password")
            expect(outsider.get_by_role("alert")).to_have_text("Wrong username or password.")

            stop_app(server.process)
            server = start_app(data_dir, extra)  # a restart: same data folder, same configuration
            again = context.new_page()
            again.context.clear_cookies()
            log_in(again, server.url, "kim", ldap.PASSWORD)
            again.wait_for_url(at(server.url, "/chat"))
            assert accounts(data_dir) == [("kim", "kim@example.com", "ldap")]
        # The directory is gone (slapd stopped); the app still runs.
        lost = context.new_page()
        lost.context.clear_cookies()
        log_in(lost, server.url, "kim", ldap.PASSWORD)
        expect(lost.get_by_role("alert")).to_contain_text("The company directory cannot be reached right now")
        expect(lost).to_have_url(at(server.url, "/login"))
    finally:
        if server is not None:
            stop_app(server.process)
        context.close()
