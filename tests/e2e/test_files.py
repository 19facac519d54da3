"""Attach file in a real browser: the chooser's allow-list, the chip (name, size, progress,
Remove file), the private folder, the answer about the file, and the size limit enforced by the
browser and again by the server when the browser is bypassed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from fabrix_chat.services.files import ALLOWED_EXTENSIONS
from fabrix_chat.state.composer import ComposerState
from tests.e2e.conftest import ROOT, sign_up
from tests.e2e.test_chat_experience import ANSWER, QUESTION, ask, composer, wait_until_answered

pytestmark = pytest.mark.browser

CSV = "city,visitors\nSeoul,100\nBusan,80\nIncheon,60\n"


def choose_file(page: Page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach file").click()
    chooser.value.set_files(str(path))


def chip(page: Page):
    return page.get_by_role("group", name="Attached file").filter(has=page.get_by_role("button", name="Remove file"))


def private_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "uploads").glob("*/*") if p.is_file())


def test_a_file_is_attached_sent_answered_and_shown_with_the_question(page, app_server, tmp_path):
    sign_up(page, app_server.url)
    before = set(private_files(app_server.data_dir))
    accept = page.locator("input[type=file]").get_attribute("accept") or ""
    assert sorted(a for a in accept.split(",") if a.startswith(".")) == sorted(ALLOWED_EXTENSIONS)

    path = tmp_path / "visitors.csv"
    path.write_text(CSV * 40)
    size_kb = f"{path.stat().st_size / 1024:.1f} KB"
    choose_file(page, path)
    expect(chip(page)).to_contain_text("visitors.csv")
    expect(chip(page)).to_contain_text(size_kb)

    # Kept in the private folder under a random name, never in Reflex's public upload folder.
    stored = [p for p in private_files(app_server.data_dir) if p not in before]
    assert len(stored) == 1 and stored[0].read_text() == path.read_text()
    assert "visitors" not in stored[0].name
    public = ROOT / "uploaded_files"
    assert not list(public.rglob("*.csv")) if public.exists() else True
    for guess in ("visitors.csv", stored[0].name):
        assert httpx.get(f"{app_server.url}/_upload/{guess}", timeout=10).status_code == 404

    ask(page, "Which city had the most visitors?")
    expect(chip(page)).to_have_count(0)
    question = page.locator(QUESTION)
    expect(question).to_contain_text("Which city had the most visitors?")
    expect(question.get_by_role("group", name="Attached file")).to_contain_text("visitors.csv")
    expect(question).to_contain_text(size_kb)
    wait_until_answered(page)
    answer = page.locator(ANSWER)
    expect(answer).to_contain_text("visitors.csv")  # the emulator describes the file it received
    expect(answer).to_contain_text(f"{path.stat().st_size} bytes")
    expect(answer).to_contain_text("Seoul,100")
    # Answered: the file is not kept.
    assert [p for p in private_files(app_server.data_dir) if p not in before] == []

    page.reload()
    expect(page.locator(QUESTION).get_by_role("group", name="Attached file")).to_contain_text("visitors.csv")
    expect(page.locator(ANSWER)).to_contain_text("Seoul,100")


def test_a_file_alone_is_asked_about_with_a_default_question(page, app_server, tmp_path):
    sign_up(page, app_server.url)
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\n- ship it\n")
    choose_file(page, path)
    expect(chip(page)).to_contain_text("notes.md")
    composer(page).press("Enter")
    expect(page.locator(QUESTION)).to_contain_text("Describe this file.")
    wait_until_answered(page)
    expect(page.locator(ANSWER)).to_contain_text("notes.md")


def test_remove_file_forgets_the_upload(page, app_server, tmp_path):
    sign_up(page, app_server.url)
    before = set(private_files(app_server.data_dir))
    path = tmp_path / "draft.txt"
    path.write_text("draft text\n" * 10)
    choose_file(page, path)
    expect(chip(page)).to_contain_text("draft.txt")
    assert len(set(private_files(app_server.data_dir)) - before) == 1
    chip(page).get_by_role("button", name="Remove file").click()
    expect(chip(page)).to_have_count(0)
    assert set(private_files(app_server.data_dir)) - before == set()
    ask(page, "No file this time")
    wait_until_answered(page)
    expect(page.locator(QUESTION).get_by_role("group", name="Attached file")).to_have_count(0)


def test_a_refused_type_is_explained_in_the_chat_not_a_toast(page, app_server, tmp_path):
    sign_up(page, app_server.url)
    path = tmp_path / "setup.exe"
    path.write_bytes(b"MZ" + b"\0" * 100)
    choose_file(page, path)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Files of this type cannot be sent")
    expect(alert).to_contain_text(".pdf")
    expect(page.get_by_text("Files not Accepted")).to_have_count(0)
    expect(chip(page)).to_have_count(0)
    alert.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("alert")).to_have_count(0)


def test_upload_progress_is_shown(page, app_server, tmp_path):
    sign_up(page, app_server.url)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # About 2 MB/s up: a 6 MB file takes a few seconds, long enough to watch the bar move.
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 2 * 1024 * 1024},
    )
    page.evaluate(
        """() => {
        window.__progress = [];
        new MutationObserver(() => {
          const bar = document.querySelector('[role=progressbar]');
          if (bar) window.__progress.push(Number(bar.getAttribute('aria-valuenow')));
        }).observe(document.body, {subtree: true, childList: true, attributes: true});
        }"""
    )
    path = tmp_path / "big.txt"
    path.write_bytes(b"line of text\n" * (6 * 1024 * 1024 // 13))
    choose_file(page, path)
    expect(page.get_by_role("progressbar", name="Upload progress")).to_be_visible(timeout=10_000)
    expect(chip(page)).to_contain_text("big.txt", timeout=60_000)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    progress = page.evaluate("window.__progress")
    assert any(0 < p < 100 for p in progress), progress
    assert progress == sorted(progress) or max(progress) > 0


def test_the_size_limit_is_checked_in_the_browser_and_again_on_the_server(page, app_server, tmp_path):
    """The default limit (100 MB): the chooser refuses a bigger file before sending a byte, and an
    upload that skips the browser's check is cut off at the limit with nothing of it kept."""
    sign_up(page, app_server.url)
    before = set(private_files(app_server.data_dir))
    limit = 100 * 1024 * 1024
    path = tmp_path / "large.txt"
    with path.open("wb") as sparse:  # a file of that size without writing it
        sparse.truncate(limit + 1)
    choose_file(page, path)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The file is too large (at most 100 MB).")
    expect(chip(page)).to_have_count(0)
    assert set(private_files(app_server.data_dir)) == before
    alert.get_by_role("button", name="Dismiss").click()

    # A client that skips the browser's check: the server cuts the upload off at the limit.
    page.evaluate(
        """async ([handler, size]) => {
        const form = new FormData();
        form.append("files", new Blob([new Uint8Array(size).fill(97)]), "forged.txt");
        const response = await fetch("/_upload", {
          method: "POST",
          headers: {"Reflex-Client-Token": window.sessionStorage.getItem("token"), "Reflex-Event-Handler": handler},
          body: form,
        });
        return response.status;  // 400, or 202 when the whole body was read before the refusal
        }""",
        [f"{ComposerState.get_full_name()}.receive_upload", limit + 1024 * 1024],
    )
    expect(page.get_by_role("alert")).to_contain_text("The file is too large (at most 100 MB).", timeout=30_000)
    expect(chip(page)).to_have_count(0)
    assert set(private_files(app_server.data_dir)) == before

    # Within the limit, the same route works.
    small = tmp_path / "small.json"
    small.write_text('{"ok": true}')
    choose_file(page, small)
    expect(chip(page)).to_contain_text("small.json")
    expect(page).to_have_url(re.compile(r"/chat/?$"))
