"""The prompt library in a real browser: a question saved with `Save as prompt`, found with
`Search prompts`, chosen into the composer with its {{placeholder}} selected for typing, deleted;
a prompt an administrator publishes in the `Prompts` tab reaches every user, and goes when the
administrator deletes it. Keyboard only where a user would use it so, and the dialogs audited."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import create_admin, sign_up, unique_name
from tests.e2e.test_accessibility import audit, use_dark_theme
from tests.e2e.test_admin import log_in, open_tab
from tests.e2e.test_chat_experience import QUESTION, ask_and_wait, composer

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-9"


def prompts_dialog(page: Page):
    return page.get_by_role("dialog", name="Prompts")


def prompt_row(page: Page, title: str):
    """The dialog's list item of the prompt named `title`."""
    return prompts_dialog(page).get_by_role("listitem").filter(has=page.get_by_role("button", name=title, exact=True))


def open_prompts(page: Page):
    page.get_by_role("button", name="Prompts", exact=True).click()
    dialog = prompts_dialog(page)
    expect(dialog).to_be_visible()
    return dialog


def selection(page: Page) -> tuple[int, int, bool]:
    """The composer's selection and whether it has the focus."""
    return tuple(
        page.evaluate(
            """() => { const box = document.getElementById('composer-input');
                       return [box.selectionStart, box.selectionEnd, document.activeElement === box]; }"""
        )
    )


def test_save_a_question_find_it_choose_it_and_delete_it(page, app_server):
    sign_up(page, app_server.url)
    tag = unique_name("kw")
    question = f"Summarize {{{{topic}}}} for the {tag} team in three bullets"
    ask_and_wait(page, question)

    # Save as prompt: the dialog proposes the question's first words; the title typed is kept.
    save = page.locator(QUESTION).last.get_by_role("button", name="Save as prompt")
    save.click()
    dialog = page.get_by_role("dialog", name="Save as prompt")
    expect(dialog).to_be_visible()
    title = dialog.get_by_label("Title", exact=True)
    expect(title).to_have_value(re.compile(r"^Summarize \{\{topic\}\} for the"))
    expect(dialog).to_contain_text(question)
    audit(page, "/chat/{id}, Save as prompt")
    title.fill(f"Team summary {tag}")
    dialog.get_by_role("button", name="Save prompt").click()
    expect(dialog).to_have_count(0)
    expect(save).to_be_focused()  # focus is back where it was

    # Prompts, by keyboard: search narrows the list on the server; Esc closes and focus comes back.
    button = page.get_by_role("button", name="Prompts", exact=True)
    button.focus()
    page.keyboard.press("Enter")
    prompts = prompts_dialog(page)
    expect(prompts).to_be_visible()
    search = prompts.get_by_role("searchbox", name="Search prompts")
    expect(search).to_be_focused()
    search.fill("no prompt is called this")
    expect(prompts.get_by_text("No prompts match.")).to_be_visible()
    search.fill(tag.upper())
    expect(prompts.get_by_role("button", name=f"Team summary {tag}", exact=True)).to_be_visible()
    expect(prompts.get_by_role("listitem")).to_have_count(1)
    audit(page, "/chat/{id}, Prompts")
    page.keyboard.press("Escape")
    expect(prompts).to_have_count(0)
    expect(button).to_be_focused()

    # Choosing it puts its text into the composer with {{topic}} selected: typing replaces it.
    composer(page).fill("")
    open_prompts(page)
    search = prompts.get_by_role("searchbox", name="Search prompts")
    search.fill(tag)
    chosen = prompts.get_by_role("button", name=f"Team summary {tag}", exact=True)
    expect(chosen).to_be_visible()
    page.keyboard.press("Tab")
    expect(chosen).to_be_focused()
    page.keyboard.press("Enter")
    expect(prompts).to_have_count(0)
    expect(composer(page)).to_have_value(question)
    start = question.index("{{topic}}")
    page.wait_for_function(
        f"() => document.activeElement === document.getElementById('composer-input') && "
        f"document.activeElement.selectionStart === {start} && "
        f"document.activeElement.selectionEnd === {start + len('{{topic}}')}"
    )
    assert selection(page) == (start, start + len("{{topic}}"), True)
    page.keyboard.type("the Q3 results")
    expect(composer(page)).to_have_value(question.replace("{{topic}}", "the Q3 results"))

    # Delete prompt: gone from the list, and after a reload too.
    open_prompts(page)
    prompts.get_by_role("searchbox", name="Search prompts").fill(tag)
    prompt_row(page, f"Team summary {tag}").get_by_role("button", name="Delete prompt").click()
    expect(prompts.get_by_role("button", name=f"Team summary {tag}", exact=True)).to_have_count(0)
    page.keyboard.press("Escape")
    page.reload()
    open_prompts(page)
    prompts.get_by_role("searchbox", name="Search prompts").fill(tag)
    expect(prompts.get_by_text("No prompts match.")).to_be_visible()


def test_an_admin_publishes_a_prompt_every_user_sees_it_until_it_is_deleted(page, app_server, browser):
    admin = create_admin(app_server, "promptadmin", PASSWORD)
    log_in(page, app_server.url, admin)
    page.get_by_role("link", name="Admin", exact=True).click()
    open_tab(page, "Prompts")
    tag = unique_name("pub")
    title = f"Release notes {tag}"
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Prompt", exact=True).fill("Write release notes for {{version}} in plain words.")
    page.get_by_role("button", name="Publish prompt").click()
    expect(page.get_by_role("status").filter(has_text=f"“{title}” is published for everyone.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=title)
    expect(row).to_have_count(1)
    expect(page.get_by_label("Title", exact=True)).to_have_value("")  # the form is emptied

    # A user (another browser) finds it, marked as for everyone and not theirs to delete, and uses it.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    user_page = context.new_page()
    user_page.set_default_timeout(15_000)
    try:
        sign_up(user_page, app_server.url)
        use_dark_theme(user_page)
        prompts = open_prompts(user_page)
        prompts.get_by_role("searchbox", name="Search prompts").fill(tag)
        listed = prompt_row(user_page, title)
        expect(listed).to_contain_text("For everyone")
        expect(listed.get_by_role("button", name="Delete prompt")).to_have_count(0)
        audit(user_page, "/chat, Prompts with a published prompt (dark)")
        listed.get_by_role("button", name=title, exact=True).click()
        text = "Write release notes for {{version}} in plain words."
        expect(composer(user_page)).to_have_value(text)
        start = text.index("{{version}}")
        user_page.wait_for_function(
            f"() => document.activeElement === document.getElementById('composer-input') && "
            f"document.activeElement.selectionStart === {start} && "
            f"document.activeElement.selectionEnd === {start + len('{{version}}')}"
        )

        # The administrator deletes it: the user's list no longer has it.
        row.get_by_role("button", name="Delete prompt").click()
        expect(page.get_by_role("status").filter(has_text=f"“{title}” was deleted.")).to_be_visible()
        expect(page.get_by_role("row").filter(has_text=title)).to_have_count(0)
        prompts = open_prompts(user_page)
        prompts.get_by_role("searchbox", name="Search prompts").fill(tag)
        expect(prompts.get_by_text("No prompts match.")).to_be_visible()
    finally:
        context.close()
