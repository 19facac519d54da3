"""Admin page, Prompts tab: the prompts published for everyone's prompt library, publish, delete."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, panel
from fabrix_chat.components.common import text_button
from fabrix_chat.repo.prompts import MAX_BODY_CHARS, MAX_TITLE_CHARS
from fabrix_chat.state.admin.prompts import PUBLISH_FORM_FIELDS, AdminPromptsState, PublishedRow
from fabrix_chat.state.ui import tr

PROMPT_COLUMNS = ["admin_col_title", "prompt_text", "admin_col_when", "admin_col_actions"]


def _prompt_cells(prompt: PublishedRow) -> list[rx.Component]:
    return [
        rx.el.td(prompt.title, class_name="admin-strong"),
        rx.el.td(prompt.preview, class_name="admin-prompt-preview"),
        rx.el.td(prompt.created),
        rx.el.td(
            text_button(
                tr("delete_prompt"),
                AdminPromptsState.delete_published_prompt(prompt.id),
                kind="small danger-text",
            )
        ),
    ]


def publish_form() -> rx.Component:
    title_id, body_id = PUBLISH_FORM_FIELDS
    return panel(
        tr("admin_publish_title"),
        rx.el.p(tr("admin_publish_note"), class_name="admin-muted"),
        rx.el.form(
            rx.el.label(
                rx.el.span(tr("prompt_title"), class_name="field-label"),
                rx.el.input(
                    name="title",
                    id=title_id,
                    max_length=MAX_TITLE_CHARS,
                    auto_complete="off",
                    class_name="text-input",
                ),
                class_name="admin-field",
            ),
            rx.el.label(
                rx.el.span(tr("prompt_text"), class_name="field-label"),
                rx.el.textarea(
                    name="body",
                    id=body_id,
                    max_length=MAX_BODY_CHARS,
                    rows=4,
                    required=True,
                    class_name="text-input",
                ),
                class_name="admin-field admin-prompt-body",
            ),
            text_button(tr("admin_publish_prompt"), kind="primary", type="submit"),
            on_submit=AdminPromptsState.publish_prompt,
            class_name="admin-form-row",
        ),
    )


def prompts_tab() -> rx.Component:
    return rx.el.div(
        publish_form(),
        data_table(
            tr("admin_published_prompts"),
            PROMPT_COLUMNS,
            AdminPromptsState.published_prompts,
            _prompt_cells,
            empty_key="admin_no_prompts",
        ),
        class_name="admin-tab-body",
    )
