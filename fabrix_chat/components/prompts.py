"""The prompt library on the chat page: the composer's `Prompts` button and dialog (search, one
button per prompt, `Delete prompt` beside the user's own) and the `Save as prompt` dialog of a
question (state/prompts.py). Both are Radix dialogs: Esc closes them and focus goes back to the
button that opened them."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button, text_button
from fabrix_chat.repo.prompts import MAX_QUERY_CHARS, MAX_TITLE_CHARS
from fabrix_chat.state.prompts import PromptItem, PromptState
from fabrix_chat.state.ui import tr

# The button that opened Save as prompt, remembered in the page, gets the focus back when the dialog
# closes (the dialog is shared by every question, so it has no trigger of its own for Radix to use).
_REMEMBER_OPENER = rx.call_script("window.fabrixPromptOpener = document.activeElement")
_REFOCUS_OPENER = rx.call_script(
    "(function (el) { window.fabrixPromptOpener = null; if (el && el.isConnected) el.focus(); })"
    "(window.fabrixPromptOpener)"
)


def prompts_button() -> rx.Component:
    """The composer's `Prompts`, the trigger of its dialog (Radix gives the focus back to it)."""
    return rx.dialog.root(
        rx.dialog.trigger(icon_button("library", tr("prompts"))),
        _prompts_content(),
        open=PromptState.prompts_open,
        on_open_change=PromptState.set_prompts_open,
    )


def save_as_prompt_button(message_id: rx.Var) -> rx.Component:
    """A question's `Save as prompt` (its text is read on the server, by the message's id)."""
    return icon_button(
        "bookmark-plus", tr("save_as_prompt"), [_REMEMBER_OPENER, PromptState.save_as_prompt(message_id)], small=True
    )


def _error(text: rx.Var) -> rx.Component:
    return rx.cond(text != "", rx.el.div(text, role="alert", class_name="form-error"))


def _prompt_row(item: PromptItem) -> rx.Component:
    preview_id = "prompt-preview-" + item.id.to_string()
    return rx.el.li(
        rx.el.div(
            # Named by its title alone (the contract's name), described by the text's beginning; the
            # whole block is its click area (styles.css).
            rx.el.button(
                item.title,
                type="button",
                aria_describedby=preview_id,
                on_click=PromptState.choose_prompt(item.id),
                class_name="prompt-choose",
            ),
            rx.el.span(item.preview, id=preview_id, class_name="prompt-preview"),
            class_name="prompt-main",
        ),
        rx.cond(
            item.published,
            rx.el.span(tr("prompt_published"), class_name="prompt-badge"),
            icon_button("trash-2", tr("delete_prompt"), PromptState.delete_prompt(item.id), small=True),
        ),
        class_name="prompt-row",
    )


def _prompts_content() -> rx.Component:
    """What `Prompts` opens: `Search prompts` and the list; choosing one closes it."""
    return rx.dialog.content(
        rx.dialog.title(tr("prompts")),
        rx.dialog.description(tr("prompts_hint"), class_name="prompt-hint"),
        rx.el.div(
            rx.icon("search", size=16, aria_hidden="true", class_name="search-icon"),
            rx.el.input(
                type="search",
                aria_label=tr("search_prompts"),
                placeholder=tr("search_prompts"),
                value=PromptState.prompt_query,
                on_change=PromptState.set_prompt_query.debounce(300),
                max_length=MAX_QUERY_CHARS,
                auto_complete="off",
                class_name="text-input search-input",
            ),
            class_name="search-box",
        ),
        _error(PromptState.prompts_error),
        rx.el.ul(
            rx.foreach(PromptState.prompts, _prompt_row),
            aria_label=tr("prompts"),
            class_name="prompt-list",
        ),
        rx.cond(
            PromptState.prompts.length() == 0,
            rx.el.p(
                rx.cond(PromptState.prompt_query != "", tr("no_prompt_matches"), tr("no_prompts")),
                class_name="list-empty",
            ),
        ),
        rx.el.div(rx.dialog.close(text_button(tr("close"))), class_name="dialog-actions"),
        class_name="dialog-card prompts-dialog",
    )


def save_prompt_dialog() -> rx.Component:
    """What a question's `Save as prompt` opens: its `Title` (the first words proposed)."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(tr("save_as_prompt")),
            rx.el.form(
                rx.el.label(
                    rx.el.span(tr("prompt_title"), class_name="field-label"),
                    rx.el.input(
                        name="title",
                        default_value=PromptState.save_title,
                        key=PromptState.save_message_id,
                        max_length=MAX_TITLE_CHARS,
                        auto_complete="off",
                        auto_focus=True,
                        class_name="text-input",
                    ),
                    class_name="prompt-field",
                ),
                rx.el.blockquote(PromptState.save_preview, class_name="prompt-save-preview"),
                _error(PromptState.save_error),
                rx.el.div(
                    text_button(tr("cancel"), PromptState.cancel_save_prompt),
                    text_button(tr("save_prompt"), kind="primary", type="submit"),
                    class_name="dialog-actions",
                ),
                on_submit=PromptState.save_prompt,
            ),
            class_name="dialog-card",
            on_close_auto_focus=[rx.prevent_default, _REFOCUS_OPENER],
        ),
        open=PromptState.save_message_id != 0,
        on_open_change=lambda _open: PromptState.cancel_save_prompt,
    )
